"""Hand-written TIR kernels for convolutions and linear layers, specialised to their kept taps and filters."""
from .conv import Packed, conv_kernel, pack, zero_rows
from .spec import RUN_BUDGET, ConvSpec, Run, order_taps
from .tile import Tile, choose_tile

__all__ = ["RUN_BUDGET", "ConvSpec", "Packed", "Run", "Tile", "choose_tile", "conv_kernel", "order_taps", "pack", "zero_rows"]

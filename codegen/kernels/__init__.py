"""Hand-written TIR kernels for convolutions and linear layers, specialised to their kept taps and filters."""
from .conv import Packed, conv_kernel, pack, zero_rows
from .depthwise import depthwise_kernel, pack_depthwise
from .epilogue import HARDSWISH, RELU, RELU6, Activation
from .spec import RUN_BUDGET, ConvSpec, Run, order_taps
from .tile import Tile, choose_tile

__all__ = ["HARDSWISH", "RELU", "RELU6", "RUN_BUDGET", "Activation", "ConvSpec", "Packed", "Run", "Tile",
           "choose_tile", "conv_kernel", "depthwise_kernel", "order_taps", "pack", "pack_depthwise", "zero_rows"]

"""Hand-written TIR kernels for convolutions and linear layers, specialised to their kept taps and filters."""
from .conv import Packed, conv_kernel, pack, zero_rows
from .depthwise import depthwise_kernel, pack_depthwise
from .epilogue import HARDSWISH, RELU, RELU6, Activation
from .spec import RUN_BUDGET, ConvSpec, Run, order_taps
from .tile import FIXED_RULE, Tile, TileConfig, choose_tile, tile_candidates

__all__ = ["FIXED_RULE", "HARDSWISH", "RELU", "RELU6", "RUN_BUDGET", "Activation", "ConvSpec", "Packed", "Run", "Tile",
           "TileConfig", "choose_tile", "conv_kernel", "depthwise_kernel", "order_taps", "pack", "pack_depthwise",
           "tile_candidates", "zero_rows"]

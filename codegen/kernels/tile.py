"""Register tiles: how many filters and output pixels one micro-kernel keeps in vector registers, and how it
reads the operand it broadcasts."""
from __future__ import annotations

from dataclasses import dataclass

ACCUMULATORS = 12  # vector accumulators per tile on x86: enough independent FMAs to hide their latency
NEON_ACCUMULATORS = 24  # of NEON's 32 registers: 24 accumulators, 2 gathered vectors, 3 weight vectors
NEON_TAP_UNROLL = 2  # taps per iteration of the NEON tap loop: halves its counter, compare and branch
TAP_BLOCK_BYTES = 16384  # gathered bytes per block of taps the tuner tries: a third of a 48 KB L1, half of 32 KB
PREFETCH_BYTES = 4096  # how far ahead of the tap loop x86 tiles prefetch their packed weights (see choose_tile)


@dataclass(frozen=True)
class Tile:
    """``pixels`` mode vectorises over output pixels (``block`` filters x ``width`` pixels per tile);
    ``filters`` mode, for layers with fewer pixels than a vector holds, vectorises over ``block`` filters
    and keeps all ``width`` pixels.

    ``lane_fma``: the broadcast operand (a weight per filter, or a gathered value per pixel) is read a vector
    at a time and each multiply-add takes one lane of it (NEON's ``fmla v, v, v.s[i]``), instead of one
    broadcast load per use. ``unroll``: taps per iteration of the tap loop. ``tap_block``: in ``pixels`` mode,
    taps per pass over the filter blocks (0: all), so the part of the gathered matrix a pass reads stays in L1
    while every filter block reads it; partial sums wait in a buffer between passes. ``prefetch``: at each tap,
    prefetch the tile's packed weights this many taps ahead (0: none)."""

    mode: str
    block: int
    width: int
    lane_fma: int = 0  # lanes per vector read of the broadcast operand; 0: a broadcast load per use
    unroll: int = 1
    tap_block: int = 0
    prefetch: int = 0


def is_neon(lanes: int, registers: int) -> bool:
    """32 vector registers of 4 float32 lanes: AArch64 NEON (x86 has 16 registers at 4 lanes, or wider ones)."""
    return lanes == 4 and registers == 32


def choose_tile(pixels: int, lanes: int, registers: int, accumulators: int | None = None,
                lane_fma: bool | None = None, unroll: int | None = None, tap_bytes: int | None = None,
                prefetch_bytes: int | None = None) -> Tile:
    """The tile for a layer with ``pixels`` outputs per channel on a CPU with ``lanes`` float32 lanes per
    vector and ``registers`` vector registers, using up to ``accumulators`` vector accumulators (default:
    ``NEON_ACCUMULATORS`` on NEON, else ``ACCUMULATORS``), lane-indexed FMAs when ``lane_fma`` (default: on
    NEON only), ``unroll`` taps per loop iteration (default: ``NEON_TAP_UNROLL`` on NEON, else 1) and, in
    ``pixels`` mode, blocks of taps that gather ``tap_bytes`` per tile (default: all taps in one block; the tuner
    tries ``TAP_BLOCK_BYTES``: on this project's noisy x86 host the gain could not be told from the noise) and
    a prefetch of the packed weights ``prefetch_bytes`` ahead of the tap loop (default: ``PREFETCH_BYTES`` on
    x86, none on NEON, where each prefetch is one more instruction per tap and no phone was at hand to show a gain).

    On x86, 12 beat 8 by 3-15% on the AVX-512 host (``benchmarks/results/kernels/kernel_tiles.md``), and the
    FMA folds its broadcast load. On NEON, 24 accumulators with lane-indexed FMAs and two taps per loop
    iteration execute 0.7x the instructions of the x86 tile (``benchmarks/results/kernels/arm64.md``).
    The weight prefetch made dense ResNet-18 and VGG-16 about 1.25x faster on the AVX-512 host (ResNet-18's last
    stage streams 9.4 MB of weights per layer from memory; weights in L2 arrive sooner too) and left pruned models,
    whose weights fit in cache, as they were (``benchmarks/results/kernels/prefetch.md``).
    """
    neon = is_neon(lanes, registers)
    if accumulators is None:
        accumulators = NEON_ACCUMULATORS if neon else ACCUMULATORS
    accumulators = min(accumulators, registers - 4)
    lanes_read = lanes if (neon if lane_fma is None else lane_fma) else 0
    unroll = (NEON_TAP_UNROLL if neon else 1) if unroll is None else unroll
    prefetch_bytes = (0 if neon else PREFETCH_BYTES) if prefetch_bytes is None else prefetch_bytes
    if pixels >= lanes:
        width = lanes * 2 if pixels >= lanes * 2 else lanes
        block = max(1, accumulators // (width // lanes))
        return Tile("pixels", block, width, lanes_read, unroll, (tap_bytes or 0) // (4 * width),
                    _taps_ahead(prefetch_bytes, block))
    block = lanes * 2 if pixels * 2 <= accumulators else lanes
    return Tile("filters", block, pixels, lanes_read, unroll, prefetch=_taps_ahead(prefetch_bytes, block))


def _taps_ahead(prefetch_bytes: int, block: int) -> int:
    """Taps of ``block`` packed float32 weights each in ``prefetch_bytes`` (at least one; 0 when it is 0)."""
    return -(-prefetch_bytes // (4 * block)) if prefetch_bytes else 0


@dataclass(frozen=True)
class TileConfig:
    """One setting of :func:`choose_tile`'s knobs, applied to a layer of any shape; ``None`` keeps the fixed
    rule's value. ``TileConfig()`` is the fixed rule itself."""

    accumulators: int | None = None
    lane_fma: bool | None = None
    unroll: int | None = None
    tap_bytes: int | None = None
    prefetch_bytes: int | None = None

    def tile(self, pixels: int, lanes: int, registers: int) -> Tile:
        """The tile this setting gives a layer with ``pixels`` outputs per channel."""
        return choose_tile(pixels, lanes, registers, self.accumulators, self.lane_fma, self.unroll, self.tap_bytes,
                           self.prefetch_bytes)

    def label(self) -> str:
        """A short name, e.g. ``acc16``, ``no-lane-fma unroll1``, ``prefetch4k`` or ``fixed rule``."""
        parts = [f"acc{self.accumulators}" if self.accumulators is not None else "",
                 {True: "lane-fma", False: "no-lane-fma", None: ""}[self.lane_fma],
                 f"unroll{self.unroll}" if self.unroll is not None else "",
                 "" if self.tap_bytes is None else
                 f"taps{self.tap_bytes // 1024}k" if self.tap_bytes else "no-tap-blocks",
                 "" if self.prefetch_bytes is None else
                 f"prefetch{self.prefetch_bytes // 1024}k" if self.prefetch_bytes else "no-prefetch"]
        return " ".join(p for p in parts if p) or "fixed rule"


FIXED_RULE = TileConfig()


def tile_candidates(lanes: int, registers: int) -> tuple[TileConfig, ...]:
    """The handful of settings an on-device tuner tries on every layer, the fixed rule first: on NEON 16 and 20
    accumulators, broadcast weight loads, four taps per iteration, the weight prefetch; on x86 8, 16 and 24
    accumulators (as many as the registers allow), two taps per iteration, no weight prefetch; on both, blocks of
    ``TAP_BLOCK_BYTES`` of gathered taps."""
    if is_neon(lanes, registers):
        others = [TileConfig(accumulators=16), TileConfig(accumulators=20), TileConfig(lane_fma=False),
                  TileConfig(unroll=4), TileConfig(prefetch_bytes=PREFETCH_BYTES)]
    else:
        others = [TileConfig(accumulators=a) for a in (8, 16, 24) if a <= registers - 4] + [TileConfig(unroll=2),
                                                                                       TileConfig(prefetch_bytes=0)]
    return (FIXED_RULE, *others, TileConfig(tap_bytes=TAP_BLOCK_BYTES))

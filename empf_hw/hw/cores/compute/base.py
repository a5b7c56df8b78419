"""What a synaptic compute mode takes and returns (see ``empf_hw.hw.cores.compute``)."""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def syn_kind(node) -> str:
    """Synapse kind of a synaptic node: ``conv`` (shared kernel) or ``dense``."""
    return "conv" if node.op == "conv" else "dense"


@dataclass
class SynapseInputs:
    """A layer's input activity per tile, batch totals of (T, n) arrays."""

    arch: object
    lay: object  # tiles.Layer
    batch: int
    events: np.ndarray  # input events reaching each tile (one packet each unless packed)
    conns: np.ndarray  # connected kernel taps (conv) or rows (linear) of those events
    cg: np.ndarray  # (n,) output channels / features per tile
    rows_of: Callable  # size → Σ events ⌈size × fan-out / lanes⌉ per tile (lane rows of a tile of ``size`` outputs)
    share: np.ndarray | None  # time-batched layers: weight fetches per connection (None: one per connection)


@dataclass
class Synapse:
    """The synapse stage of a layer per tile and timestep of the mean inference, (T, n) arrays."""

    mode: str
    ops: np.ndarray  # synaptic operations (event: event × connected neuron; popcount: weight × input pairs)
    lane_rows: np.ndarray  # engine lane rows over the input packets (× weight slices)
    words: np.ndarray  # synapse SRAM words read
    dense_cycles: np.ndarray  # cycles of a dense pass run before the neuron phase (0: none)
    outputs: np.ndarray  # sums the dense pass writes (one per output neuron and timestep; 0 in event mode)
    bit_ops: np.ndarray  # weight bit × input bit pairs combined (popcount)
    adds: np.ndarray  # accumulator adds (event: per event, neuron and slice; popcount: per output and bit plane)
    input_bits: np.ndarray | None = None  # input-buffer bits the dense pass reads (None: the packets read once)

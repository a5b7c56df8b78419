"""Event-driven synapse stage: every input event reads the weight rows of its connected taps (⌈cells / word⌉ words
each) and its lane rows (⌈fan-out in the tile / lanes⌉, × weight slices) pass the accumulator lanes one per
``latency.syn_<kind>`` cycles; each synaptic event read-modify-writes its neuron's accumulator, or adds into a lane
register with ``core.accumulation: output_stationary`` (one write-back per updated neuron per timestep)."""

import numpy as np

from ...acc_width import OUTPUT_STATIONARY
from .base import Synapse, SynapseInputs, syn_kind


def work(x: SynapseInputs) -> Synapse:
    c, lay = x.arch.core, x.lay
    rows = np.empty(x.conns.shape)
    for size in np.unique(x.cg):
        sel = x.cg == size
        rows[:, sel] = x.rows_of(int(size))[:, sel]
    words = x.conns * -(-(x.cg * c["weight_bits"] * lay.slices) // c["synapse_word_bits"])  # per connected tap / row
    if x.share is not None:  # one fetch per connected tap or row of a position with an event at any step
        words = words * x.share
    ops = x.conns * x.cg / x.batch
    zero = np.zeros_like(ops)
    return Synapse("event", ops, rows * lay.slices / x.batch, words / x.batch, zero, zero, zero, ops * lay.slices)


def packet_rows(fanout: np.ndarray, lanes: int, slices: int) -> np.ndarray:
    return -(-fanout // lanes) * slices


def counts(c: dict, lay, s: Synapse, psum_acc_bits: np.ndarray, update_bits: np.ndarray) -> dict:
    syn = s.ops.sum(axis=1)
    slices = syn * lay.slices
    return {f"syn_{syn_kind(lay.node)}": slices, "syn_mult": slices * (lay.value_bits > 1 and c["weight_bits"] > 1),
            "dendrite_acc": s.adds.sum(axis=1), "synapse_read_word": s.words.sum(axis=1),
            **accumulator(c, syn * c["accumulator_bits"], s.lane_rows.sum(axis=1) / lay.slices, psum_acc_bits,
                          update_bits)}


def accumulator(c: dict, event_bits, lane_rows, psum_acc_bits, update_bits) -> dict:
    """Accumulator traffic: words accessed (``acc_access``, a word = one lane row, ``accumulator_lanes`` ×
    ``accumulator_bits``), bits read and written in its storage, and lane-register bits written (``acc_reg_bit``).
    ``event``: each synaptic event's lane row is read and written. ``output_stationary``: events add into lane
    registers (the adder reads its register directly: one write per event bit) and each updated neuron's sum is
    written back once per timestep. Either way partial sums merge in the storage and the neuron update reads its
    sum there. A bit-sliced weight's slices are shift-added before the accumulator (one read-modify-write per event
    and neuron, as the bit counts assume)."""
    word = c["accumulator_lanes"] * c["accumulator_bits"]
    if c["accumulation"] == OUTPUT_STATIONARY:
        read = write = psum_acc_bits + update_bits
        return {"acc_access": (read + write) / word, "acc_read_bit": read, "acc_write_bit": write,
                "acc_reg_bit": event_bits}
    read, write = event_bits + psum_acc_bits + update_bits, event_bits + psum_acc_bits
    return {"acc_access": 2 * lane_rows + (2 * psum_acc_bits + update_bits) / word, "acc_read_bit": read,
            "acc_write_bit": write}

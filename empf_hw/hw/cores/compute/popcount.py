"""Dense bit-plane popcount synapse stage for binary weights (as XNOR-net / FINN accelerators compute; Umuroglu et
al., FPGA 2017): the input packets of a timestep are only written into the spike buffer; then, for every output
position of the tile and every bit plane of the spike code (one plane for binary spikes), the position's whole
input window (``R`` = input channels × kernel taps, or input features) is ANDed with each output column's weight
bits and counted by a popcount tree, ``popcount_bits`` weight × input bit pairs per cycle, and the count is
shift-added into the output's sum (a ±1 weight w = 2b − 1 gives Σ w·x = 2·popcount(b ∧ x) − popcount(x)). The pass
runs every timestep whatever the activity: ``P × planes × ⌈R × columns / popcount_bits⌉`` cycles before the neuron
phase, the crossbar's weights read once per position and plane, one sum per output written to the accumulator
storage."""

import numpy as np

from ....deploy.graph import conv_axes
from .base import Synapse, SynapseInputs, syn_kind


def _window(lay) -> tuple[np.ndarray, np.ndarray]:
    """(n,) output positions and input-window size ``R`` of each tile."""
    ins = np.array([t.inputs[1] - t.inputs[0] for t in lay.tiles])
    if lay.node.op != "conv":
        return np.ones(len(ins), np.int64), ins
    (kh, _, _), (kw, _, _) = conv_axes(lay.node)
    rows = np.array([t.rows[1] - t.rows[0] for t in lay.tiles])
    return rows * lay.node.shape[2], ins * kh * kw


def work(x: SynapseInputs) -> Synapse:
    c, lay = x.arch.core, x.lay
    T = x.events.shape[0]
    planes = max(lay.value_bits, 1)
    pos, R = _window(lay)
    pairs = pos * R * x.cg  # (n,) weight × input pairs per plane and timestep
    per_step = {
        "ops": pairs,
        "dense": pos * planes * -(-(R * x.cg) // c["popcount_bits"]),
        "words": pos * planes * -(-(R * x.cg * c["weight_bits"]) // c["synapse_word_bits"]),
        "outputs": pos * x.cg,
        "bit_ops": pairs * planes,
        "adds": pos * planes * x.cg,
        "input_bits": pos * planes * R,
    }
    v = {k: np.broadcast_to(a.astype(np.float64), (T, len(a))).copy() for k, a in per_step.items()}
    return Synapse("popcount", v["ops"], np.zeros((T, len(pos))), v["words"], v["dense"], v["outputs"],
                   v["bit_ops"], v["adds"], v["input_bits"])


def packet_rows(fanout: np.ndarray, lanes: int, slices: int) -> np.ndarray:
    """Packets are only buffered: no lane rows."""
    return np.zeros_like(fanout)


def counts(c: dict, lay, s: Synapse, psum_acc_bits: np.ndarray, update_bits: np.ndarray) -> dict:
    read = psum_acc_bits + update_bits
    write = psum_acc_bits + s.outputs.sum(axis=1) * c["accumulator_bits"]
    return {f"syn_{syn_kind(lay.node)}": s.ops.sum(axis=1), "popcount_bit": s.bit_ops.sum(axis=1),
            "dendrite_acc": s.adds.sum(axis=1), "synapse_read_word": s.words.sum(axis=1),
            "buffer_read_bit": s.input_bits.sum(axis=1),
            "acc_access": (read + write) / (c["accumulator_lanes"] * c["accumulator_bits"]), "acc_read_bit": read,
            "acc_write_bit": write}

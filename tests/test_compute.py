"""Synaptic compute modes of the cores template: event-driven and the dense bit-plane popcount crossbar, hand-computed
on the 4 → 3 → 2 network of test_hw and on a small convolution."""

import numpy as np
import pytest
from hw_helpers import random_trace, tiny_arch, tiny_graph
from test_hw import LINEAR_ARCH, linear_case

from empf_hw.hw import evaluate, reference_table
from empf_hw.hw.area import core_logic_ge
from empf_hw.hw.tech import int_add


def _acts(c):
    return c.actions.groupby(["layer", "action"])["count"].sum()


def test_popcount_linear_by_hand():
    g, tr = linear_case()
    arch = tiny_arch(**LINEAR_ARCH, synapse_compute="popcount", popcount_bits=8)
    c = evaluate(tr, arch)
    a = _acts(c)
    # fc1 (binary 4 → 3, 8-bit inputs): one position, window R = 4, 3 columns, 8 bit planes
    assert a["fc1", "syn_dense"] == 12  # weight × input pairs, dense (3 of the 4 inputs are non-zero)
    assert a["fc1", "popcount_bit"] == 12 * 8
    assert a["fc1", "dendrite_acc"] == 3 * 8  # a shift-add per column and plane
    assert a["fc1", "synapse_read_word"] == 8  # the 12-bit crossbar in one 64-bit word, read once per plane
    assert a["fc1", "buffer_read_bit"] == 4 * 8  # the input window's bit plane, per plane
    assert a["fc1", "acc_write_bit"] == 3 * 32 and a["fc1", "acc_read_bit"] == 3 * 32  # one sum per output
    assert a["fc1", "acc_access"] == pytest.approx(192 / 64)
    # fc2 has 8-bit weights: it stays event-driven (bit-sliced, 8 slices per synaptic event)
    assert a["fc2", "syn_dense"] == 4 * 8 and a["fc2", "popcount_bit"] == 0
    assert c.by_layer().set_index("layer")["synapse_compute"].to_dict() == {"fc1": "popcount", "fc2": "event"}
    # fc1: phase A = the 3 packets' 2 flits each through the port (6; the bus takes 3, no lane rows); phase B = the
    # dense pass 1 position × 8 planes × ⌈12 / 8⌉ = 16 + 3 neurons on 2 units × 3 cycles = 6 → 28; fc2 as in
    # test_hw: fc1's spikes leave after the dense pass and the first group of neurons (25, 26), arrive 2 cycles
    # later, 17 at 8.5 a packet + 3 → 47, as simulated
    assert c.timing.phase_b[0].tolist() == [22] and c.timing.finish.tolist() == [[28], [47]]
    assert evaluate(tr, arch, timing="cycle").timing.finish.tolist() == [[28], [47]]
    cyc = evaluate(tr, arch, timing="cycle")
    assert cyc.timing.finish[0].tolist() == [28]  # the simulator runs the same dense pass before the neuron update
    ev = evaluate(tr, tiny_arch(**LINEAR_ARCH), timing="cycle").timing.finish[:, 0]
    assert cyc.timing.finish[1, 0] - ev[1] == 28 - ev[0]  # fc2 (event-driven in both) shifts by fc1's extra time


def test_popcount_conv_by_hand():
    rng = np.random.default_rng(0)
    g = tiny_graph(rng, T=2, spike_bits=2)
    tr = random_trace(g, rng, density=0.3)
    arch = tiny_arch(synapse_compute="popcount", popcount_bits=64)
    c = evaluate(tr, arch)
    a = _acts(c)
    # c3: binary 3×3 stride 2 pad 1 conv, 4 → 4 channels on a 5×5 input → 3×3 output; 2-bit spikes → 2 planes;
    # one tile: 9 positions × window 4·9 = 36 × 4 columns = 1296 pairs per plane and timestep, every timestep
    assert len(c.mapping.layer("c3").tiles) == 1
    assert a["c3", "syn_conv"] == 2 * 1296 and a["c3", "popcount_bit"] == 2 * 2 * 1296
    assert a["c3", "synapse_read_word"] == 2 * 9 * 2 * 3  # ⌈144 / 64⌉ words per position and plane
    assert a["c3", "dendrite_acc"] == 2 * 9 * 2 * 4
    layer = c.timing.layers.index("c3")
    dense = 9 * 2 * 3  # positions × planes × ⌈144 / 64⌉ cycles per timestep
    ev = evaluate(tr, tiny_arch())
    assert (c.timing.phase_b[layer] - ev.timing.phase_b[layer]).tolist() == [dense, dense]
    # c1 and fc carry 8-bit weights: event-driven, counts identical to the event chip's (leakage follows the time)
    dynamic = [k for k in a["c1"].index if not k.startswith(("leakage", "wakeup"))]
    for name in ("c1", "fc"):
        assert a[name][dynamic].to_dict() == pytest.approx(_acts(ev)[name][dynamic].to_dict())


def test_auto_takes_the_cheaper_mode_per_layer():
    rng = np.random.default_rng(1)
    g = tiny_graph(rng, T=2, spike_bits=4, residual=True)
    chosen = {}
    for density in (0.02, 0.9):
        tr = random_trace(g, rng, density=density)
        # a fixed router pitch: the popcount array's area would otherwise lengthen the hops of the other chips
        per = {m: evaluate(tr, tiny_arch(synapse_compute=m, router_pitch_mm=1.0)).by_layer().set_index("layer")
               for m in ("event", "popcount", "auto")}
        for name, mode in per["auto"]["synapse_compute"].items():
            dyn = {m: per[m].loc[name, "energy_pJ"] - per[m].loc[name, "leakage_energy_pJ"] for m in per}
            assert dyn["auto"] == pytest.approx(min(dyn["event"], dyn["popcount"]))
            assert mode == ("event" if dyn["event"] <= dyn["popcount"] else "popcount") or name in ("c1", "fc")
        chosen[density] = per["auto"]["synapse_compute"].to_dict()
    assert chosen[0.02]["c2"] == "event" and chosen[0.9]["c2"] == "popcount"  # sparse input: events; dense: popcount
    assert {chosen[d][n] for d in chosen for n in ("c1", "fc")} == {"event"}  # 8-bit weights: never the popcount


def test_popcount_entry_and_area_by_hand():
    arch = tiny_arch(synapse_compute="popcount", popcount_bits=256)
    e = reference_table(arch)["popcount_bit"]
    per_ge = int_add(8) / (8 * 6)  # an 8-bit add of 6 GE per bit
    assert e.pJ == pytest.approx((1.33 + 6) * per_ge)  # AND2 + a counter-tree full adder
    assert (e.low, e.high) == pytest.approx((e.pJ / 2, e.pJ * 3)) and "FINN" in e.source
    assert core_logic_ge(arch) - core_logic_ge(tiny_arch()) == pytest.approx(256 * (1.33 + 6))

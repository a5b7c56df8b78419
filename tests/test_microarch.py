"""Microarchitecture options and physics corrections of the cores template, each pinned by a hand-computed figure:
accumulator storage, word-granular weight reads, EM-PF neuron work, stem computed once, DRAM shared per channel,
wire and node scaling."""

import math

import numpy as np
import pytest
from hw_helpers import _add, _neuron, _synaptic, random_trace, rect_graph, tiny_arch, tiny_graph

from empf_hw.deploy.graph import DeployGraph
from empf_hw.errors import EmpfError
from empf_hw.hw import evaluate, load_arch
from empf_hw.hw.energy import reference_table
from empf_hw.hw.tech import node_scale
from empf_hw.sim.pipeline import deploy
from empf_hw.sim.trace import ActivityTrace


@pytest.fixture(scope="module")
def zoo():
    return {m: deploy(f"models/{m}", spike_bits=None if "lif" in m else 4, samples=8, mode="fixed")
            for m in ("digits_cnn-empf-online-T4", "digits_cnn-lif-stbp-T4")}


def test_accumulator_storage_prices_from_their_sources():
    # Eyeriss: a register-file access ≈ one 16-bit MAC; Horowitz 45 nm: mult 0.2 pJ at 8 b, 3.1 pJ at 32 b; add
    # 0.03 / 0.1 pJ; power laws through those points
    mult16 = 0.2 * 2 ** (math.log(3.1 / 0.2) / math.log(4))
    add16 = 0.03 * 2 ** (math.log(0.1 / 0.03) / math.log(4))
    rf = (mult16 + add16) / 16
    base = load_arch("empf-core-45nm")
    for storage, pj in (("regfile", rf), ("latch", rf / 2)):
        t = reference_table(base.with_overrides({"core.accumulator_storage": storage}))
        assert t["acc_read_bit"].pJ == pytest.approx(pj) and t["acc_write_bit"].pJ == pytest.approx(pj)
        assert t["acc_read_bit"].low < pj < t["acc_read_bit"].high and t["acc_read_bit"].source
    sram = reference_table(base)  # 8 KiB SRAM, 10 pJ per 64-bit access: half per access, half per bit
    assert sram["acc_access"].pJ == pytest.approx(5.0) and sram["acc_read_bit"].pJ == pytest.approx(5.0 / 64)
    assert reference_table(base.with_overrides({"core.accumulator_storage": "latch"}))["acc_access"].pJ == 0


def test_accumulator_storage_moves_only_the_accumulator(zoo):
    tr = zoo["digits_cnn-empf-online-T4"].trace
    base = load_arch("empf-core-45nm")
    sram, rf = (evaluate(tr, base.with_overrides({"core.accumulator_storage": s})) for s in ("sram", "regfile"))
    assert np.array_equal(sram.counts, rf.counts)
    es, er = sram.component_energy(), rf.component_energy()
    bits = sram.count("acc_read_bit") + sram.count("acc_write_bit")
    ts, tr_ = reference_table(sram.arch), reference_table(rf.arch)
    assert es["accumulator"] == pytest.approx(bits * ts["acc_read_bit"].pJ + sram.count("acc_access")
                                              * ts["acc_access"].pJ)
    assert er["accumulator"] == pytest.approx(bits * tr_["acc_read_bit"].pJ)
    assert {k: v for k, v in er.items() if k != "accumulator"} == {k: v for k, v in es.items() if k != "accumulator"}


def test_weight_reads_are_whole_words():
    rng = np.random.default_rng(0)
    g = tiny_graph(rng, T=2)
    tr = random_trace(g, rng, density=0.5)
    for word in (64, 8):
        c = evaluate(tr, tiny_arch(weight_bits=8, synapse_word_bits=word))
        by = c.by_layer().set_index("layer")
        fc = list(c.action_names).index("synapse_read_word")
        li = list(by.index).index("fc")
        events = {lt.name: lt for lt in tr.layers}["fc"].event_map.sum()
        # fc: 3 outputs × 8-bit cells = 24 bits per input row: one 64-bit word, or three 8-bit words
        assert c.counts[li, fc].sum() == events * math.ceil(24 / word)
    t = reference_table(tiny_arch(weight_bits=8, synapse_word_bits=64))
    # 1 KiB: between Eyeriss's 0.5 KB register file (4 × a 16-bit MAC per 64 bits) and Horowitz's 8 KB (10 pJ),
    # log-log: a quarter of the way (1 / 0.5 = 2 of 16 in ratio)
    rf = 4 * (0.2 * 2 ** (math.log(3.1 / 0.2) / math.log(4)) + 0.03 * 2 ** (math.log(0.1 / 0.03) / math.log(4)))
    assert t["synapse_read_word"].pJ == pytest.approx(rf * (10.0 / rf) ** 0.25)


def _stateless(graph, trace):
    """``graph`` with every neuron's leak set to 0 (EM-PF parallel) and ``trace`` with its any-step event maps (the
    positions with an event at any step: one sample)."""
    for n in graph.nodes:
        if n.op == "neuron":
            n.tensors["leak"] = np.zeros_like(n.tensors["leak"])
    for lt in trace.layers:
        if lt.event_map is not None:
            lt.any_map = (lt.event_map > 0).any(axis=0).astype(np.int64)
    return ActivityTrace(trace.layers, trace.logits, trace.meta, graph)


def _fc_graph(rng):
    """input 4 → fc1 3 (8-bit weights) → neuron → fc2 2, three timesteps."""
    nodes = []
    x = _add(nodes, "input", "input", [], {"shape": [4], "input_bits": 8})
    h = _neuron(nodes, "n1", _synaptic(nodes, "fc1", x, 3, rng, bits=8), 3, 2)
    _add(nodes, "output", "output", [_synaptic(nodes, "fc2", h, 2, rng, bits=8)])
    return DeployGraph(nodes, {"timesteps": 3, "membrane_bits": 24, "membrane_frac_bits": 8, "accumulator_bits": 32})


def test_time_batched_reads_each_word_once_per_position():
    """fc1 (4 → 3, 8-bit cells: 24 bits a row, ⌈24 / 8⌉ = 3 words) over three steps with events at inputs
    {0, 1}, {0, 2}, {0}: 5 events read 15 words one step at a time; time-batched, the 3 positions with an event
    read 9, shared out over the steps as the events are (9 · 2/5, 9 · 2/5, 9 · 1/5); its 3 neurons hold 3
    accumulators of 32 bits each instead of a 24-bit membrane and a 32-bit accumulator."""
    rng = np.random.default_rng(0)
    g = _fc_graph(rng)
    tr = random_trace(g, rng, density=0.3)
    fc1 = {lt.name: lt for lt in tr.layers}["fc1"]
    fc1.event_map[:] = 0
    fc1.event_map[:, 0] = 1
    fc1.event_map[0, 1] = fc1.event_map[1, 2] = 1
    tr = _stateless(g, tr)
    arch = tiny_arch(weight_bits=8, synapse_word_bits=8)
    words = list(evaluate(tr, arch).action_names).index("synapse_read_word")
    c = {b: evaluate(tr, arch.with_overrides({"core.time_batched": b})) for b in (False, True)}
    assert c[False].counts[0, words].tolist() == [6, 6, 3]
    assert c[True].counts[0, words] == pytest.approx([3.6, 3.6, 1.8])
    assert c[False].counts[1, words].tolist() == c[True].counts[1, words].tolist()  # the classifier: no neurons
    state = {b: c[b].memory.set_index("layer")["state_memory_bits"]["fc1"] for b in c}
    assert (state[False], state[True]) == (3 * (24 + 32), 3 * 3 * 32)


def test_time_batched_conv_reads_against_two_extremes():
    """Conv layers (kh ≠ kw, per-axis strides) of stateless neurons: the same events at every step are fetched
    once (÷ T); events at one step only as often as without batching. Neurons with a leak are never batched."""
    rng = np.random.default_rng(1)
    g = rect_graph(rng, T=3)
    arch = tiny_arch(weight_bits=8, synapse_word_bits=8, membrane_sram_KiB=4, mesh_rows=8, mesh_cols=8)
    on = arch.with_overrides({"core.time_batched": True})
    tr = random_trace(g, rng, density=0.3)
    for lt in tr.layers:
        if lt.event_map is not None:
            lt.event_map[:] = lt.event_map[:1]  # the same events at every step
    words = list(evaluate(tr, arch).action_names).index("synapse_read_word")
    for lt in tr.layers:
        if lt.event_map is not None:
            lt.any_map = (lt.event_map > 0).any(axis=0).astype(np.int64)
    stateful = evaluate(tr, on)  # leaks of 0.5: nothing is batched
    assert np.array_equal(stateful.counts[:, words], evaluate(tr, arch).counts[:, words])
    tr = _stateless(g, tr)
    plain, batched = evaluate(tr, arch), evaluate(tr, on)
    ratio = batched.counts[:, words].sum(axis=1) / plain.counts[:, words].sum(axis=1)
    assert ratio == pytest.approx([1 / 3, 1 / 3, 1])  # c1, c2; the classifier fc has no neurons
    for lt in tr.layers:
        if lt.event_map is not None:
            lt.event_map[1:] = 0
    tr = _stateless(g, tr)  # a new trace: fresh caches and any-step maps
    plain, batched = evaluate(tr, arch), evaluate(tr, on)
    assert np.allclose(batched.counts[:, words], plain.counts[:, words])


def test_time_batched_state_must_fit_the_membrane_sram():
    rng = np.random.default_rng(0)
    g = _fc_graph(rng)
    tr = _stateless(g, random_trace(g, rng))
    arch = tiny_arch(membrane_sram_KiB=0.01)  # 81 bits: one neuron of 24 + 32 bits, none of 3 × 32
    assert len(evaluate(tr, arch).mapping.layer("fc1").tiles) == 3
    with pytest.raises(EmpfError, match=r"core.membrane_sram_KiB=0.01 holds no neuron of time-batched layer 'fc1'; "
                                        r"allowed: >= 0.0117188, or core.time_batched false"):
        evaluate(tr, arch.with_overrides({"core.time_batched": True}))


def test_empf_neuron_work_is_costed(zoo):
    e = evaluate(zoo["digits_cnn-empf-online-T4"].trace, "empf-core-45nm")
    lif = evaluate(zoo["digits_cnn-lif-stbp-T4"].trace, "stbp-core-45nm")
    spikes = sum(lt.counts["output_events"].sum() for lt in zoo["digits_cnn-empf-online-T4"].trace.layers
                 if lt.op == "neuron") / 8
    assert e.count("spike_quantize") == pytest.approx(spikes)  # every 4-bit spike is quantized once
    assert lif.count("spike_quantize") == 0 and lif.count("neuron_affine") == 0
    mem = 24
    mult = 0.2 * (mem / 8) ** (math.log(3.1 / 0.2) / math.log(4))
    add = 0.03 * (mem / 8) ** (math.log(0.1 / 0.03) / math.log(4))
    t = reference_table(load_arch("empf-core-45nm"))
    assert t["spike_quantize"].pJ == pytest.approx(mult + 2 * add)
    assert t["neuron_affine"].pJ == pytest.approx(mult + add)


def test_stem_once_processes_a_static_input_at_the_first_step_only(zoo):
    tr = zoo["digits_cnn-lif-stbp-T4"].trace
    arch = load_arch("stbp-core-45nm")
    every, once = evaluate(tr, arch), evaluate(tr, arch.with_overrides({"chip.stem_once": True}))
    stem = every.by_layer()["layer"].tolist().index("0.conv")
    T = tr.meta["timesteps"]
    # the same frame every step: T times the stem's synaptic events without the option, once with it
    assert every.counts[stem, :, :].sum(axis=1)[list(every.action_names).index("dendrite_acc")] == pytest.approx(
        T * once.counts[stem, :, :].sum(axis=1)[list(once.action_names).index("dendrite_acc")])
    assert once.energy_pJ() < every.energy_pJ() and once.timing.cycles <= every.timing.cycles


def test_spilled_weights_share_the_dram_channel():
    rng = np.random.default_rng(1)
    g = tiny_graph(rng, T=2, width=6)
    tr = random_trace(g, rng, density=0.3)
    arch = tiny_arch(mesh_rows=1, mesh_cols=1, dram_spill=True, dram_bits_per_cycle=1, synapse_sram_KiB=0.125,
                     membrane_sram_KiB=16, buffer_sram_KiB=16)  # 6 tiles on one core, weights reloaded
    for timing in ("fast", "cycle"):
        c = evaluate(tr, arch, timing=timing)
        bits = c.count("dram_bit")  # weight bits reloaded per inference, all over one channel
        assert bits > 0 and c.timing.cycles >= bits  # the channel alone needs bits / (1 bit per cycle)


def test_wires_scale_with_the_supply_and_logic_with_one_flavor():
    a = load_arch("empf-core-45nm").with_overrides({"chip.tech_node_nm": 14, "chip.router_pitch_mm": 0.5})
    # Keckler 2011: 310 pJ per 256 bits per 10 mm; 0.5 mm pitch; 14 nm nominal 0.8 V (wires scale with V², not L)
    assert reference_table(a)["hop_bit"].pJ == pytest.approx(310 / (256 * 10) * 0.5 * (0.8 / 0.9) ** 2)
    # Stillmaker & Baas HP coefficients at 32 nm and 45 nm, both at 0.9 V
    f32 = 0.8367 * 0.81 - 0.4341 * 0.9 + 0.1701
    f45 = 1.018 * 0.81 - 0.3107 * 0.9 + 0.1539
    assert node_scale(32, 0.9, "hp") == pytest.approx(f32 / f45)
    scales = [node_scale(n, None, "hp") for n in (45, 32, 20, 16, 14, 10, 7)]
    assert all(a > b for a, b in zip(scales, scales[1:]))  # no jump between 32 and 20 nm within one flavor


def test_small_srams_are_priced_inside_their_sources():
    from empf_hw.hw.tech import int_add, int_mult, sram_access

    rf = 4 * (int_mult(16) + int_add(16))  # Eyeriss's 0.5 KB register file: a 16-bit MAC per 16-bit access
    assert sram_access(0.5) == pytest.approx(rf) and sram_access(0.25) == pytest.approx(rf)  # no extrapolation
    assert sram_access(8) == pytest.approx(10.0) and sram_access(32) == pytest.approx(20.0)  # Horowitz
    assert sram_access(2) == pytest.approx(rf * (10.0 / rf) ** (math.log(4) / math.log(16)))  # log-log between
    t = reference_table(load_arch("empf-core-45nm").with_overrides({"core.buffer_sram_KiB": 0.25}))
    assert "Eyeriss" in t["buffer_read_bit"].source and "Eyeriss" not in t["synapse_read_word"].source

"""Hardware model: arch validation, ERT, mapper, vectorized timing vs the per-cycle reference, invariants."""

import math

import numpy as np
import pytest
import yaml
from hw_helpers import arch_dict, random_trace, tiny_arch, tiny_graph
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from empf_hw.errors import EmpfError
from empf_hw.hw import evaluate, format_table, load_arch, reference_table
from empf_hw.hw.arch import from_dict
from empf_hw.hw.costs import COMPONENTS
from empf_hw.hw.energy import int_add, int_mult, node_scale, sram_bit
from empf_hw.hw.mapper import map_graph
from empf_hw.hw.reference import simulate
from empf_hw.sim.trace import ActivityTrace


@st.composite
def cases(draw):
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    graph = tiny_graph(rng, T=draw(st.integers(1, 3)), residual=draw(st.booleans()), pool=draw(st.booleans()),
                       spike_bits=draw(st.integers(1, 4)), weight_bits=draw(st.sampled_from([1, 2, 8])),
                       c_in=draw(st.integers(1, 3)), size=draw(st.integers(3, 6)), width=draw(st.integers(2, 6)))
    spill = draw(st.booleans())
    arch = tiny_arch(crossbar_rows=draw(st.sampled_from([9, 18, 64])),
                     crossbar_cols=draw(st.sampled_from([8, 16, 24])),
                     weight_bits=draw(st.sampled_from([1, 2, 8])),
                     synapse_sram_KiB=4, membrane_sram_KiB=draw(st.sampled_from([0.1, 1.0])),
                     buffer_sram_KiB=draw(st.sampled_from([0.05, 1.0])),
                     spike_bus_bits=draw(st.sampled_from([12, 16, 32, 64])), address_bits=12,
                     accumulator_lanes=draw(st.integers(1, 8)), neuron_units=draw(st.integers(1, 4)),
                     neuron_update_cycles=draw(st.integers(1, 3)), noc_link_bits=draw(st.sampled_from([8, 32])),
                     noc_hop_cycles=draw(st.integers(0, 3)), mesh_rows=2 if spill else 24,
                     mesh_cols=draw(st.integers(2, 3)) if spill else 24, dram_spill=spill,
                     dram_bits_per_cycle=draw(st.sampled_from([16, 256])))
    trace = random_trace(graph, rng, density=draw(st.sampled_from([0.0, 0.2, 0.7, 1.0])))
    return graph, arch, trace


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_vectorized_timing_equals_per_cycle_reference(case):
    graph, arch, trace = case
    costs = evaluate(trace, arch)
    ref = simulate(costs.mapping, trace)
    tm = costs.timing
    for i, name in enumerate(tm.layers):
        for t in range(graph.timesteps):
            assert (tm.start[i, t], tm.finish[i, t]) == (ref["start"][(name, t)], ref["finish"][(name, t)])
    assert tm.cycles == ref["cycles"]


def _linear_case():
    """input 4 → linear 3 (binary) → LIF neuron → linear 2 (8-bit) → output, T=1, hand-computed below."""
    from empf_hw.deploy.graph import DeployGraph, Node

    ones = np.ones((1, 3), np.float32)
    w1 = np.ones((3, 4), np.float32)
    w2 = np.ones((2, 3), np.float32)
    syn = {"codes": None, "scale": None, "bias": None}
    nodes = [Node("in", "input", [], (4,), {"shape": [4], "input_bits": 8}),
             Node("fc1", "linear", ["in"], (3,), {"weight_kind": "binary", "weight_bits": 1},
                  {**syn, "weight": w1, "codes": w1.astype(np.int8), "scale": np.ones(3, np.float32),
                   "bias": np.zeros(3, np.float32)}),
             Node("n1", "neuron", ["fc1"], (3,), {"model": "lif", "reset": "threshold", "spike_bits": 1},
                  {"leak": ones, "threshold": np.ones(1, np.float32), "in_scale": ones, "in_bias": ones * 0,
                   "spike_step": np.array(1.0, np.float32)}),
             Node("fc2", "linear", ["n1"], (2,), {"weight_kind": "int", "weight_bits": 8},
                  {"weight": w2, "codes": w2.astype(np.int8), "scale": np.ones(2, np.float32),
                   "bias": np.zeros(2, np.float32)}),
             Node("out", "output", ["fc2"], (2,))]
    g = DeployGraph(nodes, {"timesteps": 1, "membrane_bits": 24, "membrane_frac_bits": 8, "accumulator_bits": 32})
    rng = np.random.default_rng(0)
    tr = random_trace(g, rng)
    tr.layers[1].event_map[:] = np.array([[1, 0, 1, 1]])
    tr.layers[3].event_map[:] = np.array([[1, 1, 0]])
    return g, tr


def test_hand_computed_linear_network():
    g, tr = _linear_case()
    arch = tiny_arch(crossbar_rows=64, crossbar_cols=16, weight_bits=1, spike_bus_bits=32, address_bits=12,
                     accumulator_lanes=2, neuron_units=2, neuron_update_cycles=3, noc_hop_cycles=2,
                     noc_link_bits=16, mesh_rows=4, mesh_cols=4)
    c = evaluate(tr, arch)
    # fc1: 3 packets of 12+8 bits, one per bus cycle; each event reaches 3 neurons → ⌈3/2⌉ = 2 cycles, 1 slice;
    # 3 neurons on 2 units × 3 cycles = 6  → 3 + 6 + 6 = 15
    # fc2 waits 1 hop (cores 0 → 1) × 2 + ⌈12/16⌉ − 1 = 2 cycles; 2 binary packets of 12 bits, two per cycle → 1;
    # 8-bit weights on 1-bit cells: 8 slices × ⌈2/2⌉ = 8 per event → 16; no neuron → 17; finish 15 + 2 + 17 = 34
    assert c.timing.finish.tolist() == [[15], [34]]
    s = c.by_layer().set_index("layer")
    assert s.loc["fc1", "syn_ops_hw"] == 9 and s.loc["fc2", "syn_ops_hw"] == 4
    acts = c.actions.set_index(["layer", "action"])["count"]
    assert acts["fc2", "syn_add"] == 4 * 8  # bit-sliced
    assert acts["fc1", "noc_bit_hop"] == 0  # the input is injected at the core
    assert acts["fc2", "noc_bit_hop"] == 2 * 12 * 1
    assert acts["fc1", "membrane_read_bit"] == 9 * 32 + 3 * (32 + 24)
    assert acts["fc1", "buffer_write_bit"] == 3 * 20
    assert simulate(c.mapping, tr)["cycles"] == 34


def _digits_trace(name, samples=24):
    from empf_hw.deploy import export_model
    from empf_hw.nn import load_checkpoint
    from empf_hw.nn.data import load_digits_split
    from empf_hw.sim import calibrate, execute

    (xtr, _), (x, _) = load_digits_split()
    model, _ = load_checkpoint(f"models/{name}")
    g = export_model(model)
    g = calibrate(g, xtr[:128], None if "lif" in name else 4)
    return execute(g, x[:samples], "fixed")


ZOO = ["digits_cnn-empf-online-T4", "digits_cnn-empf4bit-online-T4", "digits_cnn-lif-stbp-T4"]
PRESETS = ["empf-core-45nm", "stbp-core-45nm", "loihi-like"]


@pytest.fixture(scope="module")
def zoo_traces():
    return {m: _digits_trace(m) for m in ZOO}


@pytest.mark.parametrize("preset", PRESETS)
def test_zoo_models_evaluate_with_invariants(zoo_traces, preset):
    for m, tr in zoo_traces.items():
        c = evaluate(tr, preset, model=m)
        s = c.summary().iloc[0]
        total = c.energy_pJ()
        assert s["energy_pJ_per_inference"] == pytest.approx(total)
        assert c.by_component()["energy_pJ"].sum() == pytest.approx(total, rel=1e-12)
        assert c.by_layer()["energy_pJ"].sum() == pytest.approx(total, rel=1e-12)
        comps = [f"{k}_energy_pJ" for k in set(COMPONENTS.values())]
        assert sum(s[k] for k in comps) == pytest.approx(total, rel=1e-12)
        # SOPs of the spiking layers equal the trace's; the stem's event-driven ops never exceed its dense MACs
        layers = c.by_layer().set_index("layer")
        spiking = layers[layers["macs"] == 0]
        assert spiking["syn_ops_hw"].to_numpy() == pytest.approx(spiking["sops"].to_numpy(), rel=1e-12)
        stem = layers[layers["macs"] > 0]
        assert (stem["syn_ops_hw"] <= stem["macs"]).all()
        assert s["literature_energy_pJ_per_inference"] == pytest.approx(s["sops"] * 0.9 + s["macs"] * 4.6)
        assert s["neuron_updates"] == pytest.approx(c.actions.query("action == 'neuron_update'")["count"].sum())


def test_doubling_the_clock_halves_latency_and_keeps_dynamic_energy(zoo_traces):
    tr = zoo_traces[ZOO[0]]
    a = load_arch("empf-core-45nm")
    c1 = evaluate(tr, a).summary().iloc[0]
    c2 = evaluate(tr, a.with_overrides({"chip.clock_MHz": 2 * a.chip["clock_MHz"]})).summary().iloc[0]
    assert c2["latency_cycles"] == c1["latency_cycles"]
    assert c2["latency_us"] == pytest.approx(c1["latency_us"] / 2)
    assert c2["dynamic_energy_pJ"] == pytest.approx(c1["dynamic_energy_pJ"], rel=1e-12)
    assert c2["leakage_energy_pJ"] == pytest.approx(c1["leakage_energy_pJ"] / 2)


def test_all_zero_input_costs_only_neuron_updates_and_leakage():
    rng = np.random.default_rng(3)
    g = tiny_graph(rng, residual=True, pool=True)
    tr = random_trace(g, rng, density=0.0)
    for lt in tr.layers:
        lt.counts["other_ops"][:] = 0
    c = evaluate(tr, tiny_arch())
    spent = c.actions[c.actions["energy_pJ"] > 0]
    assert set(spent["action"]) == {"neuron_update", "membrane_read_bit", "membrane_write_bit",
                                    "leakage_core_cycle"}
    neurons = sum(int(np.prod(n.shape)) for n in g.nodes if n.op == "neuron") * g.timesteps
    a = c.actions.groupby("action")["count"].sum()
    assert a["neuron_update"] == neurons
    assert a["membrane_read_bit"] == neurons * (32 + 24) and a["membrane_write_bit"] == neurons * 24


def test_memory_footprint_exact_packing(zoo_traces):
    c = evaluate(zoo_traces[ZOO[0]], "empf-core-45nm")
    m = c.memory.set_index("layer")
    for lay in c.mapping.layers:
        bits = lay.node.attrs["weight_bits"]
        assert m.loc[lay.name, "weight_memory_bits"] == lay.node.tensors["weight"].size * bits
    binary = [lay.name for lay in c.mapping.layers if lay.node.attrs["weight_bits"] == 1]
    assert binary and all(m.loc[n, "weight_memory_bits"] == m.loc[n, "weights"] for n in binary)  # 1 bit each
    s = c.summary().iloc[0]
    assert s["compression_vs_fp32"] == pytest.approx(s["fp32_memory_bits"] / s["total_memory_bits"])
    lif = evaluate(zoo_traces[ZOO[2]], "stbp-core-45nm").summary().iloc[0]
    assert lif["weight_memory_bits"] > s["weight_memory_bits"]  # int-8 vs binary weights


def test_energy_table_base_points_and_scaling():
    assert int_add(8) == pytest.approx(0.03) and int_add(32) == pytest.approx(0.1)
    assert int_mult(8) == pytest.approx(0.2) and int_mult(32) == pytest.approx(3.1)
    assert int_add(16) == pytest.approx(0.03 * 2 ** (math.log(0.1 / 0.03) / math.log(4)))
    assert sram_bit(8) * 64 == pytest.approx(10) and sram_bit(32) * 64 == pytest.approx(20)
    assert sram_bit(1024) * 64 == pytest.approx(100)
    assert node_scale(45) == pytest.approx(1.0)
    scales = [node_scale(n) for n in (45, 28, 22, 14, 7)]
    assert all(a > b for a, b in zip(scales, scales[1:]))
    a = load_arch("empf-core-45nm")
    t = reference_table(a)
    assert t["syn_add"].pJ == pytest.approx(int_add(32))
    text = format_table(a)
    for entry in t:
        line = next(x for x in text.splitlines() if x.startswith(entry + " "))
        assert " | " in line and line.split(" | ")[1].strip()
    d = a.to_dict()
    d["energy"] = {"syn_add": {"pJ": 1.5, "source": "my measurement"}}
    t2 = reference_table(from_dict(d))
    assert t2["syn_add"].pJ == 1.5 and t2["syn_add"].source == "my measurement"
    hot = a.with_overrides({"chip.tech_node_nm": 7})
    assert reference_table(hot)["syn_add"].pJ == pytest.approx(int_add(32) * node_scale(7))


@pytest.mark.parametrize("change, field", [
    ({"core": {"crossbar_rows": 0}}, "core.crossbar_rows"),
    ({"core": {"weight_bits": 40}}, "core.weight_bits"),
    ({"core": {"spike_bus_bits": 8}}, "core.spike_bus_bits"),
    ({"core": {"lanes": 4}}, "core.lanes"),
    ({"chip": {"clock_MHz": -1}}, "chip.clock_MHz"),
    ({"color": "red"}, "'color'"),
    ({"energy": {"syn_ad": 1}}, "'syn_ad'"),
])
def test_bad_arch_specs_name_the_field(change, field):
    d = arch_dict()
    for k, v in change.items():
        if isinstance(v, dict) and k in d:
            d[k].update(v)
        else:
            d[k] = v
    with pytest.raises(EmpfError, match=field.replace(".", r"\.")):
        from_dict(d)


def test_cli_rejects_bad_arch_and_writes_nothing(tmp_path, capsys):
    from empf_hw.cli import main

    bad = tmp_path / "bad.yaml"
    d = arch_dict()
    d["core"]["accumulator_lanes"] = 0
    bad.write_text(yaml.safe_dump(d))
    out = tmp_path / "out"
    assert main(["cost", "--model", "models/digits_cnn-lif-stbp-T4", "--arch", str(bad), "--samples", "4",
                 "--out", str(out)]) == 2
    assert "core.accumulator_lanes=0" in capsys.readouterr().err
    assert not out.exists()
    (tmp_path / "broken.yaml").write_text("chip: [1, 2\n")
    assert main(["ert", "--arch", str(tmp_path / "broken.yaml")]) == 2
    assert "malformed YAML" in capsys.readouterr().err


def test_network_that_does_not_fit_names_layer_and_shortfall_or_spills():
    rng = np.random.default_rng(1)
    g = tiny_graph(rng, width=6)
    with pytest.raises(EmpfError, match=r"layer '.*' and later do not fit \(shortfall \d+ cores\)"):
        map_graph(g, tiny_arch(mesh_rows=1, mesh_cols=2))
    m = map_graph(g, tiny_arch(mesh_rows=1, mesh_cols=2, dram_spill=True))
    assert m.cores_used == 2 and sum(not t.resident for t in m.tiles) == len(m.tiles) - 2
    tr = random_trace(g, rng)
    c = evaluate(tr, tiny_arch(mesh_rows=1, mesh_cols=2, dram_spill=True))
    spilled = sum(t.synapse_bits for t in m.tiles if not t.resident)
    assert c.actions.query("action == 'dram_bit'")["count"].sum() == spilled * g.timesteps


def test_trace_round_trip_needs_graph(tmp_path, zoo_traces):
    tr = zoo_traces[ZOO[1]]
    tr.save(tmp_path / "t")
    loaded = ActivityTrace.load(tmp_path / "t")
    with pytest.raises(EmpfError, match="pass graph="):
        evaluate(loaded, "empf-core-45nm")
    a = evaluate(loaded, "empf-core-45nm", graph=tr.graph).summary()
    b = evaluate(tr, "empf-core-45nm").summary()
    assert a.equals(b)


@pytest.mark.parametrize("seed, pool", [(0, False), (1, False), (2, True), (3, True)])
def test_noc_bit_hops_match_brute_force(seed, pool):
    """Each packet travels from the core holding the neuron behind it (for a pooled input: the neuron at the
    window's first position) to the consuming tile."""
    from empf_hw.hw.reference import _fanout, _positions
    from empf_hw.hw.timing import layer_work

    rng = np.random.default_rng(seed)
    g = tiny_graph(rng, width=5, size=6, pool=pool)
    tr = random_trace(g, rng, density=0.5)
    arch = tiny_arch(crossbar_rows=18, crossbar_cols=8, membrane_sram_KiB=0.05, mesh_rows=10, mesh_cols=10)
    m = map_graph(g, arch)
    by = {lt.name: lt for lt in tr.layers}
    done = {}
    for lay in m.layers:
        w = layer_work(m, lay, by[lay.name], np.zeros(g.timesteps), 1, done, {})
        done[lay.name] = w
        if lay.producer == "input":
            assert not w.bit_hops.any()
            continue
        prod = m.layer(lay.producer)
        pshape = prod.node.shape
        expect = np.zeros_like(w.bit_hops)
        pooled = g[lay.node.inputs[0]].op == "pool"
        for j, tile in enumerate(lay.tiles):
            for pos in _positions(lay.in_shape):
                src = np.unravel_index(pos[0], pshape) if len(pos) == 1 and len(pshape) == 3 else pos
                if pooled:  # 2×2, stride 2, no padding
                    src = (src[0], 2 * src[1], 2 * src[2])
                head = next(h for h in prod.tiles if h.merges and h.outputs[0] <= src[0] < h.outputs[1]
                            and (len(src) == 1 or h.rows[0] <= src[1] < h.rows[1]))
                d = abs(head.xy[0] - tile.xy[0]) + abs(head.xy[1] - tile.xy[1])
                if _fanout(lay, tile, pos):
                    for t in range(g.timesteps):
                        expect[t, j] += by[lay.name].event_map[(t, *pos)] * d * w.packet_bits
        assert np.array_equal(w.bit_hops, expect)

"""Hardware model (cores template): arch validation, ERT, mapper, hand-computed counts and timing, invariants."""

import math

import numpy as np
import pytest
import yaml
from hw_helpers import CONVS_1D, RECT_CONVS, arch_dict, random_trace, rect_graph, tiny_arch, tiny_graph

from empf_hw.errors import EmpfError
from empf_hw.hw import evaluate, format_table, load_arch, reference_table
from empf_hw.hw.arch import from_dict
from empf_hw.hw.cores.mapper import map_graph
from empf_hw.hw.result import COMPONENT_ORDER
from empf_hw.hw.tech import int_add, int_mult, node_scale, sram_bit
from empf_hw.sim.trace import ActivityTrace

LINEAR_ARCH = dict(crossbar_rows=64, crossbar_cols=16, weight_bits=1, spike_bus_bits=32, address_bits=12,
                   accumulator_lanes=2, neuron_units=2, neuron_update_cycles=3, noc_hop_cycles=2, noc_link_bits=16,
                   mesh_rows=4, mesh_cols=4)  # the chip linear_case is hand-computed on


def linear_case():
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
    g, tr = linear_case()
    arch = tiny_arch(**LINEAR_ARCH)
    c = evaluate(tr, arch)
    # fc1: 3 packets of 12+8 bits from the I/O port at its router, the first in ⌈20/16⌉ − 1 = 1 cycle, one per bus
    # cycle; each event reaches 3 neurons → ⌈3/2⌉ = 2 lane rows, 1 slice: 3 cycles a packet → 1 + 9 = 10; then 3
    # neurons on 2 units × 3 cycles = 6 → 16.
    # fc2: fc1's spiking neurons 0 and 1 are its first group of 2 (of 2 groups, 3 cycles each), so their packets
    # leave once it is updated, at 13 and 14 (one injected per cycle; the estimate: from 13, evenly spread), 1
    # east-west hop (router (0, 0) → (0, 1)) × 2 + ⌈12/16⌉ − 1 = 2 cycles later; two binary packets of 12 bits per
    # bus word → 1 bus cycle; 8-bit weights on 1-bit cells: 8 slices × ⌈2/2⌉ = 8 per event → 17 at 8.5 a packet:
    # 15 + 17 = 32; its 2 output integrators on 2 units × 3 cycles = 3 → 35 (both as simulated below)
    assert c.timing.finish.tolist() == [[16], [35]]
    s = c.by_layer().set_index("layer")
    assert s.loc["fc1", "syn_ops_hw"] == 9 and s.loc["fc2", "syn_ops_hw"] == 4
    acts = c.actions.set_index(["layer", "action"])["count"]
    assert acts["fc2", "syn_dense"] == 4 * 8  # bit-sliced
    assert acts["fc1", "message_send"] == 3 and acts["fc1", "hop_ew"] + acts["fc1", "hop_ns"] == 0  # port = router
    assert acts["fc2", "message_send"] == 2 and acts["fc2", "hop_ew"] == 2 and acts["fc2", "hop_ns"] == 0
    assert acts["fc2", "hop_bit"] == 2 * 12 * 1
    assert acts["fc1", "acc_read_bit"] == 9 * 32 + 3 * 32 and acts["fc1", "acc_write_bit"] == 9 * 32
    assert acts["fc1", "membrane_read_bit"] == 3 * 24 and acts["fc1", "membrane_write_bit"] == 3 * 24
    assert acts["fc1", "buffer_write_bit"] == 3 * 20
    assert acts["fc1", "neuron_access"] == 3 and acts["fc2", "neuron_update"] == 2
    cyc = evaluate(tr, arch, timing="cycle")
    dyn = [i for i, a in enumerate(c.action_names) if not a.startswith("leakage_")]
    assert np.array_equal(cyc.counts[:, dyn], c.counts[:, dyn])
    # cycle by cycle: the 3 input packets (2 flits each on 16-bit links) reach fc1 at cycles 1, 3, 5; each takes
    # 1 bus cycle + 2 lane rows, so the engine runs 1–4, 4–7, 7–10, then 3 neurons on 2 units × 3 cycles → 16.
    # fc2's two binary packets (half a bus word each) are served back to back without rounding: 2 × (0.5 + 8
    # slices) + 3 cycles for the integrators after its first packet starts
    assert cyc.timing.finish[0, 0] == 16 and cyc.timing.start[0, 0] == 1
    assert cyc.timing.finish[1, 0] - cyc.timing.start[1, 0] == 2 * (0.5 + 8) + 3
    assert cyc.timing.finish.tolist() == c.timing.finish.tolist()


def _digits_trace(name, samples=24, schedule="pipelined"):
    from empf_hw.deploy import export_model
    from empf_hw.nn import load_checkpoint
    from empf_hw.nn.data import load_digits_split
    from empf_hw.sim import calibrate, execute

    (xtr, _), (x, _) = load_digits_split()
    model, _ = load_checkpoint(f"models/{name}")
    g = export_model(model)
    g = calibrate(g, xtr[:128], None if "lif" in name else 4)
    return execute(g, x[:samples], "fixed", schedule=schedule)


ZOO = ["digits_cnn-empf-online-T4", "digits_cnn-empf4bit-online-T4", "digits_cnn-lif-stbp-T4"]
PRESETS = ["empf-core-45nm", "stbp-core-45nm", "loihi-like", "loihi2-class", "loihi-sanafe"]


@pytest.fixture(scope="module")
def zoo_traces():
    return {m: _digits_trace(m) for m in ZOO}


@pytest.fixture(scope="module")
def lockstep_traces():
    return {m: _digits_trace(m, schedule="lockstep") for m in ZOO}


@pytest.mark.parametrize("preset", PRESETS)
def test_zoo_models_evaluate_with_invariants(zoo_traces, lockstep_traces, preset):
    arch = load_arch(preset)
    binary_only = arch.core["spike_payload_bits"] == 0
    traces = lockstep_traces if arch.chip["timestep_mode"] == "lockstep" else zoo_traces
    for m, tr in traces.items():
        c = evaluate(tr, preset, model=m, lowering="parallel" if binary_only else None)
        s = c.summary().iloc[0]
        total = c.energy_pJ()
        assert s["energy_pJ_per_inference"] == pytest.approx(total)
        assert c.by_component()["energy_pJ"].sum() == pytest.approx(total, rel=1e-12)
        assert c.by_layer()["energy_pJ"].sum() == pytest.approx(total, rel=1e-12)
        assert sum(s[f"{k}_energy_pJ"] for k in COMPONENT_ORDER) == pytest.approx(total, rel=1e-12)
        layers = c.by_layer().set_index("layer")
        spiking = layers[layers["macs"] == 0]
        if not binary_only:  # SOPs of the spiking layers equal the trace's
            assert spiking["syn_ops_hw"].to_numpy() == pytest.approx(spiking["sops"].to_numpy(), rel=1e-12)
        else:  # folded pooling: every unpooled spike is an event of its own, so never fewer synaptic ops
            assert (spiking["syn_ops_hw"] >= spiking["sops"] - 1e-9).all()
        assert s["sop_energy_pJ_per_inference"] == pytest.approx(s["sops"] * 0.9 + s["macs"] * 4.6)
        # the paper's rule: a 4-bit spike op is 0.9 / 8 pJ (the EM-PF models here), a binary one 0.9 pJ
        sop_share = 1 / 8 if "empf" in m else 1
        assert s["literature_energy_pJ_per_inference"] == pytest.approx(s["sops"] * 0.9 * sop_share
                                                                          + s["macs"] * 4.6)


def test_doubling_the_clock_halves_latency_and_keeps_dynamic_energy(zoo_traces):
    tr = zoo_traces[ZOO[0]]
    a = load_arch("empf-core-45nm")
    c1 = evaluate(tr, a).summary().iloc[0]
    c2 = evaluate(tr, a.with_overrides({"chip.clock_MHz": 2 * a.chip["clock_MHz"]})).summary().iloc[0]
    assert c2["latency_cycles"] == c1["latency_cycles"]
    assert c2["latency_us"] == pytest.approx(c1["latency_us"] / 2)
    assert c2["dynamic_energy_pJ"] == pytest.approx(c1["dynamic_energy_pJ"], rel=1e-12)
    assert c2["leakage_energy_pJ"] == pytest.approx(c1["leakage_energy_pJ"] / 2)


def test_all_zero_input_costs_only_neuron_work_and_leakage():
    rng = np.random.default_rng(3)
    g = tiny_graph(rng, residual=True, pool=True)
    tr = random_trace(g, rng, density=0.0)
    for lt in tr.layers:
        lt.counts["other_ops"][:] = 0
    c = evaluate(tr, tiny_arch())
    spent = c.actions[c.actions["energy_pJ"] > 0]
    assert set(spent["action"]) == {"neuron_update", "membrane_read_bit", "membrane_write_bit", "acc_read_bit",
                                    "acc_access", "param_read_bit", "leakage_core_cycle",
                                    "leakage_router_cycle", "wakeup_core"}
    a = c.actions.groupby("action")["count"].sum()
    integrators = sum(int(np.prod(n.shape)) for n in g.nodes if n.op in ("conv", "linear")
                      and g[c.mapping.layers[-1].name] is n)  # the classifier's outputs
    neurons = (sum(int(np.prod(n.shape)) for n in g.nodes if n.op == "neuron") + integrators) * g.timesteps
    assert a["neuron_update"] == neurons == a["neuron_access"]
    assert a["membrane_read_bit"] == neurons * 24 and a["acc_read_bit"] == neurons * 32


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
    for flavor in ("lp", "hp"):  # one coefficient set per flavor: monotone, no jump between 32 and 20 nm
        scales = [node_scale(n, flavor=flavor) for n in (45, 32, 28, 22, 20, 14, 7)]
        assert scales[0] == pytest.approx(1.0) and all(a > b for a, b in zip(scales, scales[1:]))
    # hand-computed: HP 14 nm at 0.8 V relative to HP 45 nm at 0.9 V
    hp14 = (0.2363 * 0.8**2 - 0.09675 * 0.8 + 0.02239) / (1.018 * 0.81 - 0.3107 * 0.9 + 0.1539)
    assert node_scale(14, flavor="hp") == pytest.approx(hp14)
    a = load_arch("empf-core-45nm").with_overrides({"chip.router_pitch_mm": 1.0})  # hops of 1 mm
    t = reference_table(a)
    assert t["dendrite_acc"].pJ == pytest.approx(int_add(32))
    assert t["hop_bit"].pJ == pytest.approx(310 / 2560)  # wires: Keckler et al. 2011, not node-scaled
    assert t["dram_bit"].low == pytest.approx(1300 / 64) and t["dram_bit"].high == pytest.approx(2600 / 64)
    text = format_table(a)
    for entry in t:
        line = next(x for x in text.splitlines() if x.startswith(entry + " "))
        assert " | " in line and line.split(" | ")[1].strip()
    d = a.to_dict()
    d["energy"] = {"dendrite_acc": {"pJ": 1.5, "source": "my measurement", "low": 1.0, "high": 2.0}}
    t2 = reference_table(from_dict(d))
    assert (t2["dendrite_acc"].pJ, t2["dendrite_acc"].low, t2["dendrite_acc"].source) == (1.5, 1.0, "my measurement")
    hot = a.with_overrides({"chip.tech_node_nm": 7})
    assert reference_table(hot)["dendrite_acc"].pJ == pytest.approx(int_add(32) * node_scale(7))
    assert reference_table(hot)["hop_bit"].pJ == pytest.approx(310 / 2560 * (0.7 / 0.9) ** 2)


@pytest.mark.parametrize("change, field", [
    ({"core": {"crossbar_rows": 0}}, "core.crossbar_rows"),
    ({"core": {"weight_bits": 40}}, "core.weight_bits"),
    ({"core": {"spike_bus_bits": 8}}, "core.spike_bus_bits"),
    ({"core": {"lanes": 4}}, "core.lanes"),
    ({"chip": {"clock_MHz": -1}}, "chip.clock_MHz"),
    ({"color": "red"}, "'color'"),
    ({"energy": {"syn_ad": 1}}, "'syn_ad'"),
    ({"chip": {"timestep_mode": "async"}}, "chip.timestep_mode"),
    ({"chip": {"io_row": 9}}, "chip.io_row"),
    ({"latency": {"syn_dense": -1}}, "latency.syn_dense"),
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


def test_an_arch_file_is_read_again_when_it_changes(tmp_path):
    """load_arch remembers a parsed file, but an edited file (new size or time) is read afresh, a broken edit is
    refused, and changing a returned Arch does not change the next one."""
    import os

    f = tmp_path / "a.yaml"
    d = arch_dict()
    f.write_text(yaml.safe_dump(d))
    first = load_arch(str(f))
    first.chip["clock_MHz"] = 1  # a caller scribbling on its copy
    assert load_arch(str(f)).chip["clock_MHz"] == 100
    d["chip"]["clock_MHz"] = 250
    f.write_text(yaml.safe_dump(d))
    os.utime(f, ns=(1, 1))  # even with an unchanged modification time the size differs
    assert load_arch(str(f)).chip["clock_MHz"] == 250
    d["chip"]["clock_MHz"] = 300  # same size, new time
    f.write_text(yaml.safe_dump(d))
    assert load_arch(str(f)).chip["clock_MHz"] == 300
    f.write_text("chip: [1, 2\n")
    with pytest.raises(EmpfError, match="malformed YAML"):
        load_arch(str(f))


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
    assert m.cores_used == 2 and all(t.resident for t in m.tiles)  # the folded tiles' weights fit the SRAM
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


@pytest.mark.parametrize("seed, pool, convs", [(0, False, None), (1, False, None), (2, True, None), (3, True, None),
                                               (4, False, RECT_CONVS), (5, True, RECT_CONVS), (6, False, CONVS_1D)])
def test_noc_hops_by_direction_match_brute_force(seed, pool, convs):
    """Each packet travels from the core holding the neuron behind it (for a pooled input: the neuron at the
    window's first position) to the consuming tile: XY routing, east-west along the row, then north-south."""
    from empf_hw.hw.cores.work import layer_work

    rng = np.random.default_rng(seed)
    if convs is None:
        g = tiny_graph(rng, width=5, size=6, pool=pool)
    else:  # per-axis kernels, strides and paddings; a 1-D network
        g = rect_graph(rng, width=5, size=(1, 20) if convs is CONVS_1D else (9, 10), convs=convs, pool=pool)
    tr = random_trace(g, rng, density=0.5)
    arch = tiny_arch(crossbar_rows=18, crossbar_cols=8, membrane_sram_KiB=0.05 if convs is None else 0.1,
                     mesh_rows=10, mesh_cols=10)
    m = map_graph(g, arch)
    by = {lt.name: lt for lt in tr.layers}
    done = {}
    for lay in m.layers:
        w = layer_work(m, lay, by[lay.name], np.zeros(g.timesteps), 1, done, {})
        done[lay.name] = w
        if lay.producer == "input":
            continue
        prod = m.layer(lay.producer)
        pshape = prod.node.shape
        ew, ns = np.zeros_like(w.hops_ew), np.zeros_like(w.hops_ns)
        pooled = g[lay.node.inputs[0]].op == "pool"
        shape = lay.in_shape
        positions = [np.unravel_index(i, shape) for i in range(int(np.prod(shape)))]
        for j, tile in enumerate(lay.tiles):
            for pos in positions:
                if not _reading_positions(lay, tile, pos):
                    continue
                src = np.unravel_index(pos[0], pshape) if len(pos) == 1 and len(pshape) == 3 else pos
                if pooled:  # 2×2, stride 2, no padding
                    src = (src[0], 2 * src[1], 2 * src[2])
                head = next(h for h in prod.tiles if h.merges and h.outputs[0] <= src[0] < h.outputs[1]
                            and (len(src) == 1 or h.rows[0] <= src[1] < h.rows[1]))
                for t in range(g.timesteps):
                    e = by[lay.name].event_map[(t, *pos)]
                    ew[t, j] += e * abs(head.xy[1] - tile.xy[1])
                    ns[t, j] += e * abs(head.xy[0] - tile.xy[0])
        assert np.array_equal(w.hops_ew, ew) and np.array_equal(w.hops_ns, ns)


def _reading_positions(lay, tile, pos) -> int:
    """Brute force: the output positions of ``tile`` (rows × columns; 1 for a linear layer) that read an input
    event at ``pos`` through a kernel tap."""
    if lay.node.op == "linear":
        return int(tile.inputs[0] <= pos[0] < tile.inputs[1])
    c, y, x = pos
    if not tile.inputs[0] <= c < tile.inputs[1]:
        return 0
    _, _, kh, kw = lay.node.tensors["weight"].shape
    (sh, sw), (ph, pw) = lay.node.attrs["stride"], lay.node.attrs["padding"]
    return sum(0 <= y + ph - r * sh < kh and 0 <= x + pw - q * sw < kw
               for r in range(*tile.rows) for q in range(lay.node.shape[2]))


@pytest.mark.parametrize("size, convs, pool", [((5, 9), RECT_CONVS, False), ((1, 20), CONVS_1D, False),
                                               ((9, 10), RECT_CONVS, True)], ids=["kh_ne_kw", "1d", "pooled"])
def test_rectangular_conv_events_and_packets_match_brute_force(size, convs, pool):
    """Per tile and timestep, counted event by event with the per-axis kernel, stride and padding: packets (events
    reaching the tile), synaptic events (× the tile's output channels) and lane rows; a tile stores
    C_in·kh·kw × C_out weight cells."""
    from empf_hw.hw.cores.work import layer_work

    rng = np.random.default_rng(len(convs) + size[0])
    g = rect_graph(rng, size=size, convs=convs, pool=pool, width=5)
    tr = random_trace(g, rng, density=0.5, batch=3)
    arch = tiny_arch(crossbar_rows=18, crossbar_cols=8, membrane_sram_KiB=0.1, mesh_rows=10, mesh_cols=10)
    m = map_graph(g, arch)
    lanes, cell = arch.core["accumulator_lanes"], arch.core["weight_bits"]
    by = {lt.name: lt for lt in tr.layers}
    done, convs_seen = {}, 0
    for lay in m.layers:
        w = layer_work(m, lay, by[lay.name], np.zeros(g.timesteps), 3, done, {})
        done[lay.name] = w
        if lay.node.op != "conv":
            continue
        convs_seen += 1
        _, _, kh, kw = lay.node.tensors["weight"].shape
        em = by[lay.name].event_map
        packets, syn, rows = (np.zeros_like(w.packets) for _ in range(3))
        for j, tile in enumerate(lay.tiles):
            cg = tile.outputs[1] - tile.outputs[0]
            assert tile.synapse_bits == (tile.inputs[1] - tile.inputs[0]) * kh * kw * cg * lay.slices * cell
            for pos in np.ndindex(*lay.in_shape):
                n = _reading_positions(lay, tile, pos)
                e = em[(slice(None), *pos)] / 3  # per inference
                packets[:, j] += e * (n > 0)
                syn[:, j] += e * n * cg
                rows[:, j] += e * math.ceil(n * cg / lanes) * lay.slices
        assert np.allclose(w.packets, packets) and np.allclose(w.syn.ops, syn) and np.allclose(w.syn.lane_rows, rows)
    assert convs_seen == len(convs)


def test_layer_too_big_for_a_core_names_the_limiting_field():
    """One output row of c1 (5 neurons of 24 + 32 bits) in a 0.01 KiB membrane SRAM (one neuron); a 3×3 kernel on
    8 crossbar rows; 8-bit weights on 4 single-bit columns."""
    g = tiny_graph(np.random.default_rng(0))
    tr = random_trace(g, np.random.default_rng(0))
    for over, message in (({"membrane_sram_KiB": 0.01}, r"one output row of 5 neurons exceeds the 1 neurons a core "
                                                         r"holds \(core.membrane_sram_KiB=0.01\)"),
                          ({"crossbar_rows": 8}, r"a 3×3 kernel needs 9 crossbar rows \(core.crossbar_rows=8\); "
                                                 r"allowed: core.crossbar_rows >= 9"),
                          ({"crossbar_cols": 4}, r"a weight needs 8 crossbar columns \(core.crossbar_cols=4\); "
                                                 r"allowed: core.crossbar_cols >= 8")):
        with pytest.raises(EmpfError, match=r"layer 'c1' does not fit a core: " + message):
            evaluate(tr, tiny_arch(**over))


@pytest.mark.parametrize("preset", ["loihi-like", "loihi-board"])
def test_loihi_presets_time_events_as_sanafes_calibrated_loihi(preset):
    """Loihi's per-event times (SANA-FE's SPICE-based figures after Davies et al. 2018, as ``loihi-sanafe`` carries
    them entry for entry): no synaptic op at the default one cycle of the 10 GHz clock (0.1 ns)."""
    from empf_hw.hw.cores.work import latencies

    ours, ref = latencies(load_arch(preset)), latencies(load_arch("loihi-sanafe"))
    for k in ("message_receive", "syn_dense", "syn_sparse", "syn_conv", "neuron_access", "spike_gen", "hop_ew",
              "hop_ns"):
        assert ours[k] == ref[k], k
    assert ours["syn_dense"] * 1e3 / load_arch(preset).chip["clock_MHz"] == pytest.approx(3.8)  # ns
    assert load_arch(preset).core["neuron_update_cycles"] == load_arch("loihi-sanafe").core["neuron_update_cycles"]


def test_loihi2_class_is_loihi_scaled_by_published_ratios(lockstep_traces):
    """Estimates: Loihi 1's energies × the Stillmaker 14 → 7 nm factor with a range up to Loihi 1's, per-event times
    ÷ 10 ("up to 10x faster"), 8 192 compartments per core and graded 32-bit payloads (EM-PF's 4-bit spikes go
    through unlowered)."""
    from empf_hw.hw.cores.work import latencies

    l1, l2 = load_arch("loihi-like"), load_arch("loihi2-class")
    factor = node_scale(7) / node_scale(14)
    for k, v in l2.energy.items():
        if v["source"].startswith("estimate") and k != "message_bit":
            assert v["pJ"] == pytest.approx(l1.energy[k]["pJ"] * factor, rel=2e-3), k
            assert v["low"] == pytest.approx(v["pJ"] / 2, rel=2e-3) and v["high"] == l1.energy[k]["pJ"]
    ours, ref = latencies(l2), latencies(l1)
    assert all(abs(ours[k] - ref[k] / 10) <= 0.5 for k in ("syn_dense", "syn_conv", "message_receive", "spike_gen"))
    assert l2.core["max_neurons"] == 8 * l1.core["max_neurons"] and l2.core["spike_payload_bits"] == 32
    tr = lockstep_traces["digits_cnn-empf4bit-online-T4"]
    c2 = evaluate(tr, l2)  # no lowering needed: graded spikes
    c1 = evaluate(tr, l1, lowering="parallel")
    assert c2.energy_pJ() < c1.energy_pJ() and c2.timing.latency_us < c1.timing.latency_us

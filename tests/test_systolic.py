"""Systolic template: SCALE-Sim's cycle model, event mode against a brute-force count, SCALE-Sim file import,
end-to-end through simulate and sweeps, and the layer-by-layer agreement with SCALE-Sim itself."""

import itertools
import math

import numpy as np
import pytest
from hw_helpers import CONVS_1D, random_trace, rect_graph, tiny_graph

from empf_hw.deploy import export_model
from empf_hw.errors import EmpfError
from empf_hw.hw import evaluate, load_arch
from empf_hw.hw.systolic.model import active_vectors, gemm_cycles
from empf_hw.hw.systolic.scalesim_io import (
    conv_topology,
    dense_cycles,
    gemm_topology,
    graph_gemms,
    read_config,
    read_topology,
)
from empf_hw.nn import ModelConfig, build_model


def test_published_scalesim_example():
    # SCALE-Sim v3, 32×32 WS array, IFMAP 34×34 (pad 1), 3×3, 64→64, stride 1: 40247 cycles (../shared/PEERS.md)
    assert gemm_cycles(32 * 32, 64, 3 * 3 * 64, 32, 32, "ws") == 40247


def _brute_active(node, em, rows, dataflow):
    """Streamed vectors with an event, counted one by one from a batch-1 event map (C, H, W) or (F,)."""
    w = node.tensors["weight"]
    if node.op == "linear":
        cols = [em.reshape(-1)]
    else:
        (sh, sw), (ph, pw) = node.attrs["stride"], node.attrs["padding"]
        c, h, ww = em.shape
        cols = []
        for oy, ox in itertools.product(range(node.shape[1]), range(node.shape[2])):
            v = []
            for ci, ky, kx in itertools.product(range(c), range(w.shape[2]), range(w.shape[3])):
                y, x = oy * sh - ph + ky, ox * sw - pw + kx
                v.append(em[ci, y, x] if 0 <= y < h and 0 <= x < ww else 0)
            cols.append(v)
    A = np.array(cols)  # (M, K)
    M, K = A.shape
    if dataflow == "ws":
        return [sum(A[m, f:f + rows].any() for m in range(M)) for f in range(0, K, rows)]
    return [sum(A[f:f + rows, kk].any() for kk in range(K)) for f in range(0, M, rows)]


@pytest.mark.parametrize("dataflow", ["ws", "os"])
@pytest.mark.parametrize("geometry", ["square", "kh_ne_kw", "1d"])
def test_event_mode_vectors_match_brute_force(dataflow, geometry):
    rng = np.random.default_rng(0)
    if geometry == "square":
        g = tiny_graph(rng, pool=True, size=6, width=5)
    else:
        g = rect_graph(rng, width=5, **({"size": (1, 20), "convs": CONVS_1D} if geometry == "1d" else {}))
    tr = random_trace(g, rng, density=0.15)
    for n in g.nodes:
        if n.op in ("conv", "linear"):
            em = next(lt for lt in tr.layers if lt.name == n.name).event_map[0]
            got = active_vectors(n, em.astype(float), 7, dataflow, 1)
            assert got.tolist() == pytest.approx(_brute_active(n, em, 7, dataflow))


def test_event_mode_bounds_and_dense_equality():
    rng = np.random.default_rng(1)
    g = tiny_graph(rng, size=6)
    dense = load_arch("systolic-32x32-45nm").with_overrides({"array.mode": "dense", "array.rows": 8,
                                                             "array.cols": 4})
    event = dense.with_overrides({"array.mode": "event"})
    full = random_trace(g, rng, density=1.0)
    fe, fd = evaluate(full, event).timing, evaluate(full, dense).timing
    assert (fe.phase_a <= fd.phase_a).all()
    assert (fe.phase_a[-1] == fd.phase_a[-1]).all()  # the linear layer: every input fires, nothing to skip
    assert (fe.phase_a[0] < fd.phase_a[0]).all()  # the padded stem: all-padding tap folds are skipped
    sparse = random_trace(g, rng, density=0.05)
    e, d = evaluate(sparse, event), evaluate(sparse, dense)
    assert e.timing.cycles < d.timing.cycles and e.energy_pJ() < d.energy_pJ()
    # dense compute cycles per layer-timestep equal the GEMM formula (no stalls with these bandwidths)
    for i, gm in enumerate(graph_gemms(g)):
        slices = math.ceil(g[gm.name].attrs["weight_bits"] / 1)
        assert d.timing.phase_a[i, 0] == gemm_cycles(gm.M, gm.N, gm.K * slices, 8, 4, "ws")


def test_scalesim_files_import(tmp_path):
    t = tmp_path / "net.csv"
    t.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
                 "Strides,\nc1, 34, 34, 3, 3, 16, 32, 1,\nc2, 18, 18, 3, 3, 32, 64, 2,\n")
    layers = read_topology(t)
    assert [(g.M, g.N, g.K) for g in layers] == [(1024, 32, 144), (81, 64, 288)]  # SCALE-Sim rounds 7.5 up
    gm = tmp_path / "g.csv"
    gm.write_text("Layer, M, N, K,\ng1, 100, 20, 50,\n")
    assert [(g.M, g.N, g.K) for g in read_topology(gm)] == [(100, 20, 50)]
    cfg = tmp_path / "a.cfg"
    cfg.write_text("[general]\nrun_name = x\n[architecture_presets]\nArrayHeight: 16\nArrayWidth: 8\n"
                   "IfmapSramSzkB: 64\nFilterSramSzkB: 64\nOfmapSramSzkB: 64\nDataflow: os\n")
    a = read_config(cfg)
    assert (a.core["rows"], a.core["cols"], a.core["dataflow"], a.core["mode"]) == (16, 8, "os", "dense")
    assert dense_cycles(read_topology(gm), a) == [gemm_cycles(100, 20, 50, 16, 8, "os")]
    bad = tmp_path / "bad.csv"
    bad.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
                   "Strides,\nc1, 2, 2, 3, 3, 1, 1, 1,\n")
    with pytest.raises(EmpfError, match="line 2: impossible layer"):
        read_topology(bad)
    cfg.write_text(cfg.read_text().replace("Dataflow: os", "Dataflow: is"))
    with pytest.raises(EmpfError, match="Dataflow='is' is not supported; allowed: ws, os"):
        read_config(cfg)


def test_systolic_presets_end_to_end(tmp_path):
    from empf_hw.report.simulate import SimulateConfig, simulate
    from empf_hw.sweep.runner import run_sweep
    from empf_hw.sweep.spec import parse_spec

    path, machine = simulate(SimulateConfig(arch="systolic-32x32-45nm", baseline_arch="systolic-32x32-stbp-45nm",
                                            samples=20), tmp_path / "rep")
    assert [r["arch"] for r in machine["summary"]] == ["systolic-32x32-45nm", "systolic-32x32-stbp-45nm"]
    assert all(r["energy_pJ_per_inference"] > 0 and r["latency_cycles"] > 0 for r in machine["summary"])
    assert (path / "report.html").exists()
    spec = parse_spec({"name": "sys", "models": ["models/digits_cnn-empf-online-T4"], "arch": "systolic-32x32-45nm",
                       "samples": 20, "parameters": {"array.cols": [8, 32], "array.mode": ["dense", "event"]}})
    store = run_sweep(spec, tmp_path / "s.sqlite", progress=False)
    rows = store.rows()
    assert len(rows) == 4 and all(r["status"] == "ok" for r in rows)
    by = {(r["array.cols"], r["array.mode"]): r["latency_cycles"] for r in rows}
    assert by[(32, "dense")] < by[(8, "dense")] and by[(32, "event")] <= by[(32, "dense")]
    with pytest.raises(EmpfError, match="does not apply to systolic-32x32-45nm"):
        parse_spec({"name": "x", "models": ["models/digits_cnn-empf-online-T4"], "arch": "systolic-32x32-45nm",
                    "parameters": {"core.crossbar_rows": [64]}})


def test_conv_topology_of_per_axis_strides(tmp_path):
    """MNIST-1D's 1×k convolutions (strides 1×2 over a single row) read back as the graph's own GEMMs; strides that
    differ along two axes with several positions each have no SCALE-Sim topology."""
    g = export_model(build_model(ModelConfig("mnist1d_cnn", timesteps=1)).eval())
    (tmp_path / "t.csv").write_text(conv_topology(g))
    convs = [x for x in graph_gemms(g) if g[x.name].op == "conv"]
    assert [(x.M, x.N, x.K) for x in read_topology(tmp_path / "t.csv")] == [(x.M, x.N, x.K) for x in convs]
    assert [(x.M, x.N, x.K) for x in convs] == [(19, 32, 5), (10, 64, 32 * 3), (5, 64, 64 * 3)]
    with pytest.raises(EmpfError, match=r"stride 2×1 differs between the axes; allowed in a SCALE-Sim topology"):
        conv_topology(rect_graph(np.random.default_rng(0)))


def _cifar_layers():
    out = []
    for arch in ("resnet18", "vgg11"):
        g = export_model(build_model(ModelConfig(arch, timesteps=1)).eval())
        seen = set()
        for line in conv_topology(g).splitlines()[1:]:
            shape = tuple(x.strip() for x in line.split(",")[1:8])
            if shape not in seen:  # identical convolutions give identical cycles: run each shape once
                seen.add(shape)
                out.append(line.replace(line.split(",")[0], f"{arch}.{line.split(',')[0]}"))
    return out


GEMMS = [("g_fc", 1, 10, 512), ("g_tall", 1000, 64, 300), ("g_wide", 64, 1000, 2000)]


@pytest.mark.peer  # SCALE-Sim 3.0.0 in its own numpy<2 venv (created on first use)
def test_dense_cycles_equal_scalesim_layer_by_layer(tmp_path):
    from peers import run_scalesim

    from empf_hw.hw.systolic.scalesim_io import CONV_HEADER, Gemm

    convs = _cifar_layers()
    topo = CONV_HEADER + "\n" + "\n".join(convs) + "\n"
    (tmp_path / "t.csv").write_text(topo)
    ours_layers = read_topology(tmp_path / "t.csv")
    gemms = [Gemm(*g) for g in GEMMS]
    checks = [("ws", 32, 32, topo, ours_layers, False), ("ws", 16, 8, gemm_topology(gemms), gemms, True),
              ("os", 16, 8, gemm_topology(gemms), gemms, True),
              ("os", 32, 32, CONV_HEADER + "\n" + "\n".join(convs[:4]) + "\n", ours_layers[:4], False)]
    for df, r, c, text, layers, is_gemm in checks:
        arch = load_arch("systolic-32x32-45nm").with_overrides({"array.rows": r, "array.cols": c,
                                                                "array.dataflow": df, "array.mode": "dense"})
        theirs = run_scalesim(text, r, c, df, is_gemm)
        ours = dense_cycles(layers, arch)
        assert len(theirs) == len(ours) == len(layers)
        for layer, a, b in zip(layers, ours, theirs):
            assert abs(a - b) <= 0.01 * b, (df, layer, a, b)
    assert len(convs) >= 15


def test_scalesim_cli_and_cfg_as_arch(tmp_path, capsys):
    from empf_hw.cli import main

    t = tmp_path / "t.csv"
    t.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
                 "Strides,\nc1, 34, 34, 3, 3, 64, 64, 1,\n")
    assert main(["scalesim", "--topology", str(t), "--json"]) == 0
    assert '"compute_cycles": 40247' in capsys.readouterr().out
    cfg = tmp_path / "a.cfg"
    cfg.write_text("[architecture_presets]\nArrayHeight: 32\nArrayWidth: 32\nIfmapSramSzkB: 64\n"
                   "FilterSramSzkB: 64\nOfmapSramSzkB: 64\nDataflow: ws\n")
    assert load_arch(str(cfg)).core["rows"] == 32
    assert main(["scalesim", "--topology", str(t), "--arch", "empf-core-45nm"]) == 2
    assert "allowed: a systolic preset" in capsys.readouterr().err


def test_shipped_resnet18_topology_and_config(tmp_path, monkeypatch, capsys):
    """sims/scalesim holds CIFAR ResNet-18 as SCALE-Sim topologies (the export of the catalog network, so they
    cannot drift from it) and a 32×32 WS config whose ``run_name`` names the array; both resolve by name from any
    directory."""
    import json

    from empf_hw.cli import main
    from empf_hw.resources import find

    g = export_model(build_model(ModelConfig("resnet18", timesteps=1)).eval())
    conv = find("resnet18_cifar10.csv", "scalesim", lambda p: p.is_file())
    fc = find("resnet18_cifar10_fc.csv", "scalesim", lambda p: p.is_file())
    assert conv.read_text() == conv_topology(g)
    assert fc.read_text() == gemm_topology([x for x in graph_gemms(g) if x.M == 1])
    monkeypatch.chdir(tmp_path)
    assert main(["scalesim", "--topology", "resnet18_cifar10.csv", "--arch", "systolic_32x32_ws.cfg", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 20 and rows[1]["compute_cycles"] == 40247  # SCALE-Sim's published 3×3 64→64 layer
    cfg = find("systolic_32x32_ws.cfg", "scalesim", lambda p: p.is_file())
    assert read_config(cfg).name == "systolic_32x32_ws"
    (tmp_path / "x.cfg").write_text(cfg.read_text().replace("run_name = systolic_32x32_ws", "run_name = my_array"))
    assert read_config(tmp_path / "x.cfg").name == "my_array"
    (tmp_path / "y.cfg").write_text(cfg.read_text().replace("run_name = systolic_32x32_ws\n", ""))
    assert read_config(tmp_path / "y.cfg").name == "y"

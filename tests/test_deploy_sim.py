"""Export + NumPy executor against PyTorch, trace counts against brute force, fixed-point formats, bad graphs."""

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from empf_hw.cli import main
from empf_hw.deploy import DeployGraph, Node, export_model
from empf_hw.deploy.graph import layer_labels
from empf_hw.errors import EmpfError
from empf_hw.nn import ModelConfig, build_model, load_checkpoint
from empf_hw.nn.data import load_digits_split
from empf_hw.sim import ActivityTrace, calibrate, execute, executor, ops
from empf_hw.sim.pipeline import deploy

ZOO = Path(__file__).resolve().parents[1] / "models"
FORMATS = {"timesteps": 2, "membrane_bits": 24, "membrane_frac_bits": 8, "accumulator_bits": 32}


def torch_logits(model, x):
    with torch.no_grad():
        return model.eval().run(torch.from_numpy(x)).numpy()


def bn_calibrated(cfg: ModelConfig, x: torch.Tensor):
    """Random weights, BatchNorm statistics measured on ``x`` so activity reaches the last layer."""
    torch.manual_seed(0)
    model = build_model(cfg).train()
    for m in model.modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            m.momentum = None
    with torch.no_grad():
        model.run(x)
    return model.eval()


@pytest.mark.parametrize("name", ["digits_cnn-empf-online-T4", "digits_cnn-lif-stbp-T4",
                                  "digits_cnn-empf4bit-online-T4"])
def test_float_mode_reproduces_zoo_models(name):
    model, _ = load_checkpoint(ZOO / name)
    _, (x, _) = load_digits_split()
    ref = torch_logits(model, x)
    trace = execute(export_model(model), x)
    assert np.array_equal(trace.predictions, ref.mean(0).argmax(1))
    rel = np.abs(trace.logits - ref).max(axis=(0, 2)) / np.abs(ref).max()
    # quantized spikes: a float32 rounding tie may move one spike by one level in a few samples
    assert np.mean(rel <= 1e-4) >= (0.99 if "4bit" in name else 1.0)


@pytest.mark.parametrize("cfg", [ModelConfig("vgg11", timesteps=2), ModelConfig("resnet18", timesteps=2),
                                 ModelConfig("digits_cnn", timesteps=3, mem_bn=True, attention=True,
                                             weights="ternary"),
                                 ModelConfig("digits_mlp", timesteps=3, parallel=True, spike_bits=6),
                                 ModelConfig("mnist1d_cnn", timesteps=3, attention=True, mem_bn=True)],
                         ids=["vgg11", "resnet18", "digits_membn_eca_ternary", "mlp_parallel_6bit", "mnist1d_cnn_eca"])
def test_float_mode_reproduces_random_networks(cfg):
    x = torch.rand(4, *cfg.input_shape)
    model = bn_calibrated(cfg, x)
    ref = torch_logits(model, x.numpy())
    trace = execute(export_model(model), x.numpy())
    last_neuron = [lt for lt in trace.layers if lt.op == "neuron"][-1]
    assert last_neuron.counts["output_events"].sum() > 0  # activity reaches the classifier
    assert np.array_equal(trace.predictions, ref.mean(0).argmax(1))
    assert np.abs(trace.logits - ref).max() <= 1e-4 * np.abs(ref).max()


def passthrough_graph(conv_attrs, weight, spike_bits=0, step=0.0, acc_bits=32, size=(7, 7)):
    """input → neuron (λ=0, θ=0: s = ReLU(x)) → conv/linear → output: the conv sees exactly the input's non-zeros."""
    c = weight.shape[1]
    op = "conv" if weight.ndim == 4 else "linear"
    shape = (4, c, *size) if op == "conv" else (4, c)
    inp = Node("in", "input", [], shape[1:], {"shape": list(shape[1:]), "input_bits": 8})
    neu = Node("n", "neuron", ["in"], shape[1:], {"model": "empf", "reset": "spike", "spike_bits": spike_bits},
               {"leak": np.zeros((2, c), np.float32), "threshold": np.zeros(2, np.float32),
                "in_scale": np.ones((2, c), np.float32), "in_bias": np.zeros((2, c), np.float32),
                "spike_step": np.array(step, np.float32)})
    tensors = {"weight": weight.astype(np.float32), "codes": np.sign(weight).astype(np.int8),
               "scale": np.ones(len(weight), np.float32), "bias": np.zeros(len(weight), np.float32)}
    attrs = {"weight_kind": "binary", "weight_bits": 1, **conv_attrs}
    from empf_hw.deploy.graph import infer_shape
    syn = Node("syn", op, ["n"], (), attrs, tensors)
    syn.shape = infer_shape(syn, [shape[1:]])
    out = Node("out", "output", ["syn"], syn.shape)
    return DeployGraph([inp, neu, syn, out], {**FORMATS, "accumulator_bits": acc_bits})


def brute_force_sops(x, cout, k, stride, padding):
    """Loop over every event and every output position/tap; count those that read it. ``k``, ``stride``,
    ``padding``: (rows, columns)."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = k, stride, padding
    ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    total = 0
    for _b, _c, y, xx in zip(*np.nonzero(x)):
        for oy in range(ho):
            for ox in range(wo):
                for i in range(kh):
                    for j in range(kw):
                        if oy * sh - ph + i == y and ox * sw - pw + j == xx:
                            total += cout
    return total


@pytest.mark.parametrize("k,stride,padding,size", [
    (3, 1, 1, (7, 7)), (3, 2, 1, (7, 7)), (3, 2, 0, (7, 7)), (1, 2, 0, (7, 7)), (5, 1, 2, (7, 7)),
    ((1, 5), (1, 2), (0, 1), (1, 40)), ((1, 3), (1, 2), (0, 1), (1, 10)), ((3, 2), (2, 1), (1, 0), (7, 6)),
    ((2, 5), (3, 1), (0, 2), (8, 5))])
def test_conv_sops_match_brute_force(k, stride, padding, size):
    """Integers as in old graphs, or per-axis pairs: 1×k convolutions over (C, 1, L) and kh ≠ kw kernels."""
    k, stride, padding = ((v, v) if isinstance(v, int) else v for v in (k, stride, padding))
    rng = np.random.default_rng(sum(k) * 10 + sum(stride) + sum(padding))
    x = rng.random((4, 3, *size)).astype(np.float32) * (rng.random((4, 3, *size)) < 0.3)
    w = rng.standard_normal((5, 3, *k))
    trace = execute(passthrough_graph({"stride": stride, "padding": padding}, w, size=size), x)
    conv = trace.layers[2]
    expected = brute_force_sops(x, 5, k, stride, padding)
    assert conv.counts["sops"].tolist() == [expected, expected]  # same input both timesteps
    assert conv.counts["input_events"][0] == np.count_nonzero(x)
    ho, wo = ((n + 2 * p - kk) // s + 1 for n, kk, s, p in zip(size, k, stride, padding))
    assert conv.counts["dense_ops"][0] == 4 * 5 * 3 * ho * wo * k[0] * k[1]
    assert np.array_equal(conv.event_map[0], (x != 0).sum(axis=0))
    ref = F.conv2d(torch.from_numpy(x.astype(np.float64)), torch.from_numpy(w), stride=stride, padding=padding)
    assert np.allclose(np.moveaxis(trace.logits[0], -1, 1), ref.numpy(), atol=1e-4)  # the conv's output (N, H, W, C)


def test_linear_sops_and_value_bits_in_fixed_mode():
    codes = np.array([[0, 1, 2, 3, 4, 15, 0, 7]], np.float32)  # bits needed: -,1,2,2,3,4,-,3
    w = np.ones((3, 8))
    g = passthrough_graph({}, w, spike_bits=4, step=1 / 15)
    trace = execute(g, codes / 15, "fixed")
    lin = trace.layers[2]
    assert lin.counts["input_events"].tolist() == [6, 6]
    assert lin.counts["sops"].tolist() == [18, 18]
    assert lin.value_bits[0, :5].tolist() == [0, 1, 2, 2, 1]
    # binary weights, exact integer sums of spike codes (scale 1/15): each output = Σ codes / 15
    assert trace.logits[0, 0] == pytest.approx([32 / 15] * 3)


def test_accumulator_saturation_is_counted_not_wrapped():
    codes = np.array([[15, 15, 15, 15, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0, 0, 0]], np.float32)
    w = np.array([[1] * 8, [-1] * 8], np.float64)
    g = passthrough_graph({}, w, spike_bits=4, step=1 / 15, acc_bits=6)  # range ±31
    trace = execute(g, codes / 15, "fixed")
    # sample 0 sums to ±60 → clipped to ±31 (2 outputs), sample 1 sums to ±2 (fine), per timestep
    assert trace.layers[2].counts["acc_saturations"].tolist() == [2, 2]
    assert trace.logits[0, 0] == pytest.approx([31 / 15, -31 / 15])


def test_fixed_mode_keeps_zoo_accuracy():
    model, card = load_checkpoint(ZOO / "digits_cnn-empf-online-T4")
    (xtr, _), (x, y) = load_digits_split()
    g = calibrate(export_model(model), xtr[:256], spike_bits=8)
    trace = execute(g, x, "fixed", batch_size=128)
    acc = np.mean(trace.predictions == y)
    assert acc >= card["test_accuracy"] - 0.01
    assert trace.total("membrane_saturations") == 0
    assert int(card["fixed_point_accuracy"]["8"] * 360) == int(round(acc * 360))
    assert {int(b) for b in card["fixed_point_accuracy"]} == {2, 4, 6, 8, 12, 16}


@pytest.mark.parametrize("name", ["mnist1d_cnn-empf-online-T4", "mnist1d_cnn-lif-stbp-T4"])
def test_fixed_mode_reproduces_recorded_mnist1d_accuracy(name):
    """The 1-D CNN (1×k convolutions) in fixed point on the whole MNIST-1D test split: the card's recorded accuracy,
    within 1.5 points of the PyTorch model's; EM-PF spikes cut to 2 bits lose accuracy (precision matters here)."""
    card = json.loads((ZOO / f"{name}.json").read_text())
    lif = card["config"]["neuron"] == "lif"
    fixed = deploy(ZOO / name, spike_bits=None if lif else 4, mode="fixed")
    assert fixed.accuracy == card["fixed_point_accuracy"]["1" if lif else "4"]
    assert fixed.accuracy >= card["test_accuracy"] - 0.015
    if not lif:
        assert deploy(ZOO / name, spike_bits=2, mode="fixed").accuracy <= fixed.accuracy - 0.03


def test_calibration_runs_float_mode_once_per_graph_and_inputs(monkeypatch):
    """Calibrating one model at several widths runs float mode once; any change to a weight, an attribute or the
    inputs runs it again, and the steps are those of an uncached calibration."""
    model, _ = load_checkpoint(ZOO / "digits_cnn-empf-online-T4")
    (xtr, _), _ = load_digits_split()
    x = xtr[:64]
    g = export_model(model)
    executor._maxima.clear()
    runs = []
    real = executor._run_float_maxima
    monkeypatch.setattr(executor, "_run_float_maxima", lambda *a: runs.append(1) or real(*a))
    steps = {b: {n.name: float(n.tensors["spike_step"]) for n in calibrate(g, x, b).nodes if n.op == "neuron"}
             for b in (2, 4, 8)}
    assert len(runs) == 1
    peak = real(g, x)
    assert steps[4] == {k: np.float32(max(v, 1e-6) / 15) for k, v in peak.items() if k in steps[4]}
    w = next(n for n in g.nodes if n.op == "conv")
    heavier = DeployGraph([replace(n, tensors={**n.tensors, "weight": n.tensors["weight"] * 2}) if n is w else n
                           for n in g.nodes], dict(g.attrs))
    calibrate(heavier, x, 4)
    calibrate(g, x[:63], 4)
    calibrate(g, x + np.float32(1e-3), 4)
    assert len(runs) == 4


def test_fixed_mode_needs_spike_format():
    model, _ = load_checkpoint(ZOO / "digits_cnn-empf-online-T4")
    with pytest.raises(EmpfError, match="spike format"):
        execute(export_model(model), np.zeros((1, 1, 8, 8), np.float32), "fixed")
    with pytest.raises(EmpfError, match="spike_bits=40"):
        calibrate(export_model(model), np.zeros((1, 1, 8, 8), np.float32), 40)


def test_graph_and_trace_round_trip(tmp_path):
    model, _ = load_checkpoint(ZOO / "digits_cnn-empf4bit-online-T4")
    g = export_model(model)
    g.save(tmp_path / "g")
    g2 = DeployGraph.load(tmp_path / "g.json")
    _, (x, _) = load_digits_split()
    t1, t2 = execute(g, x[:20], "fixed"), execute(g2, x[:20], "fixed")
    assert np.array_equal(t1.logits, t2.logits)
    t1.save(tmp_path / "t")
    t3 = ActivityTrace.load(tmp_path / "t")
    assert t3.summary() == t1.summary() and np.array_equal(t3.layers[3].value_bits, t1.layers[3].value_bits)
    edges = g.to_networkx().edges(data=True)
    assert ("input", "0.conv", {"shape": (1, 8, 8)}) in list(edges)


def test_bad_graphs_name_node_and_field(tmp_path):
    model, _ = load_checkpoint(ZOO / "digits_cnn-empf-online-T4")
    g = export_model(model)
    nodes = list(g.nodes)
    bad = Node("x", "softmax", [nodes[-2].name], nodes[-2].shape)
    with pytest.raises(EmpfError, match="node 'x': unknown node type 'softmax'; allowed: input, conv"):
        DeployGraph(nodes[:-1] + [bad, nodes[-1]], g.attrs)
    conv = nodes[3]
    wrong = Node(conv.name, "conv", conv.inputs, conv.shape, conv.attrs,
                 {**conv.tensors, "weight": conv.tensors["weight"][:, :5]})
    with pytest.raises(EmpfError, match=f"node '{conv.name}' \\(conv\\): weight .* does not fit"):
        DeployGraph(nodes[:3] + [wrong] + nodes[4:], g.attrs)
    i = next(k for k, n in enumerate(nodes) if n.op == "neuron")
    neuron = nodes[i]
    too_wide = Node(neuron.name, "neuron", neuron.inputs, neuron.shape, {**neuron.attrs, "spike_bits": 40},
                    neuron.tensors)
    with pytest.raises(EmpfError, match="spike_bits=40 is out of range; allowed: an integer 0..32"):
        DeployGraph(nodes[:i] + [too_wide] + nodes[i + 1:], g.attrs)
    g.save(tmp_path / "g")
    (tmp_path / "g.safetensors").write_bytes(b"junk")
    with pytest.raises(EmpfError, match="cannot read"):
        DeployGraph.load(tmp_path / "g")


def test_cli_run_prints_accuracy_and_activity(capsys):
    assert main(["run", "--model", str(ZOO / "digits_cnn-lif-stbp-T4"), "--samples", "40"]) == 0
    out = capsys.readouterr().out
    assert "mode=fixed spike_bits=[1] samples=40 accuracy=" in out and "per inference: input_events=" in out


@pytest.mark.parametrize("arch", ["digits_mlp", "mnist_cnn", "mnist1d_cnn", "vgg_snn_dvs", "resnet19", "resnet34"])
def test_every_architecture_exports_and_agrees(arch):
    cfg = ModelConfig(arch, timesteps=1)
    x = torch.rand(1, *cfg.input_shape)
    model = bn_calibrated(cfg, torch.cat([x, torch.rand(1, *cfg.input_shape)]))
    ref = torch_logits(model, x.numpy())
    trace = execute(export_model(model), x.numpy())
    assert np.abs(trace.logits - ref).max() <= 1e-4 * np.abs(ref).max()


@pytest.mark.parametrize("k,stride,padding", [(1, 1, 0), (1, 2, 0), (1, 1, 1), (2, 3, 1), (3, 1, 1), (3, 2, 1),
                                              (3, 2, 0), (5, 1, 2), (7, 2, 3)])
def test_conv_kernel_matches_naive_loop(k, stride, padding, monkeypatch):
    """Chunked im2col convolution (chunks of two images, the last one partial) of a channel-last view against a
    loop over outputs."""
    rng = np.random.default_rng(k * 10 + stride + padding)
    x, w = np.moveaxis(rng.standard_normal((5, 3, 9, 7)), 1, -1), rng.standard_normal((4, 3, k, k))
    ho, wo = (9 + 2 * padding - k) // stride + 1, (7 + 2 * padding - k) // stride + 1
    monkeypatch.setattr(ops, "CHUNK_ROWS", ho * wo + 1)
    xp = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    ref = np.zeros((5, ho, wo, 4))
    for oy in range(ho):
        for ox in range(wo):
            patch = xp[:, oy * stride:oy * stride + k, ox * stride:ox * stride + k]
            ref[:, oy, ox] = np.einsum("nijc,ocij->no", patch, w)
    out = ops.conv2d(x, w, stride, padding)
    assert out.shape == ref.shape and np.allclose(out, ref)
    assert np.array_equal(out, ops.conv2d(x, w, (stride, stride), (padding, padding)))  # pairs: the same result


@pytest.mark.parametrize("k,stride,padding", [((1, 5), (1, 2), (0, 1)), ((3, 2), (2, 1), (1, 0)),
                                              ((2, 4), (3, 2), (1, 2)), ((1, 1), (1, 3), (0, 0))])
def test_rectangular_conv_kernel_matches_torch(k, stride, padding, monkeypatch):
    """Kernel, stride and padding per axis: the chunked im2col convolution (chunks of two images, the last one
    partial) against ``torch.nn.functional.conv2d`` with tuple stride and padding."""
    rng = np.random.default_rng(sum(k) + 10 * sum(stride))
    x, w = rng.standard_normal((5, 3, 9, 7)), rng.standard_normal((4, 3, *k))
    ref = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), stride=stride, padding=padding).numpy()
    monkeypatch.setattr(ops, "CHUNK_ROWS", 2 * ref.shape[2] * ref.shape[3])
    out = ops.conv2d(np.moveaxis(x, 1, -1), w, stride, padding)
    assert np.allclose(np.moveaxis(out, -1, 1), ref)


@pytest.mark.parametrize("k,stride,padding,size", [((1, 5), (1, 2), (0, 1), (1, 40)),
                                                   ((3, 2), (2, 1), (1, 0), (7, 6))])
def test_rectangular_conv_fixed_mode_equals_float_mode_and_torch(k, stride, padding, size):
    """4-bit spike codes into a ±1-weight conv: fixed mode's integer sums, float mode and torch give the same
    outputs (code sums / 15) and the same counts."""
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 16, (3, 3, *size)) * (rng.random((3, 3, *size)) < 0.5)
    w = rng.choice([-1.0, 1.0], (5, 3, *k))
    g = passthrough_graph({"stride": list(stride), "padding": list(padding)}, w, spike_bits=4, step=1 / 15,
                          size=size)
    x = (codes / 15).astype(np.float32)
    fixed, fl = execute(g, x, "fixed"), execute(g, x, "float")
    ref = F.conv2d(torch.from_numpy(codes.astype(np.float64)), torch.from_numpy(w), stride=stride,
                   padding=padding).numpy()  # integer code sums
    for tr in (fixed, fl):
        assert np.abs(np.moveaxis(tr.logits[0], -1, 1) * 15 - ref).max() < 1e-3
    for c in ("sops", "input_events", "dense_ops"):
        assert np.array_equal(fixed.layers[2].counts[c], fl.layers[2].counts[c])


def test_conv_geometry_per_axis_validated_and_old_graphs_load(tmp_path):
    """Stride and padding are [rows, columns]; an old graph's integers load as pairs with unchanged results; a
    kernel wider than the padded input or a bad stride is one error naming the field."""
    rng = np.random.default_rng(0)
    w = rng.choice([-1.0, 1.0], (2, 3, 1, 5))
    g = passthrough_graph({"stride": [1, 2], "padding": [0, 1]}, w, size=(1, 12))
    assert g["syn"].shape == (2, 1, 5)  # (12 + 2·1 − 5) // 2 + 1 columns
    assert layer_labels(g.nodes)["syn"] == "conv1 3→2 1×5/1×2"
    square = passthrough_graph({"stride": 2, "padding": 1}, rng.standard_normal((2, 3, 3, 3)))
    assert square["syn"].attrs["stride"] == [2, 2] and square["syn"].attrs["padding"] == [1, 1]
    square.save(tmp_path / "g")
    meta = json.loads((tmp_path / "g.json").read_text())
    old = next(d for d in meta["nodes"] if d["name"] == "syn")
    old["attrs"].update(stride=2, padding=1)  # as graphs were written before per-axis geometry
    (tmp_path / "g.json").write_text(json.dumps(meta))
    loaded = DeployGraph.load(tmp_path / "g")
    assert loaded["syn"].attrs["stride"] == [2, 2] and loaded["syn"].attrs["padding"] == [1, 1]
    x = rng.random((2, 3, 7, 7)).astype(np.float32)
    assert np.array_equal(execute(loaded, x).logits, execute(square, x).logits)
    with pytest.raises(EmpfError, match=r"node 'syn' \(conv\): kernel height 3 exceeds the padded input height "
                                        r"1 \+ 2·0; allowed: kernel height <= 1"):
        passthrough_graph({"stride": 1, "padding": [0, 1]}, rng.standard_normal((2, 3, 3, 3)), size=(1, 12))
    for key, bad in (("stride", [0, 1]), ("padding", [1, 2, 3])):
        attrs = {"stride": 1, "padding": 0, key: bad}
        with pytest.raises(EmpfError, match=re.escape(f"node 'syn' (conv): {key}={bad} is not valid; allowed: an "
                                                      "integer >= ") + r"\d or \[height, width\] of such integers"):
            passthrough_graph(attrs, w, size=(1, 12))


def test_value_bits_of_wide_codes_over_a_large_batch():
    """12-bit spike codes (wider than a byte) over a batch of 300 (more than a byte counts): value bits, events and
    the event map against brute force."""
    rng = np.random.default_rng(1)
    k = rng.integers(0, 256, (300, 8)) * (rng.random((300, 8)) < 0.5)
    g = passthrough_graph({}, np.ones((3, 8)), spike_bits=12, step=1 / (255 * 16))
    lin = execute(g, (k / 255).astype(np.float32), "fixed").layers[2]
    codes = 16 * k[k > 0]  # input code k, current k/255, spike code k/255 / step
    expected = np.bincount(np.floor(np.log2(codes)).astype(int) + 1, minlength=33)
    assert lin.value_bits.tolist() == [expected.tolist()] * 2
    assert lin.counts["input_events"].tolist() == [len(codes)] * 2
    assert np.array_equal(lin.event_map[0], (k > 0).sum(axis=0))


@pytest.mark.parametrize("cfg", [ModelConfig("digits_cnn", timesteps=3, mem_bn=True, attention=True,
                                             weights="ternary"), ModelConfig("resnet18", timesteps=2),
                                 ModelConfig("mnist1d_cnn", timesteps=3, attention=True)],
                         ids=["digits_membn_eca_ternary", "resnet18", "mnist1d_cnn_eca"])
def test_fixed_mode_does_not_depend_on_block_sizes(cfg, monkeypatch):
    """Convolution chunks and neuron blocks only change how the work is split: tiny ones (the last block of a
    layer partial) give the same trace."""
    x = torch.rand(2, *cfg.input_shape)
    graph = calibrate(export_model(bn_calibrated(cfg, x)), x.numpy(), 6)
    ref = execute(graph, x.numpy(), "fixed")
    monkeypatch.setattr(ops, "CHUNK_ROWS", 1)
    monkeypatch.setattr(executor, "NEURON_BLOCK", 7000)  # 3 rows of 2048 (W·C) values
    trace = execute(graph, x.numpy(), "fixed")
    assert np.array_equal(trace.logits, ref.logits)
    for a, b in zip(trace.layers, ref.layers):
        assert all(np.array_equal(a.counts[c], b.counts[c]) for c in a.counts)
        assert (a.value_bits is None) == (b.value_bits is None)
        if a.value_bits is not None:
            assert np.array_equal(a.value_bits, b.value_bits) and np.array_equal(a.event_map, b.event_map)

"""Export + NumPy executor against PyTorch, trace counts against brute force, fixed-point formats, bad graphs."""

from pathlib import Path

import numpy as np
import pytest
import torch

from empf_hw.cli import main
from empf_hw.deploy import DeployGraph, Node, export_model
from empf_hw.errors import EmpfError
from empf_hw.nn import ModelConfig, build_model, load_checkpoint
from empf_hw.nn.data import load_digits_split
from empf_hw.sim import ActivityTrace, calibrate, execute, executor, ops

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
                                 ModelConfig("digits_mlp", timesteps=3, parallel=True, spike_bits=6)],
                         ids=["vgg11", "resnet18", "digits_membn_eca_ternary", "mlp_parallel_6bit"])
def test_float_mode_reproduces_random_networks(cfg):
    x = torch.rand(4, *cfg.input_shape)
    model = bn_calibrated(cfg, x)
    ref = torch_logits(model, x.numpy())
    trace = execute(export_model(model), x.numpy())
    last_neuron = [lt for lt in trace.layers if lt.op == "neuron"][-1]
    assert last_neuron.counts["output_events"].sum() > 0  # activity reaches the classifier
    assert np.array_equal(trace.predictions, ref.mean(0).argmax(1))
    assert np.abs(trace.logits - ref).max() <= 1e-4 * np.abs(ref).max()


def passthrough_graph(conv_attrs, weight, spike_bits=0, step=0.0, acc_bits=32):
    """input → neuron (λ=0, θ=0: s = ReLU(x)) → conv/linear → output: the conv sees exactly the input's non-zeros."""
    c = weight.shape[1]
    op = "conv" if weight.ndim == 4 else "linear"
    shape = (4, c, 7, 7) if op == "conv" else (4, c)
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
    """Loop over every event and every output position/tap; count those that read it."""
    n, c, h, w = x.shape
    ho, wo = (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1
    total = 0
    for _b, _c, y, xx in zip(*np.nonzero(x)):
        for oy in range(ho):
            for ox in range(wo):
                for i in range(k):
                    for j in range(k):
                        if oy * stride - padding + i == y and ox * stride - padding + j == xx:
                            total += cout
    return total


@pytest.mark.parametrize("k,stride,padding", [(3, 1, 1), (3, 2, 1), (3, 2, 0), (1, 2, 0), (5, 1, 2)])
def test_conv_sops_match_brute_force(k, stride, padding):
    rng = np.random.default_rng(k * 10 + stride + padding)
    x = rng.random((4, 3, 7, 7)).astype(np.float32) * (rng.random((4, 3, 7, 7)) < 0.3)
    w = rng.standard_normal((5, 3, k, k))
    trace = execute(passthrough_graph({"stride": stride, "padding": padding}, w), x)
    conv = trace.layers[2]
    expected = brute_force_sops(x, 5, k, stride, padding)
    assert conv.counts["sops"].tolist() == [expected, expected]  # same input both timesteps
    assert conv.counts["input_events"][0] == np.count_nonzero(x)
    ho = (7 + 2 * padding - k) // stride + 1
    assert conv.counts["dense_ops"][0] == 4 * 5 * 3 * ho * ho * k * k
    assert np.array_equal(conv.event_map[0], (x != 0).sum(axis=0))


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


@pytest.mark.parametrize("arch", ["digits_mlp", "mnist_cnn", "vgg_snn_dvs", "resnet19", "resnet34"])
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
                                             weights="ternary"), ModelConfig("resnet18", timesteps=2)],
                         ids=["digits_membn_eca_ternary", "resnet18"])
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

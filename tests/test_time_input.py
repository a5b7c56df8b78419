"""Time-varying (event-frame) inputs and input normalisation: PyTorch → DeployGraph → executor (float, fixed,
pipelined, lockstep) → NIR, against torch and hand-computed cases."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_deploy_sim import bn_calibrated, torch_logits

from empf_hw.deploy import DeployGraph, Node, export_model
from empf_hw.deploy.graph import infer_shape, input_scale
from empf_hw.deploy.nir_io import export_nir, import_nir
from empf_hw.errors import EmpfError
from empf_hw.nn import ModelConfig, build_model, load_checkpoint, save_checkpoint
from empf_hw.nn.events import synthetic_dvs
from empf_hw.sim import calibrate, execute
from empf_hw.sim.pipeline import deploy

FORMATS = {"timesteps": 3, "membrane_bits": 24, "membrane_frac_bits": 8, "accumulator_bits": 32}


def rand(*shape) -> torch.Tensor:
    """Seeded uniform inputs: every test sees the same data whatever ran before it."""
    return torch.rand(*shape, generator=torch.Generator().manual_seed(0))


def relay_graph(frames: int, features: int, time_axis: bool = True) -> DeployGraph:
    """input → neuron (λ = 0, θ = 0: s = x for x ≥ 0, 8-bit codes of step 1/255) → identity linear → output: the
    logits are the input frames, delayed by the schedule."""
    eye = np.eye(features, dtype=np.float32)
    return DeployGraph([
        Node("in", "input", [], (features,), {"shape": [features], "input_bits": 8, "time_axis": time_axis}),
        Node("n", "neuron", ["in"], (features,), {"model": "empf", "reset": "spike", "spike_bits": 8},
             {"leak": np.zeros((frames, features), np.float32), "threshold": np.zeros(frames, np.float32),
              "in_scale": np.ones((frames, features), np.float32),
              "in_bias": np.zeros((frames, features), np.float32), "spike_step": np.array(1 / 255, np.float32)}),
        Node("fc", "linear", ["n"], (features,), {"weight_kind": "int", "weight_bits": 8},
             {"weight": eye, "codes": eye.astype(np.int8), "scale": np.ones(features, np.float32),
              "bias": np.zeros(features, np.float32)}),
        Node("out", "output", ["fc"], (features,))], {**FORMATS, "timesteps": frames})


@pytest.mark.parametrize("mode", ["float", "fixed"])
def test_frame_t_is_fed_at_step_t_and_zeros_after_in_lockstep(mode):
    k = np.array([[[3, 0, 255], [1, 2, 0], [0, 0, 0]], [[0, 17, 128], [250, 0, 9], [5, 6, 7]]])  # (N, T, F)
    x = (k / 255).astype(np.float32)
    g = relay_graph(3, 3)
    pipe = execute(g, x, mode)
    assert np.allclose(pipe.logits, x.transpose(1, 0, 2), atol=1e-6)
    assert pipe.meta["static_input"] is False
    # the linear layer sees each frame's non-zeros at its own step
    assert pipe.layers[2].counts["input_events"].tolist() == np.count_nonzero(k, axis=(0, 2)).tolist()
    lock = execute(g, x, mode, schedule="lockstep")  # one neuron layer: delivered one step later, then nothing
    zero = np.zeros((1, 2, 3), np.float32)
    assert np.allclose(lock.logits, np.concatenate([zero, x.transpose(1, 0, 2)]), atol=1e-6)
    static = execute(relay_graph(3, 3, time_axis=False), x[:, 0], mode, schedule="lockstep")
    assert static.meta["static_input"] is True
    assert np.allclose(static.logits, np.concatenate([zero, np.repeat(x[None, :, 0], 3, axis=0)]), atol=1e-6)


def test_time_axis_input_shape_is_checked():
    g = relay_graph(3, 3)
    with pytest.raises(EmpfError, match=r"input shape \(3,\) does not match the graph input \(3, 3\) \(one frame"):
        execute(g, np.zeros((1, 3), np.float32))
    with pytest.raises(EmpfError, match="time_axis=1 is not valid; allowed: true, false"):
        DeployGraph([Node("in", "input", [], (3,), {"shape": [3], "input_bits": 8, "time_axis": 1}),
                     Node("out", "output", ["in"], (3,))], FORMATS)


@pytest.mark.parametrize("cfg", [ModelConfig("digits_cnn", timesteps=3, time_axis=True, mem_bn=True, attention=True),
                                 ModelConfig("digits_cnn", neuron="lif", timesteps=3, time_axis=True),
                                 ModelConfig("digits_mlp", timesteps=3, time_axis=True, spike_bits=4)],
                         ids=["empf_membn_eca", "lif", "mlp_4bit"])
def test_float_executor_equals_torch_on_time_varying_input(cfg):
    x = rand(6, *cfg.input_shape)
    model = bn_calibrated(cfg, x)
    ref = torch_logits(model, x.numpy())
    graph = export_model(model)
    assert graph.nodes[0].attrs["time_axis"] is True and graph.nodes[0].shape == cfg.frame_shape
    trace = execute(graph, x.numpy())
    assert trace.meta["static_input"] is False
    assert np.abs(trace.logits - ref).max() <= 1e-4 * np.abs(ref).max()
    # the frames matter: reversing their order changes torch's logits, and the executor follows
    rev = torch_logits(model, x.flip(1).numpy())
    assert np.abs(rev - ref).max() > 1e-3 * np.abs(ref).max()
    assert np.abs(execute(graph, x.flip(1).numpy()).logits - rev).max() <= 1e-4 * np.abs(rev).max()


def test_fixed_mode_agrees_with_float_on_time_varying_input():
    cfg = ModelConfig("digits_cnn", timesteps=3, time_axis=True)
    x = rand(16, *cfg.input_shape).numpy()
    graph = calibrate(export_model(bn_calibrated(cfg, torch.from_numpy(x))), x, spike_bits=12)
    ref, fixed = execute(graph, x), execute(graph, x, "fixed")
    assert fixed.meta["static_input"] is False and fixed.total("membrane_saturations") == 0
    assert np.abs(fixed.logits - ref.logits).max() <= 0.03 * np.abs(ref.logits).max()
    assert np.mean(fixed.predictions == ref.predictions) >= 0.9
    lock = execute(graph, x, "fixed", schedule="lockstep")
    assert lock.meta["static_input"] is False and lock.logits.shape[0] == 3 + 3  # T + three neuron layers


def test_torch_model_steps_frames_and_checks_shapes():
    cfg = ModelConfig("digits_mlp", timesteps=2, time_axis=True)
    model = build_model(cfg).eval()
    with pytest.raises(EmpfError, match=r"input shape \(1, 8, 8\) does not match the model input \(2, 1, 8, 8\)"):
        model.run(rand(1, 1, 8, 8))
    x = rand(1, 2, 1, 8, 8)
    model.run(x)
    with pytest.raises(RuntimeError, match="stepped again"):
        model(x)


def conv_graph(mean, std, w, stride, padding, input_bits=8):
    """input (normalised by mean/std) → conv (8-bit codes) → flatten → output."""
    c = w.shape[1]
    scale = np.abs(w).reshape(len(w), -1).max(axis=1) / 127
    codes = np.round(w / scale[:, None, None, None])
    inp = Node("in", "input", [], (c, 9, 9), {"shape": [c, 9, 9], "input_bits": input_bits, "mean": mean,
                                                "std": std})
    conv = Node("conv", "conv", ["in"], (), {"stride": stride, "padding": padding, "weight_kind": "int",
                                             "weight_bits": 8},
                {"weight": w.astype(np.float32), "codes": codes.astype(np.int8), "scale": scale.astype(np.float32),
                 "bias": np.array([0.5, -0.25, 0.0], np.float32)})
    conv.shape = infer_shape(conv, [inp.shape])
    flat = Node("flat", "flatten", ["conv"], (int(np.prod(conv.shape)),))
    return DeployGraph([inp, conv, flat, Node("out", "output", ["flat"], flat.shape)], {**FORMATS, "timesteps": 1})


@pytest.mark.parametrize("stride,padding", [(1, 1), (2, 1), (1, 2), (2, 0)])
def test_stem_conv_on_normalised_input_pads_the_normalised_input(stride, padding):
    rng = np.random.default_rng(stride * 10 + padding)
    mean, std = [0.2, 0.7], [0.5, 0.25]
    w = rng.standard_normal((3, 2, 3, 3))
    x = rng.random((4, 2, 9, 9)).astype(np.float32)
    g = conv_graph(mean, std, w, stride, padding)
    m, s = torch.tensor(mean).reshape(1, 2, 1, 1), torch.tensor(std).reshape(1, 2, 1, 1)
    bias = torch.from_numpy(g["conv"].tensors["bias"])
    ref = F.conv2d((torch.from_numpy(x) - m) / s, torch.from_numpy(w).float(), bias, stride, padding).flatten(1)
    ref, got = ref.numpy(), execute(g, x).logits[0]
    assert np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max()
    if padding:  # padding the raw input with zeros (the folded alternative) gives other border outputs
        raw_pad = F.conv2d((F.pad(torch.from_numpy(x), [padding] * 4) - m) / s, torch.from_numpy(w).float(), bias,
                           stride).flatten(1).numpy()
        assert np.abs(raw_pad - ref).max() > 0.1
    # fixed mode: the stated code rule, then exact integer sums: torch's conv of the dequantised operands
    step = input_scale(g["in"])
    assert step == pytest.approx(max(0.2 / 0.5, 0.8 / 0.5, 0.7 / 0.25, 0.3 / 0.25) / 255)  # R = 2.8
    codes = np.round(((x - m.numpy()) / s.numpy()) / step)
    assert np.abs(codes).max() <= 255
    t = g["conv"].tensors
    wq = torch.from_numpy(t["codes"].astype(np.float32) * t["scale"][:, None, None, None])
    fixed_ref = F.conv2d(torch.from_numpy(codes * step).float(), wq, bias, stride, padding).flatten(1).numpy()
    fixed = execute(g, x, "fixed").logits[0]
    assert np.abs(fixed - fixed_ref).max() <= 1e-5 * np.abs(fixed_ref).max()
    # and agrees with float mode within the input and weight quantization
    bound = step / 2 * np.abs(w).sum(axis=(1, 2, 3)).max() + 2.8 * np.abs(w - wq.numpy()).sum(axis=(1, 2, 3)).max()
    assert np.abs(fixed - got).max() <= bound


def test_normalised_model_through_export_float_and_fixed():
    cfg = ModelConfig("digits_cnn", timesteps=2, time_axis=True, input_mean=[0.3], input_std=[0.2])
    x = rand(16, *cfg.input_shape)
    model = bn_calibrated(cfg, x)
    ref = torch_logits(model, x.numpy())
    graph = export_model(model)
    assert graph.nodes[0].attrs["mean"] == [0.3] and graph.nodes[0].attrs["std"] == [0.2]
    trace = execute(graph, x.numpy())
    assert np.abs(trace.logits - ref).max() <= 1e-4 * np.abs(ref).max()
    fixed = execute(calibrate(graph, x.numpy(), spike_bits=12), x.numpy(), "fixed")
    assert np.abs(fixed.logits - ref).max() <= 0.03 * np.abs(ref).max()


def test_bad_normalisation_names_the_field():
    with pytest.raises(EmpfError, match="input_std=\\[0.0\\] is not valid; allowed: empty .* or 1 finite numbers > 0"):
        ModelConfig("digits_cnn", input_mean=[0.5], input_std=[0.0])
    with pytest.raises(EmpfError, match="input_mean and input_std must be given together"):
        ModelConfig("digits_cnn", input_mean=[0.5])
    w = np.ones((3, 2, 3, 3))
    with pytest.raises(EmpfError, match=r"node 'in': mean=\[0.5\] is not valid; allowed: 2 finite numbers, one per"):
        conv_graph([0.5], [1.0, 1.0], w, 1, 1)
    with pytest.raises(EmpfError, match=r"node 'in': std=\[1.0, -1.0\] is not valid; allowed: 2 finite numbers > 0"):
        conv_graph([0.5, 0.5], [1.0, -1.0], w, 1, 1)


def test_nir_round_trip_keeps_time_axis_and_normalisation(tmp_path):
    cfg = ModelConfig("digits_mlp", neuron="lif", timesteps=3, time_axis=True)
    x = rand(8, *cfg.input_shape)
    graph = export_model(bn_calibrated(cfg, x))
    export_nir(graph, tmp_path / "m.nir")
    back = import_nir(tmp_path / "m.nir", 3)
    assert back.nodes[0].attrs["time_axis"] is True
    assert np.array_equal(execute(graph, x.numpy()).logits, execute(back, x.numpy()).logits)
    assert import_nir(tmp_path / "m.nir", 3, time_axis=False).nodes[0].attrs["time_axis"] is False
    normed = conv_graph([0.2, 0.7], [0.5, 0.25], np.ones((3, 2, 3, 3)), 1, 0)
    with pytest.raises(EmpfError, match="node 'in': input normalisation .* has no NIR node"):
        export_nir(normed)
    back = import_nir(export_nir(normed, extensions=True), 1)
    assert back.nodes[0].attrs["mean"] == [0.2, 0.7] and back.nodes[0].attrs["std"] == [0.5, 0.25]
    xs = np.random.default_rng(0).random((2, 2, 9, 9)).astype(np.float32)
    assert np.allclose(execute(back, xs, "fixed").logits, execute(normed, xs, "fixed").logits, rtol=1e-5)


def test_vgg_snn_runs_on_synthetic_dvs_frames():
    """The DVS VGG-SNN (2×48×48) with per-timestep event frames: export → executor equals torch."""
    cfg = ModelConfig("vgg_snn_dvs", timesteps=2, time_axis=True)
    (x, _), _ = synthetic_dvs(cfg.input_shape, cfg.num_classes, n_train=3, n_test=1, seed=0)
    model = bn_calibrated(cfg, torch.from_numpy(x))
    ref = torch_logits(model, x[:2])
    trace = execute(export_model(model), x[:2])
    assert trace.meta["static_input"] is False
    assert np.abs(trace.logits - ref).max() <= 1e-4 * np.abs(ref).max()
    stem = trace.layers[1]
    assert stem.counts["input_events"].tolist() == np.count_nonzero(x[:2], axis=(0, 2, 3, 4)).tolist()


def test_checkpoint_with_time_axis_deploys_end_to_end(tmp_path):
    cfg = ModelConfig("digits_cnn", timesteps=2, time_axis=True, input_mean=[0.5], input_std=[0.3])
    model = bn_calibrated(cfg, rand(8, *cfg.input_shape))
    save_checkpoint(model, tmp_path / "m", {"dataset": "synthetic", "training": {"method": "online"},
                                            "test_accuracy": 0.0})
    d = deploy(tmp_path / "m", samples=8, spike_bits=8)
    assert d.mode == "fixed" and d.inputs.shape == (8, 2, 1, 8, 8) and d.trace.meta["static_input"] is False
    ref = torch_logits(load_checkpoint(tmp_path / "m")[0], d.inputs)
    assert np.mean(d.trace.predictions == ref.mean(0).argmax(1)) >= 0.75
    with pytest.raises(EmpfError, match="timesteps=4: .* one input frame per timestep .*; allowed: 2"):
        deploy(tmp_path / "m", timesteps=4)

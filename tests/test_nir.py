"""NIR interop: snnTorch → NIR → empf-hw gives snnTorch's own spikes; zoo models round-trip; refusals."""

from pathlib import Path

import nir
import numpy as np
import pytest
import snntorch as snn
import torch

from empf_hw.deploy import export_model
from empf_hw.deploy.nir_io import export_nir, import_nir
from empf_hw.errors import EmpfError
from empf_hw.nn import load_checkpoint
from empf_hw.nn.data import load_dataset
from empf_hw.sim import execute

ZOO = Path(__file__).resolve().parents[1] / "models"


def test_snntorch_network_through_nir_matches_snntorch_spikes(tmp_path):
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(10, 16),
        snn.Leaky(beta=torch.full((16,), 0.8), threshold=torch.full((16,), 0.5), reset_mechanism="zero",
                  init_hidden=True),
        torch.nn.Linear(16, 4),
        snn.Leaky(beta=torch.linspace(0.5, 0.95, 4), threshold=torch.tensor([0.3, 0.2, 0.4, 0.25]),
                  reset_mechanism="zero", init_hidden=True))
    x = torch.rand(32, 10)
    graph = export_to_nir(net, x[:1], ignore_dims=[0])
    nir.write(str(tmp_path / "net.nir"), graph)
    T = 8
    for m in net.modules():
        if isinstance(m, snn.Leaky):
            m.reset_mem()
    with torch.no_grad():
        expected = torch.stack([net(x) for _ in range(T)]).numpy()
    trace = execute(import_nir(tmp_path / "net.nir", T), x.numpy())
    assert expected.sum() > 20  # the output layer does spike
    assert np.array_equal(trace.logits, expected)


@pytest.mark.parametrize("name,extensions", [("digits_cnn-lif-stbp-T4", False),
                                             ("digits_cnn-empf4bit-online-T4", True),
                                             ("mnist1d_cnn-lif-stbp-T4", False)])
def test_zoo_round_trip_through_nir(name, extensions, tmp_path):
    """Same outputs after the round trip; convolutions keep their per-axis geometry (1×k kernels of MNIST-1D)."""
    model, card = load_checkpoint(ZOO / name)
    graph = export_model(model)
    export_nir(graph, tmp_path / "m.nir", extensions=extensions)
    back = import_nir(tmp_path / "m.nir", graph.timesteps)
    _, (x, _) = load_dataset(card["dataset"])
    assert np.array_equal(execute(graph, x[:40]).logits, execute(back, x[:40]).logits)
    for n in (n for n in graph.nodes if n.op == "conv"):
        for k in ("stride", "padding"):
            assert back[n.name].attrs[k] == n.attrs[k]


def test_empf_export_refused_without_extension():
    model, _ = load_checkpoint(ZOO / "digits_cnn-empf-online-T4")
    with pytest.raises(EmpfError, match="EM-PF neurons .* have no NIR node"):
        export_nir(export_model(model))


def test_lif_import_uses_documented_dt_convention():
    dt, tau, r = 1e-4, 5e-4, 2.0
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([1])),
                            "lif": nir.LIF(tau=np.array([tau]), r=np.array([r]), v_leak=np.array([0.0]),
                                           v_threshold=np.array([1.0]), v_reset=np.array([0.0])),
                            "output": nir.Output(output_type=np.array([1]))},
                     edges=[("input", "lif"), ("lif", "output")])
    neuron = import_nir(g, 3, dt=dt)["lif"]
    assert neuron.tensors["leak"][0, 0] == pytest.approx(1 - dt / tau)  # 0.8
    assert neuron.tensors["in_scale"][0, 0] == pytest.approx(dt * r / tau)  # 0.4
    # input 1.0: v = 0.4, 0.72, 0.976 → no spike; input 1.5: v = 0.6, 1.08 → spike, reset to 0, 0.6
    assert execute(import_nir(g, 3, dt=dt), np.array([[1.5]], np.float32)).logits[:, 0, 0].tolist() == [0, 1, 0]


def test_unsupported_nir_node_is_named():
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([2])),
                            "d": nir.Delay(delay=np.array([1.0, 1.0])),
                            "output": nir.Output(output_type=np.array([2]))},
                     edges=[("input", "d"), ("d", "output")])
    with pytest.raises(EmpfError, match="NIR node 'd' has unsupported type Delay; allowed: Input, Output, Affine"):
        import_nir(g, 2)


@pytest.mark.parametrize("change, message", [
    ({"padding": "same"}, "padding='same' is not supported; allowed: integers"),
    ({"dilation": np.array([1, 2])}, "groups and dilation must be 1"),
    ({"stride": np.array([1, 2, 3])}, r"stride=\[1, 2, 3\] is not valid; allowed: one integer or \[height, width\]")])
def test_bad_conv_geometry_is_named(change, message):
    conv = {"input_shape": None, "weight": np.ones((2, 1, 1, 3)), "stride": np.array([1, 2]),
            "padding": np.array([0, 1]), "dilation": np.array([1, 1]), "groups": 1, "bias": np.zeros(2), **change}
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([1, 1, 8])), "c": nir.Conv2d(**conv),
                            "output": nir.Output(output_type=np.array([2, 1, 4]))},
                     edges=[("input", "c"), ("c", "output")], type_check=False)
    with pytest.raises(EmpfError, match=f"NIR node 'c': {message}"):
        import_nir(g, 2)

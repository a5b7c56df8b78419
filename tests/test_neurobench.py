"""NeuroBench 2.3 run on the zoo models must give exactly empf-hw's NeuroBench-style metrics."""

import pytest
import torch
from torch import nn

from empf_hw.nn import load_checkpoint
from empf_hw.nn.checkpoint import load_card
from empf_hw.nn.data import load_dataset
from empf_hw.nn.neurons import EMPFNeuron, LIFNeuron
from empf_hw.sim.neurobench import neurobench_metrics
from empf_hw.sim.pipeline import deploy

pytestmark = pytest.mark.peer  # needs neurobench (installed --no-deps by .ci/run)


class Run(nn.Module):
    """A SpikingNet's forward is one timestep; NeuroBench calls the model once per batch."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net.run(x).mean(0)


def neurobench_run(name: str, x, y) -> dict:
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.static import ConnectionSparsity, Footprint
    from neurobench.metrics.workload import ActivationSparsity, ClassificationAccuracy, SynapticOperations
    from neurobench.models import TorchModel

    model, _ = load_checkpoint(f"models/{name}")
    wrapped = TorchModel(Run(model))
    wrapped.add_activation_module(LIFNeuron)
    wrapped.add_activation_module(EMPFNeuron)
    data = torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y))
    loader = torch.utils.data.DataLoader(data, batch_size=len(x))
    metrics = [[Footprint, ConnectionSparsity], [ActivationSparsity, SynapticOperations, ClassificationAccuracy]]
    return Benchmark(wrapped, loader, [], [lambda p: p.argmax(-1)], metrics).run(verbose=False)


@pytest.mark.parametrize("name", ["digits_cnn-lif-stbp-T4", "digits_cnn-empf-online-T4", "mnist1d_cnn-lif-stbp-T4"])
def test_neurobench_metrics_equal_neurobench(name):
    _, (x, y) = load_dataset(load_card(f"models/{name}")["dataset"])
    theirs = neurobench_run(name, x, y)
    d = deploy(f"models/{name}", mode="float", batch_size=len(x))
    ours = neurobench_metrics(d.trace, d.graph)
    assert ours["footprint_bytes"] == theirs["Footprint"]
    assert ours["connection_sparsity"] == theirs["ConnectionSparsity"]
    assert ours["activation_sparsity"] == pytest.approx(theirs["ActivationSparsity"], rel=1e-12)
    for k in ("Effective_MACs", "Effective_ACs", "Dense"):
        assert ours[k] == pytest.approx(theirs["SynapticOperations"][k], rel=1e-12), k
    assert d.accuracy == pytest.approx(float(theirs["ClassificationAccuracy"]), abs=1e-6)
    if "lif" in name:
        assert ours["Effective_ACs"] > 0 and ours["Effective_MACs"] > 0  # spikes are ACs, the pooled inputs MACs
    else:
        assert ours["Effective_ACs"] == 0  # multi-bit spikes are MACs for NeuroBench

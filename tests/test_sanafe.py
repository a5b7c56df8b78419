"""SANA-FE 2.2.9 (its own virtual environment, see peers.py) runs empf-hw's export of the same workload: the same
weights, inputs and mapping on ``loihi-sanafe`` (SANA-FE's bundled Loihi model, entry for entry).

Checked per network (a fully connected LIF net and the zoo's STBP conv nets: digits, and MNIST-1D's 1×k
convolutions): spike counts per layer and step differ
only through the documented rounding rule (empf-hw rounds each step's input current to the membrane LSB; SANA-FE
adds the unrounded weights), by at most 3 % of a layer's spikes in a step (+3) and 2 % over the inference;
fed SANA-FE's own spike trains, empf-hw's event accounting gives exactly SANA-FE's synaptic events and messages in
every step; on empf-hw's own trace the total energy is within 5 % and every component within 10 % of SANA-FE's;
the simulated time of every step is within 10 % of SANA-FE's (its ``simple`` timing model)."""

import numpy as np
import pytest
import torch
from peers import run_sanafe

from empf_hw.deploy import export_model
from empf_hw.hw import evaluate
from empf_hw.hw.cores.lowering import lower
from empf_hw.hw.sanafe_io import export_sanafe
from empf_hw.nn import ModelConfig, build_model, load_checkpoint
from empf_hw.nn.data import load_dataset, load_digits_split
from empf_hw.sim import calibrate, execute
from empf_hw.sim.trace import ActivityTrace

pytestmark = pytest.mark.peer
ARCH = "loihi-sanafe"
SAMPLES = 2


def _fc_lif_graph():
    """digits_mlp with LIF neurons (64 → 256 → 256 → 10, fully connected), BatchNorm statistics from digits."""
    (xtr, _), _ = load_digits_split()
    torch.manual_seed(0)
    model = build_model(ModelConfig("digits_mlp", neuron="lif", timesteps=4)).train()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            m.momentum = None
    with torch.no_grad():
        model.run(torch.from_numpy(xtr[:256]))
    return calibrate(export_model(model.eval()), xtr[:256])


def _zoo_graph(name):
    model, card = load_checkpoint(f"models/{name}")
    (xtr, _), (x, _) = load_dataset(card["dataset"])
    return calibrate(export_model(model), xtr[:256]), x


@pytest.fixture(scope="module", params=["fc_lif", "zoo_conv", "mnist1d_conv"])
def workload(request, tmp_path_factory):
    if request.param == "fc_lif":
        graph, (_, (x, _)) = _fc_lif_graph(), load_digits_split()
    else:
        graph, x = _zoo_graph("digits_cnn-lif-stbp-T4" if request.param == "zoo_conv" else "mnist1d_cnn-lif-stbp-T4")
    traces = [execute(graph, x[i:i + 1], "fixed", schedule="lockstep") for i in range(SAMPLES)]
    costs = [evaluate(tr, ARCH, lowering="parallel") for tr in traces]
    lowered = [lower(graph, tr, costs[0].arch, "parallel")[1] for tr in traces]
    out = tmp_path_factory.mktemp(request.param)
    for name, text in export_sanafe(costs[0].graph, costs[0].mapping, lowered).items():
        (out / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    return graph, traces, costs, run_sanafe(out, "simple")


def test_spike_counts_agree_up_to_rounding(workload):
    graph, traces, _, sf = workload
    for tr, s in zip(traces, sf["samples"]):
        by = {lt.name: lt for lt in tr.layers}
        for n in graph.nodes:
            if n.op != "neuron":
                continue
            ours = by[n.name].counts["output_events"]
            theirs = np.array([len(step.get(n.name.replace(".", "_"), [])) for step in s["fired"]])
            assert (np.abs(ours - theirs) <= 0.03 * np.maximum(ours, theirs) + 3).all(), (n.name, ours, theirs)
            assert abs(ours.sum() - theirs.sum()) <= 0.02 * ours.sum() + 3


def test_event_accounting_on_sanafe_spikes_is_exact(workload):
    """Rebuild every synaptic layer's input events from SANA-FE's spike trains and cost them: synaptic events and
    messages equal SANA-FE's in every step."""
    graph, traces, costs, sf = workload
    c0 = costs[0]
    for tr, s in zip(traces, sf["samples"]):
        lowered = lower(graph, tr, c0.arch, "parallel")[1]
        rebuilt = _trace_from_spikes(lowered, c0.graph, s)
        c = evaluate(rebuilt, ARCH)
        per_step = c.counts.sum(axis=0)
        syn = sum(per_step[c.action_names.index(k)] for k in ("syn_dense", "syn_sparse", "syn_conv"))
        msg = per_step[c.action_names.index("message_send")]
        assert syn.tolist() == s["synaptic_events"]
        assert msg.tolist() == s["messages"]


def _trace_from_spikes(trace: ActivityTrace, graph, s: dict) -> ActivityTrace:
    """``trace`` (lowered, batch 1) with every synaptic layer's event map replaced by SANA-FE's spikes."""
    layers = []
    for lt in trace.layers:
        n = graph[lt.name]
        if n.op in ("conv", "linear"):
            src = graph[n.inputs[0]]
            while src.op in ("flatten",):
                src = graph[src.inputs[0]]
            group = src.name.replace(".", "_")
            em = np.zeros_like(lt.event_map).reshape(len(lt.event_map), -1)
            for k, step in enumerate(s["fired"]):
                em[k, step.get(group, [])] = 1
            lt = type(lt)(lt.name, lt.op, lt.shape, lt.counts, lt.value_bits, em.reshape(lt.event_map.shape))
        layers.append(lt)
    return ActivityTrace(layers, trace.logits, trace.meta, graph)


def test_energy_within_5_percent_and_components_within_10(workload):
    _, _, costs, sf = workload
    ours = {k: np.mean([c.component_energy()[k] for c in costs]) for k in ("synapse", "dendrite", "soma", "network")}
    theirs = {k: np.mean([sum(s["energy_J"][k]) * 1e12 for s in sf["samples"]]) for k in ours}
    total_ours, total_theirs = np.mean([c.energy_pJ() for c in costs]), sum(theirs.values())
    assert abs(total_ours / total_theirs - 1) <= 0.05, (total_ours, total_theirs)
    for k in ours:
        if theirs[k]:
            assert abs(ours[k] / theirs[k] - 1) <= 0.10, (k, ours[k], theirs[k])
        else:
            assert ours[k] == 0


def test_time_per_step_within_10_percent(workload):
    _, _, costs, sf = workload
    for c, s in zip(costs, sf["samples"]):
        ours = c.timing.stats["step_cycles"] / (c.arch.chip["clock_MHz"] * 1e6)
        theirs = np.array(s["sim_time_s"])
        assert np.abs(ours / theirs - 1).max() <= 0.10, (ours, theirs)

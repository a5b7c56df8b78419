"""NeuroBench-compatible metrics (NeuroBench 2.3 definitions) from an ActivityTrace and its DeployGraph.

- ``footprint_bytes``: parameters + buffers of the source PyTorch model at their storage dtypes (a ±1 weight kept
  in float32 is 4 bytes); for graphs without a PyTorch source, the graph's float32 tensors.
- ``connection_sparsity``: zero weights ÷ weights of the Linear / Conv layers (rounded to 3 decimals, as
  NeuroBench does).
- ``activation_sparsity``: zero neuron outputs ÷ neuron outputs, over all neurons, timesteps and samples.
- ``synaptic_operations``: per sample, ``Effective_ACs`` / ``Effective_MACs`` — (non-zero input, non-zero weight)
  pairs of every layer call, counted as ACs when all of the call's inputs are in {−1, 0, 1} and as MACs otherwise
  — and ``Dense`` (every connection of every call). A call is one layer at one timestep over the traced batch.

NeuroBench therefore counts multi-bit spikes (EM-PF) and pooled spikes as MACs; empf-hw's own counts (``sops``
by spike width) treat every event as an accumulate of its value.
"""

import numpy as np

from ..deploy.graph import SYNAPTIC, DeployGraph
from .ops import conv2d


def _ops(node, counts: np.ndarray, weights_nonzero: np.ndarray) -> np.ndarray:
    """Per timestep: Σ over calls of (input count × non-zero weight) pairs, by running the layer on the counts."""
    T = len(counts)
    if node.op == "conv":
        x = np.moveaxis(counts, 1, -1).astype(np.float64)  # (T, H, W, C)
        out = conv2d(x, weights_nonzero.astype(np.float64), node.attrs["stride"], node.attrs["padding"])
        return out.reshape(T, -1).sum(axis=1)
    return counts.reshape(T, -1).astype(np.float64) @ weights_nonzero.astype(np.float64).sum(axis=0)


def neurobench_metrics(trace, graph: DeployGraph) -> dict:
    """The four NeuroBench metrics, per sample where NeuroBench reports per sample."""
    by = {lt.name: lt for lt in trace.layers}
    batch = trace.batch
    mac = ac = dense = 0.0
    zeros = weights = 0
    for n in graph.nodes:
        if n.op not in SYNAPTIC:
            continue
        w = n.tensors["weight"]
        lt = by[n.name]
        eff = _ops(n, lt.event_map, w != 0)
        spiking = lt.counts["nonbinary_inputs"] == 0
        ac += float(eff[spiking].sum())
        mac += float(eff[~spiking].sum())
        dense += float(_ops(n, np.ones((1, *lt.event_map.shape[1:])), np.ones_like(w, bool))[0]) * len(eff)
        zeros += int((w == 0).sum())
        weights += w.size
    spikes = sum(int(by[n.name].counts["output_events"].sum()) for n in graph.nodes if n.op == "neuron")
    outputs = sum(int(by[n.name].counts["neuron_updates"].sum()) for n in graph.nodes if n.op == "neuron")
    src = graph.attrs.get("source")
    if src:
        footprint, zeros, weights = src["footprint_bytes"], src["connection_zero_weights"], src["connection_weights"]
    else:
        footprint = sum(t.size * 4 for n in graph.nodes for k, t in n.tensors.items() if k in ("weight", "bias"))
    return {"footprint_bytes": int(footprint),
            "connection_sparsity": round(zeros / weights, 3) if weights else 0.0,
            "activation_sparsity": (outputs - spikes) / outputs if outputs else 0.0,
            "Effective_MACs": mac / batch, "Effective_ACs": ac / batch, "Dense": dense}

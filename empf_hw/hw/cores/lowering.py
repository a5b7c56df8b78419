"""Spike formats a chip can carry (``core.spike_payload_bits``) and the lowerings of wider values.

A synaptic layer whose input values need more bits than the chip's packets carry (the 8-bit network input, pooled
binary spikes, multi-bit EM-PF spikes) is refused, unless a lowering is chosen:

- pooling is folded into the next layer's synapses: a non-overlapping k×k pool followed by a conv with kernel K,
  stride s, padding p (each per axis) becomes a conv over the unpooled map with kernel K·k, stride s·k, padding
  p·k whose taps repeat the kernel (avg pooling: the 1/k² goes into the scale); a pool followed by flatten and a
  linear layer becomes a linear layer over the unpooled features. Every unpooled spike is then an event of its own
  (this is what a binary-spike chip such as Loihi does), and the layer stores k² times the synapses;
- ``parallel``: a B-bit value is sent as B binary spikes on B axons (bit j's synapses carry weight × 2^j, as a
  weight exponent per axon group), so the layer has B times the input channels and rows;
- ``serial``: the B bits are sent one after another over B sub-steps into the same synapses; the accumulator shifts
  once per sub-step (``aux_op`` per neuron and sub-step) and, on a lockstep chip, each sub-step ends with a barrier.

Both count one event per set bit (the trace's per-position bit-plane counts). Lowered graphs are for costing and
export; they are not executed.
"""

from dataclasses import replace

import numpy as np

from ...deploy.graph import SYNAPTIC, DeployGraph, Node, conv_axes, input_reach, layer_labels
from ...errors import EmpfError, check_choice
from ...sim.trace import ActivityTrace, LayerTrace
from .mapper import spike_value_bits

LOWERINGS = ("parallel", "serial")


def _chain(g: DeployGraph, n: Node) -> tuple[Node, list[Node]]:
    """The spike source of a synaptic node and the pool / flatten nodes between them (source side first)."""
    chain, s = [], g[n.inputs[0]]
    while s.op in ("pool", "flatten"):
        chain.insert(0, s)
        s = g[s.inputs[0]]
    return s, chain


def _fold_conv(n: Node, pool: Node) -> Node:
    (_, sh, ph), (_, sw, pw) = conv_axes(n)
    kp = pool.attrs["kernel"]
    t = n.tensors
    div = kp * kp if pool.attrs["kind"] == "avg" else 1
    rep = {"weight": np.repeat(np.repeat(t["weight"], kp, 2), kp, 3) / div,
           "codes": np.repeat(np.repeat(t["codes"], kp, 2), kp, 3), "scale": t["scale"] / div, "bias": t["bias"]}
    return replace(n, attrs={**n.attrs, "stride": [sh * kp, sw * kp], "padding": [ph * kp, pw * kp]}, tensors=rep)


def _fold_linear(n: Node, pool: Node, pooled: tuple[int, int, int]) -> Node:
    c, h, w = pooled
    kp = pool.attrs["kernel"]
    div = kp * kp if pool.attrs["kind"] == "avg" else 1
    t = n.tensors

    def expand(a):
        a = a.reshape(len(a), c, h, w)
        return np.repeat(np.repeat(a, kp, 2), kp, 3).reshape(len(a), -1)

    return replace(n, tensors={"weight": expand(t["weight"]) / div, "codes": expand(t["codes"]),
                               "scale": t["scale"] / div, "bias": t["bias"]})


def _bitsplit(n: Node, bits: int) -> Node:
    """Channels (conv) or features (linear) × ``bits``: channel c·B + j carries bit j with weight × 2^j."""
    t = n.tensors
    scale = 2.0 ** np.arange(bits)
    w = t["weight"][:, :, None] * scale.reshape((1, 1, bits) + (1,) * (t["weight"].ndim - 2))
    shape = (w.shape[0], -1) + w.shape[3:]
    return replace(n, tensors={**t, "weight": w.reshape(shape).astype(np.float32),
                               "codes": np.repeat(t["codes"], bits, axis=1)})


def _check_pool(pool: Node, layer: str) -> None:
    a = pool.attrs
    if a["kind"] == "max" or a["stride"] != a["kernel"] or a["padding"]:
        raise EmpfError(f"layer {layer!r}: pooling {pool.name!r} ({a['kind']} {a['kernel']}×{a['kernel']}, stride "
                        f"{a['stride']}, padding {a['padding']}) cannot be folded into synapses; allowed: "
                        "non-overlapping sum or avg pooling without padding")


def lower(graph: DeployGraph, trace: ActivityTrace, arch, mode: str | None):
    """(graph, trace) with every synaptic layer's input within the chip's spike payload; EmpfError naming the layer
    when a value is wider and no lowering is chosen."""
    payload = arch.core["spike_payload_bits"]
    labels = layer_labels(graph.nodes)
    wide = [n for n in graph.nodes if n.op in SYNAPTIC and spike_value_bits(graph, n) > payload]
    if not wide:
        return graph, trace
    if mode is None:
        n = wide[0]
        raise EmpfError(f"layer {labels[n.name]} ({n.name!r}) receives {spike_value_bits(graph, n)}-bit spike values "
                        f"but {arch.name} carries {payload}-bit payloads (core.spike_payload_bits); allowed: a chip "
                        "with wider payloads, or --lowering parallel|serial (pooling folded into the synapses, "
                        "multi-bit values sent as binary spikes on parallel axons or over serial sub-steps)")
    check_choice("lowering", mode, LOWERINGS)
    by = {lt.name: lt for lt in trace.layers}
    nodes = {n.name: n for n in graph.nodes}
    order = [n.name for n in graph.nodes]
    new_traces = {}
    for n in wide:
        src, chain = _chain(graph, n)
        pools = [c for c in chain if c.op == "pool"]
        flat = any(c.op == "flatten" for c in chain)
        node = n
        if len(pools) > 1:
            raise EmpfError(f"layer {labels[n.name]}: {len(pools)} pooling stages in a row cannot be folded; "
                            "allowed: one")
        if pools:
            _check_pool(pools[0], labels[n.name])
            node = _fold_conv(n, pools[0]) if n.op == "conv" else _fold_linear(n, pools[0], pools[0].shape)
        lt_in = by[pools[0].name] if pools else by[n.name]  # a pool's trace keeps its input's events and bits
        em, planes = lt_in.event_map, lt_in.bit_maps
        T = len(trace.logits)
        bits = 1 if src.op == "neuron" and src.attrs["spike_bits"] <= 1 else (
            src.attrs["input_bits"] if src.op == "input" else src.attrs["spike_bits"])
        if src.op == "input" and input_reach(src) != 1:
            raise EmpfError(f"layer {labels[n.name]}: the network input is normalised (mean/std), so its codes are "
                            "signed and cannot be sent as bit planes of binary spikes; allowed: an input without "
                            "normalisation on a binary-spike chip, or a chip with spike_payload_bits >= "
                            f"{spike_value_bits(graph, n)}")
        attrs = dict(node.attrs)
        split = bits if bits > 1 and mode == "parallel" else 1
        if bits > 1:
            if planes is None:
                raise EmpfError(f"the trace lacks bit-plane counts for {n.name!r}; re-run the executor in fixed mode")
            if mode == "parallel":
                node = _bitsplit(node, bits)
                planes = planes.reshape(T, bits, -1) if flat else planes
                em = np.moveaxis(planes, 1, 2)  # bit j of channel / feature c becomes c·B + j
            else:
                em = planes.sum(axis=1)
                attrs["serial_steps"] = bits
        shape = graph[src.name].shape
        in_shape = (int(np.prod(shape)) * split,) if flat else (shape[0] * split, *shape[1:])
        em = np.asarray(em).reshape(T, *in_shape)
        inp = src.name
        if flat:
            inp = _insert(nodes, order, n.name, Node(f"{n.name}.flat", "flatten", [inp], (int(np.prod(shape)),)))
        if split > 1:
            inp = _insert(nodes, order, n.name, Node(f"{inp}.bits", "bitsplit", [inp],
                                                     (nodes[inp].shape[0] * split, *nodes[inp].shape[1:]),
                                                     {"bits": split}))
        nodes[n.name] = replace(node, inputs=[inp], attrs=attrs)
        lt = by[n.name]
        vb = np.zeros_like(lt.value_bits)
        vb[:, 1] = em.reshape(T, -1).sum(axis=1)
        anym = lt_in.any_map.reshape(in_shape) if split == 1 and lt_in.any_map is not None else None  # planes: unknown
        new_traces[n.name] = LayerTrace(lt.name, lt.op, lt.shape, dict(lt.counts), vb, em.astype(np.int64),
                                        any_map=anym, acc_bits=lt.acc_bits)
    needed, todo = set(), [order[-1]]  # what the output still depends on
    while todo:
        nm = todo.pop()
        if nm not in needed:
            needed.add(nm)
            todo += nodes[nm].inputs
    keep = [nm for nm in order if nm in needed]
    lowered = DeployGraph([nodes[nm] for nm in keep], dict(graph.attrs))
    empty = {k: np.zeros_like(v) for k, v in trace.layers[0].counts.items()}
    layers = [new_traces.get(nm) or by.get(nm) or LayerTrace(nm, nodes[nm].op, nodes[nm].shape, dict(empty))
              for nm in keep]
    return lowered, ActivityTrace(layers, trace.logits, {**trace.meta, "lowering": mode}, lowered)


def _insert(nodes: dict, order: list, before: str, node: Node) -> str:
    """Add ``node`` (once) just before ``before`` in graph order; returns its name."""
    if node.name not in nodes:
        nodes[node.name] = node
        order.insert(order.index(before), node.name)
    return node.name

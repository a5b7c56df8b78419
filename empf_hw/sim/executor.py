"""Run a DeployGraph over T timesteps for a whole batch with NumPy, recording the ActivityTrace.

Layers are evaluated one after another with all T timesteps folded into the batch (the graph is feed-forward, so
only neurons loop over time). Tensors are channel-last internally. Values are ``Val(data, scale)``: ``scale`` is
``None`` for real values (currents, float mode); in fixed mode spikes are integer codes with a per-layer scale.

``float`` mode reproduces the PyTorch model in eval mode. ``fixed`` mode uses the hardware formats: the input as
``input_bits`` codes, synaptic layers as exact integer sums of spike codes × weight codes into a saturating
``accumulator_bits`` accumulator, membranes as saturating ``membrane_bits`` integers with LSB ``spike_step / 2^f``,
``f = min(membrane_frac_bits, membrane_bits − spike_bits − 4)`` (the membrane holds 8× the largest spike),
spikes as codes clipped to ``2^spike_bits − 1``. Every saturation is counted.
"""

from dataclasses import dataclass, replace

import numpy as np

from ..deploy.graph import DeployGraph, Node
from ..errors import EmpfError, check_choice, check_range
from .ops import conv2d, eca_gate, fanout_1d, pool2d
from .trace import COUNTS, MAX_BITS, ActivityTrace, LayerTrace

MODES = ("float", "fixed")
EXACT_FLOAT32 = 2**24  # integers below this add exactly in float32


@dataclass
class Val:
    data: np.ndarray  # (T or 1, N, ...) channel-last
    scale: float | None = None

    def real(self) -> np.ndarray:
        return self.data if self.scale is None else self.data * np.float32(self.scale)


def _saturate(x: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Clip to the signed ``bits`` range; returns (clipped, per-timestep count of clipped values)."""
    hi = 2 ** (bits - 1) - 1
    over = (x > hi) | (x < -hi)
    return np.clip(x, -hi, hi), over.reshape(len(x), -1).sum(axis=1)


def _to_torch_order(a: np.ndarray) -> np.ndarray:
    """(T, N, H, W, C) → (T, N, C, H, W); 3-D-or-less arrays are returned unchanged."""
    return a.transpose(0, 1, 4, 2, 3) if a.ndim == 5 else a


class Executor:
    """Executes one graph; ``run(x)`` returns the ActivityTrace (logits included)."""

    def __init__(self, graph: DeployGraph, mode: str = "float"):
        check_choice("mode", mode, MODES)
        if mode == "fixed":
            for n in graph.nodes:
                if n.op == "neuron" and (n.attrs["spike_bits"] == 0 or float(n.tensors["spike_step"]) <= 0):
                    raise EmpfError(f"node {n.name!r}: fixed mode needs a spike format; calibrate the graph "
                                    "with a spike bit width (--spike-bits) first")
        self.graph, self.mode, self.T = graph, mode, graph.timesteps
        self.fanouts = {n.name: self._fanout(n) for n in graph.nodes if n.op == "conv"}

    def _fanout(self, n: Node) -> np.ndarray:
        _, h, w = self.graph[n.inputs[0]].shape
        k, s, p = n.tensors["weight"].shape[-1], n.attrs["stride"], n.attrs["padding"]
        return np.outer(fanout_1d(h, k, s, p), fanout_1d(w, k, s, p)) * n.tensors["weight"].shape[0]

    def run(self, x: np.ndarray) -> ActivityTrace:
        """``x``: (N, C, H, W) or (N, F) real input in [0, 1] (direct encoding: the same frame every timestep)."""
        g, T = self.graph, self.T
        want = tuple(g.nodes[0].shape)
        if x.ndim < 2 or tuple(x.shape[1:]) != want:
            raise EmpfError(f"input shape {tuple(x.shape[1:])} does not match the graph input {want}")
        self.batch, self.spike_max = len(x), {}
        vals, traces = {}, []
        for n in g.nodes:
            lt = LayerTrace(n.name, n.op, tuple(n.shape), {c: np.zeros(T, np.int64) for c in COUNTS})
            ins = [vals[i] for i in n.inputs]
            vals[n.name] = getattr(self, f"_{n.op}")(n, ins, lt) if n.op != "input" else self._input(n, x, lt)
            traces.append(lt)
        logits = vals[g.nodes[-1].name].real().astype(np.float32)
        meta = {"mode": self.mode, "timesteps": T, "batch": self.batch, "graph_attrs": g.attrs}
        return ActivityTrace(traces, logits, meta, g)

    # --- nodes ---------------------------------------------------------------------------------------------
    def _input(self, n: Node, x: np.ndarray, lt: LayerTrace) -> Val:
        x = x.astype(np.float32)
        data = x.transpose(0, 2, 3, 1)[None] if x.ndim == 4 else x[None]
        if self.mode == "float":
            return Val(data)
        levels = 2 ** n.attrs["input_bits"] - 1
        lt.counts["spike_clips"][:] = ((data < 0) | (data > 1)).sum()
        return Val(np.round(np.clip(data, 0, 1) * levels), 1.0 / levels)

    def _synaptic_trace(self, n: Node, v: Val, lt: LayerTrace, real_input: bool) -> None:
        nz = v.data != 0  # (T', N, ...)
        reps = self.T if len(nz) == 1 else 1
        per_pos = nz.sum(axis=1)  # (T', ...) events per input position over the batch
        lt.event_map = np.repeat(_to_torch_order(per_pos[:, None])[:, 0], reps, axis=0).astype(np.int32)
        events = np.repeat(per_pos.reshape(len(per_pos), -1).sum(axis=1), reps)
        w = n.tensors["weight"]
        if n.op == "conv":
            fan = self.fanouts[n.name]
            syn = np.repeat(np.einsum("thwc,hw->t", per_pos, fan, dtype=np.int64), reps)
            dense = self.batch * w.size * n.shape[1] * n.shape[2]  # every tap, padding included
        else:
            syn = events * w.shape[0]
            dense = self.batch * w.size
        one = 1.0 if v.scale is None else 1.0 / v.scale  # the code of a real value ±1
        nonbinary = np.count_nonzero((v.data != 0) & (np.abs(v.data) != one), axis=tuple(range(1, v.data.ndim)))
        lt.counts["nonbinary_inputs"][:] = np.repeat(nonbinary, reps)
        lt.counts["input_events"][:] = events
        lt.counts["dense_ops"][:] = dense
        lt.counts["macs" if real_input else "sops"][:] = dense if real_input else syn
        bits = np.zeros((len(nz), MAX_BITS + 1), np.int64)
        if self.mode == "fixed":
            codes = np.abs(v.data[nz]).astype(np.int64)
            nbits = np.floor(np.log2(codes)).astype(np.int64) + 1
            t_idx = np.nonzero(nz)[0]
            np.add.at(bits, (t_idx, np.minimum(nbits, MAX_BITS)), 1)
        else:
            bits[:, 0] = per_pos.reshape(len(per_pos), -1).sum(axis=1)
        lt.value_bits = np.repeat(bits, reps, axis=0)

    def _matmul(self, n: Node, data: np.ndarray, w: np.ndarray) -> np.ndarray:
        lead = data.shape[:2]
        flat = data.reshape(-1, *data.shape[2:])
        out = conv2d(flat, w, n.attrs["stride"], n.attrs["padding"]) if n.op == "conv" else flat @ w.T
        return out.reshape(*lead, *out.shape[1:])

    def _conv(self, n: Node, ins: list[Val], lt: LayerTrace) -> Val:
        (v,) = ins
        real_input = n.inputs[0] == self.graph.nodes[0].name
        self._synaptic_trace(n, v, lt, real_input)
        t = n.tensors
        if self.mode == "float":
            return Val(self._matmul(n, v.data, t["weight"]) + t["bias"])
        codes = t["codes"].astype(np.float32)
        bound = float(np.abs(v.data).max(initial=0)) * float(np.abs(codes).reshape(len(codes), -1).sum(1).max())
        dtype = np.float32 if bound < EXACT_FLOAT32 else np.float64
        acc = self._matmul(n, v.data.astype(dtype), codes.astype(dtype))
        acc, sat = _saturate(acc, self.graph.attrs["accumulator_bits"])
        lt.counts["acc_saturations"][:] = np.resize(sat, self.T) if len(sat) == 1 else sat
        return Val(acc.astype(np.float64) * (v.scale * t["scale"].astype(np.float64)) + t["bias"])

    _linear = _conv

    def _neuron(self, n: Node, ins: list[Val], lt: LayerTrace) -> Val:
        current = ins[0].real()
        t, a, T = n.tensors, n.attrs, self.T
        shape = (T, *current.shape[1:])
        lt.counts["neuron_updates"][:] = int(np.prod(current.shape[1:]))
        out = np.empty(shape, np.float32)
        fixed = self.mode == "fixed"
        step = float(t["spike_step"])
        frac = min(self.graph.attrs["membrane_frac_bits"], self.graph.attrs["membrane_bits"] - a["spike_bits"] - 4)
        lsb = step / 2**frac if fixed else 1.0
        levels = 2 ** a["spike_bits"] - 1
        u = syn = None
        for k in range(T):
            i = t["in_scale"][k] * current[k if len(current) > 1 else 0]
            if "syn_decay" in t:  # current-based synapse (NIR CubaLIF)
                syn = i if syn is None else t["syn_decay"][k] * syn + i
                i = syn
            i = i + t["in_bias"][k]
            theta = float(t["threshold"][k])
            if fixed:
                m = np.round(i / lsb)
                if u is not None:
                    m = m + np.round(t["leak"][k].astype(np.float64) * u)
                m, sat = _saturate(m[None], self.graph.attrs["membrane_bits"])
                m = m[0]
                lt.counts["membrane_saturations"][k] = sat[0]
                theta = np.round(theta / lsb)
            else:
                m = i if u is None else i + t["leak"][k] * u
            if a["model"] == "lif":
                s = (m - theta >= 0).astype(m.dtype)
                u = m - s * theta if a["reset"] == "threshold" else m * (1 - s)
                out[k] = s
            elif fixed:
                code = np.floor((np.maximum(m - theta, 0) + 2 ** (frac - 1)) / 2**frac)
                lt.counts["spike_clips"][k] = int((code > levels).sum())
                code = np.minimum(code, levels)
                u = m - code * 2**frac
                out[k] = code
            else:
                s = np.maximum(m - theta, 0)
                if a["spike_bits"] and step > 0:
                    s = np.clip(np.round(s / step), 0, levels) * step
                u = m - s
                out[k] = s
        lt.counts["output_events"][:] = np.count_nonzero(out.reshape(T, -1), axis=1)
        self.spike_max[n.name] = float(out.max(initial=0)) * (step if fixed else 1.0)
        return Val(out, step if fixed else None)

    def _pool(self, n: Node, ins: list[Val], lt: LayerTrace) -> Val:
        (v,) = ins
        a = n.attrs
        k = a["kernel"]
        lead = v.data.shape[:2]
        kind = "max" if a["kind"] == "max" else "sum"
        out = pool2d(v.data.reshape(-1, *v.data.shape[2:]), kind, k, a["stride"], a["padding"])
        out = out.reshape(*lead, *out.shape[1:])
        lt.counts["other_ops"][:] = self.batch * int(np.prod(n.shape)) * k * k
        if a["kind"] in ("max", "sum"):
            return Val(out, v.scale)
        if v.scale is None:
            return Val(out / np.float32(k * k))
        return Val(out, v.scale / (k * k))  # sum pooling of codes; 1/k² moves into the scale

    def _flatten(self, n: Node, ins: list[Val], lt: LayerTrace) -> Val:
        (v,) = ins
        d = _to_torch_order(v.data)
        return Val(d.reshape(*d.shape[:2], -1), v.scale)

    def _add(self, n: Node, ins: list[Val], lt: LayerTrace) -> Val:
        lt.counts["other_ops"][:] = self.batch * int(np.prod(n.shape))
        return Val(ins[0].real() + ins[1].real())

    def _attention(self, n: Node, ins: list[Val], lt: LayerTrace) -> Val:
        x = ins[0].real()
        gate = eca_gate(x, n.tensors["weight"].astype(x.dtype))
        size, c = int(np.prod(n.shape)), n.shape[0]
        # pooling adds + 1-D conv MACs + sigmoid + channel scaling, per sample and timestep
        lt.counts["other_ops"][:] = self.batch * (size + c * len(n.tensors["weight"]) + c + size)
        return Val(x * gate[:, :, None, None, :])

    def _output(self, n: Node, ins: list[Val], lt: LayerTrace) -> Val:
        logits = ins[0].real()
        return Val(np.broadcast_to(logits, (self.T, *logits.shape[1:])))


def calibrate(graph: DeployGraph, x: np.ndarray, spike_bits: int | None = None) -> DeployGraph:
    """Spike formats for fixed mode. With ``spike_bits`` B, every EM-PF neuron gets B-bit spikes whose step is the
    largest float-mode spike on ``x`` divided by ``2^B − 1`` (a model trained with quantized spikes keeps its own
    step when B equals its trained width). Without B, a model whose neurons all have formats is returned as is."""
    if spike_bits is not None:
        check_range("spike_bits", spike_bits, 1, 32)
    todo = [n for n in graph.nodes if n.op == "neuron" and n.attrs["model"] == "empf"
            and (spike_bits is not None and n.attrs["spike_bits"] != spike_bits or n.attrs["spike_bits"] == 0)]
    if not todo:
        return graph
    if spike_bits is None:
        raise EmpfError(f"node {todo[0].name!r} emits floating-point spikes: give a spike bit width (1..32)")
    trace_vals = _float_spike_maxima(graph, x)
    nodes, names = [], {n.name for n in todo}
    for n in graph.nodes:
        if n.name in names:
            peak = max(trace_vals[n.name], 1e-6)
            tensors = {**n.tensors, "spike_step": np.array(peak / (2**spike_bits - 1), np.float32)}
            n = replace(n, attrs={**n.attrs, "spike_bits": spike_bits}, tensors=tensors)
        nodes.append(n)
    return DeployGraph(nodes, dict(graph.attrs))


def _float_spike_maxima(graph: DeployGraph, x: np.ndarray) -> dict[str, float]:
    """Largest spike each neuron emits in float mode on ``x`` (with its quantizer, if any, switched off)."""
    nodes = [replace(n, attrs={**n.attrs, "spike_bits": 0}) if n.op == "neuron" and n.attrs["model"] == "empf"
             else n for n in graph.nodes]
    ex = Executor(DeployGraph(nodes, dict(graph.attrs)), "float")
    ex.run(x)
    return ex.spike_max


def execute(graph: DeployGraph, x: np.ndarray, mode: str = "float", batch_size: int | None = None) -> ActivityTrace:
    """Run ``x`` through ``graph``; with ``batch_size``, in chunks whose traces are summed."""
    ex = Executor(graph, mode)
    if not batch_size or batch_size >= len(x):
        return ex.run(x)
    parts = [ex.run(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    return merge(parts)


def merge(parts: list[ActivityTrace]) -> ActivityTrace:
    """Concatenate traces of consecutive chunks of one dataset (counts add, logits concatenate)."""
    first = parts[0]
    layers = []
    for i, lt in enumerate(first.layers):
        same = [p.layers[i] for p in parts]
        counts = {c: sum(s.counts[c] for s in same) for c in COUNTS}
        vb = sum(s.value_bits for s in same) if lt.value_bits is not None else None
        em = sum(s.event_map for s in same) if lt.event_map is not None else None
        layers.append(LayerTrace(lt.name, lt.op, lt.shape, counts, vb, em))
    meta = {**first.meta, "batch": sum(p.batch for p in parts)}
    return ActivityTrace(layers, np.concatenate([p.logits for p in parts], axis=1), meta, first.graph)

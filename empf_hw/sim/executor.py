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
from .ops import conv2d_gemm, eca_gate, fanout_1d, gemm_weights, pool2d
from .trace import COUNTS, MAX_BITS, ActivityTrace, LayerTrace

MODES = ("float", "fixed")
EXACT_FLOAT32 = 2**24  # integers below this add exactly in float32
NEURON_BLOCK = 1 << 14  # membranes updated together (the T-step loop runs block by block)
MIN_FRAC_BITS = 4  # membrane bits below one spike step that fixed mode keeps, at least


def max_spike_bits(attrs: dict) -> int:
    """Widest spike the graph's fixed-point membrane represents: it holds 8× the largest spike, a sign bit and at
    least MIN_FRAC_BITS fraction bits below the spike step (16 bits for the default 24-bit membrane)."""
    return attrs["membrane_bits"] - 4 - MIN_FRAC_BITS


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
                if n.op == "neuron" and n.attrs["spike_bits"] > max_spike_bits(graph.attrs):
                    raise EmpfError(f"node {n.name!r}: spike_bits={n.attrs['spike_bits']} does not fit the "
                                    f"{graph.attrs['membrane_bits']}-bit membrane; allowed: 1.."
                                    f"{max_spike_bits(graph.attrs)}")
        self.graph, self.mode, self.T = graph, mode, graph.timesteps
        self.fanouts = {n.name: self._fanout(n) for n in graph.nodes if n.op == "conv"}
        self.weights = {n.name: self._gemm_weights(n) for n in graph.nodes if n.op in ("conv", "linear")}

    def _fanout(self, n: Node) -> np.ndarray:
        _, h, w = self.graph[n.inputs[0]].shape
        k, s, p = n.tensors["weight"].shape[-1], n.attrs["stride"], n.attrs["padding"]
        return np.outer(fanout_1d(h, k, s, p), fanout_1d(w, k, s, p)) * n.tensors["weight"].shape[0]

    def _gemm_weights(self, n: Node) -> tuple[np.ndarray, float]:
        """(K, O) float32 GEMM operand of a synaptic node (real weights in float mode, integer codes in fixed mode)
        and the largest Σ|code| over its outputs (bounds the accumulator in fixed mode)."""
        w = n.tensors["weight" if self.mode == "float" else "codes"].astype(np.float32)
        w = gemm_weights(w) if n.op == "conv" else w.T
        return w, float(np.abs(w).sum(axis=0).max(initial=0))

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

    def _synaptic_trace(self, n: Node, v: Val, lt: LayerTrace, real_input: bool) -> float:
        """Record the input side of a synaptic layer; returns the largest input magnitude."""
        d = v.data  # (T', N, ...)
        tn, batch = d.shape[:2]
        reps = self.T if tn == 1 else 1
        nz = (d != 0).view(np.uint8)
        per_pos = np.add.reduce(nz, axis=1, dtype=np.uint8 if batch < 256 else np.int64).astype(np.int64)
        lt.event_map = np.repeat(_to_torch_order(per_pos[:, None])[:, 0], reps, axis=0).astype(np.int32)
        events = per_pos.reshape(tn, -1).sum(axis=1)
        w = n.tensors["weight"]
        if n.op == "conv":
            syn = np.repeat(np.einsum("thwc,hw->t", per_pos, self.fanouts[n.name]), reps)
            dense = self.batch * w.size * n.shape[1] * n.shape[2]  # every tap, padding included
        else:
            syn = np.repeat(events * w.shape[0], reps)
            dense = self.batch * w.size
        one = 1.0 if v.scale is None else 1.0 / v.scale  # the code of a real value ±1
        binary = [np.count_nonzero(dt == one) + np.count_nonzero(dt == -one) for dt in d]
        lt.counts["nonbinary_inputs"][:] = np.repeat(events - binary, reps)
        lt.counts["input_events"][:] = np.repeat(events, reps)
        lt.counts["dense_ops"][:] = dense
        lt.counts["macs" if real_input else "sops"][:] = dense if real_input else syn
        lo, peak = float(d.min(initial=0)), float(d.max(initial=0))
        bits = np.zeros((tn, MAX_BITS + 1), np.int64)
        if self.mode == "fixed":  # events by bit length of |code|: counts of |code| ≥ 2^(b−1), differenced
            mag = np.abs(d) if lo < 0 else d
            peak = max(peak, -lo)
            if peak < 256:  # comparisons with powers of two are unchanged by truncation to uint8
                mag = mag.astype(np.uint8)
            at_least = np.zeros((tn, MAX_BITS + 2), np.int64)
            for b in range(1, min(int(peak).bit_length(), MAX_BITS) + 1):
                at_least[:, b] = [np.count_nonzero(mt >= 2 ** (b - 1)) for mt in mag]
            bits[:, 1:] = at_least[:, 1:-1] - at_least[:, 2:]
        else:
            bits[:, 0] = events
        lt.value_bits = np.repeat(bits, reps, axis=0)
        return max(peak, -lo)

    def _matmul(self, n: Node, data: np.ndarray, w: np.ndarray) -> np.ndarray:
        lead = data.shape[:2]
        flat = data.reshape(-1, *data.shape[2:])
        if n.op == "conv":
            out = conv2d_gemm(flat, w, n.tensors["weight"].shape[-1], n.attrs["stride"], n.attrs["padding"])
        else:
            out = flat @ w
        return out.reshape(*lead, *out.shape[1:])

    def _conv(self, n: Node, ins: list[Val], lt: LayerTrace) -> Val:
        (v,) = ins
        real_input = n.inputs[0] == self.graph.nodes[0].name
        peak = self._synaptic_trace(n, v, lt, real_input)
        t = n.tensors
        w, code_sum = self.weights[n.name]
        if self.mode == "float":
            out = self._matmul(n, v.data, w)
            out += t["bias"]
            return Val(out)
        bound = peak * code_sum  # no accumulator sum can exceed it
        dtype = np.float32 if bound < EXACT_FLOAT32 else np.float64
        acc = self._matmul(n, v.data.astype(dtype, copy=False), w.astype(dtype, copy=False))
        bits = self.graph.attrs["accumulator_bits"]
        if bound > 2 ** (bits - 1) - 1:
            acc, sat = _saturate(acc, bits)
            lt.counts["acc_saturations"][:] = np.resize(sat, self.T) if len(sat) == 1 else sat
        out = np.multiply(acc, v.scale * t["scale"].astype(np.float64), dtype=np.float64)
        out += t["bias"]
        return Val(out)

    _linear = _conv

    def _neuron(self, n: Node, ins: list[Val], lt: LayerTrace) -> Val:
        """Neuron dynamics over T timesteps, in blocks of NEURON_BLOCK membranes so every step's temporaries stay
        in cache."""
        current = ins[0].real()
        T, shape = self.T, current.shape[1:]
        lt.counts["neuron_updates"][:] = int(np.prod(shape))
        cur = current.reshape(len(current), -1, shape[-1])  # channel-last: the per-channel tensors broadcast
        out = np.empty((T, *cur.shape[1:]), np.float32)
        rows = max(1, NEURON_BLOCK // shape[-1])
        for r in range(0, cur.shape[1], rows):
            self._neuron_block(n, cur[:, r:r + rows], out[:, r:r + rows], lt.counts)
        lt.counts["output_events"][:] = [np.count_nonzero(o) for o in out]
        fixed, step = self.mode == "fixed", float(n.tensors["spike_step"])
        self.spike_max[n.name] = float(out.max(initial=0)) * (step if fixed else 1.0)
        return Val(out.reshape(T, *shape), step if fixed else None)

    def _neuron_block(self, n: Node, current: np.ndarray, out: np.ndarray, counts: dict) -> None:
        """T steps of one block of membranes: ``current`` (T or 1, rows, C) → spikes into ``out`` (T, rows, C);
        saturations and clips are added to ``counts``."""
        t, a, T = n.tensors, n.attrs, self.T
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
                hi = 2 ** (self.graph.attrs["membrane_bits"] - 1) - 1
                if m.max(initial=0) > hi or m.min(initial=0) < -hi:
                    m, sat = _saturate(m[None], self.graph.attrs["membrane_bits"])
                    m = m[0]
                    counts["membrane_saturations"][k] += sat[0]
                theta = np.round(theta / lsb)
            else:
                m = i if u is None else i + t["leak"][k] * u
            if a["model"] == "lif":
                s = (m - theta >= 0).astype(m.dtype)
                u = m - s * theta if a["reset"] == "threshold" else m * (1 - s)
                out[k] = s
            elif fixed:
                code = np.floor((np.maximum(m - theta, 0) + 2 ** (frac - 1)) / 2**frac)
                if code.max(initial=0) > levels:
                    counts["spike_clips"][k] += np.count_nonzero(code > levels)
                    code = np.minimum(code, levels)
                u = m - code * 2**frac
                out[k] = code
            else:
                s = np.maximum(m - theta, 0)
                if a["spike_bits"] and step > 0:
                    s = np.clip(np.round(s / step), 0, levels) * step
                u = m - s
                out[k] = s

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
        check_range("spike_bits", spike_bits, 1, max_spike_bits(graph.attrs), integer=True)
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

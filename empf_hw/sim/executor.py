"""Run a DeployGraph over T timesteps for a whole batch with NumPy, recording the ActivityTrace.

Layers are evaluated one after another with all T timesteps folded into the batch (the graph is feed-forward, so
only neurons loop over time). Tensors are channel-last internally. Values are ``Val(data, scale)``: ``scale`` is
``None`` for real values (currents, float mode); in fixed mode spikes are integer codes with a per-layer scale.

Inputs: one static frame presented every timestep (direct encoding), or, when the input node has ``time_axis``,
frame t at timestep t (event-camera frames); normalised per channel when it has ``mean``/``std``. The trace's
``meta["static_input"]`` says which.

``float`` mode reproduces the PyTorch model in eval mode. ``fixed`` mode uses the hardware formats: the input as
``input_bits`` codes (``empf_hw.deploy.graph.input_scale``), synaptic layers as exact integer sums of spike codes ×
weight codes into a saturating ``accumulator_bits`` accumulator, membranes as saturating ``membrane_bits`` integers
with LSB ``spike_step / 2^f``, ``f = min(membrane_frac_bits, membrane_bits − spike_bits − 4)`` (the membrane holds
8× the largest spike), the input current rounded to the LSB and the leaked potential truncated toward zero (a
multiply-shift), LIF neurons firing when the membrane exceeds the threshold (as Loihi and SANA-FE do; PyTorch's
float model fires at it too), spikes as codes clipped to ``2^spike_bits − 1``. Every saturation is counted.

Timestep semantics (``schedule``): ``pipelined`` — every layer sees its inputs of the same timestep (the trained
model's semantics; a pipelined chip starts a layer's timestep when its inputs have arrived); ``lockstep`` — as on
a chip whose global barrier ends every step (Loihi, SANA-FE): spikes sent in step s are delivered through the
synapses in step s and integrated by their neurons in step s + 1; every layer runs all T + D steps (D: the neuron
layers on the longest path) from the first one (biases integrate before the first spike arrives), the input is
presented for the first T steps, and a shorter path into a residual add is delayed to meet the longer one
(dendritic delays). A synaptic layer's trace row s is then the spikes delivered in step s.
"""

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, replace

import numpy as np

from ..deploy.graph import DeployGraph, Node, conv_axes, input_normalisation, input_reach, input_scale
from ..errors import EmpfError, check_choice, check_range
from .ops import conv2d_gemm, eca_gate, fanout_1d, gemm_weights, pool2d
from .trace import ACC_WIDTHS, COUNTS, MAPS, MAX_BITS, ActivityTrace, LayerTrace

MODES = ("float", "fixed")
SCHEDULES = ("pipelined", "lockstep")
EXACT_FLOAT32 = 2**24  # integers below this add exactly in float32
MAXIMA_KEPT = 8  # float-mode spike maxima remembered per process (a sweep calibrates one model at many widths)
_maxima: OrderedDict = OrderedDict()  # fingerprint of (graph, inputs) → spike maxima
NEURON_BLOCK = 1 << 17  # values per block of a neuron's T-step loop or of a pending affine: temporaries stay in cache
MIN_FRAC_BITS = 4  # membrane bits below one spike step that fixed mode keeps, at least


def max_spike_bits(attrs: dict) -> int:
    """Widest spike the graph's fixed-point membrane represents: it holds 8× the largest spike, a sign bit and at
    least MIN_FRAC_BITS fraction bits below the spike step (16 bits for the default 24-bit membrane)."""
    return attrs["membrane_bits"] - 4 - MIN_FRAC_BITS


@dataclass
class Val:
    """A node's output, (T or 1, N, ...) channel-last. A synaptic layer leaves its per-channel output affine
    ``(gain, offset)`` pending on its accumulator ``raw``: a following neuron applies it block by block, in cache;
    reading ``data`` applies it once."""
    raw: np.ndarray
    scale: float | None = None  # real value of one code; None: real values
    affine: tuple | None = None
    stats: tuple | None = None  # what synaptic layers record of this value as their input (Executor._input_stats)

    @property
    def data(self) -> np.ndarray:
        if self.affine is not None:  # block by block, in cache
            row = _row(self.raw.shape)
            x = self.raw.reshape(-1, row)
            gain, offset = (_tile(a, row) for a in self.affine)
            out = np.empty(x.shape, np.result_type(x, offset))
            step = max(1, NEURON_BLOCK // row)
            for r in range(0, len(x), step):
                _affine(x[r:r + step], gain, offset, out[r:r + step])
            self.raw, self.affine = out.reshape(self.raw.shape), None
        return self.raw

    def real(self) -> np.ndarray:
        return self.data if self.scale is None else self.data * np.float32(self.scale)


def _active(i: np.ndarray, u: np.ndarray | None) -> int:
    """Neurons with input current or a non-zero potential (the previous step's, before the leak)."""
    return int(np.count_nonzero(i) if u is None else np.count_nonzero((i != 0) | (u != 0)))


def _row(shape: tuple) -> int:
    """Values per row of channel-last data: W·C of (T', N, H, W, C), F of (T', N, F). Per-channel vectors are tiled
    to a row (``_tile``) so that NumPy's inner loops run over a row, not over C values at a time."""
    return shape[-1] * (shape[-2] if len(shape) == 5 else 1)


def _tile(v: np.ndarray | None, row: int) -> np.ndarray | None:
    """Per-channel (..., C) → (..., row), repeated along the last axis."""
    return None if v is None else np.tile(v, row // v.shape[-1])


def _affine(x: np.ndarray, gain: np.ndarray | None, offset: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``x·gain + offset`` (into ``out``); fixed mode: float64 ``gain`` and ``offset``, exact integer sums ``x``."""
    if gain is None:
        return np.add(x, offset, out=out)
    if out is None:
        out = np.empty(x.shape, np.float64)
    out[...] = x
    out *= gain
    out += offset
    return out


def _normalise(n: Node, x: np.ndarray) -> np.ndarray:
    """Channel-last input frames ``x`` (float32) normalised per channel by the input node's ``mean``/``std``."""
    if "mean" not in n.attrs:
        return x
    mean, std = input_normalisation(n)
    return (x - mean.astype(np.float32)) / std.astype(np.float32)


def _saturate(x: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Clip to the signed ``bits`` range; returns (clipped, per-timestep count of clipped values)."""
    hi = 2 ** (bits - 1) - 1
    over = (x > hi) | (x < -hi)
    return np.clip(x, -hi, hi), over.reshape(len(x), -1).sum(axis=1)


def width_counts(acc: np.ndarray, steps: int) -> np.ndarray:
    """(steps, ACC_WIDTHS): integer sums of ``acc`` (leading axis: timesteps, or 1 for a static value) by the signed
    width they need, ``bit_length(|x|) + 1`` (frexp's exponent of an integer is its bit length)."""
    rows = [np.bincount(np.minimum(np.frexp(a)[1].ravel() + 1, ACC_WIDTHS - 1), minlength=ACC_WIDTHS) for a in acc]
    out = np.stack(rows).astype(np.int64)
    return np.repeat(out, steps, axis=0) if len(out) == 1 else out


def _to_torch_order(a: np.ndarray) -> np.ndarray:
    """(T, N, H, W, C) → (T, N, C, H, W); 3-D-or-less arrays are returned unchanged."""
    return a.transpose(0, 1, 4, 2, 3) if a.ndim == 5 else a


def _plane_order(planes: np.ndarray) -> np.ndarray:
    """(T, B, H, W, C) bit planes → (T, B, C, H, W) (feature maps: unchanged)."""
    return planes.transpose(0, 1, 4, 2, 3) if planes.ndim == 5 else planes


def depths(graph: DeployGraph) -> dict[str, int]:
    """Per node, the neuron layers between the input and it (itself included): on a lockstep chip a neuron
    integrates one step after its inputs were sent (a residual add waits for its deeper input)."""
    d: dict[str, int] = {}
    for n in graph.nodes:
        ins = [d[i] for i in n.inputs]
        d[n.name] = 0 if n.op == "input" else max(ins) + (1 if n.op == "neuron" else 0)
    return d


class Executor:
    """Executes one graph; ``run(x)`` returns the ActivityTrace (logits included)."""

    def __init__(self, graph: DeployGraph, mode: str = "float", schedule: str = "pipelined"):
        check_choice("mode", mode, MODES)
        check_choice("schedule", schedule, SCHEDULES)
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
        self.lockstep = schedule == "lockstep"
        self.depth = depths(graph)
        self.steps = self.T + (max(self.depth.values()) if self.lockstep else 0)  # rows of the time axis
        self.fanouts = {n.name: self._fanout(n) for n in graph.nodes if n.op == "conv"}

    def _fanout(self, n: Node) -> np.ndarray:
        _, h, w = self.graph[n.inputs[0]].shape
        rows, cols = conv_axes(n)
        return np.outer(fanout_1d(h, *rows), fanout_1d(w, *cols)) * n.tensors["weight"].shape[0]

    def _gemm_weights(self, n: Node) -> tuple[np.ndarray, float]:
        """(O, K) float32 GEMM operand of a synaptic node (real weights in float mode, integer codes in fixed mode)
        and the largest Σ|code| over its outputs (bounds the accumulator in fixed mode)."""
        w = n.tensors["weight" if self.mode == "float" else "codes"].astype(np.float32, copy=False)
        w = gemm_weights(w) if n.op == "conv" else w
        return w, float(np.abs(w).sum(axis=1).max(initial=0)) if self.mode == "fixed" else 0.0

    def run(self, x: np.ndarray) -> ActivityTrace:
        """``x``: (N, C, H, W) or (N, F) real input in [0, 1], the same frame every timestep (direct encoding), or,
        when the input node has ``time_axis``, (N, T, C, H, W) / (N, T, F): frame t at timestep t."""
        g, T = self.graph, self.steps
        static = not g.nodes[0].attrs.get("time_axis", False)
        want = (() if static else (self.T,)) + tuple(g.nodes[0].shape)
        if x.ndim < 2 or tuple(x.shape[1:]) != want:
            raise EmpfError(f"input shape {tuple(x.shape[1:])} does not match the graph input {want}"
                            + ("" if static else " (one frame per timestep)"))
        self.batch, self.spike_max = len(x), {}
        last = {i: k for k, n in enumerate(g.nodes) for i in n.inputs}  # a value is freed after its last reader
        vals, self.traces = {}, {}
        for k, n in enumerate(g.nodes):
            lt = LayerTrace(n.name, n.op, tuple(n.shape), {c: np.zeros(T, np.int64) for c in COUNTS})
            self.traces[n.name] = lt
            ins = [vals[i] for i in n.inputs]
            vals[n.name] = getattr(self, f"_{n.op}")(n, ins, lt) if n.op != "input" else \
                self._input(n, x[None] if static else np.moveaxis(x, 1, 0), lt)
            for i in n.inputs:
                if last[i] == k:
                    del vals[i]
        logits = vals[g.nodes[-1].name].real().astype(np.float32)
        meta = {"mode": self.mode, "timesteps": T, "batch": self.batch, "graph_attrs": g.attrs,
                "schedule": "lockstep" if self.lockstep else "pipelined", "logical_timesteps": self.T,
                "static_input": static}
        return ActivityTrace(list(self.traces.values()), logits, meta, g)

    def _delay(self, v: "Val", steps: int) -> "Val":
        """``v`` ``steps`` steps later (zeros first; a pending output affine still applies at every step)."""
        if steps == 0:
            return v
        raw = v.raw if len(v.raw) > 1 else np.broadcast_to(v.raw, (self.steps, *v.raw.shape[1:]))
        shifted = np.concatenate([np.zeros((steps, *raw.shape[1:]), raw.dtype), raw[:-steps]])
        return Val(shifted, v.scale, v.affine)

    # --- nodes ---------------------------------------------------------------------------------------------
    def _input(self, n: Node, frames: np.ndarray, lt: LayerTrace) -> Val:
        """``frames`` (1 static or T, N, *shape) → channel-last values ``(x − mean)/std`` (float mode) or their codes
        ``round((clip(x, 0, 1) − mean)/std · (2^input_bits − 1)/R)`` of scale ``input_scale`` (fixed mode, see
        ``empf_hw.deploy.graph.input_scale``); lockstep: presented for the first T steps, zeros (no input) after."""
        x = frames.astype(np.float32, copy=False)
        data = x.transpose(0, 1, 3, 4, 2) if x.ndim == 5 else x
        if self.mode == "float":
            return Val(self._present(_normalise(n, data)))
        clips = ((data < 0) | (data > 1)).reshape(len(data), -1).sum(axis=1)
        lt.counts["spike_clips"][:] = self._present(clips)
        levels = 2 ** n.attrs["input_bits"] - 1
        codes = np.round(_normalise(n, np.clip(data, 0, 1)) * np.float32(levels / input_reach(n)))
        return Val(self._present(codes), input_scale(n))

    def _present(self, rows: np.ndarray) -> np.ndarray:
        """Input rows (1 static or T, ...) as the executor's time axis: unchanged when pipelined; lockstep: the T
        frames, then zeros until the last layer has finished."""
        if not self.lockstep:
            return rows
        rows = np.broadcast_to(rows, (self.T, *rows.shape[1:]))
        return np.concatenate([rows, np.zeros((self.steps - self.T, *rows.shape[1:]), rows.dtype)])

    def _input_stats(self, v: Val) -> tuple:
        """What a synaptic layer records of its input ``v`` (T', N, ...), computed once per value: events per
        position over the batch (T', ...), events, non-binary events and events by bit length per timestep
        (T', 33), largest magnitude, for multi-bit codes set bits per plane and position (T', B, ...) (fixed
        mode), and per position the samples with an event at any step (...)."""
        d = v.data
        tn, batch = d.shape[:2]
        nz = (d != 0).view(np.uint8)
        per_pos = np.add.reduce(nz, axis=1, dtype=np.uint8 if batch < 256 else np.int64)
        events = per_pos.reshape(tn, -1).sum(axis=1, dtype=np.int64)
        lo = float(d.min(initial=0))
        one = 1.0 if v.scale is None else 1.0 / v.scale  # the code of a real value ±1
        binary = [np.count_nonzero(dt == one) + (np.count_nonzero(dt == -one) if lo < 0 else 0) for dt in d]
        bits = np.zeros((tn, MAX_BITS + 1), np.int64)
        peak = 0.0  # needed in fixed mode only
        if self.mode == "fixed":  # events by bit length of |code|: counts of |code| ≥ 2^(b−1), differenced
            peak = max(float(d.max(initial=0)), -lo)
            mag = np.abs(d) if lo < 0 else d
            if peak < 256:  # comparisons with powers of two are unchanged by truncation to uint8
                mag = mag.astype(np.uint8)
            at_least = np.zeros((tn, MAX_BITS + 2), np.int64)
            for b in range(1, min(int(peak).bit_length(), MAX_BITS) + 1):
                at_least[:, b] = [np.count_nonzero(mt >= 2 ** (b - 1)) for mt in mag]
            bits[:, 1:] = at_least[:, 1:-1] - at_least[:, 2:]
        else:
            bits[:, 0] = events
        planes = None
        if self.mode == "fixed" and peak > 1:
            codes = mag if mag.dtype == np.uint8 else np.abs(d).astype(np.int64)  # |code| exact in uint8 below 256
            acc = np.uint8 if batch < 256 else np.int64
            planes = np.stack([np.add.reduce((codes >> j) & 1, axis=1, dtype=acc)
                               for j in range(int(peak).bit_length())], 1)
        any_pos = np.add.reduce(nz.max(axis=0), axis=0, dtype=np.int64)
        return per_pos, events, events - binary, bits, peak, planes, _to_torch_order(any_pos[None, None])[0, 0]

    def _synaptic_trace(self, n: Node, v: Val, lt: LayerTrace, real_input: bool) -> float:
        """Record the input side of a synaptic layer; returns the largest input magnitude (fixed mode)."""
        if v.stats is None:  # a value read by several layers (a block's conv and its shortcut) is counted once
            v.stats = self._input_stats(v)
        per_pos, events, nonbinary, bits, peak, planes, lt.any_map = v.stats
        reps = self.steps if len(per_pos) == 1 else 1
        lt.event_map = np.repeat(_to_torch_order(per_pos[:, None])[:, 0], reps, axis=0).astype(np.int32)
        if planes is not None:
            lt.bit_maps = np.repeat(_plane_order(planes), reps, axis=0).astype(np.int32)
        w = n.tensors["weight"]
        if n.op == "conv":
            syn = np.einsum("thwc,hw->t", per_pos, self.fanouts[n.name], dtype=np.int64)
            dense = self.batch * w.size * n.shape[1] * n.shape[2]  # every tap, padding included
        else:
            syn = events * w.shape[0]
            dense = self.batch * w.size
        lt.counts["nonbinary_inputs"][:] = np.repeat(nonbinary, reps)
        lt.counts["input_events"][:] = np.repeat(events, reps)
        lt.counts["dense_ops"][:] = dense
        lt.counts["macs" if real_input else "sops"][:] = dense if real_input else np.repeat(syn, reps)
        lt.value_bits = np.repeat(bits, reps, axis=0)
        return peak

    def _matmul(self, n: Node, data: np.ndarray, w: np.ndarray) -> np.ndarray:
        lead = data.shape[:2]
        flat = data.reshape(-1, *data.shape[2:])
        if n.op == "conv":
            out = conv2d_gemm(flat, w, *zip(*conv_axes(n)))  # (kernel, stride, padding) as (rows, columns)
        else:
            out = flat @ w.T
        return out.reshape(*lead, *out.shape[1:])

    def _conv(self, n: Node, ins: list[Val], lt: LayerTrace) -> Val:
        v = ins[0]
        real_input = n.inputs[0] == self.graph.nodes[0].name
        peak = self._synaptic_trace(n, v, lt, real_input)
        t = n.tensors
        w, code_sum = self._gemm_weights(n)
        if self.mode == "float":
            return Val(self._matmul(n, v.data, w), affine=(None, t["bias"]))
        bound = peak * code_sum  # no accumulator sum can exceed it
        dtype = np.float32 if bound < EXACT_FLOAT32 else np.float64
        acc = self._matmul(n, v.data.astype(dtype, copy=False), w.astype(dtype, copy=False))
        lt.acc_bits = width_counts(acc, self.steps)
        bits = self.graph.attrs["accumulator_bits"]
        if bound > 2 ** (bits - 1) - 1:
            acc, sat = _saturate(acc, bits)
            lt.counts["acc_saturations"][:] = np.resize(sat, self.steps) if len(sat) == 1 else sat
        return Val(acc, affine=(v.scale * t["scale"].astype(np.float64), t["bias"].astype(np.float64)))

    _linear = _conv

    def _neuron(self, n: Node, ins: list[Val], lt: LayerTrace) -> Val:
        """Neuron dynamics over T timesteps, run on blocks of about NEURON_BLOCK membranes so each step's temporaries
        stay in cache. Every value is computed with the same floating-point operations as the unblocked formulas."""
        v = self._delay(ins[0], 1) if self.lockstep else ins[0]  # lockstep: integrate the previous step's input
        current, affine = (v.raw, v.affine) if v.affine is not None else (v.real(), None)
        t, a, T = n.tensors, n.attrs, self.steps
        # per-step parameters: step k of a lockstep chip computes logical timestep k − depth (clipped to 0..T−1)
        idx = np.clip(np.arange(T) - (self.depth[n.name] if self.lockstep else 0) + (1 if self.lockstep else 0),
                      0, self.T - 1)
        t = {k: (x[idx] if k in ("leak", "threshold", "in_scale", "in_bias", "syn_decay") else x) for k, x in t.items()}
        lt.counts["neuron_updates"][:] = int(np.prod(current.shape[1:]))
        fixed = self.mode == "fixed"
        step = float(t["spike_step"])
        frac = min(self.graph.attrs["membrane_frac_bits"], self.graph.attrs["membrane_bits"] - a["spike_bits"] - 4)
        lsb = step / 2**frac if fixed else 1.0
        row = _row(current.shape)
        cur = current.reshape(len(current), -1, row)
        # per-channel tensors tiled to a row: input gain and offset per timestep (None where 1 and 0: skipping them
        # changes no value), leak per timestep, the synaptic layer's pending output affine
        gain = None if np.all(t["in_scale"] == 1) else t["in_scale"]
        offset = t["in_bias"] if np.any(t["in_bias"]) else None
        p = {"gain": _tile(gain, row), "offset": _tile(offset, row),
             "leak": _tile(t["leak"].astype(np.float64) if fixed else t["leak"], row),
             "affine": affine and tuple(_tile(y, row) for y in affine), "decay": _tile(t.get("syn_decay"), row)}
        thetas = [np.round(float(th) / lsb) if fixed else float(th) for th in t["threshold"]]
        out = np.empty((T, *cur.shape[1:]), np.float32)
        rows = max(1, NEURON_BLOCK // row)
        for r in range(0, cur.shape[1], rows):
            c = cur[:, r:r + rows]
            if fixed:
                self._neuron_fixed(n, p, thetas, c, out[:, r:r + rows], lt.counts, frac, lsb)
            else:
                self._neuron_float(n, p, thetas, c, out[:, r:r + rows], lt.counts)
        lt.counts["output_events"][:] = [np.count_nonzero(o) for o in out]
        self.spike_max[n.name] = float(out.max(initial=0)) * (step if fixed else 1.0)
        return Val(out.reshape(T, *current.shape[1:]), step if fixed else None)

    def _synapse(self, n: Node, p: dict, current: np.ndarray, k: int, syn):
        """Input current of step ``k`` (synaptic layer's affine, gain, current-based synapse, offset) and the
        synaptic state."""
        i = current[k if len(current) > 1 else 0]
        if p["affine"]:
            i = _affine(i, *p["affine"])
        if p["gain"] is not None:
            i = p["gain"][k] * i
        if p["decay"] is not None:  # current-based synapse (NIR CubaLIF)
            syn = i if syn is None else p["decay"][k] * syn + i
            i = syn
        return (i if p["offset"] is None else i + p["offset"][k]), syn

    def _neuron_float(self, n: Node, p: dict, thetas: list, current: np.ndarray, out: np.ndarray,
                      counts: dict) -> None:
        """Float-mode membranes of one block: ``current`` (T or 1, rows, row) → spikes into ``out`` (T, rows, row)."""
        a = n.attrs
        step, levels = float(n.tensors["spike_step"]), 2 ** a["spike_bits"] - 1
        u = syn = None
        for k, theta in enumerate(thetas):
            i, syn = self._synapse(n, p, current, k, syn)
            counts["active_neurons"][k] += _active(i, u)
            if u is None:
                m = i
            else:
                u *= p["leak"][k]
                m = np.add(i, u, out=u)
            if a["model"] == "lif":
                s = (m - theta >= 0).astype(m.dtype)
                u = m - s * theta if a["reset"] == "threshold" else m * (1 - s)
            else:
                s = np.subtract(m, theta, out=out[k] if m.dtype == out.dtype else None)
                np.clip(s, 0, np.inf, out=s)  # max(s, 0), faster
                if a["spike_bits"] and step > 0:
                    s = np.clip(np.round(s / step), 0, levels) * step
                u = m - s
            if not np.may_share_memory(s, out):
                out[k] = s

    def _neuron_fixed(self, n: Node, p: dict, thetas: list, current: np.ndarray, out: np.ndarray, counts: dict,
                      frac: int, lsb: float) -> None:
        """Fixed-mode membranes of one block (integers in units of ``lsb``, saturating): ``m = round(i/lsb) +
        trunc(λ·u)``; EM-PF spike code ``⌊(max(m − θ, 0) + 2^(f−1)) / 2^f⌋`` clipped to ``levels``, here as
        ``clip(⌊(m − θ + 2^(f−1)) · 2^−f⌋, 0, levels)`` (equal: every term is an exact integer), reset ``u = m −
        code·2^f``; LIF spikes at ``m > θ``. Counts saturations and clips."""
        a = n.attrs
        bits, levels = self.graph.attrs["membrane_bits"], 2 ** a["spike_bits"] - 1
        hi = 2 ** (bits - 1) - 1
        u = syn = None
        for k, theta in enumerate(thetas):
            i, syn = self._synapse(n, p, current, k, syn)
            counts["active_neurons"][k] += _active(i, u)
            m = np.divide(i, lsb)
            np.round(m, out=m)
            if u is not None:
                r = np.multiply(p["leak"][k], u)
                np.trunc(r, out=r)
                m = np.add(m, r, out=r)
            if m.max(initial=0) > hi or m.min(initial=0) < -hi:
                m, sat = _saturate(m[None], bits)
                m = m[0]
                counts["membrane_saturations"][k] += sat[0]
            if a["model"] == "lif":
                s = (m - theta > 0).astype(m.dtype)
                u = m - s * theta if a["reset"] == "threshold" else m * (1 - s)
                out[k] = s
                continue
            u = m - (theta - 2 ** (frac - 1))
            u *= 2.0**-frac
            np.floor(u, out=u)
            if u.max(initial=0) > levels:
                counts["spike_clips"][k] += np.count_nonzero(u > levels)
            np.clip(u, 0, levels, out=u)
            out[k] = u  # the codes, exact in float32
            u *= 2.0**frac
            np.subtract(m, u, out=u)

    def _pool(self, n: Node, ins: list[Val], lt: LayerTrace) -> Val:
        (v,) = ins
        if v.stats is None:  # what a chip without pooling hardware receives: the unpooled spikes and their bits
            v.stats = self._input_stats(v)
        per_pos, planes, lt.any_map = v.stats[0], v.stats[5], v.stats[6]
        reps = self.steps if len(per_pos) == 1 else 1
        lt.event_map = np.repeat(_to_torch_order(per_pos[:, None])[:, 0], reps, axis=0).astype(np.int32)
        if planes is not None:
            lt.bit_maps = np.repeat(_plane_order(planes), reps, axis=0).astype(np.int32)
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
        if self.lockstep:  # the shallower input is delayed to meet the deeper one
            ins = [self._delay(v, self.depth[n.name] - self.depth[i]) for v, i in zip(ins, n.inputs)]
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
        logits = np.broadcast_to(logits, (self.steps, *logits.shape[1:]))
        self.traces[n.inputs[0]].counts["active_neurons"][:] = [np.count_nonzero(x) for x in logits]
        return Val(logits)


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
    trace_vals = _float_spike_maxima(graph, np.asarray(x))
    nodes, names = [], {n.name for n in todo}
    for n in graph.nodes:
        if n.name in names:
            peak = max(trace_vals[n.name], 1e-6)
            tensors = {**n.tensors, "spike_step": np.array(peak / (2**spike_bits - 1), np.float32)}
            n = replace(n, attrs={**n.attrs, "spike_bits": spike_bits}, tensors=tensors)
        nodes.append(n)
    return DeployGraph(nodes, dict(graph.attrs))


def _fingerprint(graph: DeployGraph, x: np.ndarray) -> bytes:
    """A digest of everything a float-mode run reads: the nodes (names, ops, inputs, attributes, tensors), the
    graph's attributes and the inputs (arrays by their bytes, never by a summarizing repr)."""
    h = hashlib.blake2b(digest_size=32)

    def add(v) -> None:
        if isinstance(v, np.ndarray):
            a = np.ascontiguousarray(v)
            h.update(f"array{a.dtype.str}{a.shape}".encode())
            h.update(a.view(np.uint8).ravel())
        elif isinstance(v, dict):
            for k in sorted(v):
                h.update(repr(k).encode())
                add(v[k])
        else:
            h.update(repr(v).encode())

    add(graph.attrs)
    add(x)
    for n in graph.nodes:
        add((n.name, n.op, n.inputs))
        add(n.attrs)
        add(n.tensors)
    return h.digest()


def _float_spike_maxima(graph: DeployGraph, x: np.ndarray) -> dict[str, float]:
    """Largest spike each neuron emits in float mode on ``x`` (with its quantizer, if any, switched off);
    remembered by the digest of the graph and the inputs, so calibrating one model at several widths runs it once."""
    key = _fingerprint(graph, x)
    if key not in _maxima:
        _maxima[key] = _run_float_maxima(graph, x)
        while len(_maxima) > MAXIMA_KEPT:
            _maxima.popitem(last=False)
    _maxima.move_to_end(key)
    return dict(_maxima[key])


def _run_float_maxima(graph: DeployGraph, x: np.ndarray) -> dict[str, float]:
    nodes = [replace(n, attrs={**n.attrs, "spike_bits": 0}) if n.op == "neuron" and n.attrs["model"] == "empf"
             else n for n in graph.nodes]
    ex = Executor(DeployGraph(nodes, dict(graph.attrs)), "float")
    ex.run(x)
    return ex.spike_max


def execute(graph: DeployGraph, x: np.ndarray, mode: str = "float", batch_size: int | None = None,
            schedule: str = "pipelined") -> ActivityTrace:
    """Run ``x`` through ``graph`` with the given timestep semantics; with ``batch_size``, in chunks whose traces
    are summed."""
    ex = Executor(graph, mode, schedule)
    if not batch_size or batch_size >= len(x):
        return ex.run(x)
    parts = [ex.run(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    return merge(parts)


def _sum_maps(maps: list) -> np.ndarray | None:
    """Sum of per-chunk maps; bit planes of chunks whose codes needed fewer bits are padded with zero planes."""
    if all(m is None for m in maps):
        return None
    maps = [m for m in maps if m is not None]
    if maps[0].ndim >= 2 and len({m.shape for m in maps}) > 1:
        b = max(m.shape[1] for m in maps)
        maps = [np.pad(m, [(0, 0), (0, b - m.shape[1])] + [(0, 0)] * (m.ndim - 2)) for m in maps]
    return sum(maps)


def merge(parts: list[ActivityTrace]) -> ActivityTrace:
    """Concatenate traces of consecutive chunks of one dataset (counts add, logits concatenate)."""
    first = parts[0]
    layers = []
    for i, lt in enumerate(first.layers):
        same = [p.layers[i] for p in parts]
        counts = {c: sum(s.counts[c] for s in same) for c in COUNTS}
        maps = [_sum_maps([getattr(s, k) for s in same]) for k in MAPS]
        layers.append(LayerTrace(lt.name, lt.op, lt.shape, counts, *maps))
    meta = {**first.meta, "batch": sum(p.batch for p in parts)}
    return ActivityTrace(layers, np.concatenate([p.logits for p in parts], axis=1), meta, first.graph)

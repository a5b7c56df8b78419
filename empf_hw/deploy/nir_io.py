"""NIR interop: import NIR graphs into DeployGraphs, export LIF (STBP) graphs to NIR.

**dt convention.** NIR neurons are continuous-time ODEs without a time step. Import discretizes with forward
Euler at ``dt`` (default 1e-4 s, the value snnTorch's exporter assumes):

- LIF ``τ·dv/dt = (v_leak − v) + R·I`` → ``v_t = (1 − dt/τ)·v_{t−1} + (dt·R/τ)·I_t + (dt/τ)·v_leak``
- IF ``dv/dt = R·I`` → ``v_t = v_{t−1} + R·I_t``
- CubaLIF adds the synaptic current ``I_syn,t = (1 − dt/τ_syn)·I_syn,t−1 + (dt·w_in/τ_syn)·I_t`` before the LIF.

Per-neuron thresholds are normalised to 1 by scaling the neuron's input; parameters must be uniform over the
spatial positions of a channel. **Reset.** NIR resets to ``v_reset`` (must be 0 here): reset to zero, which is
snnTorch's ``reset_mechanism="zero"``. Nodes carrying metadata ``{"empf_hw.reset": "subtract"}`` reset by
subtracting the threshold instead (our exporter writes it for LIF models trained with subtraction; other NIR
consumers ignore it and reset to zero).

**EM-PF extension.** EM-PF neurons (multi-bit spikes ``s = ReLU(m − θ_t)``) have no NIR node. With
``extensions=True`` they are written as ``nir.LIF`` nodes whose metadata ``empf_hw.neuron`` holds the exact
per-timestep parameters; only empf-hw reads it. Without it, export refuses with a message saying so. Input
normalisation (``mean``/``std``) has no NIR node either: it is written, with ``extensions=True`` only, as metadata
``empf_hw.input`` of the ``nir.Input``.

**Inputs.** A NIR input is a stream of per-step frames; empf-hw graphs present one static frame every step unless
their input has ``time_axis``. Export marks a time-varying input with metadata ``empf_hw.time_axis``; import makes
an input time-varying when that mark is present or ``time_axis=True`` is passed, static otherwise.
"""

import numpy as np

from ..errors import EmpfError
from .export import FULL_PRECISION_BITS, INPUT_BITS
from .graph import DEFAULT_FORMATS, DeployGraph, Node, infer_shape

DEFAULT_DT = 1e-4
IMPORTABLE = ("Input", "Output", "Affine", "Linear", "Conv2d", "Flatten", "SumPool2d", "AvgPool2d", "IF", "LIF",
              "CubaLIF")
NEURON_EXT = "empf_hw.neuron"
RESET_EXT = "empf_hw.reset"
INPUT_EXT = "empf_hw.input"
TIME_AXIS = "empf_hw.time_axis"


def _int_weight(weight: np.ndarray, bias: np.ndarray | None) -> tuple[dict, dict]:
    w = np.asarray(weight, np.float32)
    out = w.shape[0]
    qmax = 2 ** (FULL_PRECISION_BITS - 1) - 1
    scale = np.maximum(np.abs(w.reshape(out, -1)).max(axis=1), 1e-12) / qmax
    codes = np.round(w / scale.reshape((-1,) + (1,) * (w.ndim - 1))).astype(np.int8)
    b = np.zeros(out, np.float32) if bias is None else np.asarray(bias, np.float32).reshape(out)
    return ({"weight_kind": "float", "weight_bits": FULL_PRECISION_BITS},
            {"weight": w, "codes": codes, "scale": scale.astype(np.float32), "bias": b})


def _axes(v, name: str, node: str) -> list[int]:
    """A NIR size (one integer or one per axis) as [rows, columns]."""
    a = np.atleast_1d(np.asarray(v)).astype(int).tolist()
    if len(a) not in (1, 2):
        raise EmpfError(f"NIR node {node!r}: {name}={a} is not valid; allowed: one integer or [height, width]")
    return a * 2 if len(a) == 1 else a


def _pair(v, name: str, node: str) -> int:
    a = _axes(v, name, node)
    if a[0] != a[1]:
        raise EmpfError(f"NIR node {node!r}: {name}={a} must be equal along both axes")
    return a[0]


def _per_channel(v, shape: tuple[int, ...], name: str, node: str) -> np.ndarray:
    """A NIR per-neuron parameter (scalar, per channel or per neuron) → one value per channel."""
    a = np.asarray(v, np.float64).reshape(-1)
    c = shape[0]
    if a.size == 1:
        return np.full(c, a[0])
    if a.size == c:
        return a
    if a.size == int(np.prod(shape)):
        per = a.reshape(c, -1)
        if np.allclose(per, per[:, :1]):
            return per[:, 0]
    raise EmpfError(f"NIR node {node!r}: {name} must be uniform within each channel of shape {shape}")


def _neuron(name: str, n, shape, T: int, dt: float) -> Node:
    kind = type(n).__name__
    meta = getattr(n, "metadata", None) or {}
    if NEURON_EXT in meta:
        ext = meta[NEURON_EXT]
        tensors = {k: np.asarray(ext[k], np.float32) for k in ("leak", "threshold", "in_scale", "in_bias")}
        tensors["spike_step"] = np.asarray(ext["spike_step"], np.float32).reshape(())
        bits = int(np.asarray(ext["spike_bits"]).reshape(-1)[0])
        return Node(name, "neuron", [], shape, {"model": "empf", "reset": "spike", "spike_bits": bits}, tensors)
    pc = lambda v, what: _per_channel(v, shape, what, name)  # noqa: E731
    if np.any(pc(n.v_reset, "v_reset") != 0):
        raise EmpfError(f"NIR node {name!r}: v_reset must be 0 (reset to zero); allowed: 0")
    theta = pc(n.v_threshold, "v_threshold")
    if np.any(theta <= 0):
        raise EmpfError(f"NIR node {name!r}: v_threshold must be > 0")
    if kind == "IF":
        leak, gain, bias = np.ones_like(theta), pc(n.r, "r"), np.zeros_like(theta)
    else:
        tau = pc(n.tau if kind == "LIF" else n.tau_mem, "tau")
        leak, gain, bias = 1 - dt / tau, dt * pc(n.r, "r") / tau, dt * pc(n.v_leak, "v_leak") / tau
    tensors = {"leak": leak, "threshold": np.ones(1), "in_scale": gain / theta, "in_bias": bias / theta,
               "spike_step": np.array(1.0)}
    if kind == "CubaLIF":
        tau_syn = pc(n.tau_syn, "tau_syn")
        tensors["syn_decay"] = 1 - dt / tau_syn
        tensors["in_scale"] = tensors["in_scale"] * dt * pc(n.w_in, "w_in") / tau_syn
    tensors = {k: np.broadcast_to(np.asarray(v, np.float32), (T, len(theta)) if k != "threshold" else (T,)).copy()
               if k != "spike_step" else np.asarray(v, np.float32) for k, v in tensors.items()}
    reset = "threshold" if meta.get(RESET_EXT) == "subtract" else "zero"
    return Node(name, "neuron", [], shape, {"model": "lif", "reset": reset, "spike_bits": 1}, tensors)


def _topological(graph) -> list[str]:
    preds = {k: [a for a, b in graph.edges if b == k] for k in graph.nodes}
    order, done = [], set()
    while len(order) < len(preds):
        ready = [k for k in preds if k not in done and all(p in done for p in preds[k])]
        if not ready:
            raise EmpfError("NIR graph has a cycle; recurrent graphs are not supported")
        for k in sorted(ready):
            order.append(k)
            done.add(k)
    return order


def _input(name: str, n, time_axis: bool | None) -> Node:
    shape = tuple(int(s) for s in np.asarray(next(iter(n.input_type.values()))).reshape(-1))
    meta = getattr(n, "metadata", None) or {}
    marked = bool(np.asarray(meta.get(TIME_AXIS, 0)).reshape(-1)[0])
    attrs = {"shape": list(shape), "input_bits": INPUT_BITS, "time_axis": marked if time_axis is None else time_axis}
    if INPUT_EXT in meta:
        attrs.update({k: np.asarray(meta[INPUT_EXT][k], np.float64).reshape(-1).tolist() for k in ("mean", "std")})
    return Node(name, "input", [], shape, attrs)


def import_nir(source, timesteps: int, dt: float = DEFAULT_DT, time_axis: bool | None = None) -> DeployGraph:
    """A ``nir.NIRGraph`` or a path to a ``.nir`` file → DeployGraph run for ``timesteps`` steps; ``time_axis``:
    feed one input frame per step (None: as the input's ``empf_hw.time_axis`` mark says, static without one)."""
    import nir

    # nir 1.0's type check sizes a Conv2d's output with the kernel height on both axes, refusing kh ≠ kw kernels;
    # shapes are inferred and checked here instead (DeployGraph)
    graph = nir.read(str(source), type_check=False) if not isinstance(source, nir.NIRGraph) else source
    for k, n in graph.nodes.items():
        if type(n).__name__ not in IMPORTABLE:
            raise EmpfError(f"NIR node {k!r} has unsupported type {type(n).__name__}; allowed: {', '.join(IMPORTABLE)}")
    nodes, shapes = [], {}
    for k in _topological(graph):
        n = graph.nodes[k]
        kind = type(n).__name__
        ins = [a for a, b in graph.edges if b == k]
        if kind == "Input":
            node = _input(k, n, time_axis)
        else:
            if not ins:
                raise EmpfError(f"NIR node {k!r} has no input edge")
            if len(ins) > 1:
                raise EmpfError(f"NIR node {k!r} has {len(ins)} inputs; only chains are supported")
            src = ins[0]
            shape = shapes[src]
            if kind in ("Affine", "Linear"):
                attrs, tensors = _int_weight(n.weight, getattr(n, "bias", None))
                node = Node(k, "linear", [src], (), attrs, tensors)
            elif kind == "Conv2d":
                if int(n.groups) != 1 or _axes(n.dilation, "dilation", k) != [1, 1]:
                    raise EmpfError(f"NIR node {k!r}: groups and dilation must be 1")
                if isinstance(n.padding, str):
                    raise EmpfError(f"NIR node {k!r}: padding={n.padding!r} is not supported; allowed: integers")
                attrs, tensors = _int_weight(n.weight, n.bias)
                attrs.update(stride=_axes(n.stride, "stride", k), padding=_axes(n.padding, "padding", k))
                node = Node(k, "conv", [src], (), attrs, tensors)
            elif kind in ("SumPool2d", "AvgPool2d"):
                ksz = _pair(n.kernel_size, "kernel_size", k)
                node = Node(k, "pool", [src], (), {"kind": "sum" if kind == "SumPool2d" else "avg", "kernel": ksz,
                                                   "stride": _pair(n.stride, "stride", k),
                                                   "padding": _pair(n.padding, "padding", k)})
            elif kind == "Flatten":
                node = Node(k, "flatten", [src], ())
            elif kind == "Output":
                node = Node(k, "output", [src], ())
            else:
                node = _neuron(k, n, shape, timesteps, dt)
                node.inputs = [src]
            node.shape = infer_shape(node, [shape])
        nodes.append(node)
        shapes[k] = node.shape
    return DeployGraph(nodes, {"timesteps": timesteps, **DEFAULT_FORMATS})


def export_nir(graph: DeployGraph, path=None, dt: float = DEFAULT_DT, extensions: bool = False):
    """DeployGraph → ``nir.NIRGraph`` (written to ``path`` when given). LIF neurons become ``nir.LIF``."""
    import nir

    nodes, edges = {}, []
    for n in graph.nodes:
        t = n.tensors
        if n.op == "input":
            nodes[n.name] = nir.Input(input_type=np.array(n.shape), metadata=_input_metadata(n, extensions))
        elif n.op == "output":
            nodes[n.name] = nir.Output(output_type=np.array(n.shape))
        elif n.op == "conv":
            s, p = (np.array(n.attrs[a]) for a in ("stride", "padding"))
            conv = nir.Conv2d(input_shape=np.array(graph[n.inputs[0]].shape[1:]), weight=t["weight"], stride=s,
                              padding=p, dilation=np.array([1, 1]), groups=1, bias=t["bias"])
            conv.output_type = {"output": np.array(n.shape)}  # nir 1.0 sizes both axes with the kernel height
            nodes[n.name] = conv
        elif n.op == "linear":
            nodes[n.name] = nir.Affine(weight=t["weight"], bias=t["bias"])
        elif n.op == "flatten":
            nodes[n.name] = nir.Flatten(input_type={"input": np.array(graph[n.inputs[0]].shape)}, start_dim=0,
                                        end_dim=-1)
        elif n.op == "pool":
            cls = {"avg": nir.AvgPool2d, "sum": nir.SumPool2d}.get(n.attrs["kind"])
            if cls is None:
                raise EmpfError(f"node {n.name!r}: {n.attrs['kind']} pooling has no NIR node; allowed: avg, sum")
            k, s, p = (np.array([n.attrs[a]] * 2) for a in ("kernel", "stride", "padding"))
            nodes[n.name] = cls(kernel_size=k, stride=s, padding=p)
        elif n.op == "neuron":
            nodes[n.name] = _export_neuron(n, dt, extensions)
        else:
            raise EmpfError(f"node {n.name!r}: {n.op} has no NIR export; allowed: input, conv, linear, pool, "
                            "flatten, neuron, output")
        edges += [(i, n.name) for i in n.inputs]
    out = nir.NIRGraph(nodes=nodes, edges=edges)
    if path is not None:
        nir.write(str(path), out)
    return out


def _input_metadata(n: Node, extensions: bool) -> dict:
    meta = {TIME_AXIS: np.array([1])} if n.attrs.get("time_axis", False) else {}
    if "mean" in n.attrs:
        if not extensions:
            raise EmpfError(f"node {n.name!r}: input normalisation (mean/std) has no NIR node; export with the "
                            "empf-hw extension (extensions=True), which only empf-hw can read")
        meta[INPUT_EXT] = {k: np.asarray(n.attrs[k], np.float64) for k in ("mean", "std")}
    return meta


def _export_neuron(n: Node, dt: float, extensions: bool):
    import nir

    t = n.tensors
    full = lambda v: np.broadcast_to(  # noqa: E731 - per-channel → one value per neuron, as NIR requires
        np.asarray(v, np.float64).reshape((-1,) + (1,) * (len(n.shape) - 1)), n.shape).copy()
    if n.attrs["model"] == "empf":
        if not extensions:
            raise EmpfError(f"node {n.name!r}: EM-PF neurons (multi-bit spikes) have no NIR node; export with the "
                            "empf-hw extension (extensions=True), which only empf-hw can read")
        ext = {k: np.atleast_1d(t[k]) for k in ("leak", "threshold", "in_scale", "in_bias", "spike_step")}
        ext["spike_bits"] = np.array([n.attrs["spike_bits"]])
        one = full(np.ones(1))
        return nir.LIF(tau=one, r=one, v_leak=0 * one, v_threshold=one, v_reset=0 * one, metadata={NEURON_EXT: ext})
    for k in ("leak", "in_scale", "in_bias", "threshold"):
        if not np.allclose(t[k], t[k][:1]):
            raise EmpfError(f"node {n.name!r}: {k} varies over timesteps; NIR neurons are time-invariant")
    leak, gain, theta = t["leak"][0].astype(np.float64), t["in_scale"][0].astype(np.float64), float(t["threshold"][0])
    if np.any(leak >= 1) or np.any(t["in_bias"] != 0):
        raise EmpfError(f"node {n.name!r}: only leaky (λ < 1), bias-free LIF neurons export to NIR")
    tau = dt / (1 - leak)
    meta = {RESET_EXT: "subtract"} if n.attrs["reset"] == "threshold" else {}
    zero = full(np.zeros(1))
    return nir.LIF(tau=full(tau), r=full(gain * tau / dt), v_leak=zero, v_threshold=zero + theta, v_reset=zero,
                   metadata=meta)

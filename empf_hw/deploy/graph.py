"""DeployGraph: a framework-neutral, topologically ordered list of layer nodes with explicit numeric formats.

Per-sample shapes are PyTorch's (C, H, W) or (F,). Node ops, their attributes and tensors:

- ``input``     attrs ``shape`` (one timestep's frame), ``input_bits`` (fixed-point bits of the real-valued input,
                values in [0, 1]); optional ``time_axis`` (true: a sample is T frames (T, *shape), frame t fed at step
                t; false or absent: one static frame every step, direct encoding), ``mean``/``std`` (one value per
                channel, the first axis of ``shape``: the network sees ``(x − mean)/std``; see ``input_scale``)
- ``conv``      attrs ``stride`` [sh, sw], ``padding`` [ph, pw] (per axis, rows then columns; a single integer
                is read as both, and ``DeployGraph`` normalises it to a pair), ``weight_kind
                (binary|ternary|int|float), weight_bits``; tensors ``weight`` (O, I, kh, kw) float32, effective (α
                and BatchNorm folded), ``codes`` (integer weight codes), ``scale`` (O,) with ``weight ==
                codes·scale`` for integer kinds, ``bias`` (O,). A 1-D convolution is a 1×k one over (C, 1, L)
- ``linear``    as ``conv`` with ``weight`` (O, I)
- ``neuron``    attrs ``model (empf|lif), reset (spike|threshold|zero), spike_bits (0 = floating-point spikes,
                1 for LIF binary spikes)``; tensors ``leak`` (T, C), ``threshold`` (T,), ``in_scale``/``in_bias``
                (T, C) (folded Mem-BN; 1/0 otherwise), ``spike_step`` () (value of one spike code; 0 = not yet
                calibrated); optional ``syn_decay`` (T, C), a current-based synapse (NIR CubaLIF)
- ``pool``      attrs ``kind (avg|max|sum), kernel, stride, padding`` (integers: square windows)
- ``flatten``, ``add`` (two inputs, residual), ``attention`` (ECA; tensor ``weight`` (k,)), ``output``
- ``bitsplit``  attrs ``bits``: B-bit values as B binary planes, channel (or feature) c·B + j = bit j of c; only in
                graphs lowered for binary-spike chips (``empf_hw.hw.cores.lowering``), which are costed, not executed

Graph attrs: ``timesteps``, ``membrane_bits``, ``membrane_frac_bits`` (membrane LSB = spike_step / 2^frac),
``accumulator_bits``. Saved as ``<stem>.safetensors`` (tensors) + ``<stem>.json`` (structure), schema-versioned.
"""

import json
import math
from dataclasses import dataclass, field
from numbers import Integral, Real
from pathlib import Path

import numpy as np

from ..errors import EmpfError, check_bool, check_range

SCHEMA_VERSION = 1
SYNAPTIC = ("conv", "linear")
OPS = {
    "input": (("shape", "input_bits"), ()),
    "conv": (("stride", "padding", "weight_kind", "weight_bits"), ("weight", "codes", "scale", "bias")),
    "linear": (("weight_kind", "weight_bits"), ("weight", "codes", "scale", "bias")),
    "neuron": (("model", "reset", "spike_bits"), ("leak", "threshold", "in_scale", "in_bias", "spike_step")),
    "pool": (("kind", "kernel", "stride", "padding"), ()),
    "flatten": ((), ()),
    "add": ((), ()),
    "attention": ((), ("weight",)),
    "output": ((), ()),
    "bitsplit": (("bits",), ()),
}
DEFAULT_FORMATS = {"membrane_bits": 24, "membrane_frac_bits": 16, "accumulator_bits": 32}
GRAPH_ATTRS = {"timesteps": (1, 1024), "membrane_bits": (2, 64), "membrane_frac_bits": (0, 32),
               "accumulator_bits": (2, 64)}


@dataclass
class Node:
    name: str
    op: str
    inputs: list[str]
    shape: tuple[int, ...]  # per-sample output shape
    attrs: dict = field(default_factory=dict)
    tensors: dict[str, np.ndarray] = field(default_factory=dict)


def conv_out(size: int, k: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - k) // stride + 1


def conv_pair(node: Node, key: str) -> tuple[int, int]:
    """A conv node's ``stride`` or ``padding`` as (rows, columns); an integer applies to both axes."""
    v, low = node.attrs[key], 1 if key == "stride" else 0
    pair = (v, v) if isinstance(v, Integral) else tuple(v) if isinstance(v, (list, tuple)) and len(v) == 2 else ()
    if not pair or not all(isinstance(x, Integral) and not isinstance(x, bool) and x >= low for x in pair):
        raise EmpfError(f"node {node.name!r} (conv): {key}={v!r} is not valid; allowed: an integer >= {low} or "
                        f"[height, width] of such integers")
    return int(pair[0]), int(pair[1])


def conv_axes(node: Node) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """``((kh, sh, ph), (kw, sw, pw))`` of a conv node: kernel, stride and padding along the rows and the columns
    (the two axes are independent: a conv is separable into a row and a column geometry)."""
    _, _, kh, kw = node.tensors["weight"].shape
    (sh, sw), (ph, pw) = conv_pair(node, "stride"), conv_pair(node, "padding")
    return (kh, sh, ph), (kw, sw, pw)


def infer_shape(node: Node, ins: list[tuple[int, ...]]) -> tuple[int, ...]:
    """Output shape from the input shapes; raises EmpfError naming the node on a mismatch."""
    op, a, t = node.op, node.attrs, node.tensors

    def need(cond, what):
        if not cond:
            raise EmpfError(f"node {node.name!r} ({op}): {what}; input shape(s) {ins}")

    if op == "input":
        return tuple(a["shape"])
    need(len(ins) == (2 if op == "add" else 1), f"needs {2 if op == 'add' else 1} input(s)")
    x = ins[0]
    if op == "conv":
        w = t["weight"].shape
        need(len(x) == 3 and len(w) == 4 and w[1] == x[0], f"weight {w} does not fit the input channels")
        axes = conv_axes(node)
        for (k, _, p), size, what in zip(axes, x[1:], ("height", "width")):
            if k > size + 2 * p:
                raise EmpfError(f"node {node.name!r} (conv): kernel {what} {k} exceeds the padded input {what} "
                                f"{size} + 2·{p}; allowed: kernel {what} <= {size + 2 * p}")
        return (w[0], *(conv_out(size, *ksp) for size, ksp in zip(x[1:], axes)))
    if op == "linear":
        w = t["weight"].shape
        need(len(x) == 1 and len(w) == 2 and w[1] == x[0], f"weight {w} does not fit the input features")
        return (w[0],)
    if op == "pool":
        need(len(x) == 3, "pooling needs a (C, H, W) input")
        k, s, p = a["kernel"], a["stride"], a["padding"]
        return (x[0], conv_out(x[1], k, s, p), conv_out(x[2], k, s, p))
    if op == "flatten":
        return (int(np.prod(x)),)
    if op == "bitsplit":
        return (x[0] * a["bits"], *x[1:])
    if op == "add":
        need(ins[0] == ins[1], "residual add needs equal shapes")
    if op == "neuron":
        T = t["leak"].shape[0]
        need(t["leak"].shape == (T, x[0]) and t["in_scale"].shape == (T, x[0]), f"leak/in_scale must be ({T}, {x[0]})")
    return x


def input_normalisation(node: Node) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``(mean, std)`` of an input node (0 and 1 without normalisation), float64, shaped to broadcast
    against one channel-last frame: (C,) for (C, H, W) and (F,) inputs, (C, 1, …) for others."""
    shape = tuple(node.attrs["shape"])
    view = (-1,) if len(shape) in (1, 3) else (-1,) + (1,) * (len(shape) - 1)
    mean, std = node.attrs.get("mean", [0.0]), node.attrs.get("std", [1.0])
    return np.asarray(mean, np.float64).reshape(view), np.asarray(std, np.float64).reshape(view)


def input_reach(node: Node) -> float:
    """``R = max_c max(|mean_c|, |1 − mean_c|) / std_c``: the largest magnitude of a normalised input in [0, 1]
    (1 without normalisation)."""
    mean, std = input_normalisation(node)
    return float(np.max(np.maximum(np.abs(mean), np.abs(1 - mean)) / std))


def input_scale(node: Node) -> float:
    """Real value of one fixed-point input code, ``R / (2^input_bits − 1)`` (``input_reach``). Fixed mode codes an
    input x as ``round((clip(x, 0, 1) − mean)/std · (2^input_bits − 1)/R)``: signed integers of magnitude at most
    ``2^input_bits − 1``, non-negative without normalisation. Code 0 is a normalised 0, so a convolution's zero
    padding pads the *normalised* input (PyTorch's ``Normalize`` then ``Conv2d``) in float and fixed mode alike."""
    return input_reach(node) / (2 ** node.attrs["input_bits"] - 1)


def _check_input(node: Node) -> None:
    a, where = node.attrs, f"node {node.name!r}"
    check_bool(f"{where}: time_axis", a.get("time_axis", False))
    check_range(f"{where}: input_bits", a["input_bits"], 1, 32, integer=True)
    if ("mean" in a) != ("std" in a):
        raise EmpfError(f"{where}: mean and std must be given together (neither: no normalisation)")
    c = a["shape"][0]
    for k in ("mean", "std"):
        v = a.get(k, [1.0] * c)
        if not (isinstance(v, (list, tuple)) and len(v) == c and all(
                isinstance(x, Real) and not isinstance(x, bool) and math.isfinite(x) and (k == "mean" or x > 0)
                for x in v)):
            raise EmpfError(f"{where}: {k}={v!r} is not valid; allowed: {c} finite numbers"
                            f"{' > 0' if k == 'std' else ''}, one per channel")


def layer_labels(nodes: list[Node]) -> dict[str, str]:
    """Readable names of the synaptic nodes, numbered per kind in graph order: ``conv2 32→64 3×3``,
    ``conv7 64→128 1×1/2`` (stride 2), ``conv1 1→32 1×5/1×2`` (strides per axis), ``fc1 256→10``."""
    out, seen = {}, {"conv": 0, "linear": 0}
    for n in nodes:
        if n.op not in SYNAPTIC:
            continue
        seen[n.op] += 1
        w = n.tensors["weight"].shape
        if n.op == "conv":
            sh, sw = conv_pair(n, "stride")
            stride = "" if sh == sw == 1 else f"/{sh}" if sh == sw else f"/{sh}×{sw}"
            out[n.name] = f"conv{seen['conv']} {w[1]}→{w[0]} {w[2]}×{w[3]}{stride}"
        else:
            out[n.name] = f"fc{seen['linear']} {w[1]}→{w[0]}"
    return out


class DeployGraph:
    """Nodes in topological order plus graph-level numeric formats."""

    def __init__(self, nodes: list[Node], attrs: dict):
        self.nodes, self.attrs = nodes, attrs
        self.derived: dict = {}  # tables later stages derive from the graph, computed once (a graph is not modified)
        self.validate()

    def __getitem__(self, name: str) -> Node:
        return self._by_name[name]

    @property
    def timesteps(self) -> int:
        return self.attrs["timesteps"]

    def with_timesteps(self, T: int) -> "DeployGraph":
        """The same network run for ``T`` timesteps: per-timestep neuron parameters are cut, or extended by
        repeating the last timestep's values."""
        check_range("timesteps", T, *GRAPH_ATTRS["timesteps"], integer=True)
        per_step = ("leak", "threshold", "in_scale", "in_bias", "syn_decay")
        nodes = []
        for n in self.nodes:
            if n.op == "neuron":
                t = {k: (np.concatenate([v[:T]] + [v[-1:]] * max(0, T - len(v))) if k in per_step else v)
                     for k, v in n.tensors.items()}
                n = Node(n.name, n.op, n.inputs, n.shape, n.attrs, t)
            nodes.append(n)
        return DeployGraph(nodes, {**self.attrs, "timesteps": T})

    def validate(self) -> None:
        """Check ops, fields, references, bit widths and shapes; one EmpfError naming the first problem."""
        for k, (lo, hi) in GRAPH_ATTRS.items():
            check_range(f"graph.{k}", self.attrs.get(k), lo, hi, integer=True)
        self._by_name = {}
        for n in self.nodes:
            if n.op not in OPS:
                raise EmpfError(f"node {n.name!r}: unknown node type {n.op!r}; allowed: {', '.join(OPS)}")
            attrs, tensors = OPS[n.op]
            for missing in [k for k in attrs if k not in n.attrs] + [k for k in tensors if k not in n.tensors]:
                raise EmpfError(f"node {n.name!r} ({n.op}): missing field {missing!r}")
            for i in n.inputs:
                if i not in self._by_name:
                    raise EmpfError(f"node {n.name!r}: input {i!r} is not an earlier node")
            if n.op == "input":
                _check_input(n)
            if n.op == "neuron":
                check_range(f"node {n.name!r}: spike_bits", n.attrs["spike_bits"], 0, 32, integer=True)
                if n.tensors["leak"].shape[0] != self.timesteps:
                    raise EmpfError(f"node {n.name!r}: leak has {n.tensors['leak'].shape[0]} timesteps, "
                                    f"graph has {self.timesteps}")
            if n.op in SYNAPTIC:
                check_range(f"node {n.name!r}: weight_bits", n.attrs["weight_bits"], 1, 32, integer=True)
            if n.op == "conv":  # one representation: [rows, columns]
                n.attrs.update({k: list(conv_pair(n, k)) for k in ("stride", "padding")})
            shape = infer_shape(n, [self._by_name[i].shape for i in n.inputs])
            if tuple(shape) != tuple(n.shape):
                raise EmpfError(f"node {n.name!r}: recorded shape {tuple(n.shape)} but inputs give {shape}")
            self._by_name[n.name] = n
        if not self.nodes or self.nodes[0].op != "input" or self.nodes[-1].op != "output":
            raise EmpfError("graph must start with an input node and end with an output node")

    def to_networkx(self):
        """A ``networkx.DiGraph``: nodes carry op and shape; edges carry the tensor shape flowing along them."""
        import networkx as nx

        g = nx.DiGraph()
        for n in self.nodes:
            g.add_node(n.name, op=n.op, shape=n.shape)
            for i in n.inputs:
                g.add_edge(i, n.name, shape=self[i].shape)
        return g

    def save(self, path: str | Path) -> None:
        from safetensors.numpy import save_file

        stem = Path(path).with_suffix("")
        stem.parent.mkdir(parents=True, exist_ok=True)
        tensors = {f"{n.name}/{k}": np.array(v, order="C") for n in self.nodes for k, v in n.tensors.items()}
        meta = {"schema_version": SCHEMA_VERSION, "attrs": self.attrs,
                "nodes": [{"name": n.name, "op": n.op, "inputs": n.inputs, "shape": list(n.shape),
                           "attrs": n.attrs, "tensors": sorted(n.tensors)} for n in self.nodes]}
        save_file(tensors, str(stem) + ".safetensors")
        Path(str(stem) + ".json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "DeployGraph":
        from safetensors.numpy import load_file

        stem = Path(path).with_suffix("")
        try:
            meta = json.loads(Path(str(stem) + ".json").read_text())
            tensors = load_file(str(stem) + ".safetensors")
        except Exception as e:  # noqa: BLE001 - any unreadable file is one clear error
            raise EmpfError(f"deploy graph {stem}: cannot read ({str(e).splitlines()[0]})") from None
        if meta.get("schema_version") != SCHEMA_VERSION:
            raise EmpfError(f"deploy graph {stem}: schema_version={meta.get('schema_version')!r}; "
                            f"allowed: {SCHEMA_VERSION}")
        nodes = []
        for d in meta["nodes"]:
            missing = [k for k in d["tensors"] if f"{d['name']}/{k}" not in tensors]
            if missing:
                raise EmpfError(f"deploy graph {stem}: node {d['name']!r} lacks tensor(s) {missing}")
            nodes.append(Node(d["name"], d["op"], d["inputs"], tuple(d["shape"]), d["attrs"],
                              {k: tensors[f"{d['name']}/{k}"] for k in d["tensors"]}))
        return cls(nodes, meta["attrs"])

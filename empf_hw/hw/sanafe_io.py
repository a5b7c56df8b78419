"""SANA-FE interop: write a deployed LIF network and its mapping in SANA-FE's formats, and read SANA-FE
architecture YAML as a cores-template Arch.

Export (``export_sanafe``) writes ``arch.yaml`` (SANA-FE's architecture format: tiles of cores with per-event
energies and latencies from the Arch's energy table and ``latency`` section), ``network.yaml.gz`` (groups, edges,
mappings: SANA-FE's YAML network format, written as JSON, which is YAML, and gzipped: ``gunzip -k`` it before
``sanafe.load_net``) and ``inputs.json`` (the input spike trains of every exported sample).
Conventions:

- the graph is first lowered to the chip's spike format (``empf_hw.hw.cores.lowering``); a linear layer becomes
  a ``dense`` hyperedge (weights only, source-major), a conv layer ``sparse`` edges (SANA-FE's ``conv2d`` hyperedge
  has no padding; strides and padding honoured here), using the conv and the dense synapse unit respectively; every
  neuron layer a LIF group, the classifier a group of non-spiking integrators;
- potentials are in units of 64 membrane LSBs, so that SANA-FE's 1/64 truncation of the leaked potential falls on
  empf-hw's LSB grid; weights are the fixed-point effective weights (code × scale × value of a spike);
- neurons go to the cores of their tiles (SANA-FE core ``tile.offset``, tile id = column × rows + row); the
  network's input neurons go to the cores of the I/O port's tile, which must have room for them;
- SANA-FE integrates a spike one step after it is sent, so a network of depth D runs T + D steps: empf-hw's
  lockstep semantics (``chip.timestep_mode: lockstep``), which the trace to export must have been executed with.
"""

import gzip
import json
from pathlib import Path

import numpy as np
import yaml

from ..deploy.graph import DeployGraph, conv_axes, input_scale
from ..errors import EmpfError
from .arch import Arch, from_dict, preset
from .cores.mesh import core_xy
from .cores.tiles import Mapping
from .cores.work import latencies
from .energy import reference_table

SANAFE_POTENTIAL_LSBS = 64  # SANA-FE truncates potentials to 1/64 of a unit


# --- architecture ---------------------------------------------------------------------------------------------
def arch_yaml(arch: Arch, input_units: int) -> dict:
    """The Arch in SANA-FE's architecture format (energies in J, latencies in s)."""
    if arch.template != "cores" or arch.chips != 1:
        raise EmpfError(f"arch {arch.name}: SANA-FE export needs a single-chip cores architecture")
    ch, c = arch.chip, arch.core
    e = {k: v.pJ * 1e-12 for k, v in reference_table(arch).items()}
    cyc = 1e-6 / ch["clock_MHz"]
    lat = {k: v * cyc for k, v in latencies(arch).items()}
    rows, cols, cpr = ch["mesh_rows"], ch["mesh_cols"], ch["cores_per_router"]
    b = ch["barrier_cycles"]
    sync = ({"sync_model": "table", "latency_sync": {int(k): v * cyc for k, v in sorted(b.items())}}
            if isinstance(b, dict) else {"sync_model": "fixed", "latency_sync": b * cyc})
    hop = {f"{kind}_{d}_hop": v for d in ("north", "south", "east", "west")
           for kind, v in (("energy", e["hop_ns"] if d in ("north", "south") else e["hop_ew"]),
                           ("latency", lat["hop_ns"] if d in ("north", "south") else lat["hop_ew"]))}
    syn = [{"name": f"{arch_unit(kind)}", "attributes": {"model": "current_based",
                                                          "energy_process_spike": e[f"syn_{kind}"],
                                                          "latency_process_spike": lat[f"syn_{kind}"]}}
           for kind in ("dense", "sparse", "conv")]
    zero = dict.fromkeys(("energy_access_neuron", "latency_access_neuron", "energy_update_neuron",
                          "latency_update_neuron", "energy_spike_out", "latency_spike_out"), 0.0)
    core = {"name": f"core[0..{cpr - 1}]",
            "attributes": {"buffer_position": "soma", "buffer_inside_unit": False,
                           "max_neurons_supported": int(c["max_neurons"] or 1024)},
            "axon_in": [{"name": "axon_in", "attributes": {"energy_message_in": e["message_receive"],
                                                           "latency_message_in": lat["message_receive"]}}],
            "soma": [{"name": "lif", "attributes": {
                "model": "leaky_integrate_fire", "energy_access_neuron": e["neuron_access"],
                "latency_access_neuron": lat["neuron_access"], "energy_update_neuron": e["neuron_update"],
                "latency_update_neuron": c["neuron_update_cycles"] * cyc, "energy_spike_out": e["spike_gen"],
                "latency_spike_out": lat["spike_gen"]}},
                {"name": f"inputs[0..{max(input_units, 1) - 1}]", "attributes": {"model": "input", **zero}}],
            "dendrite": [{"name": "dendrites", "attributes": {"model": "accumulator",
                                                              "energy_update": e["dendrite_acc"],
                                                              "latency_update": 0.0}}],
            "synapse": syn,
            "axon_out": [{"name": "axon_out", "attributes": {"energy_message_out": e["message_send"],
                                                             "latency_message_out": lat["message_send"]}}]}
    return {"architecture": {"name": arch.name.replace("-", "_"),
                             "attributes": {"topology": "mesh", "width": cols, "height": rows,
                                            "link_buffer_size": ch["noc_buffer_flits"], **sync},
                             "tile": [{"name": f"tile[0..{rows * cols - 1}]", "attributes": hop, "core": [core]}]}}


def arch_unit(kind: str) -> str:
    return f"{kind}_synapse"


# Every field empf-hw reads from a SANA-FE architecture (a key outside these is refused, not ignored)
_TOP = {"name", "attributes", "tile"}
_CHIP = {"topology", "width", "height", "link_buffer_size", "sync_model", "latency_sync"}
_HOPS = {f"{k}_{d}_hop" for k in ("energy", "latency") for d in ("north", "south", "east", "west")}
_CORE = {"name", "attributes", "axon_in", "soma", "dendrite", "synapse", "axon_out"}
_CORE_ATTRS = {"buffer_position": "soma", "buffer_inside_unit": False, "max_neurons_supported": None}
_UNIT = {"axon_in": ({"energy_message_in", "latency_message_in"}, ()),
         "soma": ({"model", "energy_access_neuron", "latency_access_neuron", "energy_update_neuron",
                   "latency_update_neuron", "energy_spike_out", "latency_spike_out"},
                  ("leaky_integrate_fire", "input")),
         "dendrite": ({"model", "energy_update", "latency_update"}, ("accumulator", "accumulator_with_delay")),
         "synapse": ({"model", "energy_process_spike", "latency_process_spike"}, ("current_based",)),
         "axon_out": ({"energy_message_out", "latency_message_out"}, ())}


def _keys(d, allowed, where: str) -> dict:
    if not isinstance(d, dict):
        raise EmpfError(f"{where}: expected a mapping; allowed keys: {', '.join(sorted(allowed))}")
    bad = sorted(set(map(str, d)) - set(allowed))
    if bad:
        raise EmpfError(f"{where}.{bad[0]}: unknown field; allowed: {', '.join(sorted(allowed))}")
    return d


def _one(lst, where: str) -> dict:
    if not isinstance(lst, list) or len(lst) != 1:
        raise EmpfError(f"{where}: expected a list of one entry (homogeneous tiles and cores, as SANA-FE's Loihi "
                        "model); allowed: one tile[...] and one core[...] entry")
    return lst[0]


def _number(v, where: str, lo: float = 0.0, integer: bool = False) -> float:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) and v >= lo
    if not ok or (integer and v != int(v)):
        kind = "an integer" if integer else "a finite number"
        raise EmpfError(f"{where}={v!r}: allowed: {kind} >= {lo:g}")
    return int(v) if integer else float(v)


def _units(core: dict, where: str) -> dict[str, dict[str, dict]]:
    """section → unit name → its attributes, every field and model checked."""
    out = {}
    for sec, (fields, models) in _UNIT.items():
        out[sec] = {}
        entries = core.get(sec)
        if not isinstance(entries, list) or not entries:
            raise EmpfError(f"{where}.{sec}: missing; allowed: a list of {sec} units")
        for i, u in enumerate(entries):
            at = f"{where}.{sec}[{i}]"
            _keys(u, {"name", "attributes"}, at)
            att = _keys(u.get("attributes") or {}, fields, f"{at}.attributes")
            if models and att.get("model") not in models:
                raise EmpfError(f"{at}.attributes.model={att.get('model')!r}: allowed: {', '.join(models)}")
            for k, v in att.items():
                if k != "model":
                    _number(v, f"{at}.attributes.{k}")
            if sec == "dendrite" and att.get("latency_update", 0):
                raise EmpfError(f"{at}.attributes.latency_update={att['latency_update']!r}: empf-hw's cores "
                                "template has no dendrite latency; allowed: 0")
            out[sec][str(u.get("name", f"{sec}{i}"))] = att
    return out


def read_arch(d: dict, where: str) -> Arch:
    """A SANA-FE architecture YAML (homogeneous tiles and cores, as its Loihi model) as a cores-template Arch:
    the ``loihi-sanafe`` preset's structure with the file's mesh, per-event energies and latencies. Every field is
    checked: unknown ones, other unit models and values empf-hw cannot represent are refused."""
    a = _keys(d.get("architecture"), _TOP, f"{where}: architecture")
    att = _keys(a.get("attributes") or {}, _CHIP, f"{where}: architecture.attributes")
    tile = _keys(_one(a.get("tile"), f"{where}: architecture.tile"), {"name", "attributes", "core"},
                 f"{where}: architecture.tile[0]")
    ta = _keys(tile.get("attributes") or {}, _HOPS, f"{where}: architecture.tile[0].attributes")
    cw = f"{where}: architecture.tile[0].core[0]"
    core = _keys(_one(tile.get("core"), f"{where}: architecture.tile[0].core"), _CORE, cw)
    ca = _keys(core.get("attributes") or {}, _CORE_ATTRS, f"{cw}.attributes")
    for k, want in _CORE_ATTRS.items():
        if want is not None and ca.get(k, want) != want:
            raise EmpfError(f"{cw}.attributes.{k}={ca[k]!r}: empf-hw models SANA-FE's Loihi pipeline; allowed: "
                            f"{want!r}")
    units = _units(core, cw)
    if att.get("topology", "mesh") != "mesh":
        raise EmpfError(f"{where}: architecture.attributes.topology={att['topology']!r}; allowed: mesh")
    for k in ("width", "height"):
        if k not in att:
            raise EmpfError(f"{where}: architecture.attributes.{k}: missing; allowed: an integer >= 1")
        _number(att[k], f"{where}: architecture.attributes.{k}", 1, True)
    for kind in ("energy", "latency"):  # empf-hw has one north-south and one east-west hop
        for a_, b_ in (("north", "south"), ("east", "west")):
            x, y = ta.get(f"{kind}_{a_}_hop", 0), ta.get(f"{kind}_{b_}_hop", 0)
            _number(x, f"{where}: tile attributes.{kind}_{a_}_hop")
            if x != _number(y, f"{where}: tile attributes.{kind}_{b_}_hop"):
                raise EmpfError(f"{where}: tile attributes.{kind}_{b_}_hop={y!r} differs from {kind}_{a_}_hop={x!r}; "
                                "allowed: equal values (empf-hw has one cost per axis)")
    lifs = [v for v in units["soma"].values() if v.get("model") == "leaky_integrate_fire"]
    if len(lifs) != 1:
        raise EmpfError(f"{cw}.soma: {len(lifs)} leaky_integrate_fire units; allowed: exactly one")
    lif, syn = lifs[0], list(units["synapse"].values())
    cores = _range_count(str(core.get("name", "core")), cw)
    sync_model = att.get("sync_model", "fixed")
    sync = att.get("latency_sync", 0.0)
    sw = f"{where}: architecture.attributes.latency_sync"
    if sync_model not in ("fixed", "table") or isinstance(sync, dict) != (sync_model == "table"):
        raise EmpfError(f"{where}: architecture.attributes.sync_model={sync_model!r} with latency_sync={sync!r}; "
                        "allowed: fixed with a number, table with {cores: seconds}")
    sync = ({_number(k, sw, 1, True): _number(v, f"{sw}.{k}") for k, v in sync.items()} if isinstance(sync, dict)
            else _number(sync, sw))
    max_neurons = _number(ca.get("max_neurons_supported", 1024), f"{cw}.attributes.max_neurons_supported", 1, True)
    base = preset("loihi-sanafe").to_dict()
    clock = base["chip"]["clock_MHz"]

    def cycles(seconds) -> int:
        return int(round(float(seconds) * clock * 1e6))

    kinds = {k: next((u for n, u in units["synapse"].items() if k in n), syn[0]) for k in ("dense", "sparse", "conv")}
    base.update(name=str(a.get("name", Path(where).stem)), description=f"imported from SANA-FE architecture {where}")
    base["chip"].update(mesh_rows=int(att["height"]), mesh_cols=int(att["width"]), cores_per_router=cores,
                        noc_buffer_flits=_number(att.get("link_buffer_size", 16),
                                                 f"{where}: architecture.attributes.link_buffer_size", 1, True),
                        barrier_cycles={int(k): cycles(v) for k, v in sync.items()} if isinstance(sync, dict)
                        else cycles(sync), noc_hop_cycles=cycles(ta.get("latency_east_hop", 0)))
    base["core"].update(max_neurons=max_neurons,
                        neuron_update_cycles=max(1, cycles(lif.get("latency_update_neuron", 0))))
    ain, aout = next(iter(units["axon_in"].values())), next(iter(units["axon_out"].values()))
    den = next(iter(units["dendrite"].values()))
    base["latency"] = {"message_receive": cycles(ain.get("latency_message_in", 0)),
                       **{f"syn_{k}": cycles(u.get("latency_process_spike", 0)) for k, u in kinds.items()},
                       "neuron_access": cycles(lif.get("latency_access_neuron", 0)),
                       "spike_gen": cycles(lif.get("latency_spike_out", 0)),
                       "message_send": cycles(aout.get("latency_message_out", 0)),
                       "hop_ew": cycles(ta.get("latency_east_hop", 0)),
                       "hop_ns": cycles(ta.get("latency_north_hop", 0))}
    src = f"SANA-FE architecture {where}"
    pj = {**{f"syn_{k}": u.get("energy_process_spike", 0) for k, u in kinds.items()},
          "dendrite_acc": den.get("energy_update", 0), "neuron_access": lif.get("energy_access_neuron", 0),
          "neuron_update": lif.get("energy_update_neuron", 0), "spike_gen": lif.get("energy_spike_out", 0),
          "message_send": aout.get("energy_message_out", 0), "message_receive": ain.get("energy_message_in", 0),
          "hop_ew": ta.get("energy_east_hop", 0), "hop_ns": ta.get("energy_north_hop", 0)}
    for k, v in pj.items():
        base["energy"][k] = {"pJ": float(v) * 1e12, "source": src}
    return from_dict(base, where)


def _range_count(name: str, where: str) -> int:
    """Units in a SANA-FE name such as ``core[0..3]`` (1 without a range)."""
    if "[" not in name:
        return 1
    try:
        lo, hi = (int(x) for x in name[name.index("[") + 1:name.index("]")].split(".."))
    except ValueError:
        lo, hi = 0, -1
    if hi < lo:
        raise EmpfError(f"{where}.name={name!r}: allowed: a name such as core[0..3]")
    return hi - lo + 1


# --- network ----------------------------------------------------------------------------------------------
def _conv_pattern(n, in_shape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dst, src, tap weight index) of every in-bounds connection of a conv node."""
    O, I, kh, kw = n.tensors["codes"].shape
    _, H, W = in_shape
    _, Ho, Wo = n.shape
    (_, sh, ph), (_, sw, pw) = conv_axes(n)
    co, yo, xo, ci, ky, kx = (a.ravel() for a in np.meshgrid(np.arange(O), np.arange(Ho), np.arange(Wo),
                                                              np.arange(I), np.arange(kh), np.arange(kw),
                                                              indexing="ij"))
    y, x = yo * sh - ph + ky, xo * sw - pw + kx
    ok = (y >= 0) & (y < H) & (x >= 0) & (x < W)
    dst = (co * Ho * Wo + yo * Wo + xo)[ok]
    src = (ci * H * W + y * W + x)[ok]
    widx = np.ravel_multi_index((co[ok], ci[ok], ky[ok], kx[ok]), (O, I, kh, kw))
    return dst, src, widx


def _edges(g: DeployGraph, n) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """(source node, src index, dst index, weight in real units of the source's spike values) of a synaptic node
    over its source neuron / input (through flatten and bit planes)."""
    t = n.tensors
    codes = t["codes"].astype(np.float64)
    w = codes * t["scale"].astype(np.float64).reshape((-1,) + (1,) * (codes.ndim - 1))
    if n.op == "conv":
        dst, src, widx = _conv_pattern(n, g[n.inputs[0]].shape)
        wv = w.ravel()[widx]
    else:
        dst, src = (a.ravel() for a in np.meshgrid(np.arange(w.shape[0]), np.arange(w.shape[1]), indexing="ij"))
        wv = w[dst, src]
    s = g[n.inputs[0]]
    while s.op in ("flatten", "bitsplit"):
        if s.op == "bitsplit":  # channel (or feature) c·B + j carries bit j, worth 2^j
            per = int(np.prod(s.shape[1:]))
            wv = wv * 2.0 ** ((src // per) % s.attrs["bits"])
        s = g[s.inputs[0]]
    return s.name, src, dst, wv


def _spike_value(node) -> float:
    """Real value of one spike (or input code) of a source node."""
    if node.op == "input":
        return input_scale(node)
    return float(node.tensors["spike_step"])


def export_sanafe(graph: DeployGraph, mapping: Mapping, samples: list) -> dict[str, str | bytes]:
    """Files (name → text or bytes) of the exported workload. ``graph`` and ``mapping`` are the lowered graph and its
    mapping (``Costs.graph``, ``Costs.mapping``), ``samples`` batch-1 lockstep traces of that graph, one per input
    sample: the network file carries the first sample's input spikes, ``inputs.json`` every sample's."""
    arch = mapping.arch
    if arch.chip["timestep_mode"] != "lockstep":
        raise EmpfError(f"arch {arch.name}: SANA-FE runs lockstep timesteps; allowed: chip.timestep_mode: lockstep")
    for n in graph.nodes:
        if n.op == "neuron" and n.attrs["model"] != "lif":
            raise EmpfError(f"neuron {n.name!r} is an EM-PF neuron, which SANA-FE does not model; allowed: LIF "
                            "networks (binary spikes)")
        if n.op in ("add", "attention", "pool"):
            raise EmpfError(f"node {n.name!r} ({n.op}) has no SANA-FE counterpart; allowed: conv / linear layers of "
                            "LIF neurons (pooling is folded by --lowering)")
    attrs = graph.attrs
    frac = min(attrs["membrane_frac_bits"], attrs["membrane_bits"] - 1 - 4)
    unit = 2.0 ** -frac * SANAFE_POTENTIAL_LSBS  # one SANA-FE potential unit, in spike steps (LIF: step 1)
    inp = graph.nodes[0]
    first = next(lay.node for lay in mapping.layers if _edges(graph, lay.node)[0] == inp.name)
    src_in = first.inputs[0]  # the input neurons: the input layer's inputs (bit planes, flattened)
    n_in = int(np.prod(graph[src_in].shape))
    if inp.attrs["input_bits"] > 1 and not any(graph[n].op == "bitsplit" for n in _chain_names(graph, src_in)):
        raise EmpfError("the network input is multi-bit; lower it (--lowering parallel) before exporting")
    groups, edges, maps = [], [], []
    load: dict[str, int] = {}
    cpr, rows = arch.chip["cores_per_router"], arch.chip["mesh_rows"]
    for lay in mapping.layers:
        node = lay.node
        src, s_idx, d_idx, wv = _edges(graph, node)
        name = lay.neuron.name if lay.neuron is not None else node.name
        bias = np.repeat(node.tensors["bias"].astype(np.float64), int(np.prod(node.shape)) // len(node.tensors["bias"]))
        if lay.neuron is not None:
            nt = lay.neuron.tensors
            scale = 1.0 / (float(nt["spike_step"]) * unit)
            att = {"threshold": float(nt["threshold"][0]) * scale, "leak_decay": float(nt["leak"][0, 0]),
                   "reset_mode": "soft" if lay.neuron.attrs["reset"] == "threshold" else "hard", "log_spikes": True,
                   "synapse_hw_name": arch_unit("conv" if node.op == "conv" else "dense"), "soma_hw_name": "lif"}
        else:  # the classifier: integrators that never fire
            scale = 1.0 / unit
            att = {"threshold": 1e30, "reset_mode": "none", "leak_decay": 1.0, "soma_hw_name": "lif",
                   "synapse_hw_name": arch_unit("dense")}
        value = _spike_value(graph[src])
        groups.append({"name": _gname(name), "attributes": att,
                       "neurons": [{f"{i}": {"bias": float(b * scale)}} for i, b in enumerate(bias)]})
        wv = wv * value * scale
        if node.op == "linear":  # every (source, target) pair: SANA-FE's dense hyperedge, source-major weights
            edge = {"type": "dense", "weight": wv.reshape(node.tensors["codes"].shape).T.ravel().tolist()}
        else:
            edge = {"type": "sparse", "source_target_pairs": np.stack([s_idx, d_idx], 1).tolist(),
                    "weight": wv.tolist()}
        edges.append({f"{_gname(src_in if src == inp.name else src)} -> {_gname(name)}": edge})
        for t in lay.tiles:
            if not t.merges:
                raise EmpfError(f"layer {lay.name!r} splits its inputs over cores (partial sums), which SANA-FE "
                                "cannot express; allowed: an architecture whose crossbar holds a neuron's fan-in")
            r, c = core_xy(arch, t.core)
            core = f"{c * rows + r}.{t.core % cpr}"
            idx = _tile_neurons(node, t)
            load[core] = load.get(core, 0) + len(idx)
            maps += [{f"{_gname(name)}.{int(i)}": {"core": core}} for i in idx]
    tile = arch.chip["io_col"] * rows + arch.chip["io_row"]
    cap = arch.core["max_neurons"] or 1024
    slot, units = 0, 0
    for k in range(cpr):  # the input neurons: on the I/O port's tile, each with its own input unit
        core = f"{tile}.{k}"
        take = min(cap - load.get(core, 0), n_in - slot)
        maps += [{f"{_gname(src_in)}.{slot + j}": {"core": core, "soma": f"inputs[{j}]"}} for j in range(take)]
        slot, units = slot + take, max(units, take)
    if slot < n_in:
        raise EmpfError(f"the I/O port's tile ({arch.chip['io_row']}, {arch.chip['io_col']}) has room for {slot} of "
                        f"the {n_in} input neurons; allowed: chip.io_row / io_col at a tile with free cores")
    trains = [_input_spikes(tr, first.name) for tr in samples]
    groups.insert(0, {"name": _gname(src_in), "attributes": {"log_spikes": True},
                      "neurons": [{f"{i}": {"spikes": trains[0][:, i].tolist()}} for i in range(n_in)]})
    net = {"network": {"name": "empf_hw_export", "groups": groups, "edges": edges}, "mappings": maps}
    steps = len(samples[0].logits)
    inputs = {"group": _gname(src_in), "steps": steps, "samples": [t.T.tolist() for t in trains]}
    return {"arch.yaml": yaml.safe_dump(arch_yaml(arch, units), sort_keys=False),
            # JSON is YAML: fast to write and parse for large edge lists; gzip (no timestamp: same bytes each run)
            "network.yaml.gz": gzip.compress((json.dumps(net) + "\n").encode(), compresslevel=3, mtime=0),
            "inputs.json": json.dumps(inputs) + "\n"}


def _input_spikes(trace, first: str) -> np.ndarray:
    """(steps, inputs) 0/1 spike train of the input neurons: the input layer's events per (lockstep) step."""
    lt = next(x for x in trace.layers if x.name == first)
    return (lt.event_map.reshape(len(lt.event_map), -1) > 0).astype(int)


def _chain_names(graph: DeployGraph, name: str) -> list[str]:
    """``name`` and the flatten / bit-plane nodes it reads through, back to the neuron or input."""
    out = [name]
    while graph[out[-1]].op in ("flatten", "bitsplit"):
        out.append(graph[out[-1]].inputs[0])
    return out


def _gname(name: str) -> str:
    return name.replace(".", "_")


def _tile_neurons(node, t) -> np.ndarray:
    """Flat (C, H, W) indices of the neurons a tile holds."""
    if len(node.shape) == 1:
        return np.arange(*t.outputs)
    _, H, W = node.shape
    c, y, x = np.meshgrid(np.arange(*t.outputs), np.arange(*t.rows), np.arange(W), indexing="ij")
    return (c * H * W + y * W + x).ravel()

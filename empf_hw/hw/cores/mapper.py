"""Mapper: place every synaptic layer of a DeployGraph on the cores of an Arch.

A *layer* is a synaptic node with the neuron it drives (through attention / residual add) and the pooling after
that neuron. Tiles:

- linear: a crossbar block of ≤ ``crossbar_rows`` inputs × ≤ ``crossbar_cols`` outputs;
- conv: the kernel of a group of output channels over a group of input channels (``C_in·kh·kw`` rows ×
  ``C_out`` columns) is stored once per core; output rows are partitioned when the neurons or the input window
  do not fit the membrane / buffer SRAM.

Model weights wider than ``core.weight_bits`` are bit-sliced over ⌈model bits / cell bits⌉ columns. Tiles that
split the input rows keep partial sums; all but the first send them (``accumulator_bits`` per output) to the
first, which merges them (``psum_add``) and updates the neurons. Physical core ``k`` sits at router ``k //
cores_per_router`` of a serpentine path over the routers of the whole board (chips side by side); a placement
policy (``empf_hw.hw.cores.placement``; default ``serpentine``: tiles in layer order along the path) or an explicit
core per tile decides where each tile goes. A core holds one tile; with ``chip.dram_spill`` it may hold several,
whose neuron states add up in its membrane SRAM, and whose weights stay in its synapse SRAM while they fit (in tile
order) — the others reload from DRAM every timestep. With more tiles than cores and no ``chip.dram_spill`` the
mapper refuses, naming the layer and the shortfall.
"""

import math
from collections import Counter

import numpy as np

from ...deploy.graph import SYNAPTIC, DeployGraph, Node, conv_axes
from ...errors import EmpfError
from ..acc_width import ACC_AUTO
from .mesh import core_xy
from .placement import place
from .tiles import Layer, Mapping, Tile, fits, neuron_capacity, state_bits, time_batched


def _spike_source(g: DeployGraph, name: str) -> tuple[str, int]:
    """Walk back through pooling / flatten / bit planes to the neuron or input; returns (node, largest input
    code)."""
    n, mult, planes = g[name], 1, False
    while n.op in ("pool", "flatten", "bitsplit"):
        if n.op == "pool" and n.attrs["kind"] != "max":
            mult *= n.attrs["kernel"] ** 2
        planes |= n.op == "bitsplit"
        n = g[n.inputs[0]]
    if planes:
        return n.name, mult
    if n.op == "input":
        return n.name, (2 ** n.attrs["input_bits"] - 1) * mult
    if n.op != "neuron":
        raise EmpfError(f"node {name!r}: a synaptic layer must be fed by spikes (a neuron or the input), "
                        f"found {n.op!r} node {n.name!r}")
    if n.attrs["spike_bits"] == 0:
        raise EmpfError(f"neuron {n.name!r} emits floating-point spikes, which no spike bus carries; calibrate "
                        "the graph with a spike bit width (spike_bits 1..32) and run it in fixed mode")
    return n.name, (2 ** n.attrs["spike_bits"] - 1) * mult


def spike_value_bits(g: DeployGraph, node: Node) -> int:
    """Value bits of the packets a synaptic node receives (0: binary spikes)."""
    _, maxcode = _spike_source(g, node.inputs[0])
    return 0 if maxcode <= 1 else math.ceil(math.log2(maxcode + 1))


def accumulator_need(g: DeployGraph, node: Node) -> int:
    """Signed bits a synaptic node's accumulator needs so no sum can overflow: the bit length of its largest input
    code × the largest Σ|weight code| over its outputs (fan-in × weight × spike magnitudes), plus a sign bit."""
    _, maxcode = _spike_source(g, node.inputs[0])
    codes = np.abs(node.tensors["codes"].astype(np.int64))
    per_output = codes.reshape(len(codes), -1).sum(axis=1).max(initial=0)
    return int(maxcode * per_output).bit_length() + 1


def accumulator_needs(g: DeployGraph) -> dict[str, int]:
    """Per synaptic layer, the signed accumulator width it needs; a neuron fed by several synaptic layers (a
    residual block's shortcut convolution) sums their bounds in the layer holding it. Computed once per graph."""
    if "accumulator_needs" not in g.derived:
        layers = synaptic_layers(g)
        need = {lay.name: accumulator_need(g, lay.node) for lay in layers}
        for lay in layers:
            if lay.psum_sources:
                bound = sum(2 ** (need[s] - 1) - 1 for s in [lay.name, *lay.psum_sources])
                need[lay.name] = bound.bit_length() + 1
        g.derived["accumulator_needs"] = need
    return dict(g.derived["accumulator_needs"])


def fit_accumulator(graph: DeployGraph, arch):
    """``arch`` with ``core.accumulator_bits: auto`` resolved to the widest accumulator any layer of ``graph``
    needs (one datapath width per chip); a number is kept (narrower layers saturate, see ``saturations``)."""
    if arch.core["accumulator_bits"] != ACC_AUTO:
        return arch
    return arch.with_overrides({"core.accumulator_bits": max(accumulator_needs(graph).values(), default=2)})


def saturations(acc_bits: np.ndarray | None, bits: int) -> np.ndarray | None:
    """(T,) accumulator sums wider than ``bits`` signed bits, from a trace's ``acc_bits`` histogram (None: the trace
    has none, e.g. float mode)."""
    return None if acc_bits is None else acc_bits[:, bits + 1:].sum(axis=1)


def _current_sources(g: DeployGraph, neuron: Node) -> list[str]:
    """Nodes adding into a neuron's input current, primary (first-input chain) first."""
    out, todo = [], [neuron.inputs[0]]
    while todo:
        n = g[todo.pop(0)]
        if n.op in ("attention", "add"):
            todo = list(n.inputs) + todo
        else:
            out.append(n.name)
    return out


def synaptic_layers(g: DeployGraph) -> list[Layer]:
    consumers: dict[str, list[str]] = {}
    for n in g.nodes:
        for i in n.inputs:
            consumers.setdefault(i, []).append(n.name)
    neuron_of, primary, psums, spikes = {}, {}, {}, {}
    for n in g.nodes:
        if n.op == "neuron":
            src = _current_sources(g, n)
            if g[src[0]].op not in SYNAPTIC:
                raise EmpfError(f"neuron {n.name!r}: its current must come from a synaptic layer first")
            primary[n.name] = src[0]
            neuron_of[src[0]] = n
            psums[src[0]] = [s for s in src[1:] if g[s].op in SYNAPTIC]
            spikes[src[0]] = [s for s in src[1:] if g[s].op not in SYNAPTIC]
    host = dict(primary)  # neuron → the layer holding it
    layers = []
    for n in g.nodes:
        if n.op not in SYNAPTIC:
            continue
        src, _ = _spike_source(g, n.inputs[0])
        sources = [host[_spike_source(g, s)[0]] for s in spikes.get(n.name, [])]
        layers.append(Layer(n.name, n, neuron_of.get(n.name), host.get(src, "input"), spike_value_bits(g, n), 1,
                            [], psums.get(n.name, []), sources, tuple(g[n.inputs[0]].shape)))
    by_name = {lay.name: lay for lay in layers}
    for n in g.nodes:  # aux ops: add / attention on the neuron's layer, pooling on the upstream neuron's layer
        if n.op in ("add", "attention"):
            down = n
            while down.op != "neuron":
                down = g[consumers[down.name][0]]
            by_name[primary[down.name]].aux.append(n.name)
        elif n.op == "pool":
            src, _ = _spike_source(g, n.name)
            owner = host.get(src)
            if owner is None:  # pooling of the input: done by the first consumer layer
                down = n
                while down.op not in SYNAPTIC:
                    down = g[consumers[down.name][0]]
                owner = down.name
            by_name[owner].aux.append(n.name)
    return _dependency_order(layers)


def _dependency_order(layers: list[Layer]) -> list[Layer]:
    """Graph order, except that a layer comes after every layer it waits for (shortcut partial sums)."""
    done, out, todo = set(), [], list(layers)
    while todo:
        lay = next(x for x in todo if all(d in done for d in x.waits_for))
        todo.remove(lay)
        done.add(lay.name)
        out.append(lay)
    return out


def _conv_groups(lay: Layer, arch, cap_n: int) -> tuple[int, int, int]:
    """(input-channel groups, output-channel groups, output-row groups) of a conv layer."""
    c = arch.core
    o, i, k, kw = lay.node.tensors["weight"].shape
    _, h, w = lay.in_shape
    _, ho, wo = lay.node.shape
    (_, s, _), _ = conv_axes(lay.node)  # buffer windows span output rows: the row stride
    vb = max(lay.value_bits, 1)
    ig_max = c["crossbar_rows"] // (k * kw)
    cg_max = min(c["crossbar_cols"] // lay.slices, cap_n // wo)
    if ig_max == 0:
        raise EmpfError(f"layer {lay.name!r} does not fit a core: a {k}×{kw} kernel needs {k * kw} crossbar rows "
                        f"(core.crossbar_rows={c['crossbar_rows']}); allowed: core.crossbar_rows >= {k * kw}")
    if c["crossbar_cols"] // lay.slices == 0:
        raise EmpfError(f"layer {lay.name!r} does not fit a core: a weight needs {lay.slices} crossbar columns "
                        f"(core.crossbar_cols={c['crossbar_cols']}); allowed: core.crossbar_cols >= {lay.slices}")
    if cg_max == 0:
        limit = f", core.max_neurons={c['max_neurons']}" if c["max_neurons"] else ""
        raise EmpfError(f"layer {lay.name!r} does not fit a core: one output row of {wo} neurons exceeds the "
                        f"{cap_n} neurons a core holds (core.membrane_sram_KiB={c['membrane_sram_KiB']}{limit}); "
                        f"allowed: room for at least {wo} neurons per core")
    buf = arch.kib_bits("buffer")
    for ng_i in range(math.ceil(i / ig_max), i + 1):
        ig = math.ceil(i / ng_i)
        r_buf = ((buf // (ig * w * vb)) - k) // s + 1  # largest r with ig·((r−1)s + k)·W·vb ≤ buffer
        if r_buf >= 1 or ig * min(k, h) * w * vb <= buf:
            break
    else:
        raise EmpfError(f"layer {lay.name!r} does not fit a core: the input window of one output row of one "
                        f"input channel ({min(k, h)} rows × {w} positions × {vb}-bit values) needs "
                        f"{min(k, h) * w * vb} bits of spike buffer (core.buffer_sram_KiB={c['buffer_sram_KiB']}, "
                        f"{buf} bits)")
    ng_c = math.ceil(o / cg_max)
    cg = math.ceil(o / ng_c)
    rows = max(1, min(ho, cap_n // (cg * wo), r_buf if r_buf >= 1 else 1))
    return ng_i, ng_c, math.ceil(ho / rows)


def _split(n: int, groups: int) -> list[tuple[int, int]]:
    size = math.ceil(n / groups)
    return [(a, min(a + size, n)) for a in range(0, n, size)]


def _window_rows(rows: tuple[int, int], k: int, s: int, p: int, h: int) -> int:
    lo, hi = rows[0] * s - p, (rows[1] - 1) * s - p + k
    return max(0, min(hi, h) - max(lo, 0))


def tile_layers(graph: DeployGraph, arch) -> list[Layer]:
    """The synaptic layers of ``graph`` cut into tiles that each fit a core (not yet placed: core −1)."""
    c = arch.core
    if graph.attrs["membrane_bits"] > c["membrane_bits"]:
        raise EmpfError(f"the model's membrane_bits={graph.attrs['membrane_bits']} exceeds core.membrane_bits="
                        f"{c['membrane_bits']}; allowed: core.membrane_bits >= {graph.attrs['membrane_bits']}")
    layers = synaptic_layers(graph)
    order = 0
    for lay in layers:
        bits = state_bits(arch, graph, lay)
        cap_n = neuron_capacity(arch, bits)
        if cap_n == 0:
            batched = time_batched(arch, lay)
            raise EmpfError(f"core.membrane_sram_KiB={c['membrane_sram_KiB']} holds no neuron"
                            f"{' of time-batched layer ' + repr(lay.name) if batched else ''}; allowed: >= "
                            f"{bits / 8192:g}{', or core.time_batched false' if batched else ''}")
        lay.slices = math.ceil(lay.weight_bits / c["weight_bits"])
        cell = lay.slices * c["weight_bits"]
        vb = max(lay.value_bits, 1)
        if lay.node.op == "conv":
            o, i, k, kw = lay.node.tensors["weight"].shape
            ng_i, ng_c, ng_r = _conv_groups(lay, arch, cap_n)
            _, h, w = lay.in_shape
            _, ho, wo = lay.node.shape
            (_, s, p), _ = conv_axes(lay.node)  # output rows partition the input rows
            lay.splits = (_split(i, ng_i), _split(o, ng_c), _split(ho, ng_r))
            parts = [(ci, co, r) for co in lay.splits[1] for r in lay.splits[2] for ci in lay.splits[0]]
            sizes = [((ci[1] - ci[0]) * k * kw * (co[1] - co[0]) * cell, (co[1] - co[0]) * (r[1] - r[0]) * wo,
                      (ci[1] - ci[0]) * _window_rows(r, k, s, p, h) * w * vb) for ci, co, r in parts]
        else:
            o, i = lay.node.tensors["weight"].shape
            cols = min(c["crossbar_cols"] // lay.slices, cap_n)
            if cols == 0:
                raise EmpfError(f"layer {lay.name!r} does not fit a core: a weight needs {lay.slices} crossbar "
                                f"columns (core.crossbar_cols={c['crossbar_cols']}); allowed: core.crossbar_cols >= "
                                f"{lay.slices}")
            rows = min(c["crossbar_rows"], arch.kib_bits("buffer") // vb)
            if rows == 0:
                raise EmpfError(f"layer {lay.name!r} does not fit a core: a {vb}-bit input needs {vb} bits of "
                                f"spike buffer (core.buffer_sram_KiB={c['buffer_sram_KiB']})")
            lay.splits = (_split(i, math.ceil(i / rows)), _split(o, math.ceil(o / cols)), [(0, 1)])
            parts = [(ci, co, (0, 1)) for co in lay.splits[1] for ci in lay.splits[0]]
            sizes = [((ci[1] - ci[0]) * (co[1] - co[0]) * cell, co[1] - co[0], (ci[1] - ci[0]) * vb)
                     for ci, co, _ in parts]
        for (ci, co, r), (sb, nn, bb) in zip(parts, sizes):
            lay.tiles.append(Tile(lay.name, order, -1, (0, 0), ci, co, r, ci[0] == 0, True, sb, nn, bb))
            order += 1
    return layers


# Every architecture field tiling and placement read: architectures agreeing on these map a graph alike, so a
# sweep point that changes only timing or energy fields reuses the mapping (tests/test_mapping.py perturbs the rest).
MAPPING_FIELDS = {
    "core": ("crossbar_rows", "crossbar_cols", "weight_bits", "synapse_sram_KiB", "membrane_sram_KiB",
             "buffer_sram_KiB", "max_neurons", "membrane_bits", "accumulator_bits", "accumulation",
             "accumulator_registers", "time_batched"),
    "chip": ("mesh_rows", "mesh_cols", "cores_per_router", "io_row", "io_col", "dram_spill"),
    "system": ("chips_rows", "chips_cols"),
}
MAPPINGS_KEPT = 64  # mappings remembered per graph


def mapping_fields(arch) -> tuple:
    """The values of ``MAPPING_FIELDS`` in ``arch``."""
    return tuple(getattr(arch, sec)[f] for sec, names in MAPPING_FIELDS.items() for f in names)


def map_graph(graph: DeployGraph, arch, placement=None) -> Mapping:
    """Tile and place every layer; EmpfError naming the layer and the shortfall when it does not fit.
    ``placement``: a policy name (``empf_hw.hw.cores.placement.POLICIES``; default ``serpentine``) or the core of
    every tile in tile order (``Mapping.placement``). A policy's mapping is remembered on the graph and reused for
    architectures with the same ``MAPPING_FIELDS`` (its tiles are not modified afterwards)."""
    arch = fit_accumulator(graph, arch)
    if placement is not None and not isinstance(placement, str):
        return _map(graph, arch, placement)
    kept = graph.derived.setdefault("mappings", {})
    key = (mapping_fields(arch), placement)
    if key not in kept:
        if len(kept) >= MAPPINGS_KEPT:
            kept.pop(next(iter(kept)))
        kept[key] = _map(graph, arch, placement)
    return Mapping(arch, graph, kept[key].layers)


def _map(graph: DeployGraph, arch, placement) -> Mapping:
    mapping = Mapping(arch, graph, tile_layers(graph, arch))
    tiles, cores = mapping.tiles, arch.cores
    if len(tiles) > cores and not arch.chip["dram_spill"]:
        raise EmpfError(f"the network needs {len(tiles)} cores but {arch.name} has {cores}: layer "
                        f"{tiles[cores].layer!r} and later do not fit (shortfall {len(tiles) - cores} cores); "
                        "allowed: a larger mesh or board, larger crossbars or core SRAMs, or chip.dram_spill: true")
    chosen = place(mapping, placement)
    check_placement(arch, tiles, chosen)
    batched = {lay.name for lay in mapping.layers if time_batched(arch, lay)}
    per_core = Counter(int(core) for core in chosen)
    shared = [t for t, core in zip(tiles, chosen) if t.layer in batched and per_core[int(core)] > 1]
    if shared:
        raise EmpfError(f"core.time_batched with chip.dram_spill: tile {shared[0].index} of layer "
                        f"{shared[0].layer!r} shares its core (spilled time-batched state is not modelled); "
                        "allowed: a board with a core per tile, or time_batched false")
    held: dict[int, int] = {}  # core → synapse bits of the resident tiles
    for t, core in zip(tiles, chosen):
        t.core, t.xy = int(core), core_xy(arch, int(core))
        t.resident = held.get(core, 0) + t.synapse_bits <= arch.kib_bits("synapse")
        held[core] = held.get(core, 0) + t.synapse_bits * t.resident
    return mapping


def check_placement(arch, tiles: list[Tile], cores) -> None:
    """EmpfError unless ``cores`` gives every tile a core of ``arch`` and no core is over capacity (``fits``)."""
    if len(cores) != len(tiles):
        raise EmpfError(f"placement: {len(cores)} cores for {len(tiles)} tiles; allowed: one core per tile, in tile "
                        "order")
    idx = np.asarray(cores)
    if idx.dtype.kind in "iu" and len(np.unique(idx)) == len(idx) and (len(idx) == 0 or
                                                                    (idx.min() >= 0 and idx.max() < arch.cores)):
        return  # a core per tile: an empty core takes any tile
    count: dict[int, int] = {}
    neurons: dict[int, int] = {}
    for t, core in zip(tiles, cores):
        if isinstance(core, bool) or not isinstance(core, (int, np.integer)) or not 0 <= core < arch.cores:
            raise EmpfError(f"placement: core {core!r} of tile {t.index} (layer {t.layer!r}) is not a core of "
                            f"{arch.name}; allowed: 0..{arch.cores - 1}")
        if not fits(arch, count.get(core, 0), neurons.get(core, 0), t):
            why = ("its neuron state exceeds the membrane SRAM" if arch.chip["dram_spill"] else
                   f"{arch.name} has no chip.dram_spill")
            raise EmpfError(f"placement: core {core} cannot also hold tile {t.index} (layer {t.layer!r}): {why}; "
                            f"allowed: one tile per core, or with chip.dram_spill tiles of at most "
                            f"{neuron_capacity(arch)} neurons in all")
        count[core] = count.get(core, 0) + 1
        neurons[core] = neurons.get(core, 0) + t.neurons

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
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ...deploy.graph import SYNAPTIC, DeployGraph, Node, conv_axes
from ...errors import EmpfError


@dataclass(slots=True)
class Tile:
    layer: str
    index: int  # position in the global tile order
    core: int  # physical core (its index along the placement path)
    xy: tuple[int, int]  # (row, col) of its router on the board's router grid
    inputs: tuple[int, int]  # input channel (conv) / feature (linear) range
    outputs: tuple[int, int]  # output channel / feature range
    rows: tuple[int, int]  # output rows (conv); (0, 1) for linear
    merges: bool  # first tile of its input split: holds the neurons and merges partial sums
    resident: bool  # weights stay in the synapse SRAM (False: reloaded from DRAM every timestep)
    synapse_bits: int
    neurons: int
    buffer_bits: int


@dataclass
class Layer:
    name: str  # synaptic node
    node: Node
    neuron: Node | None
    producer: str  # layer whose neurons feed this one, or "input"
    value_bits: int  # value field of the input packets (0: binary spikes)
    slices: int  # synapse cells per weight
    aux: list[str]  # non-synaptic nodes whose ops run on this layer's neuron units
    psum_sources: list[str]  # other synaptic layers adding their outputs into this layer's neurons
    spike_sources: list[str]  # layers whose spikes are added into this layer's neurons (identity shortcut)
    in_shape: tuple[int, ...]
    tiles: list[Tile] = field(default_factory=list)
    splits: tuple = ()  # (input ranges, output ranges, row ranges); tile j = (out, row, in) in C order

    @property
    def weight_bits(self) -> int:
        return self.node.attrs["weight_bits"]


@dataclass
class Mapping:
    arch: object
    graph: DeployGraph
    layers: list[Layer]

    @property
    def tiles(self) -> list[Tile]:
        return [t for lay in self.layers for t in lay.tiles]

    @property
    def sub_steps(self) -> int:
        """Sub-steps per timestep: the widest serial lowering (``serial_steps``), 1 without one."""
        return max((n.attrs.get("serial_steps", 1) for n in self.graph.nodes), default=1)

    @property
    def placement(self) -> list[int]:
        """The core of every tile, in tile order (a placement ``map_graph`` takes back)."""
        return [t.core for t in self.tiles]

    @property
    def cores_used(self) -> int:
        return len({t.core for t in self.tiles})

    def layer(self, name: str) -> Layer:
        return next(lay for lay in self.layers if lay.name == name)

    def utilization(self) -> pd.DataFrame:
        """Per physical core: tiles, synapse / neuron / buffer use as a fraction of capacity."""
        a = self.arch
        cap_n = neuron_capacity(a)
        rows = {}
        for t in self.tiles:
            r = rows.setdefault(t.core, {"core": t.core, "mesh_row": t.xy[0], "mesh_col": t.xy[1], "tiles": 0,
                                         "layers": [], "synapse_bits": 0, "neurons": 0, "buffer_bits": 0})
            r["tiles"] += 1
            if t.layer not in r["layers"]:
                r["layers"].append(t.layer)
            if t.resident:
                r["synapse_bits"] += t.synapse_bits
            r["neurons"] += t.neurons  # every tile's state persists across timesteps
            r["buffer_bits"] = max(r["buffer_bits"], t.buffer_bits)
        df = pd.DataFrame([rows[k] for k in sorted(rows)])
        df["layers"] = df["layers"].map(" ".join)
        df["synapse_utilization"] = df["synapse_bits"] / a.kib_bits("synapse")
        df["neuron_utilization"] = df["neurons"] / cap_n
        df["buffer_utilization"] = df["buffer_bits"] / a.kib_bits("buffer")
        return df


def time_batched(arch, lay: Layer) -> bool:
    """Whether ``lay`` runs time-batched: ``core.time_batched`` and stateless neurons (leak ≡ 0, EM-PF parallel)."""
    return bool(arch.core["time_batched"]) and lay.neuron is not None and not lay.neuron.tensors["leak"].any()


def state_bits(arch, graph: DeployGraph, lay: Layer) -> int:
    """Membrane SRAM bits per neuron of ``lay``: a membrane and an input-current accumulator, or T accumulators
    (one per timestep, no membrane) when time-batched."""
    c = arch.core
    return (graph.timesteps * c["accumulator_bits"] if time_batched(arch, lay)
            else c["membrane_bits"] + c["accumulator_bits"])


def neuron_capacity(arch, bits_per_neuron: int | None = None) -> int:
    """Neurons per core: each keeps ``bits_per_neuron`` (default: a membrane and an input-current accumulator, what
    a layer that is not time-batched keeps) in the membrane SRAM, up to the core's compartment limit
    (``core.max_neurons``, 0 = none)."""
    c = arch.core
    n = arch.kib_bits("membrane") // (bits_per_neuron or c["membrane_bits"] + c["accumulator_bits"])
    return min(n, c["max_neurons"]) if c["max_neurons"] else n


def fits(arch, tiles_on_core: int, neurons_on_core: int, tile: Tile) -> bool:
    """Whether ``tile`` may join a core already holding ``tiles_on_core`` tiles with ``neurons_on_core`` neurons: an
    empty core always; a used one only with ``chip.dram_spill`` and room for the summed neuron state."""
    return tiles_on_core == 0 or (arch.chip["dram_spill"]
                                  and neurons_on_core + tile.neurons <= neuron_capacity(arch))


def no_room(arch, tile: Tile) -> EmpfError:
    """The error for a tile that no core can take."""
    return EmpfError(f"the neuron state does not fit: tile {tile.index} of layer {tile.layer!r} ({tile.neurons} "
                     f"neurons) finds no core with room ({neuron_capacity(arch)} neurons per core, {arch.cores} "
                     "cores); allowed: a larger core.membrane_sram_KiB, a larger mesh or board")


def grid(arch) -> tuple[int, int]:
    """(rows, cols) of the board's router grid: chips side by side, each a mesh of routers."""
    s, ch = arch.system, arch.chip
    return s["chips_rows"] * ch["mesh_rows"], s["chips_cols"] * ch["mesh_cols"]


def serpentine(k: int, cols: int) -> tuple[int, int]:
    r, c = divmod(k, cols)
    return r, c if r % 2 == 0 else cols - 1 - c


def core_xy(arch, core: int) -> tuple[int, int]:
    """Router position of a core along the default (serpentine) placement path."""
    return serpentine(core // arch.chip["cores_per_router"], grid(arch)[1])


def io_xy(arch) -> tuple[int, int]:
    """Router position of the board's I/O port (on the first chip)."""
    return arch.chip["io_row"], arch.chip["io_col"]


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
        lay = next(x for x in todo if all(d in done for d in _waits_for(x)))
        todo.remove(lay)
        done.add(lay.name)
        out.append(lay)
    return out


def _waits_for(lay: Layer) -> list[str]:
    return ([lay.producer] if lay.producer != "input" else []) + lay.psum_sources + lay.spike_sources


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
    for f in ("membrane_bits", "accumulator_bits"):
        if graph.attrs[f] > c[f]:
            raise EmpfError(f"the model's {f}={graph.attrs[f]} exceeds core.{f}={c[f]}; allowed: "
                            f"core.{f} >= {graph.attrs[f]}")
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


def map_graph(graph: DeployGraph, arch, placement=None) -> Mapping:
    """Tile and place every layer; EmpfError naming the layer and the shortfall when it does not fit.
    ``placement``: a policy name (``empf_hw.hw.cores.placement.POLICIES``; default ``serpentine``) or the core of
    every tile in tile order (``Mapping.placement``)."""
    from .placement import place

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


def tile_xy(tiles: list[Tile]) -> np.ndarray:
    return np.array([t.xy for t in tiles], dtype=np.int64).reshape(-1, 2)


def hop_matrices(arch, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(len(a), len(b)) XY-routing hops between two arrays of router positions: on-chip north-south hops,
    on-chip east-west hops, and chip-to-chip crossings (which replace on-chip hops at chip edges)."""
    mr, mc = arch.chip["mesh_rows"], arch.chip["mesh_cols"]
    dy = np.abs(a[:, None, 0] - b[None, :, 0])
    dx = np.abs(a[:, None, 1] - b[None, :, 1])
    cy = np.abs(a[:, None, 0] // mr - b[None, :, 0] // mr)
    cx = np.abs(a[:, None, 1] // mc - b[None, :, 1] // mc)
    return dy - cy, dx - cx, cy + cx

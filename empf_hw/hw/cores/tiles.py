"""What a mapping is: tiles (a crossbar block of a layer on one core), layers (a synaptic node with its neuron and
tiles), the mapping of a graph, the capacity rules a core's tiles must meet, and which producer tile owns each
input of a layer. ``mapper`` builds mappings; ``placement`` chooses cores; ``work`` costs them."""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ...deploy.graph import DeployGraph, Node
from ...errors import EmpfError
from ..acc_width import OUTPUT_STATIONARY
from .mesh import tile_xy


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

    @property
    def waits_for(self) -> list[str]:
        """The layers whose output this one takes in: its producer (not the network input), partial-sum and spike
        sources."""
        return ([self.producer] if self.producer != "input" else []) + self.psum_sources + self.spike_sources


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
    (``core.max_neurons``, 0 = none) and, with output-stationary accumulation, its lane registers."""
    c = arch.core
    n = arch.kib_bits("membrane") // (bits_per_neuron or c["membrane_bits"] + c["accumulator_bits"])
    if c["accumulation"] == OUTPUT_STATIONARY:
        n = min(n, c["accumulator_registers"])
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


def owner_ids(mapping: Mapping, lay: Layer) -> tuple[np.ndarray, np.ndarray] | None:
    """Index of the producer tile holding the neuron behind each input of ``lay`` — per (channel, row) for a
    conv (tiles own whole rows), per feature for a linear layer — and those tiles' mesh positions (P, 2).
    None when the layer reads the chip input (injected at its cores)."""
    if lay.producer == "input":
        return None
    prod = mapping.layer(lay.producer)
    shape = prod.node.shape
    heads = [t for t in prod.tiles if t.merges]
    own = np.zeros(shape[:2], np.int64)  # (C, H) or (F,)
    for k, t in enumerate(heads):
        own[(slice(*t.outputs), slice(*t.rows)) if len(shape) == 3 else (slice(*t.outputs),)] = k
    return _to_inputs(mapping, lay, own), tile_xy(heads)


def neuron_ranks(mapping: Mapping, lay: Layer) -> np.ndarray | None:
    """Per input of ``lay`` (flat), the position of the neuron behind it within its producer tile, whose neurons
    are in (channel, row, column) order; None when the layer reads the chip input."""
    if lay.producer == "input":
        return None
    prod = mapping.layer(lay.producer)
    shape = prod.node.shape
    rank = np.zeros(shape, np.int64)
    for t in prod.tiles:
        if t.merges:
            at = (slice(*t.outputs), slice(*t.rows)) if len(shape) == 3 else (slice(*t.outputs),)
            rank[at] = np.arange(rank[at].size).reshape(rank[at].shape)
    return _to_inputs(mapping, lay, rank).reshape(-1)


def _to_inputs(mapping: Mapping, lay: Layer, a: np.ndarray) -> np.ndarray:
    """A map over the producer's outputs — (C, H) per row, (C, H, W) per neuron, or (F,) — carried through the
    pooling, flattening and bit splitting between it and ``lay`` onto ``lay``'s inputs."""
    g = mapping.graph
    chain, n = [], g[lay.node.inputs[0]]
    while n.op in ("pool", "flatten", "bitsplit"):
        chain.append(n)
        n = g[n.inputs[0]]
    shape = mapping.layer(lay.producer).node.shape
    width = shape[2] if len(shape) == 3 else 1
    for n in reversed(chain):
        if n.op == "flatten":
            a = (np.repeat(a, width, axis=1) if a.ndim == 2 else a).reshape(-1)
        elif n.op == "bitsplit":  # bit j of channel / feature c is c·B + j
            a = np.repeat(a, n.attrs["bits"], axis=0)
        else:
            s, p = n.attrs["stride"], n.attrs["padding"]
            a = a[:, np.clip(np.arange(n.shape[1]) * s - p, 0, None)]
            if a.ndim == 3:
                a = a[:, :, np.clip(np.arange(n.shape[2]) * s - p, 0, None)]
            width = n.shape[2]
    return a

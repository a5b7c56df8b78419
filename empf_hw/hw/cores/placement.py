"""Placement policies: the core of every tile (``map_graph(graph, arch, placement=...)``).

- ``serpentine`` (the default): tiles in layer order along the serpentine path of the board's routers, so every
  layer has its own cores (layer-pipelined); with more tiles than cores (``chip.dram_spill``) tiles fold onto the
  cores round-robin, passing over cores whose membrane SRAM is full;
- ``greedy`` (min-hop): each tile in layer order takes the free core with the least traffic × hops to what it
  receives from and is already placed — the producer tiles holding its inputs' neurons, the head tile its partial
  sums go to, shortcut sources, the I/O port for the network's input. Traffic is counted at uniform activity
  (input positions reaching the tile, partial sums per neuron); hops are XY-routing hops on the board's router
  grid; ties go to the earlier core of the path. Every layer keeps its own cores while free cores remain;
- ``layer-sequential``: layers time-share cores, each starting again at the first core of the path (one core per
  tile of the widest layer); needs ``chip.dram_spill``, which lets a core hold several tiles. The cores run the
  layers' tiles one after another within each timestep; weights that do not fit the synapse SRAM reload every
  timestep.

An explicit placement is a sequence of core indices, one per tile in tile order (``Mapping.placement``).
"""

import numpy as np

from ...deploy.graph import conv_axes
from ...errors import EmpfError, check_choice
from .mesh import grid, router_xy
from .tiles import Mapping, Tile, fits, neuron_capacity, no_room, owner_ids

POLICIES = ("serpentine", "greedy", "layer-sequential")


class Cores:
    """Tiles and neurons held by each core so far."""

    def __init__(self, arch):
        self.arch = arch
        self.tiles = np.zeros(arch.cores, np.int64)
        self.neurons = np.zeros(arch.cores, np.int64)

    def fits(self, core: int, tile: Tile) -> bool:
        return fits(self.arch, int(self.tiles[core]), int(self.neurons[core]), tile)

    def take(self, core: int, tile: Tile) -> int:
        self.tiles[core] += 1
        self.neurons[core] += tile.neurons
        return core

    def first_fit(self, tile: Tile, start: int) -> int:
        """The first core from ``start`` on (round the path) that takes ``tile``."""
        n = self.arch.cores
        core = next((c % n for c in range(start, start + n) if self.fits(c % n, tile)), None)
        if core is None:
            raise no_room(self.arch, tile)
        return self.take(core, tile)


def place(mapping: Mapping, placement=None) -> list[int]:
    """The core of every tile: a policy's choice, or ``placement`` itself when it is a sequence of cores."""
    if placement is None or isinstance(placement, str):
        policy = placement or "serpentine"
        check_choice("placement", policy, POLICIES)
        return {"serpentine": _serpentine, "greedy": _greedy, "layer-sequential": _sequential}[policy](mapping)
    try:
        return list(placement)
    except TypeError:
        raise EmpfError(f"placement={placement!r} is not valid; allowed: {', '.join(POLICIES)}, or one core per "
                        "tile") from None


def _serpentine(mapping: Mapping) -> list[int]:
    if len(mapping.tiles) <= mapping.arch.cores:  # every tile finds the next core empty
        return list(range(len(mapping.tiles)))
    cores, out = Cores(mapping.arch), []
    for t in mapping.tiles:
        out.append(cores.first_fit(t, out[-1] + 1 if out else 0))
    return out


def _sequential(mapping: Mapping) -> list[int]:
    arch = mapping.arch
    if not arch.chip["dram_spill"] and len(mapping.layers) > 1:
        raise EmpfError(f"placement 'layer-sequential' lets layers share cores, which {arch.name} does not "
                        "(chip.dram_spill: false); allowed: serpentine, greedy, or chip.dram_spill: true")
    cores, out = Cores(arch), []
    for lay in mapping.layers:
        nxt = 0
        for t in lay.tiles:
            out.append(cores.first_fit(t, nxt))
            nxt = out[-1] + 1
    return out


def _greedy(mapping: Mapping) -> list[int]:
    arch = mapping.arch
    R, C = grid(arch)
    at = np.repeat(router_xy(arch), arch.chip["cores_per_router"], axis=0)  # (cores, 2) router of every core
    io = np.array([arch.chip["io_row"], arch.chip["io_col"]])
    edges = traffic(mapping)
    cores, out = Cores(arch), []
    for t in mapping.tiles:
        src = np.array([io if s < 0 else at[out[s]] for s, _ in edges[t.index]]).reshape(-1, 2)
        w = np.array([w for _, w in edges[t.index]])
        # Σ w·(|row − source row| + |col − source col|), separable over the grid's rows and columns
        by_row = w @ np.abs(np.arange(R)[None, :] - src[:, :1])
        by_col = w @ np.abs(np.arange(C)[None, :] - src[:, 1:])
        cost = by_row[at[:, 0]] + by_col[at[:, 1]]
        ok = cores.tiles == 0
        if not ok.any():  # every core used: share one with room (chip.dram_spill)
            ok = arch.chip["dram_spill"] & (cores.neurons + t.neurons <= neuron_capacity(arch))
        if not ok.any():
            raise no_room(arch, t)
        out.append(cores.take(int(np.argmin(np.where(ok, cost, np.inf))), t))
    return out


def traffic(mapping: Mapping) -> list[list[tuple[int, float]]]:
    """Per tile (tile order): (source tile index, or −1 for the I/O port; packets per timestep at uniform activity)
    of everything it receives from an earlier tile: input spikes, partial sums, shortcut sums and spikes."""
    out: list[list[tuple[int, float]]] = [[] for _ in mapping.tiles]
    for lay in mapping.layers:
        owners = owner_ids(mapping, lay)
        heads = [] if owners is None else [t.index for t in mapping.layer(lay.producer).tiles if t.merges]
        first = {(t.outputs, t.rows): t.index for t in lay.tiles if t.merges}
        for t in lay.tiles:
            window, per_row = (slice(*t.inputs),), 1  # the inputs reaching the tile: channels (conv: and rows)
            if lay.node.op == "conv":
                _, h, per_row = lay.in_shape
                (k, s, p), _ = conv_axes(lay.node)  # along the rows
                window += (slice(max(t.rows[0] * s - p, 0), min((t.rows[1] - 1) * s - p + k, h)),)
            if owners is None:
                size = np.prod([x.stop - x.start for x in window]) * per_row
                out[t.index].append((-1, float(size)))
            else:
                counts = np.bincount(owners[0][window].ravel(), minlength=len(heads)) * per_row
                out[t.index] += [(heads[i], float(c)) for i, c in enumerate(counts) if c]
            if not t.merges:  # partial sums to the head of the same outputs
                out[t.index].append((first[(t.outputs, t.rows)], float(t.neurons)))
        width = lay.node.shape[2] if len(lay.node.shape) == 3 else 1
        for src in lay.psum_sources + lay.spike_sources:  # shortcut sums and spikes into the head tiles
            for st in (x for x in mapping.layer(src).tiles if x.merges):
                for t in (x for x in lay.tiles if x.merges):
                    n = _overlap(st.outputs, t.outputs) * _overlap(st.rows, t.rows) * width
                    if n:
                        out[t.index].append((st.index, float(n)))
    return out


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> int:
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))

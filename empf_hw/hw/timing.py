"""Cycle-level timing from an ActivityTrace and a Mapping, vectorized over the trace.

Per tile and timestep (activity of the mean inference: batch counts ÷ batch, rounded up per phase):

- phase A: DRAM weight reload ⌈bits / dram_bits_per_cycle⌉ (spilled tiles) + spike bus ⌈packets / ppc⌉ with
  ``ppc = spike_bus_bits // packet_bits`` (or ``packets × ⌈packet_bits / spike_bus_bits⌉`` when a packet is wider
  than the bus) + accumulation ``Σ_events ⌈fan-out in the tile / lanes⌉ × weight slices``;
- phase B (tiles holding neurons): partial-sum merge ⌈psums / lanes⌉ + neuron updates
  ``⌈neurons / units⌉ × cycles per update`` + auxiliary ops (pooling, residual add, attention) ⌈ops / units⌉.

Tiles folded onto one core add up. A layer's timestep lasts ``max_core A + psum latency + max_core B``; the psum
latency is that of the farthest split tile. Pipelined schedule: a layer starts timestep t when each producer
finished t plus its NoC latency (``hops × noc_hop_cycles + flits − 1``, wormhole) and it finished t−1, and its
cores are free. A packet is ``address_bits + value bits``; value bits are the spike width (0 for binary spikes).
"""

import math
from dataclasses import dataclass

import numpy as np

from ..errors import EmpfError
from ..sim.ops import fanout_1d
from .mapper import Layer, Mapping, hop_matrix, hops, tile_xy


@dataclass
class LayerWork:
    """Per-tile activity of one layer; (T, tiles) arrays are per timestep of the mean inference."""

    name: str
    packet_bits: int
    packets: np.ndarray  # (T, n) input packets received
    syn_ops: np.ndarray  # (T, n) synaptic operations (event × connected neuron)
    acc_cycles: np.ndarray  # (T, n) Σ events ⌈fan-out / lanes⌉ × slices
    bit_hops: np.ndarray  # (T, n) NoC bit-hops of the packets received
    aux: np.ndarray  # (T, n) auxiliary ops
    neurons: np.ndarray  # (n,) neurons updated per timestep (0 for tiles without neurons)
    psum_in: np.ndarray  # (T, n) partial sums merged
    psum_bh: np.ndarray  # (T, n) NoC bit-hops of partial sums sent
    dram_bits: np.ndarray  # (n,) weight bits reloaded from DRAM per timestep
    cores: np.ndarray  # (n,) physical core of each tile
    psum_latency: int  # cycles from the farthest split tile to its merging tile


@dataclass
class Timing:
    layers: list[str]
    phase_a: np.ndarray  # (L, T) cycles
    phase_b: np.ndarray  # (L, T)
    start: np.ndarray  # (L, T) cycle a layer starts timestep t
    finish: np.ndarray  # (L, T)
    core_busy: dict[int, int]  # physical core → busy cycles per inference
    clock_MHz: float

    @property
    def cycles(self) -> int:
        return int(self.finish.max(initial=0))

    @property
    def latency_us(self) -> float:
        return self.cycles / self.clock_MHz

    @property
    def windows(self) -> np.ndarray:
        """(T,) cycles between the last layer finishing t−1 and t (they sum to the latency)."""
        ends = self.finish.max(axis=0)
        return np.diff(np.concatenate([[0], np.maximum.accumulate(ends)]))


def packet_bits(arch, value_bits: int) -> int:
    return arch.core["address_bits"] + value_bits


def bus_cycles(packets: np.ndarray, bits: int, bus: int) -> np.ndarray:
    """Spike-bus cycles for (already whole) packet counts."""
    ppc = bus // bits
    return np.ceil(packets / ppc) if ppc >= 1 else packets * math.ceil(bits / bus)


def flits(bits: int, link: int) -> int:
    return math.ceil(bits / link)


def _connected_rows(size: int, k: int, s: int, p: int, out: int) -> np.ndarray:
    """(out, size): output row o reads input row y."""
    start = np.arange(out)[:, None] * s - p
    y = np.arange(size)[None, :]
    return (y >= start) & (y < start + k)


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
    g = mapping.graph
    chain, n = [], g[lay.node.inputs[0]]
    while n.op in ("pool", "flatten"):
        chain.append(n)
        n = g[n.inputs[0]]
    width = shape[2] if len(shape) == 3 else 1
    for n in reversed(chain):
        if n.op == "flatten":
            own = np.repeat(own, width, axis=1).reshape(-1) if own.ndim == 2 else own
        else:
            s, p = n.attrs["stride"], n.attrs["padding"]
            own = own[:, np.clip(np.arange(n.shape[1]) * s - p, 0, None)]
            width = n.shape[2]
    return own, tile_xy(heads)


def _channel_prefix(trace_layer, cache: dict) -> np.ndarray:
    """(T, C+1, ...) prefix sums over channels of a layer's event map (cached with the trace)."""
    key = (trace_layer.name, "channel_prefix")
    if key not in cache:
        em = trace_layer.event_map
        cache[key] = np.concatenate([np.zeros_like(em[:, :1], np.int64), em.cumsum(axis=1, dtype=np.int64)], 1)
    return cache[key]


def _column_sums(trace_layer, cols: np.ndarray, cache: dict) -> np.ndarray:
    """(T, C, H) events summed over the columns that have a fan-out (cached with the trace)."""
    key = (trace_layer.name, "column_sums")
    if key not in cache:
        em = trace_layer.event_map
        cache[key] = (em if cols.all() else em[..., cols]).sum(axis=-1, dtype=np.int64)
    return cache[key]


def layer_work(mapping: Mapping, lay: Layer, trace_layer, aux_ops: np.ndarray, batch: int,
               done: dict[str, LayerWork], cache: dict) -> LayerWork:
    """Per-tile packets, synaptic ops, accumulate cycles and NoC traffic of one layer, vectorized over tiles."""
    arch = mapping.arch
    lanes = arch.core["accumulator_lanes"]
    ins, outs, rws = lay.splits
    ni, no, nr = len(ins), len(outs), len(rws)
    n = ni * no * nr
    co, ri, ci = np.unravel_index(np.arange(n), (no, nr, ni))
    cg = np.array([b - a for a, b in outs])[co]
    pbits = packet_bits(arch, lay.value_bits)
    em = trace_layer.event_map
    T = len(em)
    prefix = _channel_prefix(trace_layer, cache)
    groups = prefix[:, [b for _, b in ins]] - prefix[:, [a for a, _ in ins]]  # (T, ni, ...) events per group
    if lay.node.op == "conv":
        k = lay.node.tensors["weight"].shape[-1]
        _, h, w = lay.in_shape
        s, p = lay.node.attrs["stride"], lay.node.attrs["padding"]
        conn = _connected_rows(h, k, s, p, lay.node.shape[1]).astype(np.int64)
        rowfan = np.add.reduceat(conn, [a for a, _ in rws], axis=0)  # (nr, H)
        base = rowfan[:, :, None] * fanout_1d(w, k, s, p)[None, None, :]  # (nr, H, W) fan-out per channel
        mask = (base > 0).astype(np.int64)
        flat = groups.reshape(T * ni, -1).astype(np.float64)  # exact: integer counts below 2^53

        def per_group(weights: np.ndarray) -> np.ndarray:  # Σ events × weights over each group's positions
            return (flat @ weights.reshape(nr, -1).T.astype(np.float64)).reshape(T, ni, nr)[:, ci, ri]

        packets, syn = per_group(mask), per_group(base) * cg
        acc = np.empty((T, n))
        for size in np.unique(cg):
            sel = cg == size
            acc[:, sel] = per_group(-(-(size * base) // lanes))[:, sel]
    else:
        packets = groups[:, ci]
        syn = packets * cg
        acc = packets * -(-cg // lanes)
        mask = None
    acc = acc * lay.slices
    xy = tile_xy(lay.tiles)
    tile_neurons = np.fromiter((t.neurons for t in lay.tiles), np.int64, n)
    bit_hops = np.zeros((T, n))
    owners = owner_ids(mapping, lay)
    if owners is not None:
        own, heads_xy = owners
        P = len(heads_xy)
        group_of = np.repeat(np.arange(ni), [b - a for a, b in ins])
        if mask is None:  # linear: owners per input feature
            key = group_of * P + own
            key_t = key[None] + np.arange(T)[:, None] * (ni * P)
            by_owner = np.bincount(key_t.ravel(), em.ravel(), T * ni * P).reshape(T, 1, ni, P)
        else:  # conv: owners hold whole rows, so columns are summed first (only those with a fan-out)
            ex = _column_sums(trace_layer, mask.any(axis=(0, 1)), cache)  # (T, C, H)
            key = (np.arange(h)[None, :] * ni + group_of[:, None]) * P + own  # (C, H) → (row, group, owner)
            key_t = key[None] + np.arange(T)[:, None, None] * (h * ni * P)
            per_row = np.bincount(key_t.ravel(), ex.ravel(), T * h * ni * P).reshape(T, h, ni, P)
            by_owner = np.einsum("ry,tyip->trip", mask.any(axis=2).astype(np.float64), per_row)
        hop = hop_matrix(heads_xy, xy)  # (P, n)
        bit_hops = np.einsum("tnp,pn->tn", by_owner[:, ri, ci], hop) * pbits
    neurons = tile_neurons * (ci == 0)
    psum_in, psum_bh, latency = _partial_sums(mapping, lay, packets, ci, xy, tile_neurons, done)
    share = neurons / max(neurons.sum(), 1)
    dram = np.fromiter((t.synapse_bits * (not t.resident) for t in lay.tiles), np.int64, n)
    return LayerWork(lay.name, pbits, packets / batch, syn / batch, acc / batch, bit_hops / batch,
                     np.outer(aux_ops / batch, share), neurons if lay.neuron is not None else neurons * 0,
                     psum_in, psum_bh, dram, np.fromiter((t.core for t in lay.tiles), np.int64, n), latency)


def _partial_sums(mapping: Mapping, lay: Layer, packets: np.ndarray, ci: np.ndarray, xy: np.ndarray,
                  neurons: np.ndarray, done: dict[str, "LayerWork"]) -> tuple[np.ndarray, np.ndarray, int]:
    """(T, n) partial sums merged per tile, (T, n) bit-hops sent per tile, and the internal merge latency.

    Tiles splitting the input send their sums to the tile of the same outputs with the first input group, and
    only in timesteps in which they received an event."""
    arch = mapping.arch
    c, ch = arch.core, arch.chip
    bits = c["address_bits"] + c["accumulator_bits"]
    tiles = lay.tiles
    T, n = packets.shape
    psum_in, psum_bh = np.zeros((T, n)), np.zeros((T, n))
    latency = 0
    senders = np.nonzero(ci > 0)[0]
    if len(senders):
        head = senders - ci[senders]
        d = np.abs(xy[senders] - xy[head]).sum(axis=1)
        sent = (packets[:, senders] > 0) * neurons[senders]
        np.add.at(psum_in, (slice(None), head), sent)
        psum_bh[:, senders] = sent * bits * d
        latency = int(d.max()) * ch["noc_hop_cycles"] + flits(bits, ch["noc_link_bits"]) - 1
    width = lay.node.shape[2] if len(lay.node.shape) == 3 else 1
    for src in lay.psum_sources:  # partial sums from other layers (convolutional shortcuts)
        sw = done[src]
        for k, st in enumerate(mapping.layer(src).tiles):
            if not st.merges:
                continue
            active = sw.packets[:, k] > 0
            for j, t in enumerate(tiles):
                if t.merges:
                    m = _overlap(st.outputs, t.outputs) * _overlap(st.rows, t.rows) * width
                    psum_in[:, j] += active * m
                    sw.psum_bh[:, k] += active * m * bits * hops(st.xy, t.xy)
    return psum_in, psum_bh, latency


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> int:
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def phases(arch, work: LayerWork) -> tuple[np.ndarray, np.ndarray]:
    """(T, n) phase A and phase B cycles per tile."""
    c, ch = arch.core, arch.chip
    a = (np.ceil(work.dram_bits / ch["dram_bits_per_cycle"])[None]
         + bus_cycles(np.ceil(work.packets), work.packet_bits, c["spike_bus_bits"]) + np.ceil(work.acc_cycles))
    b = (np.ceil(work.psum_in / c["accumulator_lanes"])
         + (np.ceil(work.neurons / c["neuron_units"]) * c["neuron_update_cycles"])[None]
         + np.ceil(work.aux / c["neuron_units"]))
    return a, b


def _latency(mapping: Mapping, src: str, dst: Layer, bits: int) -> int:
    ch = mapping.arch.chip
    d = int(hop_matrix(tile_xy([t for t in mapping.layer(src).tiles if t.merges]), tile_xy(dst.tiles)).max())
    return d * ch["noc_hop_cycles"] + flits(bits, ch["noc_link_bits"]) - 1


def schedule(mapping: Mapping, works: list[LayerWork]) -> Timing:
    """Pipelined schedule over layers and timesteps (loops over layers × T only)."""
    arch = mapping.arch
    names = [w.name for w in works]
    idx = {nm: i for i, nm in enumerate(names)}
    L, T = len(works), works[0].packets.shape[0] if works else 0
    pa, pb = np.zeros((L, T), np.int64), np.zeros((L, T), np.int64)
    busy: dict[int, int] = {}
    for i, w in enumerate(works):
        a, b = phases(arch, w)
        cores = np.unique(w.cores)
        pos = np.searchsorted(cores, w.cores)
        a_core, b_core = np.zeros((T, len(cores))), np.zeros((T, len(cores)))
        np.add.at(a_core, (slice(None), pos), a)
        np.add.at(b_core, (slice(None), pos), b)
        pa[i] = a_core.max(axis=1) + w.psum_latency
        pb[i] = b_core.max(axis=1)
        for core, cycles in zip(cores.tolist(), (a_core + b_core).sum(axis=0).tolist()):
            busy[core] = busy.get(core, 0) + int(cycles)
    deps = []
    for lay in mapping.layers:  # in dependency order (see the mapper)
        d = []
        if lay.producer != "input":
            d.append((idx[lay.producer], _latency(mapping, lay.producer, lay, works[idx[lay.name]].packet_bits)))
        psum_bits = arch.core["address_bits"] + arch.core["accumulator_bits"]
        d += [(idx[s], _latency(mapping, s, lay, psum_bits)) for s in lay.psum_sources]
        d += [(idx[s], _latency(mapping, s, lay, works[idx[lay.name]].packet_bits)) for s in lay.spike_sources]
        deps.append(d)
    start, finish = np.zeros((L, T), np.int64), np.zeros((L, T), np.int64)
    # cores shared by several layers (DRAM spill) serialize them; otherwise "finished t−1" already covers it
    layer_cores = [np.unique(w.cores) for w in works]
    used, times = np.unique(np.concatenate(layer_cores), return_counts=True) if works else ([], [])
    shared = used[times > 1]
    tile_cores = [np.intersect1d(cs, shared).tolist() for cs in layer_cores]
    core_free: dict[int, int] = {}
    for t in range(T):
        for i in range(L):
            ready = max([finish[p, t] + lat for p, lat in deps[i]] + [finish[i, t - 1] if t else 0]
                        + [core_free.get(c, 0) for c in tile_cores[i]])
            start[i, t] = ready
            finish[i, t] = ready + pa[i, t] + pb[i, t]
            for c in tile_cores[i]:
                core_free[c] = finish[i, t]
    return Timing(names, pa, pb, start, finish, busy, arch.chip["clock_MHz"])


def check_trace(mapping: Mapping, trace) -> dict:
    """Trace layers by name; EmpfError when the trace does not belong to the mapped graph."""
    by = {lt.name: lt for lt in trace.layers}
    for lay in mapping.layers:
        lt = by.get(lay.name)
        if lt is None or lt.event_map is None or tuple(lt.event_map.shape[1:]) != tuple(lay.in_shape):
            raise EmpfError(f"trace does not match the graph: layer {lay.name!r} is missing or has another shape")
    return by

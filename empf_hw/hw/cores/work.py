"""Per-tile activity of one layer from an ActivityTrace and a Mapping, vectorized over the trace.

Per tile and timestep (activity of the mean inference: batch totals ÷ batch): input packets received (one per
event whose fan-out reaches the tile: a spike is sent to every core that needs it), synaptic events (event ×
connection in the tile) and lane-row cycles ``Σ_events ⌈fan-out in the tile / lanes⌉``, packet-hops of the
received packets split into on-chip north-south and east-west hops and chip-to-chip crossings (from the core
holding the neuron behind the input, or from the I/O port for the network's input), partial sums merged and sent,
auxiliary ops, DRAM reloads. A packet is ``address_bits + value bits``; value bits are the spike width (0 for
binary spikes); with ``core.spikes_per_packet`` k > 1 the events from one source to one tile in a timestep travel
k to a packet (``packet_bits``, ``pack``). What the synapse stage does with the packets (lane rows, weight words, a
dense pass) is the layer's compute mode's (``empf_hw.hw.cores.compute``).
"""

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from ...deploy.graph import conv_axes
from ...errors import EmpfError
from ...sim.ops import fanout_1d
from .compute import MODES, Synapse, SynapseInputs
from .mesh import hop_matrices, io_xy, tile_xy
from .tiles import Layer, Mapping, owner_ids, time_batched


class PsumRoute(NamedTuple):
    """Partial sums one layer receives from one sending layer (its own split tiles, or a shortcut layer)."""

    src_xy: np.ndarray  # (m, 2) router of each sending tile
    dst_xy: np.ndarray  # (m, 2) router of each receiving tile
    packets: np.ndarray  # (T, m) partial sums per route and timestep
    sender: str  # the sending layer
    senders: np.ndarray  # (m,) the sending tiles (indices in the sender's tiles)
    receivers: np.ndarray  # (m,) the receiving tiles


@dataclass
class LayerWork:
    """Per-tile activity of one layer; (T, tiles) arrays are per timestep of the mean inference."""

    name: str
    packet_bits: int
    packets: np.ndarray  # (T, n) input packets received (= messages, one per event and destination tile)
    syn: Synapse  # the synapse stage in the layer's compute mode
    hops_ns: np.ndarray  # (T, n) on-chip north-south packet-hops of the packets received
    hops_ew: np.ndarray  # (T, n) on-chip east-west packet-hops
    crossings: np.ndarray  # (T, n) chip-to-chip crossings
    aux: np.ndarray  # (T, n) auxiliary ops
    neurons: np.ndarray  # (n,) neurons per timestep on the tile (0 for tiles without neurons)
    psum_in: np.ndarray  # (T, n) partial sums merged
    psum_out: np.ndarray  # (T, n) partial-sum packets sent
    psum_hops: np.ndarray  # (T, 3, n) partial-sum packet-hops sent: north-south, east-west, crossings
    dram_bits: np.ndarray  # (n,) weight bits reloaded from DRAM per timestep
    cores: np.ndarray  # (n,) physical core of each tile
    psum_latency: int  # cycles from the farthest split tile to its merging tile
    flows: np.ndarray  # (T, P, n) packets from each source (producer tile holding neurons, or the I/O port)
    src_xy: np.ndarray  # (P, 2) router positions of the sources
    src_tiles: list  # (P,) indices of the sources among the producer's tiles ([] for the I/O port)
    psum_routes: tuple[PsumRoute, ...] = ()  # the partial sums received, per sending layer
    dram_cycles: np.ndarray | None = None  # (n,) reload cycles per timestep on the shared DRAM channel (share_dram)
    options: list[Synapse] = field(default_factory=list)  # the synapse stage in every compute mode the layer may use
    readout: np.ndarray | None = None  # (n,) output values each tile sends the host after the last timestep
    readout_hops: np.ndarray | None = None  # (3, n) north-south, east-west hops and crossings to the I/O port


def packet_bits(arch, value_bits: int) -> int:
    """A packet: its address and one value, or with ``core.spikes_per_packet`` k > 1 an address and k slots of a
    spike index (``core.spike_index_bits``) and a value (fixed-size packets: unfilled slots travel empty)."""
    c = arch.core
    k = c["spikes_per_packet"]
    return c["address_bits"] + (value_bits if k == 1 else k * (c["spike_index_bits"] + value_bits))


def pack(events: np.ndarray, k: int, batch: int) -> np.ndarray:
    """Packets carrying the batch's ``events`` between one source and one destination in a timestep, up to ``k``
    each: ⌈events / k⌉ per inference (exact for a batch of one; for a batch, its events spread evenly over its
    inferences, min(events, batch · ⌈events / (batch · k)⌉))."""
    if k == 1:
        return events
    return np.minimum(events, batch * np.ceil(events / (batch * k)))


def flits(bits: int, link: int) -> int:
    return math.ceil(bits / link)


def connected_rows(size: int, k: int, s: int, p: int, out: int) -> np.ndarray:
    """(out, size): output row o reads input row y."""
    start = np.arange(out)[:, None] * s - p
    y = np.arange(size)[None, :]
    return (y >= start) & (y < start + k)


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
               done: dict[str, LayerWork], cache: dict, modes: tuple[str, ...] = ("event",)) -> LayerWork:
    """Per-tile packets, synapse stage and NoC traffic of one layer, vectorized over tiles; the synapse stage in each
    compute mode of ``modes`` (``options``), the first one chosen (``syn``)."""
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
    batched = time_batched(arch, lay)
    if batched:  # events at any step, per input group
        union = np.stack([trace_layer.any_map[a:b].sum(axis=0) for a, b in ins])[None]  # (1, ni, ...)
    if lay.node.op == "conv":
        _, h, w = lay.in_shape
        rows_kps, cols_kps = conv_axes(lay.node)  # (kernel, stride, padding) along rows and columns
        conn = connected_rows(h, *rows_kps, lay.node.shape[1]).astype(np.int64)
        rowfan = np.add.reduceat(conn, [a for a, _ in rws], axis=0)  # (nr, H)
        colfan = fanout_1d(w, *cols_kps)
        base = rowfan[:, :, None] * colfan[None, None, :]  # (nr, H, W) fan-out per channel
        mask = (base > 0).astype(np.int64)
        # the fan-out is a product rowfan[r, y] · colfan[x] of few distinct values: Σ events × f(rowfan, colfan)
        # over a group's positions is summed per (rowfan, colfan) value pair with two small matrix products
        by_row = {a: (rowfan == a).astype(np.float64).T for a in np.unique(rowfan)}  # (H, nr) per rowfan value

        def fanout_sums(events: np.ndarray):  # events per group (T', ni, H, W) → per_group(f)
            steps = len(events)
            g = events.reshape(steps * ni, h, w).astype(np.float64)  # exact: integer counts below 2^53
            by_col = {b: g[:, :, colfan == b].sum(axis=2) for b in np.unique(colfan)}  # (T'·ni, H) per colfan

            def per_group(f) -> np.ndarray:  # Σ events × f(rowfan, colfan) over each group's positions, (T', n)
                out = np.zeros((steps * ni, nr))
                for a, ra in by_row.items():
                    for b, cb in by_col.items():
                        v = f(a, b)
                        if v:
                            out += v * (cb @ ra)
                return out.reshape(steps, ni, nr)[:, ci, ri]
            return per_group

        per_group = fanout_sums(groups)
        events, conns = per_group(lambda a, b: a * b > 0), per_group(lambda a, b: a * b)
        if batched:
            union_conns = fanout_sums(union)(lambda a, b: a * b)

        def rows_of(size: int) -> np.ndarray:
            return per_group(lambda a, b: -(-(size * a * b) // lanes))
    else:
        events = conns = groups[:, ci]
        mask = None
        if batched:
            union_conns = union[:, ci]

        def rows_of(size: int) -> np.ndarray:
            return events * -(-size // lanes)
    fetches = union_conns / np.maximum(conns.sum(axis=0), 1) if batched else None
    inputs = SynapseInputs(arch, lay, batch, events, conns, cg, rows_of, fetches)
    stages = [MODES[m].work(inputs) for m in modes]
    xy = tile_xy(lay.tiles)
    tile_neurons = np.fromiter((t.neurons for t in lay.tiles), np.int64, n)
    owners = owner_ids(mapping, lay)
    if owners is None:  # the network input enters at the I/O port
        src_xy, src_tiles = np.array([io_xy(arch)]), []
        flows = events[:, None, :]  # (T, 1, n)
    else:
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
        flows = np.moveaxis(by_owner[:, ri, ci], 2, 1)  # (T, P, n)
        src_xy, src_tiles = heads_xy, [k for k, t in enumerate(mapping.layer(lay.producer).tiles) if t.merges]
    flows = pack(flows, arch.core["spikes_per_packet"], batch)  # events → packets per source and destination
    packets = flows.sum(axis=1)
    hops = [np.einsum("tpn,pn->tn", flows, m) for m in hop_matrices(arch, src_xy, xy)]
    feeds = any(lay.name in other.psum_sources for other in mapping.layers)  # a shortcut conv sends partial sums
    neurons = tile_neurons * (ci == 0) * (not feeds)
    psum_in, psum_out, psum_hops, latency, routes = _partial_sums(mapping, lay, events, ci, xy, tile_neurons, done)
    share = neurons / max(neurons.sum(), 1)
    dram = np.fromiter((t.synapse_bits * (not t.resident) for t in lay.tiles), np.int64, n)
    sink = not any(lay.name in o.waits_for for o in mapping.layers)
    readout = neurons * (sink and arch.chip["readout"] == "host")
    readout_hops = np.stack([m[:, 0] for m in hop_matrices(arch, xy, np.array([io_xy(arch)]))])
    return LayerWork(lay.name, pbits, packets / batch, stages[0], hops[0] / batch, hops[1] / batch, hops[2] / batch,
                     np.outer(aux_ops / batch, share), neurons, psum_in, psum_out, psum_hops, dram,
                     np.fromiter((t.core for t in lay.tiles), np.int64, n), latency, flows / batch, src_xy,
                     src_tiles, psum_routes=routes, options=stages, readout=readout, readout_hops=readout_hops)


def dram_channel(arch, xy) -> int:
    """The DRAM channel serving the router at ``xy``: its chip's (``system.dram: per_chip``) or the board's."""
    if arch.system["dram"] == "shared":
        return 0
    return int(xy[0]) // arch.chip["mesh_rows"] * arch.system["chips_cols"] + int(xy[1]) // arch.chip["mesh_cols"]


def share_dram(mapping: Mapping, works: dict[str, LayerWork]) -> None:
    """Set every layer's ``dram_cycles``: the spilled tiles of a channel reload concurrently each timestep, so each
    waits for the channel's whole traffic, ⌈Σ bits / dram_bits_per_cycle⌉."""
    pairs = [(lay, works[lay.name]) for lay in mapping.layers]
    total: dict[int, int] = {}
    for lay, w in pairs:
        for j in np.flatnonzero(w.dram_bits):
            chan = dram_channel(mapping.arch, lay.tiles[j].xy)
            total[chan] = total.get(chan, 0) + int(w.dram_bits[j])
    bw = mapping.arch.chip["dram_bits_per_cycle"]
    for lay, w in pairs:
        w.dram_cycles = np.zeros(len(lay.tiles), np.int64)
        for j in np.flatnonzero(w.dram_bits):
            w.dram_cycles[j] = -(-total[dram_channel(mapping.arch, lay.tiles[j].xy)] // bw)


def psum_bits(arch) -> int:
    return arch.core["address_bits"] + arch.core["accumulator_bits"]


def readout_bits(arch) -> int:
    """A readout packet: an output neuron's address and its membrane value."""
    return arch.core["address_bits"] + arch.core["membrane_bits"]


def _partial_sums(mapping: Mapping, lay: Layer, packets: np.ndarray, ci: np.ndarray, xy: np.ndarray,
                  neurons: np.ndarray, done: dict[str, "LayerWork"]):
    """(T, n) partial sums merged per tile, (T, n) partial-sum packets sent per tile, their (T, 3, n) packet-hops,
    the internal merge latency and the routes of the partial sums the layer receives (``LayerWork.psum_routes``).
    Tiles splitting the input send their sums to the tile of the same outputs with
    the first input group, and only in timesteps in which they received an event."""
    arch = mapping.arch
    tiles = lay.tiles
    T, n = packets.shape
    psum_in, psum_out, psum_hops = np.zeros((T, n)), np.zeros((T, n)), np.zeros((T, 3, n))
    latency = 0
    routes = []
    senders = np.nonzero(ci > 0)[0]
    if len(senders):
        head = senders - ci[senders]
        d = np.stack([np.diagonal(m) for m in hop_matrices(arch, xy[senders], xy[head])])  # (3, senders)
        sent = (packets[:, senders] > 0) * neurons[senders]
        np.add.at(psum_in, (slice(None), head), sent)
        psum_out[:, senders] = sent
        psum_hops[:, :, senders] = sent[:, None, :] * d[None]
        latency = hop_latency(arch, *d, psum_bits(arch))
        routes.append(PsumRoute(xy[senders], xy[head], sent, lay.name, senders, head))
    width = lay.node.shape[2] if len(lay.node.shape) == 3 else 1
    pairs = []  # (source xy, destination xy, (T,) packets, source tile, tile) of one shortcut layer's sums
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
                    sw.psum_out[:, k] += active * m
                    d = [float(x[0, 0]) for x in hop_matrices(arch, np.array([st.xy]), np.array([t.xy]))]
                    sw.psum_hops[:, :, k] += (active * m)[:, None] * np.array(d)[None]
                    if m:
                        pairs.append((st.xy, t.xy, active * m, k, j))
        if pairs:
            xa, xb, f, ks, js = zip(*pairs)
            routes.append(PsumRoute(np.array(xa), np.array(xb), np.stack(f, axis=1), src, np.array(ks), np.array(js)))
            pairs = []
    return psum_in, psum_out, psum_hops, latency, tuple(routes)


def latencies(arch) -> dict[str, int]:
    """Per-event latencies (cycles) of the cores template: the spec's ``latency`` section over the defaults
    (no extra cycles per message or neuron visit, one cycle per lane row, ``noc_hop_cycles`` per hop)."""
    hop = arch.chip["noc_hop_cycles"]
    base = {"message_receive": 0, "syn_dense": 1, "syn_sparse": 1, "syn_conv": 1, "neuron_access": 0,
            "spike_gen": 0, "message_send": 0, "hop_ew": hop, "hop_ns": hop}
    return {**base, **arch.latency}


def hop_latency(arch, ns, ew, crossings, bits: int) -> int:
    """Cycles for the slowest of packets of ``bits`` over ``ns`` + ``ew`` on-chip hops and ``crossings``
    chip-to-chip links (arrays of routes, see ``route_latency``)."""
    return int(np.max(route_latency(arch, ns, ew, crossings, bits), initial=0))


def route_latency(arch, ns, ew, crossings, bits: int) -> np.ndarray:
    """Cycles for a packet of ``bits`` over each route of ``ns`` + ``ew`` on-chip hops and ``crossings``
    chip-to-chip links (wormhole: head latency per hop, at least the cycle a router takes to pass a flit on, then
    flits − 1 behind it on the narrowest link)."""
    lat = latencies(arch)
    ns, ew, cr = (np.asarray(v, np.float64) for v in (ns, ew, crossings))
    noc = arch.chip["noc_link_bits"]
    tail = np.where(cr > 0, flits(bits, min(noc, arch.system["chip_link_bits"])), flits(bits, noc)) - 1
    return (ns * max(lat["hop_ns"], 1) + ew * max(lat["hop_ew"], 1) + cr * max(arch.system["chip_link_cycles"], 1)
            + tail)


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> int:
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def check_trace(mapping: Mapping, trace) -> dict:
    """Trace layers by name; EmpfError when the trace does not belong to the mapped graph."""
    by = {lt.name: lt for lt in trace.layers}
    for lay in mapping.layers:
        lt = by.get(lay.name)
        if lt is None or lt.event_map is None or tuple(lt.event_map.shape[1:]) != tuple(lay.in_shape):
            raise EmpfError(f"trace does not match the graph: layer {lay.name!r} is missing or has another shape")
        if lt.any_map is None and time_batched(mapping.arch, lay):
            raise EmpfError(f"core.time_batched: the trace of layer {lay.name!r} has no any-step event map (a trace "
                            "saved by an older version, or multi-bit spikes lowered to bit planes); allowed: a new "
                            "trace, or time_batched false")
    return by

"""Fast timing estimate of the cores template: closed-form phase lengths per tile and timestep, vectorized over the
trace, chained over tiles and timesteps with link load and the timestep barrier as lower bounds.
``empf_hw.hw.cores.cycle`` simulates the same hardware cycle by cycle; the error of this estimate against it is
measured by the tests and published.

Per tile and timestep (``L`` = per-event latencies, see ``work.latencies``):

- phase A (input and synapse stages): DRAM weight reload (spilled tiles; the tiles of a DRAM channel share it, so
  each waits ⌈channel bits / dram_bits_per_cycle⌉ per timestep) + spike bus
  ⌈packets / packets per bus word⌉ + packets × ``L.message_receive`` + lane rows × ``L.syn_<kind>`` × the bank
  factor;
- phase B (soma): the compute mode's dense pass (popcount; ``empf_hw.hw.cores.compute``) + partial-sum merge
  ⌈psums / lanes⌉ + ⌈neurons / units⌉ × ``L.neuron_access`` + ⌈updated / units⌉ × ``neuron_update_cycles``
  (updated: every neuron, or with ``neuron_update_mode: event`` those with input or potential) + ⌈spikes / units⌉ ×
  ``L.spike_gen`` + packets sent × ``L.message_send`` + ⌈aux ops / units⌉.

Tiles folded onto one core add up. A link or router port carries a flit per cycle, fewer when credits limit it
(``credit_period``); spikes and partial sums share the links.

``pipelined`` (``timeline``): per tile, packets are processed as they arrive: from each source they leave evenly
spread over its neuron phase (the I/O port: as the host link streams them, ``chip.host_link_bits``) and arrive
after their route's latency; phase A ends when the last is processed at the tile's pace, not before its first
packet's source started plus the layer's busiest link or port. Its neuron phase starts once every producer
finished the timestep (plus the "finished" signal's latency), its partial sums are in (through its ejection port
one after the other) and every consumer finished t − 1 (back-pressure: a core's spike buffer holds one timestep).

``lockstep``: the phases of a step chain: it lasts the longest neuron phase plus the farthest packet, or the
farthest packet plus the busiest core's processing or busiest link (partial sums released only when their senders
processed their inputs), then the barrier (SANA-FE's ``simple`` timing model adds the busiest core's generation
and processing times to the barrier).
"""

import math

import numpy as np

from ..result import Timing
from .compute import syn_kind
from .mesh import grid, tile_xy
from .tiles import Mapping
from .timeline import step_timeline, timeline
from .work import LayerWork, flits, latencies, psum_bits


def bus_cycles(packets: np.ndarray, bits: int, bus: int) -> np.ndarray:
    """Spike-bus cycles for (already whole) packet counts."""
    ppc = bus // bits
    return np.ceil(packets / ppc) if ppc >= 1 else packets * math.ceil(bits / bus)


def bank_factor(arch) -> float:
    """Cycles per lane row relative to one: a row read occupies its bank ``synapse_bank_cycles``, and the rows of
    an event go to consecutive banks, so fewer banks than busy cycles stall (``synapse_bank_cycles / banks``)."""
    return max(1.0, arch.core["synapse_bank_cycles"] / arch.core["synapse_banks"])


def phases(arch, lay, work: LayerWork, updated: np.ndarray, spikes: np.ndarray, sent: np.ndarray):
    """(T, n) phase A and phase B cycles per tile. ``updated``/``spikes``: (T, n) neurons updated and spikes emitted;
    ``sent``: (T, n) packets the tile's neurons send."""
    c = arch.core
    lat = latencies(arch)
    units = c["neuron_units"]
    a = (work.dram_cycles[None]
         + bus_cycles(np.ceil(work.packets), work.packet_bits, c["spike_bus_bits"])
         + np.ceil(work.packets) * lat["message_receive"]
         + np.ceil(work.syn.lane_rows) * lat[f"syn_{syn_kind(lay.node)}"] * bank_factor(arch))
    upd = updated if c["neuron_update_mode"] == "event" else np.broadcast_to(work.neurons, updated.shape)
    b = (merge_cycles(arch, work)
         + (np.ceil(work.neurons / units) * lat["neuron_access"])[None]
         + np.ceil(np.ceil(upd) / units) * c["neuron_update_cycles"]
         + np.ceil(np.ceil(spikes) / units) * lat["spike_gen"] + np.ceil(sent) * lat["message_send"]
         + np.ceil(work.aux / units))
    return a, b


def merge_cycles(arch, work: LayerWork) -> np.ndarray:
    """(T, n) cycles of a tile's neuron phase before its first spike can leave: the compute mode's dense pass and
    merging the partial sums in (lock-step: those delivered in the previous step)."""
    psums = work.psum_in
    if arch.chip["timestep_mode"] == "lockstep":
        psums = np.concatenate([np.zeros_like(psums[:1]), psums[:-1]])
    return work.syn.dense_cycles + np.ceil(psums / arch.core["accumulator_lanes"])


def _mesh_loads(arch, src: np.ndarray, dst: np.ndarray, flows: np.ndarray) -> np.ndarray:
    """(T, links) packets over each directed link of the board's grid for ``flows`` (T, P, n) from sources ``src``
    (P, 2) to destinations ``dst`` (n, 2) under XY routing (``_route_loads`` of every pair)."""
    T, P, n = flows.shape
    return _route_loads(arch, np.repeat(src, n, axis=0), np.tile(dst, (P, 1)), flows.reshape(T, P * n))


def _segments(s: np.ndarray, d: np.ndarray) -> list[tuple]:
    """The two straight segments of the XY routes from ``s`` to ``d`` (m, 2), per link direction (east, west, south,
    north): (direction, routes using it, fixed row or column, first link, last link + 1, along a row?)."""
    dc, dr = d[:, 1] - s[:, 1], d[:, 0] - s[:, 0]
    return [(0, dc > 0, s[:, 0], s[:, 1], d[:, 1], True), (1, dc < 0, s[:, 0], d[:, 1] + 1, s[:, 1] + 1, True),
            (2, dr > 0, d[:, 1], s[:, 0], d[:, 0], False), (3, dr < 0, d[:, 1], d[:, 0] + 1, s[:, 0] + 1, False)]


def path_max(arch, load: np.ndarray, s: np.ndarray, d: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(m,) the largest of ``load`` (T, links: one value per timestep and directed link) over the links of each XY
    route from ``s`` to ``d`` (m, 2) in timestep ``t`` (m,): range maxima over rows and columns from sparse tables."""
    R, C = grid(arch)
    g = load.reshape(len(load), 4, R, C)
    out = np.zeros(len(s))
    for k, sel, fixed, lo, hi, along_cols in _segments(s, d):
        if not sel.any():
            continue
        table = [g[:, k] if along_cols else g[:, k].transpose(0, 2, 1)]  # [j][t, x, y]: max of y … y + 2^j − 1
        while (1 << len(table)) <= (C if along_cols else R):
            prev, h = table[-1], 1 << (len(table) - 1)
            table.append(np.maximum(prev[:, :, :-h], prev[:, :, h:]))
        x, a, b, tt = fixed[sel], lo[sel], hi[sel], t[sel]
        j = np.floor(np.log2(b - a)).astype(np.int64)
        best = np.zeros(len(x))
        for level in np.unique(j):
            m = j == level
            tab = table[level]
            best[m] = np.maximum(tab[tt[m], x[m], a[m]], tab[tt[m], x[m], b[m] - (1 << level)])
        out[sel] = np.maximum(out[sel], best)
    return out


def _route_loads(arch, s: np.ndarray, d: np.ndarray, f: np.ndarray) -> np.ndarray:
    """(T, links) packets over each directed link for (T, m) packets ``f`` from ``s`` (m, 2) to ``d`` (m, 2) under XY
    routing. Links: east, west, south, north out of each router (index direction × routers + router). Each route is
    two straight segments (along the source row, then the destination column), added as ranges into difference
    arrays and summed up, so the cost does not grow with the route length."""
    R, C = grid(arch)
    T = f.shape[0]
    out = np.zeros((T, 4, R, C))
    for k, sel, fixed, lo, hi, along_cols in _segments(s, d):
        if not sel.any():
            continue
        width = C if along_cols else R
        size = (R if along_cols else C) * (width + 1)
        steps = (np.arange(T) * size)[:, None]  # one bincount over all timesteps: keys t · size + index
        weights = f[:, sel].ravel()
        starts, ends = ((steps + fixed[sel] * (width + 1) + x[sel]).ravel() for x in (lo, hi))
        diff = (np.bincount(starts, weights, minlength=T * size)
                - np.bincount(ends, weights, minlength=T * size)).reshape(T, size)
        cum = np.cumsum(diff.reshape(T, -1, width + 1), axis=2)[:, :, :width]
        out[:, k] = cum if along_cols else cum.transpose(0, 2, 1)
    return out.reshape(T, -1)


def credit_period(arch) -> float:
    """Cycles per flit a link sustains: a buffer slot downstream is free again one cycle after its flit moved on,
    at least a hop latency later, so ``noc_buffer_flits`` slots carry that many flits per hop latency + 1."""
    lat = latencies(arch)
    return max(1.0, (max(lat["hop_ew"], lat["hop_ns"]) + 1) / arch.chip["noc_buffer_flits"])


def link_cycles(arch, bits: int) -> np.ndarray:
    """(4 × routers,) cycles a packet of ``bits`` occupies each directed mesh link (east, west, south, north out of
    each router): its flits × the credit period on a chip; on a chip-to-chip link the serialization of its bits flit
    by flit (full flits ⌈noc_link_bits / chip_link_bits⌉, the last one ⌈its bits / chip_link_bits⌉) or the credit
    round trip over the link's latency (``chip_link_cycles`` + 1 per ``noc_buffer_flits`` slots) per flit, whichever
    is longer."""
    R, C = grid(arch)
    mr, mc = arch.chip["mesh_rows"], arch.chip["mesh_cols"]
    r, c = np.divmod(np.arange(R * C), C)
    cross = np.stack([(c % mc == mc - 1) & (c < C - 1), (c % mc == 0) & (c > 0), (r % mr == mr - 1) & (r < R - 1),
                      (r % mr == 0) & (r > 0)])  # the link leaves its chip
    s, L = arch.system, arch.chip["noc_link_bits"]
    f = flits(bits, L)
    serial = (f - 1) * math.ceil(L / s["chip_link_bits"]) + math.ceil((bits - (f - 1) * L) / s["chip_link_bits"])
    credit = max(credit_period(arch), (s["chip_link_cycles"] + 1) / arch.chip["noc_buffer_flits"]) * f
    return np.where(cross, max(serial, credit), f * credit_period(arch)).ravel()


def _router_sums(arch, values: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """(T, routers of the board) sums of (T, n) values over the entries at each router position."""
    R, C = grid(arch)
    out = np.zeros((values.shape[0], R * C))
    np.add.at(out, (slice(None), xy[:, 0] * C + xy[:, 1]), values)
    return out


def link_loads(mapping: Mapping, work: LayerWork) -> tuple[np.ndarray, np.ndarray]:
    """Flits carried by one layer's incoming packets in each timestep: (T, links) per directed mesh link, and
    (T, 2 × routers + 1) through every router's injection and ejection port (one flit per cycle each) and, last, the
    cycles the host link takes to stream the network's input (``chip.host_link_bits``; 0 for other layers)."""
    arch = mapping.arch
    lay = mapping.layer(work.name)
    xy = tile_xy(lay.tiles)
    f = flits(work.packet_bits, arch.chip["noc_link_bits"])
    mesh = _mesh_loads(arch, work.src_xy, xy, work.flows) * link_cycles(arch, work.packet_bits)[None]
    ports = np.concatenate([_router_sums(arch, work.flows.sum(axis=2), work.src_xy),
                            _router_sums(arch, work.flows.sum(axis=1), xy)], axis=1) * f * credit_period(arch)
    host = arch.chip["host_link_bits"]
    streamed = work.flows.sum(axis=(1, 2)) * work.packet_bits / host if host and lay.producer == "input" else 0.0
    return mesh, np.concatenate([ports, np.broadcast_to(streamed, (len(ports),))[:, None]], axis=1)


def concurrent_loads(loads: list[np.ndarray], i: int, lockstep: bool) -> np.ndarray:
    """(T, links) link cycles of every layer's traffic that flows while layer ``i`` works on each timestep
    (``loads``: (T, links) per layer): in lock-step every layer's of the same step; pipelined, the wavefront's: layer
    i − k works on timestep t + k at the same time (a layer before or after its timesteps carries nothing)."""
    T = loads[i].shape[0]
    out = np.zeros_like(loads[i])
    for j, load in enumerate(loads):
        for t in range(T):
            u = t if lockstep else t + i - j
            if 0 <= u < T:
                out[t] += load[u]
    return out


def tile_bounds(arch, work: LayerWork, xy: np.ndarray, loads: np.ndarray, ports: np.ndarray) -> np.ndarray:
    """(T, n) cycles the busiest link or port on the way into each tile is occupied by the traffic that shares it
    (``concurrent_loads``): the links of its packets' XY routes (``loads``, (T, links)), its ejection port, its
    sources' injection ports and the host link (``ports``: spikes and partial sums, laid out as ``link_loads``
    returns them)."""
    R, C = grid(arch)
    T, n = work.packets.shape
    out = np.zeros((T, n))
    t, k, j = np.nonzero(work.flows > 0)
    src = work.src_xy[k]
    pm = path_max(arch, loads, src, xy[j], t)
    pm = np.maximum(pm, ports[t, src[:, 0] * C + src[:, 1]])  # injection at the source's router
    np.maximum.at(out, (t, j), pm)
    has = work.flows.any(axis=1)  # (T, n)
    eject = ports[:, R * C + xy[:, 0] * C + xy[:, 1]]  # at the tile's router
    return np.where(has, np.maximum(out, np.maximum(eject, ports[:, -1:])), 0.0)  # and the host link


def psum_links(mapping: Mapping, work: LayerWork) -> list[np.ndarray]:
    """(T, links) cycles the partial sums a layer receives occupy each directed mesh link, per route group of
    ``LayerWork.psum_routes``."""
    arch = mapping.arch
    per_flit = link_cycles(arch, psum_bits(arch))[None]
    return [_route_loads(arch, r.src_xy, r.dst_xy, r.packets) * per_flit for r in work.psum_routes]


def psum_ports(mapping: Mapping, work: LayerWork) -> np.ndarray:
    """(T, 2 × routers) flits of the layer's partial sums through every router's injection (split tiles send them)
    and ejection port (head tiles merge them) in each timestep."""
    arch = mapping.arch
    xy = tile_xy(mapping.layer(work.name).tiles)
    f = flits(psum_bits(arch), arch.chip["noc_link_bits"]) * credit_period(arch)
    return np.concatenate([_router_sums(arch, work.psum_out, xy), _router_sums(arch, work.psum_in, xy)], 1) * f


def _per_core(values: np.ndarray, cores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, unique cores) sums of (T, n) per-tile values over the tiles of each core."""
    uniq = np.unique(cores)
    out = np.zeros((values.shape[0], len(uniq)))
    np.add.at(out, (slice(None), np.searchsorted(uniq, cores)), values)
    return uniq, out


def barrier_cycles(arch, routers_used: int) -> int:
    b = arch.chip["barrier_cycles"]
    if isinstance(b, dict):
        keys = [k for k in sorted(b) if k <= routers_used]
        return int(b[keys[-1]]) if keys else int(b[min(b)])
    return int(b)


def schedule(mapping: Mapping, works: dict[str, LayerWork], soma: dict[str, tuple]) -> Timing:
    """Fast timing of every layer and timestep. ``soma``: layer → (updated, spikes, sent) per tile, (T, n) each."""
    arch = mapping.arch
    names = [lay.name for lay in mapping.layers]
    L = len(names)
    T = works[names[0]].packets.shape[0] if L else 0
    pa, pb, links = np.zeros((L, T), np.int64), np.zeros((L, T), np.int64), np.zeros((L, T), np.int64)
    busy: dict[int, int] = {}
    step = {"mesh": 0, "ports": 0, "psums": 0}  # lockstep: every layer's traffic of a step shares the network
    psum_lat = np.zeros((L, T), np.int64)
    a_tiles, b_tiles, bounds = {}, {}, {}  # layer → (T, tiles): phase A, phase B, busiest link or port on the way in
    layer_loads = {}
    released = []  # lockstep: ((T,) cycle partial sums of a route group leave, (T, links) their link cycles)
    for i, lay in enumerate(mapping.layers):
        w = works[lay.name]
        a, b = phases(arch, lay, w, *soma[lay.name])
        cores, a_c = _per_core(a, w.cores)
        _, b_c = _per_core(b, w.cores)
        on_core = np.searchsorted(cores, w.cores)  # tiles sharing a core (DRAM spill) share its engine and units
        a_tiles[lay.name], b_tiles[lay.name] = a_c[:, on_core], b_c[:, on_core]
        spike_loads, ports = link_loads(mapping, w)
        groups = psum_links(mapping, w)
        loads = sum(groups, spike_loads)  # spikes and partial sums share the links
        released += [(a_tiles[r.sender][:, r.senders].max(axis=1), g) for r, g in zip(w.psum_routes, groups)]
        pp = psum_ports(mapping, w)
        layer_loads[lay.name] = (loads, ports, ports + np.pad(pp, ((0, 0), (0, 1))))  # ports: spikes + partial sums
        links[i] = np.ceil(np.maximum(loads.max(axis=1, initial=0), ports.max(axis=1, initial=0)))
        for k, v in (("mesh", spike_loads), ("ports", ports), ("psums", pp)):
            step[k] = step[k] + v
        stream = pp.max(axis=1, initial=0)
        psum_lat[i] = np.where(stream > 0, w.psum_latency + np.maximum(stream - 1, 0), 0)
        # head tiles work while split tiles work; the head then waits for the split tiles' partial sums
        heads = np.array([t.merges for t in lay.tiles])
        split_a = a[:, ~heads].max(axis=1, initial=0) + psum_lat[i]
        pa[i] = np.maximum(np.maximum(a_c.max(axis=1), links[i]), np.where(psum_lat[i] > 0, split_a, 0))
        pb[i] = b_c.max(axis=1)
        for core, cycles in zip(cores.tolist(), (a_c + b_c).sum(axis=0).tolist()):
            busy[core] = busy.get(core, 0) + int(cycles)
    lockstep = arch.chip["timestep_mode"] == "lockstep"
    inject = {}  # layer → (T, P) injection-port cycles of its traffic at each source's router, but the last packet
    for i, lay in enumerate(mapping.layers):
        shared = concurrent_loads([layer_loads[n][0] for n in names], i, lockstep)
        shared_ports = concurrent_loads([layer_loads[n][2] for n in names], i, lockstep)
        bounds[lay.name] = tile_bounds(arch, works[lay.name], tile_xy(lay.tiles), shared, shared_ports)
        w = works[lay.name]
        per_packet = flits(w.packet_bits, arch.chip["noc_link_bits"]) * credit_period(arch)
        at = layer_loads[lay.name][1][:, w.src_xy[:, 0] * grid(arch)[1] + w.src_xy[:, 1]]
        inject[lay.name] = np.maximum(at - per_packet, 0)  # (T, P) until its last packet's head leaves
    host_bits = arch.chip["host_link_bits"]
    merge = {n: merge_cycles(arch, works[n]) for n in names}
    host = {lay.name: works[lay.name].packets.sum(axis=1) * works[lay.name].packet_bits / host_bits
            for lay in mapping.layers if host_bits and lay.producer == "input"}
    psum_cycles = flits(psum_bits(arch), arch.chip["noc_link_bits"]) * credit_period(arch)
    if lockstep:
        chained, lat = step_timeline(mapping, works, a_tiles, b_tiles, merge, bounds, inject, host, psum_cycles)
        return _lockstep(mapping, names, pa, pb, step, links, busy, lat, released, chained)
    start, finish = timeline(mapping, works, a_tiles, b_tiles, merge, bounds, inject, host, psum_cycles)
    return Timing(names, pa, pb, start, finish, busy, arch.chip["clock_MHz"], "pipelined", "fast",
                  {"link_flits": links})


def _released_links(spikes: np.ndarray, released: list) -> np.ndarray:
    """(T,) cycles until the busiest link has carried a step's traffic: the spikes, sent from the step's start, and
    partial-sum groups that leave only once their senders processed their inputs (a link serves what has been
    released, so it finishes at max over groups g of release(g) + the load of every group released no earlier)."""
    out = np.max(sum((g for _, g in released), spikes), axis=1, initial=0)
    if not released:
        return out
    rel = np.stack([r for r, _ in released])  # (G, T)
    loads = np.stack([g for _, g in released])  # (G, T, links)
    for t in range(len(out)):
        later = (rel[None, :, t] >= rel[:, None, t]).astype(np.float64)  # (G, G): g' released no earlier than g
        out[t] = max(out[t], float(np.max(rel[:, t, None] + later @ loads[:, t], initial=0)))
    return out


def _lockstep(mapping, names, pa, pb, step, links, busy, lat, released, chained) -> Timing:
    """Every layer works in every step: step s runs the neuron phases of trace row s and delivers the packets they
    send (the synaptic rows s). The phases chain (``chained``: ``timeline.step_timeline``); the step lasts at least
    the farthest packet (``lat``) plus the busiest link or router port (partial sums on it released when their
    senders are done, ``_released_links``), and the busiest partial-sum port; then the barrier."""
    arch = mapping.arch
    L, T = pa.shape
    routers = len({t.xy for t in mapping.tiles})
    bar = barrier_cycles(arch, routers) * mapping.sub_steps

    spikes = np.atleast_2d(step["mesh"]) if np.ndim(step["mesh"]) else np.zeros((T, 0))
    net = np.maximum(_released_links(spikes, released), np.max(np.atleast_2d(step["ports"]), axis=1, initial=0))
    psums = np.max(np.atleast_2d(step["psums"]), axis=1, initial=0)
    work = np.maximum.reduce([chained, net + lat, psums])
    length = np.ceil(work).astype(np.int64) + bar
    ends = np.cumsum(length)
    start = np.broadcast_to(ends - length, (L, T)).copy()
    finish = np.broadcast_to(ends, (L, T)).copy()
    return Timing(names, pa, pb, start, finish, busy, arch.chip["clock_MHz"], "lockstep", "fast",
                  {"link_flits": links, "barrier_cycles": np.full(T, bar), "step_cycles": length})

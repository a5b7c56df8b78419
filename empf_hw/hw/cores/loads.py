"""Network load of the fast estimate: the cycles every layer's packets (spikes and partial sums) occupy each
directed mesh link, each router's injection and ejection port and the host link, per timestep, and the busiest of
them on the way into each tile under the traffic that flows at the same time. Every layer is done in one pass of
few array operations (routes tagged with their layer), so the cost follows the traffic, not the number of layers.

A link or router port carries a flit per cycle, fewer when credits limit it (``credit_period``); a chip-to-chip link
serializes a packet's bits over its own width (``link_cycles``). Links are indexed direction × routers + router
(east, west, south, north out of each router of the board's grid)."""

import math
from typing import NamedTuple

import numpy as np

from .mesh import grid, tile_xy
from .tiles import Mapping
from .work import LayerWork, flits, latencies, psum_bits


def credit_period(arch) -> float:
    """Cycles per flit a link sustains: a buffer slot downstream is free again one cycle after its flit moved on,
    at least a hop latency later, so ``noc_buffer_flits`` slots carry that many flits per hop latency + 1."""
    lat = latencies(arch)
    return max(1.0, (max(lat["hop_ew"], lat["hop_ns"]) + 1) / arch.chip["noc_buffer_flits"])


def link_cycles(arch, bits: int) -> np.ndarray:
    """(4 × routers,) cycles a packet of ``bits`` occupies each directed mesh link: its flits × the credit period on
    a chip; on a chip-to-chip link the serialization of its bits flit by flit (full flits ⌈noc_link_bits /
    chip_link_bits⌉, the last one ⌈its bits / chip_link_bits⌉) or the credit round trip over the link's latency
    (``chip_link_cycles`` + 1 per ``noc_buffer_flits`` slots) per flit, whichever is longer."""
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


def _segments(s: np.ndarray, d: np.ndarray) -> list[tuple]:
    """The two straight segments of the XY routes from ``s`` to ``d`` (m, 2), per link direction (east, west, south,
    north): (direction, routes using it, fixed row or column, first link, last link + 1, along a row?)."""
    dc, dr = d[:, 1] - s[:, 1], d[:, 0] - s[:, 0]
    return [(0, dc > 0, s[:, 0], s[:, 1], d[:, 1], True), (1, dc < 0, s[:, 0], d[:, 1] + 1, s[:, 1] + 1, True),
            (2, dr > 0, d[:, 1], s[:, 0], d[:, 0], False), (3, dr < 0, d[:, 1], d[:, 0] + 1, s[:, 0] + 1, False)]


def route_loads(arch, s: np.ndarray, d: np.ndarray, f: np.ndarray, slot: np.ndarray | None = None,
                slots: int = 1) -> np.ndarray:
    """(slots, T, links) packets over each directed link for (T, m) packets ``f`` from ``s`` (m, 2) to ``d`` (m, 2)
    under XY routing, summed per ``slot`` (m,) of each route (default: all in slot 0). Each route is two straight
    segments (along the source row, then the destination column), added as ranges into difference arrays and summed
    up, so the cost does not grow with the route length."""
    R, C = grid(arch)
    T = f.shape[0]
    slot = np.zeros(len(s), np.int64) if slot is None else slot
    out = np.zeros((slots, T, 4, R, C))
    for k, sel, fixed, lo, hi, along_cols in _segments(s, d):
        if not sel.any():
            continue
        width = C if along_cols else R
        size = (R if along_cols else C) * (width + 1)
        base = np.arange(T)[:, None] * size + slot[sel][None] * (T * size)  # keys (slot · T + t) · size + index
        weights = f[:, sel].ravel()
        starts, ends = ((base + fixed[sel] * (width + 1) + x[sel]).ravel() for x in (lo, hi))
        n = slots * T * size
        diff = (np.bincount(starts, weights, minlength=n) - np.bincount(ends, weights, minlength=n))
        cum = np.cumsum(diff.reshape(slots, T, -1, width + 1), axis=3)[..., :width]
        out[:, :, k] = cum if along_cols else cum.transpose(0, 1, 3, 2)
    return out.reshape(slots, T, -1)


def path_max(arch, load: np.ndarray, s: np.ndarray, d: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(m,) the largest of ``load`` (W, links: one value per time slot and directed link) over the links of each XY
    route from ``s`` to ``d`` (m, 2) in slot ``t`` (m,): range maxima over rows and columns from sparse tables."""
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


def _router_sums(arch, values: list[np.ndarray], xy: list[np.ndarray]) -> np.ndarray:
    """(len(values), T, routers of the board) sums of each (T, n) of ``values`` over its entries at each router
    position ``xy`` (n, 2)."""
    R, C = grid(arch)
    T = values[0].shape[0]
    idx = np.concatenate([i * R * C + p[:, 0] * C + p[:, 1] for i, p in enumerate(xy)])
    out = np.zeros((T, len(values) * R * C))
    np.add.at(out, (slice(None), idx), np.concatenate(values, axis=1))
    return out.reshape(T, len(values), R * C).transpose(1, 0, 2)


class Loads(NamedTuple):
    """Per layer (lists in layer order), per timestep: the link cycles of its incoming spikes (T, links), of each of
    its partial-sum route groups (``LayerWork.psum_routes``, (T, links) each), of its spikes through every router's
    injection and ejection port and the host link ((T, 2 × routers + 1); the host link: the cycles it takes to
    stream the network's input, ``chip.host_link_bits``, 0 for other layers) and of its partial sums through the
    ports ((T, 2 × routers): split tiles inject them, head tiles eject them)."""

    spikes: list
    psums: list
    ports: list
    psum_ports: list


def network_loads(mapping: Mapping, works: dict[str, LayerWork]) -> Loads:
    """``Loads`` of every layer of ``mapping``."""
    arch = mapping.arch
    layers = mapping.layers
    L = len(layers)
    ws = [works[lay.name] for lay in layers]
    xys = [tile_xy(lay.tiles) for lay in layers]
    T = ws[0].packets.shape[0]
    noc = arch.chip["noc_link_bits"]
    pairs = [np.nonzero(w.flows.any(axis=0)) for w in ws]  # (source, tile) pairs with traffic, in route order
    spikes = route_loads(arch, np.concatenate([w.src_xy[k] for w, (k, _) in zip(ws, pairs)]).reshape(-1, 2),
                         np.concatenate([xy[j] for xy, (_, j) in zip(xys, pairs)]).reshape(-1, 2),
                         np.concatenate([w.flows[:, k, j] for w, (k, j) in zip(ws, pairs)], axis=1),
                         np.repeat(np.arange(L), [len(k) for k, _ in pairs]), L)
    spikes = [spikes[i] * link_cycles(arch, w.packet_bits)[None] for i, w in enumerate(ws)]
    groups = [r for w in ws for r in w.psum_routes]
    g_loads = route_loads(arch, np.concatenate([r.src_xy for r in groups]).reshape(-1, 2),
                          np.concatenate([r.dst_xy for r in groups]).reshape(-1, 2),
                          np.concatenate([r.packets for r in groups], axis=1),
                          np.repeat(np.arange(len(groups)), [len(r.src_xy) for r in groups]),
                          len(groups)) if groups else []
    per_flit = link_cycles(arch, psum_bits(arch))[None]
    g_loads, start, psums = [g * per_flit for g in g_loads], 0, []
    for w in ws:
        psums.append(g_loads[start:start + len(w.psum_routes)])
        start += len(w.psum_routes)
    sums = _router_sums(arch, [w.flows.sum(axis=2) for w in ws] + [w.flows.sum(axis=1) for w in ws],
                        [w.src_xy for w in ws] + xys)
    host = arch.chip["host_link_bits"]
    ports = []
    for i, (lay, w) in enumerate(zip(layers, ws)):
        p = np.concatenate([sums[i], sums[L + i]], axis=1) * flits(w.packet_bits, noc) * credit_period(arch)
        streamed = w.flows.sum(axis=(1, 2)) * w.packet_bits / host if host and lay.producer == "input" else 0.0
        ports.append(np.concatenate([p, np.broadcast_to(streamed, (T,))[:, None]], axis=1))
    f = flits(psum_bits(arch), noc) * credit_period(arch)
    psum_sums = _router_sums(arch, [w.psum_out for w in ws] + [w.psum_in for w in ws], xys + xys)
    psum_ports = [np.concatenate([psum_sums[i], psum_sums[L + i]], axis=1) * f for i in range(L)]
    return Loads(spikes, psums, ports, psum_ports)


def waves(mapping: Mapping) -> np.ndarray:
    """(L,) the wavefront position of each layer (pipelined): 0 for a layer fed by the I/O port, its producer's + 1
    otherwise; layers fed by the same producer (a block and its shortcut) receive their spikes at the same time."""
    at: dict[str, int] = {}
    for lay in mapping.layers:  # producers come first
        at[lay.name] = 0 if lay.producer == "input" else at[lay.producer] + 1
    return np.array([at[lay.name] for lay in mapping.layers], np.int64)


def concurrent(loads: list[np.ndarray], wave: np.ndarray) -> np.ndarray:
    """(slots, links) every layer's link cycles (``loads``: (T, links) per layer) summed over the traffic that flows
    at the same time: layer i works on timestep t in slot t + ``wave[i]`` (lock-step: all 0, every layer's of the
    same step; pipelined: ``waves``, so layers k positions apart work k timesteps apart at the same time)."""
    T = loads[0].shape[0]
    out = np.zeros((T + int(wave.max(initial=0)), loads[0].shape[1]))
    for j, load in enumerate(loads):
        out[wave[j]:wave[j] + T] += load
    return out


def _ejection(mapping: Mapping, ports: list[np.ndarray], own: list[np.ndarray], offsets: np.ndarray) -> list:
    """Per layer, (T, n) cycles each tile's router's ejection port takes to deliver the layer's packets there while
    other layers' traffic to that router (its other cores) flows at the same time, served round-robin: the layer's
    own load plus, of every other layer's, the smaller of that load and its own. ``ports``: per layer, (T, 2 ×
    routers + 1) port cycles as ``Loads.ports`` (partial sums included); ``own``: its own partial sums, left out of
    its load; ``offsets``: the slot of each layer's first timestep."""
    R, C = grid(mapping.arch)
    T = ports[0].shape[0]
    routers = [R * C + xy[:, 0] * C + xy[:, 1] for xy in (tile_xy(lay.tiles) for lay in mapping.layers)]
    mine = [ports[i][:, r] - own[i][:, r] for i, r in enumerate(routers)]
    users = np.unique(np.concatenate([np.unique(r) for r in routers]), return_counts=True)
    shared = users[0][users[1] > 1]  # routers whose ejection port serves more than one layer
    if not len(shared):
        return mine
    at = np.zeros((len(ports), T + int(offsets.max(initial=0)), len(shared)))  # every layer's load there, by slot
    for j, p in enumerate(ports):
        at[j, offsets[j]:offsets[j] + T] = p[:, shared]
    out = []
    for i, (m, r) in enumerate(zip(mine, routers)):
        k = np.searchsorted(shared, r)
        on = (k < len(shared)) & (shared[np.minimum(k, len(shared) - 1)] == r)
        others = at[:, offsets[i]:offsets[i] + T][:, :, k[on]]  # (layers, T, tiles at shared routers)
        m = m.copy()
        m[:, on] += np.minimum(others, m[None, :, on]).sum(axis=0) - np.minimum(others[i], m[:, on])
        out.append(m)
    return out


def tile_bounds(mapping: Mapping, works: dict[str, LayerWork], mesh: list[np.ndarray], ports: list[np.ndarray],
                own: list[np.ndarray], lockstep: bool) -> list[np.ndarray]:
    """Per layer, (T, n) cycles the busiest link or port on the way into each tile is occupied by the traffic that
    shares it (``mesh``: per layer (T, links), ``ports``: per layer (T, 2 × routers + 1) laid out as ``Loads.ports``,
    summed over the traffic that flows at the same time, ``concurrent``): the links of its packets' XY routes, its
    sources' injection ports, the host link and its ejection port (shared round-robin, ``_ejection``); 0 for a tile
    without packets. ``own``: per layer, (T, 2 × routers) port cycles of its own partial sums
    (``Loads.psum_ports``), left out of its bounds: its split tiles send them once they processed their input, and
    its head tiles take them in after theirs (``timeline._psums_in``)."""
    arch = mapping.arch
    R, C = grid(arch)
    layers = mapping.layers
    ws = [works[lay.name] for lay in layers]
    T = ws[0].packets.shape[0]
    wave = np.zeros(len(layers), np.int64) if lockstep else waves(mapping)
    links, through = concurrent(mesh, wave), concurrent(ports, wave)
    sizes = [len(lay.tiles) for lay in layers]
    off = np.concatenate([[0], np.cumsum(sizes)])
    nz = [np.nonzero(w.flows > 0) for w in ws]  # (t, source, tile) with packets
    src = np.concatenate([w.src_xy[k] for w, (_, k, _) in zip(ws, nz)]).reshape(-1, 2)
    xys = [tile_xy(lay.tiles) for lay in layers]
    dst = np.concatenate([xy[j] for xy, (_, _, j) in zip(xys, nz)]).reshape(-1, 2)
    slot = np.concatenate([t + wave[i] for i, (t, _, _) in enumerate(nz)]).astype(np.int64)
    pm = path_max(arch, links, src, dst, slot)
    mine = np.concatenate([own[i][t, w.src_xy[k, 0] * C + w.src_xy[k, 1]] for i, (w, (t, k, _)) in
                           enumerate(zip(ws, nz))])
    pm = np.maximum(pm, through[slot, src[:, 0] * C + src[:, 1]] - mine)  # injection at the source's router
    out = np.zeros((T, off[-1]))
    cols = np.concatenate([off[i] + j for i, (_, _, j) in enumerate(nz)]).astype(np.int64)
    np.maximum.at(out, (np.concatenate([t for t, _, _ in nz]).astype(np.int64), cols), pm)
    eject = _ejection(mapping, ports, own, wave)
    result = []
    for i, w in enumerate(ws):
        host = through[np.arange(T) + wave[i], -1:]
        has = w.flows.any(axis=1)  # (T, n)
        result.append(np.where(has, np.maximum(out[:, off[i]:off[i + 1]], np.maximum(eject[i], host)), 0.0))
    return result

"""The fast estimate's timelines: per tile and timestep, when phase A (processing the packets that come in) and the
neuron phase end, as a max-plus pass over the tiles in layer order (``timeline``, pipelined; ``step_timeline``, one
lock-step step), with packets processed as they arrive (streaming from producer to consumer) and the simulator's
readiness rules, but no network state (the busiest link or port on the way into a tile is a lower bound on its
processing)."""

import numpy as np

from ...deploy.graph import conv_axes
from .loads import credit_period, link_cycles, path_max
from .mesh import grid, hop_matrices, hop_pairs, io_xy, tile_xy
from .tiles import Mapping
from .work import LayerWork, flits, psum_bits, route_latency


def routes(mapping: Mapping, works: dict[str, LayerWork], psum_cycles: float) -> list[dict]:
    """Per layer, what its timeline takes from the work and the geometry alone: latencies of its input routes, of
    the "finished" signal from each layer it depends on, and of its partial-sum routes with the cycles a partial sum
    takes on the slowest link or port of each (``psum_cycles`` at least: the ejection port); per timestep where each
    tile's packets fall in its sources' streams (``_shares``)."""
    arch = mapping.arch
    idx = {lay.name: i for i, lay in enumerate(mapping.layers)}
    every = [r for lay in mapping.layers for r in works[lay.name].psum_routes]  # all partial-sum routes at once
    pairs_xy = [np.concatenate([getattr(r, f) for r in every] + [np.zeros((0, 2), np.int64)]).astype(np.int64)
                for f in ("src_xy", "dst_xy")]
    slowest = iter(np.split(np.maximum(psum_cycles, path_max(arch, link_cycles(arch, psum_bits(arch))[None],
                                                              *pairs_xy, np.zeros(len(pairs_xy[0]), np.int64))),
                            np.cumsum([len(r.src_xy) for r in every], dtype=np.int64)[:-1]))
    out = []
    for lay in mapping.layers:
        w = works[lay.name]
        xy = tile_xy(lay.tiles)
        deps = lay.waits_for
        signals = []
        for d in deps:
            heads = [k for k, t in enumerate(mapping.layer(d).tiles) if t.merges]
            hx = tile_xy([mapping.layer(d).tiles[k] for k in heads])
            signals.append((idx[d], np.array(heads), route_latency(arch, *hop_matrices(arch, hx, xy), 1).max(axis=0)))
        groups = w.psum_routes
        src_xy = np.concatenate([r.src_xy for r in groups] + [np.zeros((0, 2), np.int64)]).astype(np.int64)
        psums = [(idx[r.sender], r.senders, r.receivers,
                  route_latency(arch, *hop_pairs(arch, r.src_xy, r.dst_xy), psum_bits(arch)), r.packets,
                  next(slowest)) for r in groups]
        receivers = np.concatenate([r.receivers for r in groups] + [np.zeros(0, np.int64)]).astype(np.int64)
        pairs, queue = np.unique((receivers << 32) + src_xy[:, 0] * grid(arch)[1] + src_xy[:, 1],
                                 return_inverse=True)  # partial sums from one router to one tile share a route
        src = None if lay.producer == "input" else (idx[lay.producer], np.array(w.src_tiles, np.int64))
        ins, outs, rows = lay.splits
        group = np.eye(len(ins))[np.unravel_index(np.arange(len(lay.tiles)), (len(outs), len(rows), len(ins)))[2]]
        within = _stream_rows(mapping, lay, w)
        out.append({"far": route_latency(arch, *hop_matrices(arch, w.src_xy, xy), w.packet_bits), "src": src,
                    "shares": [_shares(f, group, within) for f in w.flows],
                    "signals": signals, "psums": psums, "queues": (pairs >> 32, queue.ravel()),
                    "heads": np.array([t.merges for t in lay.tiles], bool) & (w.neurons > 0),
                    "consumers": [j for j, other in enumerate(mapping.layers)
                                  if lay.name in other.waits_for]})
    return out


def _shares(f: np.ndarray, group: np.ndarray, within: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Of ``f`` (P, n) packets from each source: its (P, n) packets, (n,) their sum and ((P, n), (P, n)) where each
    tile's first and last packet fall, as fractions, in each source's stream: its input group's part of it
    (``group`` (n, groups) one-hot; groups in order) and within that part (``within``, ``_stream_rows``)."""
    per_group = f @ group  # (P, groups)
    upto = np.cumsum(per_group, axis=1)
    total = np.maximum(upto[:, -1:], 1e-12)
    at = group.argmax(axis=1)
    before, share = upto[:, at] - per_group[:, at], per_group[:, at]
    return f, f.sum(axis=0), ((before + share * within[0]) / total, (before + share * within[1]) / total)


def _processed(shares: tuple, far: np.ndarray, first: np.ndarray, last: np.ndarray, a: np.ndarray) -> np.ndarray:
    """(n,) cycle each tile has processed its packets: ``shares`` (``_shares``) of the packets from each source, sent
    from ``first`` to ``last`` (P,), ``far`` (P, n) route latencies, ``a`` (n,) cycles to process them all at its
    pace. A source sends its events in input-channel, then row order, each to every tile it reaches, so a tile's
    packets from it leave within its share of the window. Packets from the sources that start sending to a tile no
    earlier than a source k all arrive after k's first one, and are processed one after the other (k over sources
    in decreasing start order); the last one arrives when its source has sent the tile's last row of its group."""
    f, count, (lo, hi) = shares
    has = f > 0
    svc = a / np.maximum(count, 1e-12)
    span = (last - first)[:, None]
    start = first[:, None] + span * lo  # (P, n)
    end = last[:, None] - span * (1 - hi)
    tail = np.where(has, end + far, -np.inf).max(axis=0, initial=-np.inf) + svc
    if len(f) == 1:
        return np.maximum(np.where(has[0], start[0] + far[0] + svc * f[0], -np.inf), tail)
    order = np.argsort(-start, axis=0, kind="stable")
    cols = np.arange(f.shape[1])
    cum = np.cumsum(f[order, cols], axis=0)
    term = np.where(has[order, cols], (start + far)[order, cols] + svc[None] * cum, -np.inf)
    return np.maximum(term.max(axis=0, initial=-np.inf), tail)


def _stream_rows(mapping: Mapping, lay, w: LayerWork) -> tuple[np.ndarray, np.ndarray]:
    """((P, n), (P, n)): where each tile's first and last packet fall, as fractions, in the part of each source's
    stream that carries the tile's input channels: a source sends its positions channel by channel, each channel
    row by row (the I/O port all of the input; a producer tile its own channels and rows), and a conv tile reads
    only the input rows its output rows reach (events spread evenly over the rows; 0 and 1 where the geometry does
    not carry over, e.g. through pooling)."""
    n = len(lay.tiles)
    chans = np.array([t.inputs for t in lay.tiles]).reshape(n, 2)
    out_rows = np.array([t.rows for t in lay.tiles]).reshape(n, 2)
    if lay.node.op == "conv":
        h = lay.in_shape[1]
        k, stride, pad = conv_axes(lay.node)[0]
        rows = np.clip(np.stack([out_rows[:, 0] * stride - pad, (out_rows[:, 1] - 1) * stride - pad + k], 1), 0, h)
    else:
        h, rows = 1, np.tile([0, 1], (n, 1))
    if lay.producer == "input":
        src_ch, src_rows = np.array([[0, lay.in_shape[0]]]), np.array([[0, h]])
    else:
        prod = mapping.layer(lay.producer)
        heads = [prod.tiles[k] for k in w.src_tiles]
        src_ch = np.array([t.outputs for t in heads]).reshape(-1, 2)
        same = prod.node.op == "conv" and lay.node.op == "conv" and tuple(prod.node.shape) == tuple(lay.in_shape)
        src_rows = np.array([t.rows for t in heads]).reshape(-1, 2) if same else np.tile([0, h], (len(heads), 1))
        if not same:
            rows = np.tile([0, h], (n, 1))
    lo, hi = np.maximum(chans[None, :, 0], src_ch[:, :1]), np.minimum(chans[None, :, 1], src_ch[:, 1:])  # (P, n)
    top, bottom = np.maximum(rows[None, :, 0], src_rows[:, :1]), np.minimum(rows[None, :, 1], src_rows[:, 1:])
    height = np.maximum(src_rows[:, 1:] - src_rows[:, :1], 1)
    taken = np.maximum(hi - lo, 1)
    ok = (lo < hi) & (top < bottom)
    first = np.where(ok, (top - src_rows[:, :1]) / (taken * height), 0.0)
    last = np.where(ok, ((taken - 1) * height + bottom - src_rows[:, :1]) / (taken * height), 1.0)
    return first, last


def _window(r: dict, f: np.ndarray, emit: list, fin: list, opened: float, host_t: float, inject_t: np.ndarray):
    """(first, last) (P,): when each source's packets start and stop leaving. The host streams the input once the
    layer opened the timestep; a producer tile's packets leave evenly spread from its first spike to its end; and no
    faster than the source's router injects them."""
    if r["src"] is None:
        first = np.array([opened])
        last = first + host_t
    else:
        p, src = r["src"]
        first, end = emit[p][src], fin[p][src]
        n = np.maximum(f.sum(axis=1), 1)
        last = first + (end - first) * (n - 1) / n
    return first, np.maximum(last, first + inject_t)


def _inputs_done(r: dict, t: int, first: np.ndarray, last: np.ndarray, a_t: np.ndarray, bound_t: np.ndarray,
                 otherwise):
    """(n,) when each tile has processed its packets of timestep t (``otherwise`` for tiles without): at its pace as
    they arrive (``_processed``), and no earlier than its first packet's source started plus the busiest link or
    port on its routes; and (n,) whether it has packets."""
    shares = r["shares"][t]
    f = shares[0]
    has = (f > 0).any(axis=0)
    sent = np.where(f > 0, first[:, None], np.inf).min(axis=0, initial=np.inf)
    return np.where(has, np.maximum(_processed(shares, r["far"], first, last, a_t), sent + bound_t),
                    otherwise), has


def _psums_in(n: int, psums: list, queues: tuple, t: int, sent: list, psum_cycles: float) -> np.ndarray:
    """(n,) when each tile has all its partial sums of timestep t in (0: none): the last to arrive, and the first
    plus the others one after the other through its ejection port (``psum_cycles`` each), or, where more take one
    route (``queues``: the tile of each (tile, source router) pair and the pair of each partial-sum path), one after
    the other on its slowest link (a chip-to-chip link it crosses). ``sent``: per layer, when its tiles send them
    (None: not yet known, counted as 0)."""
    last, first, count = np.zeros(n), np.full(n, np.inf), np.zeros(n)
    for d, senders, dst, lat, pf, _ in psums:
        live = pf[t] > 0
        arrive = (sent[d][senders] if sent[d] is not None else 0.0) + lat
        np.maximum.at(last, dst, np.where(live, arrive, 0))
        np.minimum.at(first, dst, np.where(live, arrive, np.inf))
        np.add.at(count, dst, pf[t])
    serial = (count - 1) * psum_cycles
    if psums:
        tiles, pair = queues
        on_route = np.bincount(pair, np.concatenate([pf[t] * cycles for *_, pf, cycles in psums]), len(tiles))
        np.maximum.at(serial, tiles, on_route - psum_cycles)
    return np.where(count > 0, np.maximum(last, first + serial), 0.0)


def timeline(mapping: Mapping, works: dict[str, LayerWork], rt: list, a: dict, b: dict, lead: dict, bound: dict,
             inject: dict, host: dict, psum_cycles: float) -> tuple[np.ndarray, np.ndarray, list]:
    """(start, finish) of every layer and timestep (L, T), and per layer (n,) when its tiles end the last timestep.
    ``rt``: ``routes``; ``a``, ``b``, ``lead``: layer → (T, n)
    phase A, phase B and the cycles of phase B before its first spike leaves; ``bound``: layer → (T, n) cycles the
    busiest link or port on the way into each tile is occupied; ``inject``: layer → (T, P) cycles its sources'
    routers take to inject its packets before the last one; ``host``: input layer → (T,) cycles the host link takes
    to stream its input; ``psum_cycles``: cycles a partial sum occupies the port it leaves the network through."""
    layers = mapping.layers
    L = len(layers)
    T = works[layers[0].name].packets.shape[0] if L else 0
    cores = max((int(works[lay.name].cores.max()) for lay in layers if len(lay.tiles)), default=0) + 1
    core_free = np.zeros(cores)
    prev = [np.zeros(len(lay.tiles)) for lay in layers]
    start, finish = np.zeros((L, T), np.int64), np.zeros((L, T), np.int64)
    for t in range(T):
        fin, emit = [None] * L, [None] * L
        for i, lay in enumerate(layers):
            w, r = works[lay.name], rt[i]
            own = np.maximum(prev[i], core_free[w.cores])
            f = w.flows[t]
            first, last = _window(r, f, emit, fin, own.max(initial=0), host.get(lay.name, np.zeros(T))[t],
                                  inject[lay.name][t])
            done, has = _inputs_done(r, t, first, last, a[lay.name][t], bound[lay.name][t], own)
            done = np.maximum(done, own)
            arrive = np.where(f > 0, first[:, None] + r["far"], np.inf).min(axis=0, initial=np.inf)
            sig = np.zeros(len(lay.tiles))
            for d, heads, lat in r["signals"]:  # every producer finished t, its signal arrived
                sig = np.maximum(sig, fin[d][heads].max(initial=0) + lat)
            ready = np.maximum(done, sig)
            # back-pressure: a tile ends timestep t only once every consumer tile has opened t
            opened = max((prev[c].max(initial=0) for c in r["consumers"]), default=0) if t else 0
            sent = fin[:i] + [np.maximum(ready, opened)] + fin[i + 1:]  # split tiles send their partial sums at
            #                                                             their end
            ready = np.maximum(ready, _psums_in(len(lay.tiles), r["psums"], r["queues"], t, sent, psum_cycles))
            begin = np.maximum(ready, opened)
            heads = r["heads"]
            fin[i] = np.where(heads, begin + b[lay.name][t], begin)
            emit[i] = np.where(heads, begin + lead[lay.name][t], begin)
            np.maximum.at(core_free, w.cores, fin[i])
            start[i, t] = int(np.ceil(np.where(has, np.maximum(arrive, own), own).min(initial=np.inf))) \
                if len(lay.tiles) else 0
            finish[i, t] = int(np.ceil(fin[i].max(initial=0)))
        prev = fin
    return start, finish, prev


def _ahead_of_host(mapping: Mapping, works: dict[str, LayerWork], rt: list, emit: list, fin: list, t: int) -> float:
    """Lock-step: cycles the I/O router injects before the host's input of step ``t``, which enters its queue behind
    the spikes its cores release at the step's first cycle (a neuron phase releases its n packets of a consumer
    evenly over its d cycles from its first spike: ⌈n / d⌉ at once when that spike comes at once)."""
    arch = mapping.arch
    io = np.array(io_xy(arch))
    out = 0.0
    for lay, r in zip(mapping.layers, rt):
        w = works[lay.name]
        if r["src"] is None:
            continue
        p, src = r["src"]
        now = (w.src_xy == io).all(axis=1) & (emit[p][src] == 0)
        if now.any():
            n = w.flows[t][now].sum(axis=1)
            d = (fin[p][src] - emit[p][src])[now]
            out += float(np.where(d >= 1, np.ceil(n / np.maximum(d, 1)), n).sum()) * flits(
                w.packet_bits, arch.chip["noc_link_bits"]) * credit_period(arch)
    return out


def step_timeline(mapping: Mapping, works: dict[str, LayerWork], rt: list, a: dict, b: dict, lead: dict,
                  bound: dict, inject: dict, host: dict, psum_cycles: float) -> tuple[np.ndarray, np.ndarray]:
    """(T,) cycles of each lock-step step's work, before the barrier: every tile's neuron phase starts with the
    step, its spikes leave evenly spread over it and are processed as they arrive (``_processed``); the host's
    input follows the spikes the I/O router's cores release at once (``_ahead_of_host``); split tiles send their
    partial sums once they processed their packets, and the step ends when every neuron phase ended, every packet is
    processed and every partial sum is in. Also (T,) the latency of each step's farthest packet (0 in a step without
    packets), spikes or partial sums. Arguments as ``timeline``'s."""
    layers = mapping.layers
    T = works[layers[0].name].packets.shape[0] if layers else 0
    out, far = np.zeros(T), np.zeros(T)
    for t in range(T):
        fin, emit, done = [None] * len(layers), [None] * len(layers), [None] * len(layers)
        for i, lay in enumerate(layers):
            r = rt[i]
            fin[i] = np.where(r["heads"], b[lay.name][t], 0.0)
            emit[i] = np.where(r["heads"], lead[lay.name][t], 0.0)
        behind = _ahead_of_host(mapping, works, rt, emit, fin, t)
        for i, lay in enumerate(layers):
            w, r = works[lay.name], rt[i]
            f = w.flows[t]
            first, last = _window(r, f, emit, fin, behind if r["src"] is None else 0.0,
                                  host.get(lay.name, np.zeros(T))[t], inject[lay.name][t])
            done[i], _ = _inputs_done(r, t, first, last, a[lay.name][t], bound[lay.name][t], 0.0)
            step = np.maximum(np.maximum(fin[i], done[i]),  # partial sums: sent once their senders are done
                              _psums_in(len(lay.tiles), r["psums"], r["queues"], t, done, psum_cycles))
            out[t] = max(out[t], float(step.max(initial=0)))
            far[t] = max([far[t], float(np.max(np.where(f > 0, r["far"], 0), initial=0))]
                         + [float(np.max(np.where(pf[t] > 0, lat, 0), initial=0))
                            for _, _, _, lat, pf, _ in r["psums"]])
    return out, far

"""Packets of the cycle-level simulation: every input packet of a layer per timestep, from a batch-1 trace."""

import numpy as np

from ....deploy.graph import conv_axes
from ....errors import EmpfError
from ....sim.ops import fanout_1d
from ..compute import MODES
from ..tiles import Mapping, neuron_ranks, owner_ids
from ..work import connected_rows


def layer_packets(mapping: Mapping, lay, lt, T: int, mode: str) -> list:
    """Per timestep: (source head index (−1: the I/O port), destination tile, lane rows in compute mode ``mode``,
    event rank, synapse row address: the flat input index of its first event, the position of its last event's
    neuron in the source tile) of every input packet of a layer (``core.spikes_per_packet`` events to a packet), from
    a batch-1 trace, in the order they are sent: by event (a neuron's spike goes to every tile it reaches before the
    next neuron's), then by tile."""
    lanes = mapping.arch.core["accumulator_lanes"]
    ins, outs, rws = lay.splits
    ni, no, nr = len(ins), len(outs), len(rws)
    co, ri, ci = np.unravel_index(np.arange(ni * no * nr), (no, nr, ni))
    cg = np.array([b - a for a, b in outs])[co]
    em = lt.event_map
    if em.max(initial=0) > 1:
        raise EmpfError("the cycle-level simulation takes a batch-1 trace (one inference); use one sample, or the "
                        "fast timing for batches")
    owners, ranks = owner_ids(mapping, lay), neuron_ranks(mapping, lay)
    if lay.node.op == "conv":
        _, h, w = lay.in_shape
        rows_kps, cols_kps = conv_axes(lay.node)  # (kernel, stride, padding) along rows and columns
        rowfan = np.add.reduceat(connected_rows(h, *rows_kps, lay.node.shape[1]).astype(np.int64),
                                 [a for a, _ in rws], axis=0)  # (nr, H)
        colfan = fanout_1d(w, *cols_kps)
    out = []
    for t in range(T):
        pos = np.argwhere(em[t] > 0)
        if not len(pos):
            out.append(None)
            continue
        if lay.node.op == "conv":
            src = owners[0][pos[:, 0], pos[:, 1]] if owners is not None else np.full(len(pos), -1)
        else:
            src = owners[0][pos[:, 0]] if owners is not None else np.full(len(pos), -1)
        bounds = np.searchsorted(pos[:, 0], [a for a, _ in ins] + [ins[-1][1]])  # events by input group
        parts = []
        for g in range(ni):  # each event reaches the tiles of its input group whose window it falls in
            e, tg = np.arange(bounds[g], bounds[g + 1]), np.flatnonzero(ci == g)
            if not len(e):
                continue
            if lay.node.op == "conv":
                f = rowfan[ri[tg]][:, pos[e, 1]] * colfan[pos[e, 2]][None, :] * cg[tg, None]
            else:
                f = np.broadcast_to(cg[tg, None], (len(tg), len(e)))
            k, i = np.nonzero(f > 0)
            parts.append((e[i], tg[k], f[k, i]))
        ev, tiles, fan = (np.concatenate(x) for x in zip(*parts))
        rows = MODES[mode].packet_rows(fan, lanes, lay.slices)
        addr = np.ravel_multi_index(pos.T, em[t].shape)[ev]
        rank = ranks[addr] if ranks is not None else np.zeros(len(addr), np.int64)
        pk = _pack(src[ev], tiles, rows, ev, addr, rank, mapping.arch.core["spikes_per_packet"])
        order = np.lexsort((pk[1], pk[3]))  # a packet leaves with its last event
        out.append(tuple(x[order] for x in pk))
    return out


def _pack(src: np.ndarray, tiles: np.ndarray, rows: np.ndarray, ev: np.ndarray, addr: np.ndarray, rank: np.ndarray,
          k: int) -> tuple:
    """Events (ordered by destination tile, then event) as packets of up to ``k`` from one source to one tile: each
    packet carries consecutive events of its pair, its lane rows summed, ranked and sent with its last event,
    addressed by its first."""
    if k == 1:
        return src, tiles, rows, ev, addr, rank
    order = np.lexsort((ev, src, tiles))  # by tile, then source, then event
    s, t, r, e, a, q = src[order], tiles[order], rows[order], ev[order], addr[order], rank[order]
    new_pair = np.r_[True, (s[1:] != s[:-1]) | (t[1:] != t[:-1])]
    start = np.flatnonzero(new_pair)
    rank = np.arange(len(s)) - np.repeat(start, np.diff(np.r_[start, len(s)]))  # position within the pair
    first = np.flatnonzero(new_pair | (rank % k == 0))  # the first event of every packet
    last = np.r_[first[1:], len(s)] - 1
    return s[first], t[first], np.add.reduceat(r, first), e[last], a[first], q[last]


"""The compiled mesh network of the cycle-level simulator: the same routers, buffers, wormhole switching,
round-robin arbitration and credit back-pressure as ``network.Network`` (the readable NumPy reference), one cycle at
a time in numba, advancing over many cycles per call until a packet reaches its core or an event is due.

State lives in NumPy arrays shared with the Python side: per input port (router × 5: local, north, south, east,
west) a ring buffer of flits (packet id × 64 + flit index) with their ready cycles, the output locks and
round-robin pointers; per router an injection queue (a linked list of packet ids); per packet its destination
router, flit count and the core FIFO it needs room in (−1: none, a partial sum). ``fifo_free[core]`` is the room
left in each core's input FIFO: a head flit ejects only where it is positive (and takes one slot)."""

import numpy as np
from numba import njit

from .network import NetworkBase

NO_LIMIT = np.int64(1) << 62
WORD = 32  # bits used per int64 word of the occupancy bitmaps (no sign bit involved)


def bitmap(n: int) -> np.ndarray:
    """A two-level bitmap of ``n`` bits: the words, a summary word per ``WORD`` words (which words are non-zero),
    and the number of words last, so scans skip empty stretches of a large board."""
    words = n // WORD + 1
    out = np.zeros(words + words // WORD + 2, np.int64)
    out[-1] = words
    return out


@njit(cache=True)
def _bset(a, i):
    w = i // WORD
    if a[w] == 0:
        a[a[a.shape[0] - 1] + w // WORD] |= 1 << (w % WORD)
    a[w] |= 1 << (i % WORD)


@njit(cache=True)
def _bclear(a, i):
    w = i // WORD
    a[w] &= ~(1 << (i % WORD))
    if a[w] == 0:
        a[a[a.shape[0] - 1] + w // WORD] &= ~(1 << (w % WORD))


@njit(cache=True)
def _bnext(a, w):
    """The first non-zero word at or after ``w`` (−1: none)."""
    nw = a[a.shape[0] - 1]
    sw = w // WORD
    sb = w % WORD
    ns = a.shape[0] - 1 - nw
    while sw < ns:
        sbits = a[nw + sw] >> sb
        if sbits:
            k = 0
            while not (sbits >> k) & 1:
                k += 1
            return sw * WORD + sb + k
        sw += 1
        sb = 0
    return -1


@njit(cache=True)
def _bany(a) -> bool:
    for sw in range(a[a.shape[0] - 1], a.shape[0] - 1):
        if a[sw]:
            return True
    return False


@njit(cache=True)
def _start(core, now, queued, ci, cf, ebits, p_fnext, p_tile, p_t, p_service, p_bank, fifo_free, a_start):
    """``network.Network._start``: the engine of ``core`` takes the next packet of its FIFO, if idle."""
    pid = ci[0, core]
    if ci[3, core] or pid < 0:
        return
    ci[0, core] = p_fnext[pid]
    if ci[0, core] < 0:
        ci[1, core] = -1
    ci[2, core] -= 1
    fifo_free[core] += 1
    tl, t = p_tile[pid], p_t[pid]
    if a_start[tl, t] < 0:
        a_start[tl, t] = now
    cf[2, core] += p_bank[pid]
    end = (cf[0, core] if queued else max(float(now), cf[0, core])) + p_service[pid]
    cf[0, core] = end
    ci[3, core], ci[5, core], ci[4, core] = 1, pid, np.int64(np.ceil(end))
    cf[1, core] += p_service[pid]
    _bset(ebits, core)


@njit(cache=True)
def _arrive(pid, now, ci, cf, ebits, f_peak, fifo_cap, p_fifo, p_fnext, p_tile, p_t, p_service, p_bank, fifo_free,
            a_start):
    """``network.Network._arrive``: a spike packet joins its core's FIFO."""
    core = p_fifo[pid]
    if ci[1, core] < 0:
        ci[0, core] = pid
    else:
        p_fnext[ci[1, core]] = pid
    ci[1, core] = pid
    ci[2, core] += 1
    frac = ci[2, core] / fifo_cap
    if frac > f_peak[0]:
        f_peak[0] = frac
    _start(core, now, False, ci, cf, ebits, p_fnext, p_tile, p_t, p_service, p_bank, fifo_free, a_start)


@njit(cache=True)
def _complete(now, ci, cf, ebits, p_fnext, p_tile, p_t, p_service, p_bank, fifo_free, a_start, processed, expected,
              done_out):
    """``network.Network._complete``: engines finishing at ``now`` (core order); the number of tiles reported."""
    T = processed.shape[1]
    nd = 0
    w = _bnext(ebits, 0)
    while w >= 0:
        bits = ebits[w]
        for b in range(WORD):
            if not (bits >> b) & 1:
                continue
            core = w * WORD + b
            if ci[4, core] != now:
                continue
            pid = ci[5, core]
            ci[3, core] = 0
            _bclear(ebits, core)
            tl, t = p_tile[pid], p_t[pid]
            processed[tl, t] += 1
            _start(core, now, True, ci, cf, ebits, p_fnext, p_tile, p_t, p_service, p_bank, fifo_free, a_start)
            if processed[tl, t] == expected[tl, t]:
                done_out[nd] = tl * T + t
                nd += 1
        w = _bnext(ebits, w + 1)
    return nd


@njit(cache=True)
def _next_done(ci, ebits):
    """The earliest cycle a busy engine finishes (NO_LIMIT: none busy)."""
    lo = NO_LIMIT
    w = _bnext(ebits, 0)
    while w >= 0:
        bits = ebits[w]
        for b in range(WORD):
            if (bits >> b) & 1 and ci[4, w * WORD + b] < lo:
                lo = ci[4, w * WORD + b]
        w = _bnext(ebits, w + 1)
    return lo


@njit(cache=True)
def _step(now, D, buf, ready, head, cnt, lock, route_of, rr, link_free, rc, nb_port, lat, period, p_dst, p_flits,
          p_tail, p_fifo, fifo_free, inj_head, inj_tail, inj_k, p_next, flits_moved, peak, stall_link, stall_held, out,
          scratch, occ, inj_bits, p_tile, p_t, psum_got, psum_exp, ci, cf, ebits, f_peak, fifo_cap, p_fnext,
          p_service, p_bank, a_start):
    """One cycle (``network.Network.step``); the ejected packets to report go to ``out``; returns (reported,
    flits moved, packets ejected, candidates, horizon). When no flit moved or entered, the cycles before ``horizon``
    repeat this one exactly (no head flit turns ready, no link frees up): the same candidates, each with the stall
    cause it got now (``scratch[7]``: 0 none, 1 link busy, 2 link serialization, 3 queue full, 4 core FIFO full)."""
    injected = False
    w = _bnext(inj_bits, 0)
    while w >= 0:  # one flit per router and cycle into the local input port
        bits = inj_bits[w]
        nxt_w = _bnext(inj_bits, w + 1)
        for b in range(WORD):
            if not (bits >> b) & 1:
                continue
            r = w * WORD + b
            pid = inj_head[r]
            port = r * 5
            if cnt[port] >= D:
                continue
            k = inj_k[r]
            injected = True
            slot = (head[port] + cnt[port]) % D
            buf[port, slot] = pid * 64 + k
            ready[port, slot] = now
            if cnt[port] == 0:
                _bset(occ, port)
            cnt[port] += 1
            if k + 1 == p_flits[pid]:
                nxt = p_next[pid]
                inj_head[r] = nxt
                inj_k[r] = 0
                if nxt < 0:
                    inj_tail[r] = -1
                    _bclear(inj_bits, r)
            else:
                inj_k[r] = k + 1
        w = nxt_w
    act, flit, outp, dirs, win, take = scratch[0], scratch[1], scratch[2], scratch[3], scratch[4], scratch[5]
    code = scratch[7]
    horizon = NO_LIMIT
    m = 0
    w = _bnext(occ, 0)
    while w >= 0:  # ports holding flits, in port order; those whose head flit is ready
        bits = occ[w]
        for b in range(WORD):
            if not (bits >> b) & 1:
                continue
            p = w * WORD + b
            c = cnt[p]
            if c > peak[p]:
                peak[p] = c
            h = head[p]
            if ready[p, h] > now:
                horizon = min(horizon, ready[p, h])
                continue
            f = buf[p, h]
            pid = f // 64
            router = p // 5
            if f % 64 == 0:
                dr = rc[p_dst[pid], 0] - rc[router, 0]
                dc = rc[p_dst[pid], 1] - rc[router, 1]
                d = 3 if dc > 0 else 4 if dc < 0 else 2 if dr > 0 else 1 if dr < 0 else 0
            else:
                d = route_of[p]
            act[m], flit[m], dirs[m], outp[m] = p, f, d, router * 5 + d
            m += 1
        w = _bnext(occ, w + 1)
    if m == 0:
        return 0, 0, 0, 0, now + 1 if injected else horizon
    best = scratch[6]  # per output port: its winning candidate so far (−1 between cycles)
    for i in range(m):  # round robin: per output port, the candidate with the lowest (port − pointer) mod 5
        win[i] = 0
        o = outp[i]
        holder = lock[o]
        if (flit[i] % 64 == 0 and holder != -1) or (flit[i] % 64 != 0 and holder != act[i]):
            continue
        b = best[o]
        if b < 0 or (act[i] % 5 - rr[o]) % 5 < (act[b] % 5 - rr[o]) % 5:
            best[o] = i
    for i in range(m):
        if best[outp[i]] == i:
            win[i] = 1
    for i in range(m):
        best[outp[i]] = -1
    for i in range(m):  # credit and link checks read the buffers as they were at the start of the cycle
        take[i] = 0
        if not win[i]:
            continue
        o = outp[i]
        if link_free[o] > now:
            take[i] = -1  # held: the link still serializes the previous flit
        elif dirs[i] == 0 or cnt[max(nb_port[o], 0)] < D:
            take[i] = 1
        else:
            take[i] = -2  # held: no credit, the downstream buffer is full
    for i in range(m):  # a head flit ejects only into a core FIFO with room (in port order)
        if take[i] == 1 and dirs[i] == 0 and flit[i] % 64 == 0:
            core = p_fifo[flit[i] // 64]
            if core >= 0:
                if fifo_free[core] <= 0:
                    take[i] = -3  # held: the core's input FIFO is full
                else:
                    fifo_free[core] -= 1
    moved = 0
    for i in range(m):
        router = act[i] // 5
        code[i] = 0
        if take[i] < 0:
            stall_held[-take[i] - 1, router] += 1
            code[i] = 1 - take[i]
            if take[i] == -1:
                horizon = min(horizon, link_free[outp[i]])
            take[i] = 0
        elif not win[i]:
            stall_link[router] += 1
            code[i] = 1
        if take[i]:
            moved += 1
    if moved == 0:
        return 0, 0, 0, m, now + 1 if injected else horizon
    for i in range(m):  # flits leave their ports
        if take[i]:
            a, o = act[i], outp[i]
            head[a] = (head[a] + 1) % D
            cnt[a] -= 1
            if cnt[a] == 0:
                _bclear(occ, a)
            flits_moved[o] += 1
            t_link = period[o]
            pid = flit[i] // 64
            if flit[i] % 64 + 1 == p_flits[pid] and p_tail[pid] < t_link:  # a partly filled last flit
                t_link = p_tail[pid]
            link_free[o] = now + t_link
    ej = gone = 0
    for i in range(m):  # ... and enter the next router's port, or the core
        if not take[i]:
            continue
        a, o, d, f = act[i], outp[i], dirs[i], flit[i]
        pid, k = f // 64, f % 64
        if d != 0:
            nb = nb_port[o]
            slot = (head[nb] + cnt[nb]) % D
            buf[nb, slot] = f
            ready[nb, slot] = now + lat[o]
            if cnt[nb] == 0:
                _bset(occ, nb)
            cnt[nb] += 1
        last = k + 1 == p_flits[pid]
        if k == 0:
            if not last:  # a multi-flit packet holds its output from head to tail
                lock[o] = a
                route_of[a] = d
            rr[o] = a % 5 + 1
        elif last:
            lock[o] = -1
            route_of[a] = -1
        if d == 0 and last:
            gone += 1
            if p_fifo[pid] >= 0:  # a spike packet joins its core's FIFO
                _arrive(pid, now, ci, cf, ebits, f_peak, fifo_cap, p_fifo, p_fnext, p_tile, p_t, p_service, p_bank,
                        fifo_free, a_start)
                continue
            tl, tt = p_tile[pid], p_t[pid]  # a partial sum: counted, reported when it completes its tile's timestep
            psum_got[tl, tt] += 1
            if psum_got[tl, tt] == psum_exp[tl, tt]:
                out[ej] = pid
                ej += 1
    return ej, moved, gone, m, now + 1


@njit(cache=True)
def _repeat(k, m, scratch, stall_link, stall_held):
    """The stalls of the last cycle's ``m`` candidates, ``k`` times more (a stationary stretch)."""
    for i in range(m):
        c = scratch[7, i]
        if c == 1:
            stall_link[scratch[0, i] // 5] += k
        elif c > 1:
            stall_held[c - 2, scratch[0, i] // 5] += k


@njit(cache=True)
def _before(a, b, p_rel) -> bool:
    return p_rel[a] < p_rel[b] or (p_rel[a] == p_rel[b] and a < b)


@njit(cache=True)
def _push_range(hp, hsize, p_rel, first, n):
    """Scheduled packets ``first`` … ``first + n − 1`` into the release heap, ordered by (cycle, id)."""
    for pid in range(first, first + n):
        i = hsize[0]
        hsize[0] += 1
        hp[i] = pid
        while i > 0:
            par = (i - 1) // 2
            if not _before(hp[i], hp[par], p_rel):
                break
            hp[i], hp[par] = hp[par], hp[i]
            i = par


@njit(cache=True)
def _pop(hp, hsize, p_rel):
    top = hp[0]
    hsize[0] -= 1
    n = hsize[0]
    if n > 0:
        hp[0] = hp[n]
        i = 0
        while True:
            lo, m = 2 * i + 1, i
            if lo < n and _before(hp[lo], hp[m], p_rel):
                m = lo
            if lo + 1 < n and _before(hp[lo + 1], hp[m], p_rel):
                m = lo + 1
            if m == i:
                break
            hp[i], hp[m] = hp[m], hp[i]
            i = m
    return top


@njit(cache=True)
def _release(now, hp, hsize, p_rel, p_src, inj_head, inj_tail, inj_k, p_next, inj_bits):
    """Scheduled packets due by ``now`` join their routers' injection queues, in (cycle, id) order."""
    while hsize[0] > 0 and p_rel[hp[0]] <= now:
        pid = _pop(hp, hsize, p_rel)
        r = p_src[pid]
        if inj_tail[r] < 0:
            inj_head[r] = pid
            inj_k[r] = 0
        else:
            p_next[inj_tail[r]] = pid
        inj_tail[r] = pid
        _bset(inj_bits, r)


@njit(cache=True)
def _empty(occ, inj_bits) -> bool:
    return not (_bany(occ) or _bany(inj_bits))


@njit(cache=True)
def _advance(now, limit, in_flight, D, buf, ready, head, cnt, lock, route_of, rr, link_free, rc, nb_port, lat,
             period, p_dst, p_flits, p_tail, p_fifo, fifo_free, inj_head, inj_tail, inj_k, p_next, flits_moved, peak,
             stall_link, stall_held, out, scratch, occ, inj_bits, p_tile, p_t, psum_got, psum_exp, ci, cf,
             ebits, f_peak, fifo_cap, p_fnext, p_service, p_bank, a_start, processed, expected, done_out, p_src,
             p_rel, hp, hsize):
    """``network.Network.advance``: (cycle, partial sums reported, tiles reported, next cycle, in flight)."""
    while True:
        nd = _complete(now, ci, cf, ebits, p_fnext, p_tile, p_t, p_service, p_bank, fifo_free, a_start, processed,
                       expected, done_out)
        if nd:
            return now, 0, nd, now, in_flight
        _release(now, hp, hsize, p_rel, p_src, inj_head, inj_tail, inj_k, p_next, inj_bits)
        ej, moved, gone, m, horizon = _step(
            now, D, buf, ready, head, cnt, lock, route_of, rr, link_free, rc, nb_port, lat, period, p_dst, p_flits,
            p_tail, p_fifo, fifo_free, inj_head, inj_tail, inj_k, p_next, flits_moved, peak, stall_link, stall_held,
            out, scratch, occ, inj_bits, p_tile, p_t, psum_got, psum_exp, ci, cf, ebits, f_peak, fifo_cap, p_fnext,
            p_service, p_bank, a_start)
        in_flight -= gone
        nxt = NO_LIMIT
        if not _empty(occ, inj_bits):
            nxt = horizon
        if hsize[0] > 0:
            nxt = min(nxt, max(p_rel[hp[0]], now + 1))
        nxt = min(nxt, _next_done(ci, ebits))
        if ej or nxt == NO_LIMIT:
            return now, ej, 0, now + 1 if nxt == NO_LIMIT else nxt, in_flight
        nn = max(min(nxt, limit), 1)
        if nn > now + 1:  # the cycles in between repeat this one
            _repeat(nn - now - 1, m, scratch, stall_link, stall_held)
        if nn >= limit:
            return now, 0, 0, nxt, in_flight
        now = nn


class CompiledNetwork(NetworkBase):
    """``network.Network`` with the per-cycle router state machine compiled; ``advance`` runs many cycles per call.
    Bitmaps of the ports holding flits (``occ``) and of the routers with packets to inject (``inj_bits``) keep a
    cycle's work proportional to the traffic, not to the mesh."""

    def __init__(self, arch, fifo_caps):
        super().__init__(arch, fifo_caps)
        self.occ = bitmap(len(self.cnt))
        self.inj_bits = bitmap(len(self.inj_head))
        self.ebits = bitmap(len(self.eng_busy))  # busy engines
        self.hp = np.zeros(1 << 12, np.int64)  # release heap of scheduled packets
        self.hsize = np.zeros(1, np.int64)

    def _push(self, pids: np.ndarray) -> None:
        while self.hsize[0] + len(pids) > len(self.hp):
            self.hp = np.concatenate([self.hp, np.zeros(len(self.hp), np.int64)])
        if len(pids):
            _push_range(self.hp, self.hsize, self.p_rel, int(pids[0]), len(pids))

    def _arrays(self):
        return (self.depth, self.buf, self.ready, self.head, self.cnt, self.lock, self.route_of, self.rr,
                self.link_free, self.rc, self.nb_port, self.lat, self.period, self.p_dst, self.p_flits, self.p_tail,
                self.p_fifo, self.fifo_free, self.inj_head, self.inj_tail, self.inj_k, self.p_next,
                self.flits_moved, self.peak, self.stall_link, self.stall_held, self._out, self._scratch, self.occ,
                self.inj_bits, self.p_tile, self.p_t, self.psum_got, self.psum_expected)

    def prepare(self) -> None:
        P = self.cnt.shape[0]
        if not hasattr(self, "_scratch") or self._scratch.shape[1] < P:
            self._scratch = np.zeros((8, P), np.int64)
            self._scratch[6] = -1
        if not hasattr(self, "_out") or len(self._out) < P:
            self._out = np.zeros(P, np.int64)
        if not hasattr(self, "_done") or len(self._done) < len(self.eng_busy) + 1:
            self._done = np.zeros(len(self.eng_busy) + 1, np.int64)

    def advance(self, now: int, limit: int) -> tuple[int, np.ndarray, np.ndarray, int]:
        """``network.Network.advance``."""
        self.prepare()
        at, ej, nd, nxt, self.in_flight = _advance(
            now, limit, self.in_flight, *self._arrays(), self.ci, self.cf, self.ebits, self.f_peak,
            self.fifo_cap, self.p_fnext, self.p_service, self.p_bank, self.a_start, self.processed, self.expected,
            self._done, self.p_src, self.p_rel, self.hp, self.hsize)
        return int(at), self._out[:ej].copy(), self._done[:nd].copy(), int(nxt)

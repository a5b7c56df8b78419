"""The compiled mesh network of the cycle-level simulator: the same routers, buffers, wormhole switching,
round-robin arbitration and credit back-pressure as ``network.Network`` (the readable NumPy reference), one cycle at
a time in numba, advancing over many cycles per call until a packet reaches its core or an event is due.

State lives in NumPy arrays shared with the Python side. Per port (router × 5: local, north, south, east, west) one
64-byte row of ``ps``: as an input its flit count, ring head and peak, as an output its lock (the input port whose
packet holds it), round-robin pointer, the cycle its link is free, flits moved and the neighbour's input port. Per
input port a ring buffer (``ring``) of flits with their ready cycles; a flit is packed as packet id << 10 | flit
index << 4 | last << 3 | the direction it leaves its router by (XY routing, computed as it enters). Per router an
injection queue (a linked list of packet ids) and a mask of its ports holding flits; per packet its destination
router, flit count and the core FIFO it needs room in (−1: none, a partial sum). ``fifo_free[core]`` is the room
left in each core's input FIFO: a head flit ejects only where it is positive (and takes one slot). Scheduled packets
are released from a heap of runs (consecutive ids, release cycles not decreasing, one encoder's) in (cycle, id)
order; a core's spikes with an output queue only while ``oq`` (per core: packets queued, stall cycles, packets
released) has room, else the run waits a cycle and its encoder's stalls grow.

Every helper is inlined into ``_advance``, all compiled without numba's reference counting (nothing here allocates;
the counts it keeps for each array handed to a helper cost a third of the run time), and the hot ``ps`` / ``ring``
indices are cast unsigned (``_u``) so numba skips their negative-index wraparound."""

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from .network import BANK_BITS, BANK_MASK, NetworkBase

NO_LIMIT = np.int64(1) << 62
WORD = 32  # bits used per int64 word of the occupancy bitmaps (no sign bit involved)
CNT, HEAD, PEAK, LOCK, RR, FREE, MOVED, NB = range(8)  # the fields of a port's row of ``ps``
EMIN, RUNS, BANKC, FCAP, OQCAP = range(5)  # ``misc``: the earliest cycle a busy engine finishes (NO_LIMIT: none),
#                       runs in the heap, synapse_bank_cycles, the largest core FIFO's capacity, output_queue_packets
_kernel = njit(cache=True, _nrt=False)
_inline = njit(cache=True, inline="always", _nrt=False)


@intrinsic
def _ctz(typingctx, x):
    """Trailing zero bits of a non-zero int64."""
    def codegen(context, builder, sig, args):
        return builder.cttz(args[0], ir.Constant(ir.IntType(1), 1))
    return types.int64(types.int64), codegen


def bitmap(n: int) -> np.ndarray:
    """A two-level bitmap of ``n`` bits: the words, a summary word per ``WORD`` words (which words are non-zero),
    and the number of words last, so scans skip empty stretches of a large board."""
    words = n // WORD + 1
    out = np.zeros(words + words // WORD + 2, np.int64)
    out[-1] = words
    return out


def _lines(rows: int) -> np.ndarray:
    """A zeroed (rows, 8) int64 array whose rows each fill one 64-byte cache line."""
    raw = np.zeros(rows * 8 + 8, np.int64)
    off = (-raw.ctypes.data % 64) // 8
    return raw[off:off + rows * 8].reshape(rows, 8)


@_inline
def _u(i):
    """An index known non-negative (no wraparound)."""
    return np.uint64(i)


@_inline
def _bset(a, i):
    w = i // WORD
    if a[w] == 0:
        a[a[a.shape[0] - 1] + w // WORD] |= 1 << (w % WORD)
    a[w] |= 1 << (i % WORD)


@_inline
def _bclear(a, i):
    w = i // WORD
    a[w] &= ~(1 << (i % WORD))
    if a[w] == 0:
        a[a[a.shape[0] - 1] + w // WORD] &= ~(1 << (w % WORD))


@_inline
def _bnext(a, w):
    """The first non-zero word at or after ``w`` (−1: none)."""
    nw = a[a.shape[0] - 1]
    ns = a.shape[0] - 1 - nw
    sw = w // WORD
    if sw >= ns:
        return -1
    sbits = a[nw + sw] >> (w % WORD)
    if sbits:
        return w + _ctz(sbits)
    for s in range(sw + 1, ns):
        if a[nw + s]:
            return s * WORD + _ctz(a[nw + s])
    return -1


@_inline
def _bany(a) -> bool:
    for sw in range(a[a.shape[0] - 1], a.shape[0] - 1):
        if a[sw]:
            return True
    return False


@_inline
def _start(core, now, queued, ci, cf, ebits, misc, p_fnext, p_tile, p_t, p_eng, t_eng, bankf, fifo_free, a_start):
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
    begin = cf[0, core] if queued else max(float(now), cf[0, core])
    ready, syn = begin + t_eng[tl, 0], t_eng[tl, 1]
    rows, bank = p_eng[pid] >> BANK_BITS, p_eng[pid] & BANK_MASK
    nb = bankf.shape[1] - 1
    if misc[BANKC] <= syn and bankf[core, nb] <= ready:  # no read can find its bank busy
        rows, ready = 0, ready + rows * syn
    for _ in range(rows):
        if bankf[core, bank] > ready:
            cf[2, core] += bankf[core, bank] - ready
            ready = bankf[core, bank]
        bankf[core, bank] = ready + misc[BANKC]
        bankf[core, nb] = max(bankf[core, nb], bankf[core, bank])
        ready += syn
        bank = (bank + 1) % nb
    cf[0, core] = ready
    done = np.int64(np.ceil(ready))
    ci[3, core], ci[5, core], ci[4, core] = 1, pid, done
    cf[1, core] += ready - begin
    misc[EMIN] = min(misc[EMIN], done)
    _bset(ebits, core)


@_inline
def _complete(now, ci, cf, ebits, misc, p_fnext, p_tile, p_t, p_eng, t_eng, bankf, fifo_free, a_start,
              processed, expected, done_out):
    """``network.Network._complete``: engines finishing at ``now`` (core order); the number of tiles reported."""
    T = processed.shape[1]
    nd = 0
    misc[EMIN] = NO_LIMIT
    w = _bnext(ebits, 0)
    while w >= 0:
        bits = ebits[w]
        while bits:
            core = w * WORD + _ctz(bits)
            bits &= bits - 1
            if ci[4, core] != now:
                misc[EMIN] = min(misc[EMIN], ci[4, core])
                continue
            pid = ci[5, core]
            ci[3, core] = 0
            _bclear(ebits, core)
            tl, t = p_tile[pid], p_t[pid]
            processed[tl, t] += 1
            _start(core, now, True, ci, cf, ebits, misc, p_fnext, p_tile, p_t, p_eng, t_eng, bankf, fifo_free,
                   a_start)
            if processed[tl, t] == expected[tl, t]:
                done_out[nd] = tl * T + t
                nd += 1
        w = _bnext(ebits, w + 1)
    return nd


@_inline
def _route(rc, r, dst):
    """The XY direction out of router ``r`` toward router ``dst``."""
    dc = rc[dst, 1] - rc[r, 1]
    if dc != 0:
        return 3 if dc > 0 else 4
    dr = rc[dst, 0] - rc[r, 0]
    return 2 if dr > 0 else 1 if dr < 0 else 0


@_inline
def _occupy(rmask, rocc, port):
    r = port // 5
    if rmask[r] == 0:
        _bset(rocc, r)
    rmask[r] |= 1 << (port - r * 5)


@_inline
def _inject(now, D, ps, ring, rc, rmask, rocc, inj, inj_bits, p_dst, p_flits, p_next, p_from, oq):
    """One flit per router and cycle into its local input port; whether any entered."""
    injected = False
    w = _bnext(inj_bits, 0)
    while w >= 0:
        bits = inj_bits[w]
        while bits:
            r = w * WORD + _ctz(bits)
            bits &= bits - 1
            port = r * 5
            c = ps[_u(port), CNT]
            if c >= D:
                continue
            injected = True
            pid, k = inj[0, r], inj[2, r]
            last = k + 1 == p_flits[pid]
            slot = ps[_u(port), HEAD] + c
            if slot >= D:
                slot -= D
            ring[_u(port), _u(slot), 0] = pid << 10 | k << 4 | (8 if last else 0) | _route(rc, r, p_dst[pid])
            ring[_u(port), _u(slot), 1] = now
            ps[_u(port), CNT] = c + 1
            if c == 0:
                _occupy(rmask, rocc, port)
            if last:
                if p_from[pid] >= 0:  # out of its core's output queue
                    oq[0, p_from[pid]] -= 1
                nxt = p_next[pid]
                inj[0, r], inj[2, r] = nxt, 0
                if nxt < 0:
                    inj[1, r] = -1
                    _bclear(inj_bits, r)
            else:
                inj[2, r] = k + 1
        w = _bnext(inj_bits, w + 1)
    return injected


@_inline
def _decide(now, weight, D, ps, ring, rmask, rocc, p_fifo, fifo_free, stalls, mv):
    """The routers' arbitration, credit and core FIFO checks of a cycle (``network.Network.step``, reading the
    state as it is at the start of the cycle), router by router: the flits that move go to ``mv`` (port, flit), the
    stalls count ``weight`` times each (rows of ``stalls``: arbitration lost or output held, link serializing, no
    credit downstream, core FIFO full); returns (moves, horizon). With no move this changes nothing but ``stalls``,
    and the cycles before ``horizon`` (no head flit turns ready, no link frees up) repeat it exactly."""
    horizon = NO_LIMIT
    nm = 0
    w = _bnext(rocc, 0)
    while w >= 0:
        rbits = rocc[w]
        while rbits:
            r = w * WORD + _ctz(rbits)
            rbits &= rbits - 1
            base = r * 5
            mask = rmask[r]
            sel = 0  # per output direction d, bits 6d…6d+5: its best candidate so far, priority × 8 + port + 1
            lost = 0
            while mask:
                i = _ctz(mask)
                mask &= mask - 1
                p = base + i
                c = ps[_u(p), CNT]
                if c > ps[_u(p), PEAK]:
                    ps[_u(p), PEAK] = c
                h = ps[_u(p), HEAD]
                rd = ring[_u(p), _u(h), 1]
                if rd > now:
                    horizon = min(horizon, rd)
                    continue
                f = ring[_u(p), _u(h), 0]
                sh = 6 * (f & 7)
                o = base + (f & 7)
                if ps[_u(o), LOCK] != (-1 if (f >> 4) & 63 == 0 else p):
                    lost += 1
                    continue
                pr = i - ps[_u(o), RR]  # round robin: the lowest (port − pointer) mod 5 wins
                key = (pr + 5 if pr < 0 else pr) * 8 + i + 1
                cur = (sel >> sh) & 63
                if cur and cur < key:
                    lost += 1
                    continue
                if cur:
                    lost += 1
                sel = (sel & ~(63 << sh)) | key << sh
            stalls[0, r] += lost * weight
            while sel:
                d = _ctz(sel) // 6
                i = ((sel >> (6 * d)) & 63) - 1 & 7
                sel &= ~(63 << (6 * d))
                p, o = base + i, base + d
                lf = ps[_u(o), FREE]
                if lf > now:
                    stalls[1, r] += weight
                    horizon = min(horizon, lf)
                    continue
                f = ring[_u(p), _u(ps[_u(p), HEAD]), 0]
                if d:
                    if ps[_u(ps[_u(o), NB]), CNT] >= D:
                        stalls[2, r] += weight
                        continue
                elif (f >> 4) & 63 == 0:  # a head flit ejects only into a core FIFO with room
                    core = p_fifo[f >> 10]
                    if core >= 0:
                        if fifo_free[core] <= 0:
                            stalls[3, r] += weight
                            continue
                        fifo_free[core] -= 1
                mv[nm, 0], mv[nm, 1] = p, f
                nm += 1
        w = _bnext(rocc, w + 1)
    return nm, horizon


@_inline  # at most 30 parameters: CPython passes more as one tuple, which numba cannot inline
def _move(now, nm, D, ps, ring, mv, lat, period, rc, rmask, rocc, p_dst, p_tail, p_fifo, fifo_free, out, p_tile,
          p_t, psum_got, psum_exp, ci, cf, ebits, misc, f_peak, p_fnext, p_eng, t_eng, bankf, a_start):
    """The decided flits leave their ports and enter the next router's port (the ring tail does not move when a
    port's head leaves), or the core; the ejected partial sums to report go to ``out``; (reported, ejected)."""
    ej = gone = 0
    for j in range(nm):
        p, f = mv[j, 0], mv[j, 1]
        r = p // 5
        d = f & 7
        o = r * 5 + d
        h = ps[_u(p), HEAD] + 1
        ps[_u(p), HEAD] = 0 if h == D else h
        ps[_u(p), CNT] -= 1
        if ps[_u(p), CNT] == 0:
            rmask[r] &= ~(1 << (p - r * 5))
            if rmask[r] == 0:
                _bclear(rocc, r)
        ps[_u(o), MOVED] += 1
        pid, k, last = f >> 10, (f >> 4) & 63, f & 8
        t_link = period[o]
        if last and p_tail[pid] < t_link:  # a partly filled last flit
            t_link = p_tail[pid]
        ps[_u(o), FREE] = now + t_link
        if k == 0:
            if not last:  # a multi-flit packet holds its output from head to tail
                ps[_u(o), LOCK] = p
            ps[_u(o), RR] = p - r * 5 + 1
        elif last:
            ps[_u(o), LOCK] = -1
        if d:
            nb = ps[_u(o), NB]
            c = ps[_u(nb), CNT]
            slot = ps[_u(nb), HEAD] + c
            if slot >= D:
                slot -= D
            ring[_u(nb), _u(slot), 0] = f - d + _route(rc, nb // 5, p_dst[pid])
            ring[_u(nb), _u(slot), 1] = now + lat[o]
            ps[_u(nb), CNT] = c + 1
            if c == 0:
                _occupy(rmask, rocc, nb)
        elif last:
            gone += 1
            core = p_fifo[pid]
            if core >= 0:  # a spike packet joins its core's FIFO (``network.Network._arrive``)
                if ci[1, core] < 0:
                    ci[0, core] = pid
                else:
                    p_fnext[ci[1, core]] = pid
                ci[1, core] = pid
                ci[2, core] += 1
                f_peak[0] = max(f_peak[0], ci[2, core] / misc[FCAP])
                _start(core, now, False, ci, cf, ebits, misc, p_fnext, p_tile, p_t, p_eng, t_eng, bankf, fifo_free,
                       a_start)
                continue
            tl, tt = p_tile[pid], p_t[pid]  # a partial sum: counted, reported when it completes its tile's timestep
            psum_got[tl, tt] += 1
            if psum_got[tl, tt] == psum_exp[tl, tt]:
                out[ej] = pid
                ej += 1
    return ej, gone


@_inline
def _sift(runs, n, i):
    """Restore the heap of ``n`` runs below ``i``; runs order by (release cycle, id) of their next packet."""
    while True:
        lo, m = 2 * i + 1, i
        for c in (lo, lo + 1):
            if c < n and (runs[c, 0] < runs[m, 0] or (runs[c, 0] == runs[m, 0] and runs[c, 1] < runs[m, 1])):
                m = c
        if m == i:
            return
        for x in range(3):
            runs[i, x], runs[m, x] = runs[m, x], runs[i, x]
        i = m


@_inline
def _due(pid, p_rel, p_from, oq):
    """``network.Network._due``."""
    return p_rel[pid] + (oq[1, p_from[pid]] if p_from[pid] >= 0 else 0)


@_kernel
def _push_runs(runs, misc, p_rel, p_from, oq, first, n):
    """Scheduled packets ``first`` … ``first + n − 1`` (one encoder's) into the release heap, as runs of
    non-decreasing cycles."""
    s = first
    for pid in range(first + 1, first + n + 1):
        if pid < first + n and p_rel[pid] >= p_rel[pid - 1]:
            continue
        i = misc[RUNS]
        misc[RUNS] += 1
        runs[i, 0], runs[i, 1], runs[i, 2] = _due(s, p_rel, p_from, oq), s, pid
        while i > 0:
            par = (i - 1) // 2
            if runs[par, 0] < runs[i, 0] or (runs[par, 0] == runs[i, 0] and runs[par, 1] < runs[i, 1]):
                break
            for x in range(3):
                runs[i, x], runs[par, x] = runs[par, x], runs[i, x]
            i = par
        s = pid


@_inline
def _release(now, runs, misc, p_rel, p_src, inj, p_next, inj_bits, p_from, oq):
    """``network.Network._release``: scheduled packets due by ``now`` join their routers' injection queues, in
    (cycle, id) order; a run whose encoder's output queue is full waits a cycle, and its encoder with it."""
    while misc[RUNS] > 0 and runs[0, 0] <= now:
        pid = runs[0, 1]
        c = p_from[pid]
        if c >= 0:
            due = p_rel[pid] + oq[1, c]
            if due > now or oq[0, c] >= misc[OQCAP]:
                if due <= now:
                    oq[1, c] += 1
                    due = now + 1
                runs[0, 0] = due
                _sift(runs, misc[RUNS], 0)
                continue
            oq[0, c] += 1
            oq[2, c] += 1
        if pid + 1 < runs[0, 2]:
            runs[0, 0], runs[0, 1] = _due(pid + 1, p_rel, p_from, oq), pid + 1
        else:
            misc[RUNS] -= 1
            for x in range(3):
                runs[0, x] = runs[misc[RUNS], x]
        _sift(runs, misc[RUNS], 0)
        r = p_src[pid]
        if inj[1, r] < 0:
            inj[0, r], inj[2, r] = pid, 0
        else:
            p_next[inj[1, r]] = pid
        inj[1, r] = pid
        _bset(inj_bits, r)


@_kernel
def _advance(now, limit, in_flight, D, ps, ring, lat, period, rc, rmask, rocc, inj, inj_bits, stalls, mv, out,
             p_dst, p_flits, p_tail, p_fifo, p_next, p_src, p_rel, p_tile, p_t, p_eng, t_eng, bankf, p_fnext,
             fifo_free, ci, cf, ebits, misc, f_peak, processed, expected, a_start, psum_got, psum_exp, done_out, runs,
             p_from, oq):
    """``network.Network.advance``: (cycle, partial sums reported, tiles reported, next cycle, in flight)."""
    while True:
        if now >= misc[EMIN]:
            nd = _complete(now, ci, cf, ebits, misc, p_fnext, p_tile, p_t, p_eng, t_eng, bankf, fifo_free,
                           a_start, processed, expected, done_out)
            if nd:
                return now, 0, nd, now, in_flight
        _release(now, runs, misc, p_rel, p_src, inj, p_next, inj_bits, p_from, oq)
        injected = _inject(now, D, ps, ring, rc, rmask, rocc, inj, inj_bits, p_dst, p_flits, p_next, p_from, oq)
        nm, horizon = _decide(now, 1, D, ps, ring, rmask, rocc, p_fifo, fifo_free, stalls, mv)
        ej = 0
        if nm:
            ej, gone = _move(now, nm, D, ps, ring, mv, lat, period, rc, rmask, rocc, p_dst, p_tail, p_fifo,
                             fifo_free, out, p_tile, p_t, psum_got, psum_exp, ci, cf, ebits, misc, f_peak,
                             p_fnext, p_eng, t_eng, bankf, a_start)
            in_flight -= gone
        nxt = NO_LIMIT
        if _bany(rocc) or _bany(inj_bits):
            nxt = now + 1 if nm or injected else horizon
        if misc[RUNS] > 0:
            nxt = min(nxt, max(runs[0, 0], now + 1))
        nxt = min(nxt, misc[EMIN])
        if ej or nxt == NO_LIMIT:
            return now, ej, 0, now + 1 if nxt == NO_LIMIT else nxt, in_flight
        nn = max(min(nxt, limit), 1)
        if nn > now + 1:  # the cycles in between repeat this one: its stalls
            _decide(now, nn - now - 1, D, ps, ring, rmask, rocc, p_fifo, fifo_free, stalls, mv)
        if nn >= limit:
            return now, 0, 0, nxt, in_flight
        now = nn


class CompiledNetwork(NetworkBase):
    """``network.Network`` with the per-cycle router state machine compiled; ``advance`` runs many cycles per call.
    Bitmaps of the routers holding flits (``rocc``, with a mask of the ports per router), of the routers with
    packets to inject (``inj_bits``) and of the busy engines keep a cycle's work proportional to the traffic, not to
    the mesh. The base's port arrays (counts, heads, locks, pointers, link cycles, peaks, flits moved) are views of
    ``ps``, its injection queues of ``inj`` and its stall counts of ``stalls``; its flit buffers and routes are
    unused (``ring`` holds the flits, each with its direction)."""

    def __init__(self, arch, fifo_caps):
        super().__init__(arch, fifo_caps)
        P, n = len(self.cnt), len(self.inj_head)
        self.ps = _lines(P)
        self.ps[:, LOCK], self.ps[:, NB] = -1, self.nb_port
        self.cnt, self.head, self.peak, self.lock, self.rr, self.link_free, self.flits_moved = (
            self.ps[:, x] for x in (CNT, HEAD, PEAK, LOCK, RR, FREE, MOVED))
        self.ring = np.zeros((P, self.depth, 2), np.int64)  # per input port and slot: flit, ready cycle
        self.rmask = np.zeros(n, np.int64)
        self.rocc = bitmap(n)
        self.inj = np.stack([self.inj_head, self.inj_tail, self.inj_k])
        self.inj_head, self.inj_tail, self.inj_k = self.inj
        self.inj_bits = bitmap(n)
        self.stalls = np.zeros((4, n), np.int64)
        self.stall_link, self.stall_held = self.stalls[0], self.stalls[1:]
        self.ebits = bitmap(len(self.eng_busy))  # busy engines
        self.misc = np.array([NO_LIMIT, 0, self.bank_cycles, self.fifo_cap, self.oq_cap], np.int64)
        self.runs = np.zeros((64, 3), np.int64)  # heap of runs: release cycle and id of the next packet, end id
        self.mv = np.zeros((P, 2), np.int64)
        self._out = np.zeros(P, np.int64)
        self._done = np.zeros(len(self.eng_busy) + 1, np.int64)

    def _push(self, pids: np.ndarray) -> None:
        """Consecutive packet ids into the release heap."""
        n = len(pids)
        if not n:
            return
        if self.misc[RUNS] + n > len(self.runs):
            grown = np.zeros((2 * (self.misc[RUNS] + n), 3), np.int64)
            grown[:len(self.runs)] = self.runs
            self.runs = grown
        _push_runs(self.runs, self.misc, self.p_rel, self.p_from, self.oq, int(pids[0]), n)

    def advance(self, now: int, limit: int) -> tuple[int, np.ndarray, np.ndarray, int]:
        """``network.Network.advance``."""
        at, ej, nd, nxt, self.in_flight = _advance(
            now, limit, self.in_flight, self.depth, self.ps, self.ring, self.lat, self.period, self.rc, self.rmask,
            self.rocc, self.inj, self.inj_bits, self.stalls, self.mv, self._out, self.p_dst, self.p_flits,
            self.p_tail, self.p_fifo, self.p_next, self.p_src, self.p_rel, self.p_tile, self.p_t, self.p_eng,
            self.t_eng, self.bank_free, self.p_fnext, self.fifo_free, self.ci, self.cf, self.ebits, self.misc,
            self.f_peak, self.processed, self.expected, self.a_start, self.psum_got, self.psum_expected, self._done,
            self.runs, self.p_from, self.oq)
        return int(at), self._out[:ej].copy(), self._done[:nd].copy(), int(nxt)

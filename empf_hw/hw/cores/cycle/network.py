"""The mesh network of the cycle-level simulator: its state (``NetworkBase``) and the readable NumPy reference
(``Network``), vectorized over the routers' input ports, one cycle per ``step``. ``netkernel.CompiledNetwork`` is
the same state machine compiled; the two are tested equal cycle for cycle and stall for stall.

Routers have five input ports (local injection, one per neighbour) with ``noc_buffer_flits``-deep buffers, XY
dimension-order routing, one flit per link and cycle (``noc_link_bits`` wide; a chip-to-chip link passes a flit
every ⌈noc_link_bits / chip_link_bits⌉ cycles, a packet's partly filled last flit in ⌈its bits / chip_link_bits⌉,
``chip_link_cycles`` late), the direction's per-hop latency,
wormhole switching (an output is held from a packet's head to its tail), round-robin arbitration and credit
back-pressure (a flit moves only into a free buffer slot). A spike packet's head ejects only into a core FIFO
with room (``fifo_free``); partial sums always eject (into the accumulators) and are counted per tile and
timestep.

Each core's synapse engine takes the packets of its FIFO in order: a packet's service starts when the engine is
free and no earlier than ``eng_free`` (which DRAM weight reloads push back); a packet waiting in the FIFO starts
exactly when the one before it ends (fractional cycles carry over), and the engine reports at the next whole cycle;
``processed`` counts the packets per tile and timestep. The service is its tile's spike-bus and message-receive
cycles (``t_eng[tile, 0]``), then its lane rows read one after another from the banked synapse SRAM: row k of a
packet with row address a is in bank (a + k) mod ``synapse_banks``; a read issues once the engine is ready and its
bank is free, holds the bank ``synapse_bank_cycles`` and readies the engine for the next row after the tile's
synaptic op (``t_eng[tile, 1]``); waiting for a busy bank is a bank conflict (``eng_bank``). With an output queue
(``core.output_queue_packets``) a core's spike packets are released only while its queue (released, not yet
injected) has room; otherwise its encoder stalls a cycle (``oq_delay``) and all of its packets not yet released
are due a cycle later (a packet keeps its cycle less the stalls at scheduling, ``p_rel``). Where no bank is busy
and a bank is free again within a synaptic op, no read can wait, and the rows take rows × synaptic op. A cycle
runs: engine completions, releases of scheduled packets, then the routers. Only what the tile level needs is
reported: a tile whose packets of a timestep are all processed, and a partial sum that completes its tile's
timestep."""

import heapq
import math

import numpy as np

from ....errors import EmpfError
from ..mesh import grid
from ..work import latencies

BANK_BITS = 10  # a packet's first bank (synapse_banks <= 1024) in the low bits of ``p_eng``
BANK_MASK = (1 << BANK_BITS) - 1
_IN_FROM = {1: 2, 2: 1, 3: 4, 4: 3}  # output north (1) enters the neighbour's port "from south" (2), ...
DIRS = ("local", "north", "south", "east", "west")


class NetworkBase:
    """Router, port and packet state shared by the reference and the compiled network."""

    def __init__(self, arch, fifo_caps: np.ndarray):
        self.R, self.C = grid(arch)
        ch = arch.chip
        self.depth = ch["noc_buffer_flits"]
        lat = latencies(arch)
        mr, mc = ch["mesh_rows"], ch["mesh_cols"]
        n = self.R * self.C
        P = n * 5
        self.buf = np.zeros((P, self.depth), np.int64)  # flit = packet id × 64 + flit index
        self.ready = np.zeros((P, self.depth), np.int64)
        self.head = np.zeros(P, np.int64)
        self.cnt = np.zeros(P, np.int64)
        self.lock = np.full(P, -1, np.int64)  # output port → input port whose packet holds it
        self.route_of = np.full(P, -1, np.int64)  # input port → output direction of the packet in passage
        self.rr = np.zeros(P, np.int64)
        self.link_free = np.zeros(P, np.int64)
        r, c = np.divmod(np.arange(n), self.C)
        self.rc = np.stack([r, c], 1)
        nb = {1: np.where(r > 0, (r - 1) * self.C + c, -1), 2: np.where(r < self.R - 1, (r + 1) * self.C + c, -1),
              3: np.where(c < self.C - 1, r * self.C + c + 1, -1), 4: np.where(c > 0, r * self.C + c - 1, -1)}
        self.nb_port = np.full(P, -1, np.int64)
        for d, v in nb.items():
            ok = v >= 0
            self.nb_port[np.arange(n)[ok] * 5 + d] = v[ok] * 5 + _IN_FROM[d]
        cross = np.zeros((n, 5), bool)  # output links leaving a chip
        cross[:, 1] = (r % mr == 0) & (r > 0)
        cross[:, 2] = (r % mr == mr - 1) & (r < self.R - 1)
        cross[:, 3] = (c % mc == mc - 1) & (c < self.C - 1)
        cross[:, 4] = (c % mc == 0) & (c > 0)
        cross = cross.ravel()
        hop = np.tile(np.array([0, lat["hop_ns"], lat["hop_ns"], lat["hop_ew"], lat["hop_ew"]]), n)
        self.lat = np.where(cross, arch.system["chip_link_cycles"], hop).astype(np.int64)
        self.period = np.where(cross, math.ceil(ch["noc_link_bits"] / arch.system["chip_link_bits"]), 1).astype(
            np.int64)  # cycles a full flit occupies each output link
        self.flit_bits, self.chip_link_bits = ch["noc_link_bits"], arch.system["chip_link_bits"]
        # per packet (int32 where a value fits, halving the arrays of a 12 M-packet inference): destination router,
        # flits, core FIFO (−1: none),
        self.p_dst = np.zeros(1 << 12, np.int32)
        self.p_flits = np.zeros(1 << 12, np.int32)  # next packet in its router's injection queue, and the cycles
        self.p_tail = np.ones(1 << 12, np.int32)  # its last (partly filled) flit takes on a chip-to-chip link
        self.p_fifo = np.full(1 << 12, -1, np.int32)
        self.p_next = np.full(1 << 12, -1, np.int32)
        self.p_src = np.zeros(1 << 12, np.int32)  # ... and, for scheduled packets, the router and cycle they
        self.p_rel = np.zeros(1 << 12, np.int64)  # are released at into its injection queue (a core's spikes with
        self.p_from = np.full(1 << 12, -1, np.int32)  # an output queue: that core, and the cycle less the stalls
        self.p_tile = np.zeros(1 << 12, np.int32)  # its encoder had when it was scheduled); the tile and the
        self.p_t = np.zeros(1 << 12, np.int32)  # timestep a packet is for
        self.psum_got = np.zeros((1, 1), np.int64)  # (tiles, T) partial sums arrived, and expected: only the one
        self.psum_expected = np.zeros((1, 1), np.int64)  # completing a tile's timestep is reported
        self.n_packets = 0
        self.inj_head = np.full(n, -1, np.int64)  # per router: the packet being injected, the last queued, and
        self.inj_tail = np.full(n, -1, np.int64)  # the flit of the first it injects next
        self.inj_k = np.zeros(n, np.int64)
        self.fifo_free = np.asarray(fifo_caps, np.int64).copy()  # room left in each core's input FIFO
        ncores = len(fifo_caps)  # per core: its FIFO (a list of packets), and its synapse engine
        self.fifo_cap = int(max(fifo_caps)) if ncores else 1
        self.ci = np.zeros((6, ncores), np.int64)  # FIFO head, tail, length; engine busy, done cycle, packet
        self.ci[[0, 1, 4, 5]] = -1
        self.f_head, self.f_tail, self.f_len, self.eng_busy, self.eng_done, self.eng_pid = self.ci
        self.cf = np.zeros((3, ncores), np.float64)  # cycle (fractional) from which the engine may start (DRAM
        self.eng_free, self.eng_cycles, self.eng_bank = self.cf  # reloads push it back), busy, bank stalls
        self.f_peak = np.zeros(1, np.float64)  # largest FIFO occupancy as a fraction of its capacity
        self.oq_cap = arch.core["output_queue_packets"]  # per core, with an output queue (0: unbounded): its
        self.oq = np.zeros((3, ncores), np.int64)  # packets released but not yet injected, cycles its encoder
        self.oq_queued, self.oq_delay, self.oq_released = self.oq  # stalled on a full queue, packets released
        self.p_eng = np.zeros(1 << 12, np.int64)  # per spike packet: lane rows << BANK_BITS | first row's bank
        self.t_eng = np.zeros((1, 2), np.float64)  # per tile: bus + receive cycles, cycles per synaptic op
        self.bank_cycles = arch.core["synapse_bank_cycles"]
        self.bank_free = np.zeros((ncores, arch.core["synapse_banks"] + 1), np.float64)  # per core and bank: the
        #                                                        cycle it is free; last column: the latest of them
        self.p_fnext = np.full(1 << 12, -1, np.int32)  # next packet in its core's FIFO
        self.processed = np.zeros((1, 1), np.int64)  # (tiles, T): packets processed, expected, first start
        self.expected = np.zeros((1, 1), np.int64)
        self.a_start = np.full((1, 1), -1, np.int64)
        self.flits_moved = np.zeros(P, np.int64)
        self.peak = np.zeros(P, np.int64)
        self.stall_link = np.zeros(n, np.int64)
        self.stall_held = np.zeros((3, n), np.int64)  # flits granted an output but held: link serializing, no
        #                                              credit downstream, core FIFO full (per router)
        self.in_flight = 0
        self.moved = 0

    def reserve(self, n: int) -> None:
        """Room for ``n`` packets in all (the arrays grow by doubling otherwise)."""
        size = len(self.p_dst)
        if n <= size:
            return
        if n > np.iinfo(np.int32).max:
            raise EmpfError(f"the cycle-level simulation of {n:,} packets exceeds its limit of "
                            f"{np.iinfo(np.int32).max:,} per inference; allowed: fewer timesteps or a smaller network, "
                            "or --timing fast")
        for name, fill in (("p_dst", 0), ("p_flits", 0), ("p_tail", 1), ("p_fifo", -1), ("p_next", -1), ("p_src", 0),
                           ("p_rel", 0), ("p_from", -1), ("p_tile", 0), ("p_t", 0), ("p_eng", 0), ("p_fnext", -1)):
            a = getattr(self, name)
            grown = np.full(n, fill, a.dtype)  # one allocation (a concatenation would build and copy two)
            grown[:size] = a
            setattr(self, name, grown)

    def _grow(self, n: int) -> int:
        """Room for ``n`` more packets; the id of the first."""
        pid = self.n_packets
        if pid + n > len(self.p_dst):
            self.reserve(max(2 * len(self.p_dst), pid + n))
        self.n_packets += n
        self.in_flight += n
        return pid

    def _enqueue(self, pid: int, router: int) -> None:
        """Append a packet to its router's injection queue."""
        if self.inj_tail[router] < 0:
            self.inj_head[router] = pid
            self.inj_k[router] = 0
        else:
            self.p_next[self.inj_tail[router]] = pid
        self.inj_tail[router] = pid

    def schedule(self, router: int, dst, bits, fifo, times, tile, t: int, rows=0, bank=0, core: int = -1) -> int:
        """Packets of ``bits`` released into ``router``'s injection queue at cycles ``times`` (at the start of the
        cycle, in (cycle, id) order), for tiles ``tile`` at timestep ``t``; ``fifo``: the core whose FIFO and engine
        take each (−1: a partial sum, counted in ``psum_got``), reading its lane ``rows`` from ``bank`` on; the id of
        the first (they take consecutive ids). ``core``: the core whose spike encoder sends them; with an output
        queue (``core.output_queue_packets``) a packet is released only into a queue with room (it holds the packets
        not yet injected), else the encoder stalls a cycle, and every packet of the core not yet released leaves a
        cycle later. A chip-to-chip link serializes a packet's bits flit by flit: the last flit carries only what is
        left, ⌈left bits / chip_link_bits⌉ cycles."""
        n = len(times)
        pid = self._grow(n)
        sl = slice(pid, pid + n)
        nflits = -(-np.asarray(bits) // self.flit_bits)
        self.p_dst[sl], self.p_flits[sl], self.p_fifo[sl] = dst, nflits, fifo
        self.p_tail[sl] = -(-(bits - (nflits - 1) * self.flit_bits) // self.chip_link_bits)
        self.p_src[sl], self.p_rel[sl], self.p_tile[sl], self.p_t[sl] = router, times, tile, t
        self.p_from[sl] = core if self.oq_cap else -1
        if core >= 0 and self.oq_cap:
            self.p_rel[sl] -= self.oq_delay[core]
        self.p_eng[sl] = (np.asarray(rows, np.int64) << BANK_BITS) | bank
        self._push(np.arange(pid, pid + n, dtype=np.int64))
        return pid

    def empty(self) -> bool:
        """No packet queued for injection or buffered in a router."""
        return not (self.inj_head >= 0).any() and not self.cnt.any()

    def active(self) -> bool:
        """Packets not yet delivered, or engines still processing."""
        return bool(self.in_flight or self.eng_busy.any())


class Network(NetworkBase):
    """The reference: one cycle per ``step``, vectorized over input ports with NumPy."""

    def __init__(self, arch, fifo_caps: np.ndarray):
        super().__init__(arch, fifo_caps)
        self.pending: list = []  # heap of (release cycle, packet id)

    def _due(self, pid: int) -> int:
        """The cycle packet ``pid`` is due: its release cycle, later by its encoder's stalls since it was scheduled."""
        c = int(self.p_from[pid])
        return int(self.p_rel[pid]) + (int(self.oq_delay[c]) if c >= 0 else 0)

    def _push(self, pids: np.ndarray) -> None:
        for pid in pids.tolist():
            heapq.heappush(self.pending, (self._due(pid), pid))

    def _start(self, core: int, now: int, queued: bool = False) -> None:
        """The engine of ``core`` takes the next packet of its FIFO, if idle: at ``now`` for a packet that just
        arrived (no earlier than ``eng_free``), or, ``queued`` behind the packet that just completed, exactly when
        that one ended (its fractional end: packets share the spike bus without rounding)."""
        pid = int(self.f_head[core])
        if self.eng_busy[core] or pid < 0:
            return
        self.f_head[core] = self.p_fnext[pid]
        if self.f_head[core] < 0:
            self.f_tail[core] = -1
        self.f_len[core] -= 1
        self.fifo_free[core] += 1
        tl, t = self.p_tile[pid], self.p_t[pid]
        if self.a_start[tl, t] < 0:
            self.a_start[tl, t] = now
        begin = self.eng_free[core] if queued else max(float(now), self.eng_free[core])
        ready, syn = begin + self.t_eng[tl, 0], self.t_eng[tl, 1]
        rows, bank = int(self.p_eng[pid]) >> BANK_BITS, int(self.p_eng[pid]) & BANK_MASK
        free = self.bank_free[core]
        if self.bank_cycles <= syn and free[-1] <= ready:  # no read can find its bank busy
            rows, ready = 0, ready + rows * syn
        for _ in range(rows):
            if free[bank] > ready:
                self.eng_bank[core] += free[bank] - ready
                ready = free[bank]
            free[bank] = ready + self.bank_cycles
            free[-1] = max(free[-1], free[bank])
            ready += syn
            bank = (bank + 1) % (len(free) - 1)
        self.eng_free[core] = ready
        self.eng_busy[core], self.eng_pid[core], self.eng_done[core] = 1, pid, math.ceil(ready)
        self.eng_cycles[core] += ready - begin

    def _arrive(self, pid: int, now: int) -> None:
        """A spike packet joins its core's FIFO."""
        core = int(self.p_fifo[pid])
        if self.f_tail[core] < 0:
            self.f_head[core] = pid
        else:
            self.p_fnext[self.f_tail[core]] = pid
        self.f_tail[core] = pid
        self.f_len[core] += 1
        self.f_peak[0] = max(self.f_peak[0], self.f_len[core] / self.fifo_cap)
        self._start(core, now)

    def _complete(self, now: int) -> list[int]:
        """Engines finishing at ``now`` (in core order) take their next packets; the tiles (index × T + t) whose
        timestep is then fully processed."""
        T = self.processed.shape[1]
        out = []
        for core in np.flatnonzero((self.eng_busy > 0) & (self.eng_done == now)).tolist():
            pid = int(self.eng_pid[core])
            self.eng_busy[core] = 0
            tl, t = self.p_tile[pid], self.p_t[pid]
            self.processed[tl, t] += 1
            self._start(core, now, queued=True)
            if self.processed[tl, t] == self.expected[tl, t]:
                out.append(int(tl * T + t))
        return out

    def _release(self, now: int) -> None:
        """Scheduled packets due by ``now`` join their routers' injection queues, in (cycle, id) order; one whose
        encoder's output queue is full stalls the encoder a cycle (a packet whose encoder stalled since it was queued
        here is put back at its new cycle)."""
        while self.pending and self.pending[0][0] <= now:
            pid = self.pending[0][1]
            c = int(self.p_from[pid])
            if c >= 0:
                due = self._due(pid)
                if due > now:
                    heapq.heapreplace(self.pending, (due, pid))
                    continue
                if self.oq_queued[c] >= self.oq_cap:
                    self.oq_delay[c] += 1
                    heapq.heapreplace(self.pending, (now + 1, pid))
                    continue
                self.oq_queued[c] += 1
                self.oq_released[c] += 1
            heapq.heappop(self.pending)
            self._enqueue(pid, int(self.p_src[pid]))

    def next_event(self, now: int) -> int:
        """After a cycle in which nothing moved: the next cycle at which a buffered flit may move."""
        if (self.inj_head >= 0).any():
            return now + 1
        act = np.flatnonzero(self.cnt)
        if not len(act):
            return now + 1
        ready = self.ready[act, self.head[act]]
        return int(max(now + 1, min(ready.min(), max(now + 1, self.link_free.max(initial=0)))))

    def _inject(self, now: int) -> None:
        """One flit per router and cycle into its local input port."""
        D = self.depth
        for r in np.flatnonzero(self.inj_head >= 0).tolist():
            port = r * 5
            if self.cnt[port] >= D:
                continue
            pid, k = int(self.inj_head[r]), int(self.inj_k[r])
            slot = (self.head[port] + self.cnt[port]) % D
            self.buf[port, slot] = pid * 64 + k
            self.ready[port, slot] = now
            self.cnt[port] += 1
            if k + 1 == self.p_flits[pid]:
                if self.p_from[pid] >= 0:  # out of its core's output queue
                    self.oq_queued[self.p_from[pid]] -= 1
                self.inj_head[r], self.inj_k[r] = self.p_next[pid], 0
                if self.p_next[pid] < 0:
                    self.inj_tail[r] = -1
            else:
                self.inj_k[r] = k + 1

    def step(self, now: int) -> np.ndarray:
        """Advance one cycle; returns the packets whose tail was ejected (``moved``: flits that moved)."""
        D = self.depth
        self._inject(now)
        self.moved = 0
        act = np.flatnonzero(self.cnt)
        if not len(act):
            return np.zeros(0, np.int64)
        self.peak[act] = np.maximum(self.peak[act], self.cnt[act])
        h = self.head[act]
        rdy = self.ready[act, h] <= now
        act = act[rdy]
        flit = self.buf[act, h[rdy]]
        pid, k = flit // 64, flit % 64
        router = act // 5
        is_head = k == 0
        d = self.rc[self.p_dst[pid]] - self.rc[router]
        route = np.where(d[:, 1] > 0, 3, np.where(d[:, 1] < 0, 4, np.where(d[:, 0] > 0, 2,
                                                                              np.where(d[:, 0] < 0, 1, 0))))
        out_dir = np.where(is_head, route, self.route_of[act])
        outp = router * 5 + out_dir
        holder = self.lock[outp]
        cand = np.flatnonzero(np.where(is_head, holder == -1, holder == act))
        win = np.zeros(len(act), bool)
        if len(cand):  # round-robin: one winner per output port
            prio = (act[cand] % 5 - self.rr[outp[cand]]) % 5
            order = cand[np.lexsort((prio, outp[cand]))]
            o = outp[order]
            first = np.ones(len(o), bool)
            first[1:] = o[1:] != o[:-1]
            win[order[first]] = True
        eject = out_dir == 0
        nbp = self.nb_port[outp]
        serial = win & (self.link_free[outp] > now)  # the link still serializes the previous flit
        full = win & ~serial & ~(eject | (self.cnt[np.maximum(nbp, 0)] < D))  # no credit downstream
        take = win & ~serial & ~full
        fifo = np.zeros(len(act), bool)
        for i in np.flatnonzero(take & eject & is_head).tolist():  # a spike packet needs room in its core's FIFO
            core = self.p_fifo[pid[i]]
            if core >= 0:
                if self.fifo_free[core] <= 0:
                    take[i], fifo[i] = False, True
                else:
                    self.fifo_free[core] -= 1
        for cause, held in enumerate((serial, full, fifo)):
            np.add.at(self.stall_held[cause], router[held], 1)
        np.add.at(self.stall_link, router[~win], 1)
        mv = np.flatnonzero(take)
        self.moved = len(mv)
        if not len(mv):
            return np.zeros(0, np.int64)
        a, o, dm = act[mv], outp[mv], out_dir[mv]
        self.head[a] = (self.head[a] + 1) % D
        self.cnt[a] -= 1
        self.flits_moved[o] += 1
        last_flit = k[mv] + 1 == self.p_flits[pid[mv]]
        self.link_free[o] = now + np.where(last_flit, np.minimum(self.period[o], self.p_tail[pid[mv]]), self.period[o])
        fwd = dm != 0
        nb = nbp[mv][fwd]
        slot = (self.head[nb] + self.cnt[nb]) % D
        self.buf[nb, slot] = flit[mv][fwd]
        self.ready[nb, slot] = now + self.lat[o[fwd]]
        self.cnt[nb] += 1
        last = k[mv] + 1 == self.p_flits[pid[mv]]
        hd = is_head[mv]
        hold = hd & ~last  # a multi-flit packet holds its output from head to tail
        self.lock[o[hold]] = a[hold]
        self.route_of[a[hold]] = dm[hold]
        self.rr[o[hd]] = a[hd] % 5 + 1
        rel = last & ~hd
        self.lock[o[rel]] = -1
        self.route_of[a[rel]] = -1
        out = pid[mv][~fwd & last]
        self.in_flight -= len(out)
        done = []  # partial sums are counted, and reported when they complete a tile's timestep
        for q in out.tolist():
            if self.p_fifo[q] >= 0:
                self._arrive(q, now)
                continue
            tl, t = self.p_tile[q], self.p_t[q]
            self.psum_got[tl, t] += 1
            if self.psum_got[tl, t] == self.psum_expected[tl, t]:
                done.append(q)
        return np.array(done, np.int64)

    def advance(self, now: int, limit: int) -> tuple[int, np.ndarray, list[int], int]:
        """Cycles from ``now`` (engine completions, releases, a ``step``) until something is reported, nothing is
        left, or the next cycle reaches ``limit`` (an event is due): (cycle, partial sums completing a tile's
        timestep, tiles (index × T + t) whose timestep is processed, next cycle; ``now`` itself again after
        completions, whose reactions come before the routers' step of that cycle)."""
        none = np.zeros(0, np.int64)
        while True:
            done = self._complete(now)
            if done:
                return now, none, done, now
            self._release(now)
            out = self.step(now)
            cand = [] if self.empty() else [now + 1 if self.moved else self.next_event(now)]
            if self.pending:
                cand.append(max(self.pending[0][0], now + 1))
            busy = np.flatnonzero(self.eng_busy)
            if len(busy):
                cand.append(int(self.eng_done[busy].min()))
            nxt = min(cand) if cand else now + 1
            if len(out) or not cand:
                return now, out, [], nxt
            nn = max(min(nxt, limit), 1)
            if nn >= limit:
                return now, out, [], nxt
            now = nn

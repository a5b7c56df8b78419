"""The cycle-level simulation proper: tiles opening timesteps, neuron phases on the neuron units, partial sums,
DRAM reloads, lock-step barriers and back-pressure, around the network (``network`` / ``netkernel``)."""

import heapq
import math

import numpy as np

from ....errors import EmpfError
from ...result import Timing
from ..compute import syn_kind
from ..fast import barrier_cycles, bus_cycles
from ..mesh import hop_matrices, io_xy, tile_xy
from ..tiles import Mapping
from ..work import dram_channel, hop_latency, latencies, psum_bits, readout_bits
from .network import Network
from .packets import layer_packets
from .result import assemble

NO_LIMIT = 1 << 62


class Tile:
    __slots__ = ("layer", "j", "core", "router", "head", "t_open", "expected", "processed", "psum_expected",
                 "psum_got", "a_start", "a_done", "b_start", "finish", "waiting", "blocked")

    def __init__(self, layer: str, j: int, core: int, router: int, head: bool, T: int, net, i: int):
        """Tile ``i`` of the simulation; its per-timestep counts are rows of the network's (tiles, T) arrays."""
        self.layer, self.j, self.core, self.router, self.head = layer, j, core, router, head
        self.t_open = 0
        self.expected, self.processed, self.a_start = net.expected[i], net.processed[i], net.a_start[i]
        self.psum_expected, self.psum_got = net.psum_expected[i], net.psum_got[i]
        self.a_done = np.full(T, -1, np.int64)
        self.b_start = np.full(T, -1, np.int64)
        self.finish = np.full(T, -1, np.int64)
        self.waiting = False  # a neuron phase is scheduled or running for t_open
        self.blocked = -1  # since when its consumers hold it back (back-pressure), -1: not blocked


def _overlap(a, b) -> int:
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def simulate(mapping: Mapping, trace, works: dict, soma: dict, compiled: bool = True) -> Timing:
    """Cycle-level timing of one inference (batch-1 trace); see the module docstring. ``compiled``: the network
    runs in the numba kernel (``netkernel``), else in the NumPy reference (``network.Network``); both give the
    same result, cycle for cycle."""
    if trace.batch != 1:
        raise EmpfError(f"the cycle-level simulation takes a batch-1 trace (one inference); got batch {trace.batch}")
    return Simulation(mapping, trace, works, soma, compiled).run()


class Simulation:
    """The tiles, timesteps and event heap of one simulated inference around its network."""

    def __init__(self, mapping: Mapping, trace, works: dict, soma: dict, compiled: bool = True):
        self.m, self.arch, self.works, self.soma = mapping, mapping.arch, works, soma
        arch = self.arch
        c = arch.core
        self.lat = latencies(arch)
        cap = c["input_fifo_packets"] or 1 << 62  # 0: the spike buffer takes a whole timestep's input window
        self.fifo_cap = cap
        self.io_core = max(t.core for t in mapping.tiles) + 1  # the I/O port takes the readout like a core's engine
        caps = np.full(self.io_core + 1, cap, np.int64)
        caps[-1] = 1 << 62
        if compiled:
            from .netkernel import CompiledNetwork

            self.net = CompiledNetwork(arch, caps)
        else:
            self.net = Network(arch, caps)
        self.lockstep = arch.chip["timestep_mode"] == "lockstep"
        self.layers = mapping.layers
        self.idx = {lay.name: i for i, lay in enumerate(self.layers)}
        self.T = T = len(trace.logits)
        by = {lt.name: lt for lt in trace.layers}
        net = self.net  # per tile and timestep, shared with the network and its engines, which count them
        self.readout_tile = len(mapping.tiles)  # a last row of the (tiles, T) arrays counts the readout packets
        for name, fill in (("psum_got", 0), ("psum_expected", 0), ("processed", 0), ("expected", 0),
                           ("a_start", -1)):
            setattr(net, name, np.full((len(mapping.tiles) + 1, T), fill, np.int64))
        self.keys = [(lay.name, j) for lay in self.layers for j in range(len(lay.tiles))]  # tile index → key
        self.key_index = {k: i for i, k in enumerate(self.keys)}
        self.tiles = {(lay.name, j): Tile(lay.name, j, t.core, t.xy[0] * net.C + t.xy[1], t.merges, T, net,
                                          self.key_index[(lay.name, j)])
                      for lay in self.layers for j, t in enumerate(lay.tiles)}
        self.packets = {lay.name: layer_packets(mapping, lay, by[lay.name], T, works[lay.name].syn.mode)
                        for lay in self.layers}
        for lay in self.layers:
            for t, pk in enumerate(self.packets[lay.name]):
                if pk is not None:
                    cnt = np.bincount(pk[1], minlength=len(lay.tiles))
                    for j in np.flatnonzero(cnt):
                        self.tiles[(lay.name, int(j))].expected[t] += int(cnt[j])
        self.psum_route = {}  # (layer, tile) → [(destination tile key, packets per active timestep)]
        for lay in self.layers:
            ni = len(lay.splits[0])
            for j, t in enumerate(lay.tiles):
                if not t.merges:
                    self.psum_route[(lay.name, j)] = [((lay.name, j - j % ni), t.neurons)]
            width = lay.node.shape[2] if len(lay.node.shape) == 3 else 1
            for src in lay.psum_sources:
                for k, st in enumerate(mapping.layer(src).tiles):
                    if st.merges:
                        self.psum_route.setdefault((src, k), []).extend(
                            ((lay.name, j), _overlap(st.outputs, t.outputs) * _overlap(st.rows, t.rows) * width)
                            for j, t in enumerate(lay.tiles) if t.merges)
        for key, routes in self.psum_route.items():
            active = self.tiles[key].expected > 0
            for dst, m in routes:
                self.tiles[dst].psum_expected += active * m
        self.readout = {(lay.name, int(j)): int(works[lay.name].readout[j]) for lay in self.layers
                        for j in np.flatnonzero(works[lay.name].readout)}  # tile → values it sends the host
        self.readout_end = -1
        net.expected[-1, -1] = sum(self.readout.values())
        self.net.reserve(int(net.expected.sum() + net.psum_expected.sum()))  # every packet of the inference
        self.deps = {lay.name: lay.waits_for for lay in self.layers}  # whose "finished t" each waits for
        self.consumers = {lay.name: [x.name for x in self.layers if lay.name in x.waits_for] for lay in self.layers}
        self.sig_lat = {}  # (producer layer, consumer tile key) → sideband latency of "finished t"
        for lay in self.layers:
            for dep in self.deps[lay.name]:
                heads = tile_xy([t for t in mapping.layer(dep).tiles if t.merges])
                for j, t in enumerate(lay.tiles):
                    ns, ew, cr = hop_matrices(arch, heads, np.array([t.xy]))
                    self.sig_lat[(dep, (lay.name, j))] = hop_latency(arch, ns, ew, cr, 1)
        net.t_eng = np.zeros((len(mapping.tiles) + 1, 2), np.float64)  # per tile: bus + receive, synaptic op
        #                                     cycles; the readout: its bits over the host link (0: the host keeps up)
        if arch.chip["host_link_bits"]:
            net.t_eng[-1, 0] = readout_bits(arch) / arch.chip["host_link_bits"]
        for lay in self.layers:
            bits = works[lay.name].packet_bits
            bus = (float(bus_cycles(np.ones(1), bits, c["spike_bus_bits"])[0]) if c["spike_bus_bits"] < bits
                   else 1 / (c["spike_bus_bits"] // bits))
            at = slice(self.key_index[(lay.name, 0)], self.key_index[(lay.name, 0)] + len(lay.tiles))
            net.t_eng[at] = bus + self.lat["message_receive"], self.lat[f"syn_{syn_kind(lay.node)}"]
        self.banks = c["synapse_banks"]
        self.psum_bits = psum_bits(arch)
        self.io_router = io_xy(arch)[0] * self.net.C + io_xy(arch)[1]
        self.units_free: dict[int, int] = {}  # core → cycle its neuron units are free, less its encoder's stalls
        self.sent_by: dict[int, int] = {}  # core → packets its encoder has been given
        self.phase_end: dict[tuple, tuple] = {}  # (tile key, t) → (its neuron phase's end less its encoder's stalls
        #                                           when it started, the encoder's packets up to its last)
        self.dram_free: dict[int, int] = {}  # DRAM channel → cycle it is free
        self.reloaded: dict[tuple, int] = {}  # tile key → cycle its weights of the open timestep are in
        self.tile_router = {lay.name: np.array([self.tiles[(lay.name, j)].router for j in range(len(lay.tiles))])
                            for lay in self.layers}
        self.tile_core = {lay.name: np.array([self.tiles[(lay.name, j)].core for j in range(len(lay.tiles))])
                          for lay in self.layers}
        self.first_index = {lay.name: self.key_index[(lay.name, 0)] for lay in self.layers}
        self.by_source: dict[tuple, list] = {}  # (layer, t) → its packets sorted by source tile, those left to send
        self.heap: list = []
        self.seq = 0
        self.busy_cycles: dict[int, float] = {}
        self.stall: dict[tuple[str, int], float] = {}  # (cause, core) → stalled cycles
        self.barrier_total = 0
        self.layer_start = np.full((len(self.layers), T), -1, np.int64)
        self.layer_finish = np.full((len(self.layers), T), -1, np.int64)
        self.opened = {}
        self.heads_done: dict[tuple[str, int], int] = {}  # (layer, t) → head tiles that finished t, and the last
        self.heads_last: dict[tuple[str, int], int] = {}  # cycle one did
        self.n_heads = {lay.name: sum(t.merges for t in lay.tiles) for lay in self.layers}
        self.n_tiles = {lay.name: len(lay.tiles) for lay in self.layers}
        self.pending = 0
        self.outstanding = 0

    # --- bookkeeping ------------------------------------------------------------------------------------------
    def push(self, time, kind: str, *payload) -> None:
        heapq.heappush(self.heap, (int(math.ceil(time)), self.seq, kind, payload))
        self.seq += 1

    def send_psums(self, tile: Tile, dst, t: int, m: int, now: int) -> None:
        """``m`` partial sums from ``tile`` to tile ``dst``, queued now."""
        self.net.schedule(tile.router, np.full(m, self.tiles[dst].router), self.psum_bits, np.full(m, -1),
                          np.full(m, now), self.key_index[dst], t)

    def psums_in(self, pid: int, now: int) -> None:
        """Partial sum ``pid`` completed its tile's timestep (the network counts them)."""
        if self.lockstep:
            self.maybe_end_step(now)
        else:
            self.check(self.keys[self.net.p_tile[pid]], now)

    def send_readout(self, key, now: int) -> None:
        """Tile ``key``'s output values, one packet each, from its router to the I/O port, queued now."""
        m = self.readout.get(key, 0)
        if m:
            self.net.schedule(self.tiles[key].router, np.full(m, self.io_router), readout_bits(self.arch),
                              np.full(m, self.io_core), np.full(m, now), self.readout_tile, self.T - 1)

    def processed_all(self, code: int, now: int) -> None:
        """Tile ``code // T`` processed every packet of timestep ``code % T`` (the readout tile: the host has every
        output value)."""
        if code // self.T == self.readout_tile:
            self.readout_end = now
            return
        key, t = self.keys[code // self.T], code % self.T
        if self.lockstep:
            self.outstanding -= int(self.tiles[key].expected[t])
            self.step_progress(key, t, now)
        else:
            self.check(key, now)

    # --- the neuron phase ---------------------------------------------------------------------------------------
    def b_cycles(self, key, t) -> tuple[int, int, int, int]:
        """A tile's neuron phase at timestep t: (cycles in all, of its dense pass, of its partial-sum merge, of its
        neuron access, update and spike generation: the sweep over its neurons)."""
        c = self.arch.core
        w = self.works[key[0]]
        j = key[1]
        upd, spk, sent = (x[t, j] for x in self.soma[key[0]])
        units = c["neuron_units"]
        n = w.neurons[j]
        updated = upd if c["neuron_update_mode"] == "event" else n
        psums = w.psum_in[t - 1, j] if self.lockstep and t else (0 if self.lockstep else w.psum_in[t, j])
        merge = math.ceil(psums / c["accumulator_lanes"])
        sweep = (math.ceil(n / units) * self.lat["neuron_access"] + math.ceil(math.ceil(updated) / units)
                 * c["neuron_update_cycles"] + math.ceil(math.ceil(spk) / units) * self.lat["spike_gen"])
        dense = int(w.syn.dense_cycles[t, j])  # the compute mode's dense pass (popcount) before the neuron update
        rest = math.ceil(sent) * self.lat["message_send"] + math.ceil(w.aux[t, j] / units)
        return dense + merge + sweep + rest, dense, merge, sweep

    def start_b(self, key, t: int, at: int) -> None:
        """The tile's neuron phase of t on its core's neuron units from ``at`` (or once they are free): the dense
        pass, the partial-sum merge on the accumulator lanes (shared with the synapse engine: a packet in service
        keeps them, and the packets after it wait for the merge), then the sweep over the neurons, emitting the
        spikes as it goes (``emit``). With an output queue, a full queue stalls the encoder and the neuron units: the
        phase, and what follows on the units, ends later by the cycles it stalled (``phase_done``)."""
        tile = self.tiles[key]
        core = tile.core
        stalled = int(self.net.oq_delay[core])
        start = max(at, self.units_free.get(core, 0) + stalled)
        if start > at:
            self.stalled("neuron_units_busy", core, start - at)
        dur, dense, merge, sweep = self.b_cycles(key, t)
        lanes = start + dense
        if merge:
            net = self.net
            if net.eng_busy[core]:
                lanes = max(lanes, math.ceil(net.eng_free[core]))
                self.stalled("lanes_busy", core, lanes - start - dense)
            net.eng_free[core] = max(net.eng_free[core], lanes + merge)
        end = lanes - dense + dur
        self.units_free[core] = end - stalled
        self.busy_cycles[core] = self.busy_cycles.get(core, 0.0) + dur
        tile.b_start[t] = start
        self.emit(key, t, lanes + merge, sweep, end)
        if self.net.oq_cap:
            self.phase_end[(key, t)] = (end - stalled, self.sent_by.get(core, 0))
        self.push(end, "b_done", key, t)

    def phase_done(self, key, t: int, now: int) -> bool:
        """Whether the tile's neuron phase of t ends at ``now``; if its encoder stalled on a full output queue (or
        will, releasing its last packets at ``now``), it is put back to when it ends."""
        if (key, t) not in self.phase_end:  # no neuron phase (a split tile, a shortcut layer)
            return True
        end, sent = self.phase_end.pop((key, t))
        core = self.tiles[key].core
        net = self.net
        due = end + int(net.oq_delay[core])
        left = sent - int(net.oq_released[core])  # due at ``now``: they leave now if the queue has room for all
        if due > now or (left > 0 and left > net.oq_cap - net.oq_queued[core]):
            self.phase_end[(key, t)] = (end, sent)
            self.push(max(due, now + 1), "b_done", key, t)
            return False
        return True

    def emit(self, key, t: int, first: int, sweep: int, end: int) -> None:
        """Spikes of a head tile at timestep t, its sweep over the neurons starting at ``first``: the neuron units
        take its ``n`` neurons in order, ``neuron_units`` at a time, the sweep's cycles spread evenly over the
        ⌈n / neuron_units⌉ groups (exact for a clock-driven update; event-driven and spike generation: the updated
        and spiking neurons taken as spread evenly), and a neuron's packets leave once its group is done, one
        ``latency.message_send`` after another (all by ``end``): packet k (in neuron, then consumer, then tile
        order) of one from neuron q in group g at first + ⌊sweep · (g + 1) / groups⌋ + (k + 1) · message_send."""
        name, tn = key[0], t
        sends = []  # (consumer, its packets, those from this tile)
        for cons in self.consumers[name]:
            lay = self.m.layer(cons)
            if lay.producer != name:
                continue
            pk = self.packets[cons][tn]
            if pk is None:
                continue
            if (cons, tn) not in self.by_source:  # the packets of (cons, tn) grouped by source tile, in order
                src = np.array(self.works[cons].src_tiles + [-1])[pk[0]]
                order = np.argsort(src, kind="stable")
                self.by_source[(cons, tn)] = [order, src[order], len(order)]
            group = self.by_source[(cons, tn)]
            lo, hi = np.searchsorted(group[1], [key[1], key[1] + 1])
            group[2] -= hi - lo
            if not group[2]:  # every source sent its packets
                del self.by_source[(cons, tn)]
            if hi > lo:
                sends.append((cons, pk, group[0][lo:hi]))
        if not sends:
            return
        units = self.arch.core["neuron_units"]
        groups = max(-(-int(self.works[name].neurons[key[1]]) // units), 1)
        q = np.concatenate([pk[5][sel] for _, pk, sel in sends])
        which = np.repeat(np.arange(len(sends)), [len(sel) for *_, sel in sends])
        order = np.lexsort((which, q))  # the send order: by neuron, then consumer, then as listed
        k = np.arange(1, len(q) + 1)
        times = np.minimum(first + sweep * (q[order] // units + 1) // groups + k * self.lat["message_send"], end)
        dst, bits, fifo, tiles, rows, bank = (np.concatenate(x)[order] for x in
                                              zip(*(self.targets(cons, pk, sel) for cons, pk, sel in sends)))
        core = self.tiles[key].core
        self.net.schedule(self.tiles[key].router, dst, bits, fifo, times, tiles, t, rows, bank, core)
        self.sent_by[core] = self.sent_by.get(core, 0) + len(q)

    def host_input(self, layer: str, t: int, pk, now: int) -> None:
        """The host streams a layer's timestep-t input into the I/O port: packet k is in once its bits have crossed
        the host link, ⌈(k + 1) · packet bits / host_link_bits⌉ cycles after ``now`` (at once without a host link)."""
        n, host = len(pk[1]), self.arch.chip["host_link_bits"]
        times = np.full(n, now, np.int64)
        if host:
            times += -(-(np.arange(1, n + 1, dtype=np.int64) * self.works[layer].packet_bits) // host)
        dst, bits, fifo, tiles, rows, bank = self.targets(layer, pk, np.arange(n))
        self.net.schedule(self.io_router, dst, bits, fifo, times, tiles, t, rows, bank)

    def targets(self, layer: str, pk, sel: np.ndarray) -> tuple:
        """Of packets ``sel`` of a layer's input: their destination routers, bits, destination cores, tiles (index),
        lane rows and first banks (``network.NetworkBase.schedule``'s)."""
        j = pk[1][sel]
        return (self.tile_router[layer][j], np.full(len(sel), self.works[layer].packet_bits), self.tile_core[layer][j],
                self.first_index[layer] + j, pk[2][sel], pk[4][sel] % self.banks)

    # --- readiness --------------------------------------------------------------------------------------------
    def stalled(self, cause: str, core: int, cycles: float) -> None:
        self.stall[(cause, core)] = self.stall.get((cause, core), 0.0) + cycles

    def ready_at(self, key, t: int) -> int | None:
        """The earliest cycle the tile's neuron phase of t may start (None: not yet known, or held back by
        consumers that have not opened t, noted in ``tile.blocked``)."""
        tile = self.tiles[key]
        if tile.processed[t] < tile.expected[t] or tile.psum_got[t] < tile.psum_expected[t]:
            return None
        at = int(tile.a_done[t])
        for dep in self.deps[key[0]]:  # every head tile of each producer finished t
            if self.heads_done.get((dep, t), 0) < self.n_heads[dep]:
                return None
            at = max(at, self.heads_last[(dep, t)] + self.sig_lat[(dep, key)])
        for cons in self.consumers[key[0]] if t else ():  # back-pressure: consumers must have opened t
            if self.opened.get((cons, t), 0) < self.n_tiles[cons]:
                tile.blocked = tile.blocked if tile.blocked >= 0 else at
                return None
        return at

    def check(self, key, now: int) -> None:
        """Start the tile's work for its open timestep if it can (pipelined)."""
        tile = self.tiles[key]
        t = tile.t_open
        if self.lockstep or t >= self.T or tile.waiting:
            return
        if tile.processed[t] >= tile.expected[t] and tile.a_done[t] < 0:
            tile.a_done[t] = max(now, self.reloaded.get(key, 0))
        at = self.ready_at(key, t)
        if at is None:
            return
        tile.waiting = True
        start = max(now, at)
        held = tile.blocked if tile.blocked >= 0 else start
        if held > tile.a_done[t]:
            self.stalled("waiting_producers", tile.core, held - tile.a_done[t])
        if start > held:
            self.stalled("waiting_consumers", tile.core, start - held)
        tile.blocked = -1
        if tile.head and self.works[key[0]].neurons[key[1]] > 0:
            self.start_b(key, t, start)
        else:
            self.push(start, "b_done", key, t)  # split tiles and shortcut layers: partial sums, sent below

    def reload(self, key, now: int) -> int:
        """A spilled tile's weights come over its DRAM channel, one reload after another; returns when they are in
        (0: nothing to reload)."""
        bits = int(self.works[key[0]].dram_bits[key[1]])
        if not bits:
            return 0
        tile = self.tiles[key]
        chan = dram_channel(self.arch, divmod(tile.router, self.net.C))
        done = max(now, self.dram_free.get(chan, 0)) + -(-bits // self.arch.chip["dram_bits_per_cycle"])
        self.dram_free[chan] = self.reloaded[key] = done
        self.net.eng_free[tile.core] = max(self.net.eng_free[tile.core], done)
        return done

    def open_timestep(self, key, t: int, now: int) -> None:
        tile = self.tiles[key]
        tile.t_open = t
        tile.waiting = False
        self.reload(key, now)
        self.check(key, now)
        lay = self.m.layer(key[0])
        self.opened[(lay.name, t)] = self.opened.get((lay.name, t), 0) + 1
        if lay.producer == "input" and self.opened[(lay.name, t)] == len(lay.tiles):  # the host streams input t
            pk = self.packets[lay.name][t]
            if pk is not None:
                self.host_input(lay.name, t, pk, now)
        if self.opened[(lay.name, t)] < len(lay.tiles):  # producers wait for every tile of the layer to open t
            return
        for dep in self.deps[lay.name]:
            for j in range(len(self.m.layer(dep).tiles)):
                self.check((dep, j), now)

    # --- events -------------------------------------------------------------------------------------------------
    def handle(self, now: int, kind: str, payload) -> None:
        if kind == "b_done":
            key, t = payload
            if self.net.oq_cap and not self.phase_done(key, t, now):
                return
            tile = self.tiles[key]
            tile.finish[t] = now
            if not self.lockstep:
                for dst, m in self.psum_route.get(key, []):
                    if tile.expected[t] > 0 and m:
                        self.send_psums(tile, dst, t, m, now)
                # "finished t" reaches the consumers once the layer's last head tile finished t (their readiness
                # waits for every head tile, so earlier signals could not move them)
                done = self.heads_done[(key[0], t)] = self.heads_done.get((key[0], t), 0) + tile.head
                if tile.head:
                    self.heads_last[(key[0], t)] = max(self.heads_last.get((key[0], t), 0), now)
                if tile.head and done == self.n_heads[key[0]]:
                    for cons in self.consumers[key[0]]:
                        for j in range(len(self.m.layer(cons).tiles)):
                            self.push(now + self.sig_lat[(key[0], (cons, j))], "signal", (cons, j))
                if t + 1 < self.T:
                    self.open_timestep(key, t + 1, now)
                else:
                    self.send_readout(key, now)
            else:
                self.pending -= 1
                self.maybe_end_step(now)
        elif kind == "signal":
            self.check(payload[0], now)
        elif kind == "reloaded":
            self.pending -= 1
            self.maybe_end_step(now)
        elif kind == "step":
            self.begin_step(payload[0], now)

    # --- lockstep ------------------------------------------------------------------------------------------------
    def begin_step(self, s: int, now: int) -> None:
        self.step, self.step_start = s, now
        self.pending = 0
        by_core = {}
        for key, tile in self.tiles.items():
            if tile.head and self.works[key[0]].neurons[key[1]] > 0:
                by_core.setdefault(tile.core, []).append(key)
        for core in sorted(by_core):
            for key in sorted(by_core[core], key=lambda k: (self.idx[k[0]], k[1])):
                self.pending += 1
                self.start_b(key, s, now)
        for key in self.tiles:  # the step lasts at least until every spilled tile's weights are in
            done = self.reload(key, now)
            if done:
                self.pending += 1
                self.push(done, "reloaded")
        self.outstanding = int(sum(t.expected[s] for t in self.tiles.values()))
        for lay in self.layers:
            pk = self.packets[lay.name][s]
            if lay.producer == "input" and pk is not None:
                self.host_input(lay.name, s, pk, now)
        self.maybe_end_step(now)

    def step_progress(self, key, t: int, now: int) -> None:
        tile = self.tiles[key]
        if tile.processed[t] == tile.expected[t]:
            for dst, m in self.psum_route.get(key, []):
                if m:
                    self.send_psums(tile, dst, t, m, now)
        self.maybe_end_step(now)

    def maybe_end_step(self, now: int) -> None:
        s = self.step
        if s < 0 or self.pending or self.outstanding or self.net.in_flight:
            return
        bar = barrier_cycles(self.arch, len({t.xy for t in self.m.tiles})) * self.m.sub_steps  # every (sub-)step
        # ends with the barrier
        self.barrier_total += bar
        for i in range(len(self.layers)):
            self.layer_start[i, s] = self.step_start
            self.layer_finish[i, s] = now + bar
        if s + 1 < self.T:
            self.push(now + bar, "step", s + 1)
        else:
            for key in self.readout:
                self.send_readout(key, now + bar)
        self.step = -1

    # --- main loop -------------------------------------------------------------------------------------------
    def run(self) -> Timing:
        now = 0
        self.step = -1
        if self.lockstep:
            self.push(0, "step", 0)
        else:
            for key in self.tiles:
                self.open_timestep(key, 0, 0)
        while self.heap or self.net.active():
            while self.heap and self.heap[0][0] <= now:
                _, _, kind, payload = heapq.heappop(self.heap)
                self.handle(now, kind, payload)
            if self.net.active():  # cycle by cycle until a tile's timestep is in or an event is due
                at, psums, done, nxt = self.net.advance(now, self.heap[0][0] if self.heap else NO_LIMIT)
                for code in done:
                    self.processed_all(int(code), at)
                for pid in psums.tolist():
                    self.psums_in(pid, at)
                now = max(min(nxt, self.heap[0][0]) if self.heap else nxt, 1)
            elif self.heap:
                now = max(now, self.heap[0][0])
        return assemble(self)

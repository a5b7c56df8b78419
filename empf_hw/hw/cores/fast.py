"""Fast timing estimate of the cores template: closed-form phase lengths per tile and timestep, vectorized over the
trace, with link load and the timestep barrier as lower bounds. ``empf_hw.hw.cores.cycle`` simulates the same
hardware cycle by cycle; the error of this estimate against it is measured by the tests and published.

Per tile and timestep (``L`` = per-event latencies, see ``work.latencies``):

- phase A (input and synapse stages): DRAM weight reload (spilled tiles; the tiles of a DRAM channel share it, so
  each waits ⌈channel bits / dram_bits_per_cycle⌉ per timestep) + spike bus
  ⌈packets / packets per bus word⌉ + packets × ``L.message_receive`` + lane rows × ``L.syn_<kind>`` × the bank
  factor;
- phase B (soma): the compute mode's dense pass (popcount; ``empf_hw.hw.cores.compute``) + partial-sum merge
  ⌈psums / lanes⌉ + ⌈neurons / units⌉ × ``L.neuron_access`` + ⌈updated / units⌉ × ``neuron_update_cycles``
  (updated: every neuron, or with ``neuron_update_mode: event`` those with input or potential) + ⌈spikes / units⌉ ×
  ``L.spike_gen`` + packets sent × ``L.message_send`` + ⌈aux ops / units⌉.

Tiles folded onto one core add up. ``pipelined``: a layer's timestep lasts ``max(max_core A, busiest link) + psum
latency + max_core B``; it starts when each producer finished that timestep plus the NoC latency of its farthest
packet, when it finished the previous timestep, and when its (shared) cores are free; its neuron phase (which sends
timestep t) waits until every consumer finished t − 1 (back-pressure: a core's spike buffer holds one
timestep). A link or router port carries a flit per cycle, fewer when credits limit it (``credit_period``); the
input layer's timestep also lasts as long as the host link takes to stream its packets (``chip.host_link_bits``).
``lockstep``: every step
lasts ``max(max_core A, max_core B, busiest link) + barrier`` over all layers at once (as SANA-FE's ``simple``
timing model adds the busiest core's generation and processing times to the barrier).
"""

import math

import numpy as np

from ..result import Timing
from .compute import syn_kind
from .mesh import grid, hop_matrices, tile_xy
from .tiles import Mapping
from .work import LayerWork, flits, hop_latency, latencies, psum_bits


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
    c, ch = arch.core, arch.chip
    lat = latencies(arch)
    units = c["neuron_units"]
    a = (work.dram_cycles[None]
         + bus_cycles(np.ceil(work.packets), work.packet_bits, c["spike_bus_bits"])
         + np.ceil(work.packets) * lat["message_receive"]
         + np.ceil(work.syn.lane_rows) * lat[f"syn_{syn_kind(lay.node)}"] * bank_factor(arch))
    upd = updated if c["neuron_update_mode"] == "event" else np.broadcast_to(work.neurons, updated.shape)
    psums = work.psum_in
    if ch["timestep_mode"] == "lockstep":  # partial sums delivered in step s are merged by the neurons in s + 1
        psums = np.concatenate([np.zeros_like(psums[:1]), psums[:-1]])
    b = (work.syn.dense_cycles + np.ceil(psums / c["accumulator_lanes"])
         + (np.ceil(work.neurons / units) * lat["neuron_access"])[None]
         + np.ceil(np.ceil(upd) / units) * c["neuron_update_cycles"]
         + np.ceil(np.ceil(spikes) / units) * lat["spike_gen"] + np.ceil(sent) * lat["message_send"]
         + np.ceil(work.aux / units))
    return a, b


def _mesh_loads(arch, src: np.ndarray, dst: np.ndarray, flows: np.ndarray) -> np.ndarray:
    """(T, links) packets over each directed link of the board's grid for ``flows`` (T, P, n) from sources ``src``
    (P, 2) to destinations ``dst`` (n, 2) under XY routing. Links: east, west, south, north out of each router
    (index direction × routers + router). Each route is two straight segments (along the source row, then the
    destination column), added as ranges into difference arrays and summed up, so the cost does not grow with the
    route length."""
    R, C = grid(arch)
    T, P, n = flows.shape
    s = np.repeat(src, n, axis=0)
    d = np.tile(dst, (P, 1))
    f = flows.reshape(T, P * n)
    out = np.zeros((T, 4, R, C))
    dc, dr = d[:, 1] - s[:, 1], d[:, 0] - s[:, 0]
    # (direction, selected pairs, fixed coordinate, range start, range end (exclusive), along columns?)
    segs = [(0, dc > 0, s[:, 0], s[:, 1], d[:, 1], True), (1, dc < 0, s[:, 0], d[:, 1] + 1, s[:, 1] + 1, True),
            (2, dr > 0, d[:, 1], s[:, 0], d[:, 0], False), (3, dr < 0, d[:, 1], d[:, 0] + 1, s[:, 0] + 1, False)]
    for k, sel, fixed, lo, hi, along_cols in segs:
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


def psum_ports(mapping: Mapping, work: LayerWork) -> np.ndarray:
    """(T, 2 × routers) flits of the layer's partial sums through every router's injection (split tiles send them)
    and ejection port (head tiles merge them) in each timestep."""
    arch = mapping.arch
    xy = tile_xy(mapping.layer(work.name).tiles)
    f = flits(psum_bits(arch), arch.chip["noc_link_bits"]) * credit_period(arch)
    return np.concatenate([_router_sums(arch, work.psum_out, xy), _router_sums(arch, work.psum_in, xy)], 1) * f


def _deps(mapping: Mapping, works: dict[str, LayerWork]) -> list[list[tuple[int, np.ndarray]]]:
    """Per layer: (producer index, (T,) latency after the producer finished a step: of its farthest packet, or in a
    step without packets of the one-flit "finished" signal)."""
    arch = mapping.arch
    idx = {lay.name: i for i, lay in enumerate(mapping.layers)}
    out = []
    for lay in mapping.layers:
        w = works[lay.name]
        spikes = w.packets.sum(axis=1) > 0
        always = np.ones_like(spikes)  # spikes added into the neurons (identity shortcut): not counted per step
        d = []
        for src, bits, arrive in ([(lay.producer, w.packet_bits, spikes)] if lay.producer != "input" else []) + \
                [(s, psum_bits(arch), works[s].psum_out.sum(axis=1) > 0) for s in lay.psum_sources] + \
                [(s, w.packet_bits, always) for s in lay.spike_sources]:
            heads = tile_xy([t for t in mapping.layer(src).tiles if t.merges])
            ns, ew, cr = hop_matrices(arch, heads, tile_xy(lay.tiles))
            far, signal = hop_latency(arch, ns, ew, cr, bits), hop_latency(arch, ns, ew, cr, 1)
            d.append((idx[src], np.where(arrive, far, signal)))
        out.append(d)
    return out


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
    a_cores, b_cores = [], []
    step = {"mesh": 0, "ports": 0, "psums": 0}  # lockstep: every layer's traffic of a step shares the network
    psum_lat = np.zeros((L, T), np.int64)
    for i, lay in enumerate(mapping.layers):
        w = works[lay.name]
        a, b = phases(arch, lay, w, *soma[lay.name])
        cores, a_c = _per_core(a, w.cores)
        _, b_c = _per_core(b, w.cores)
        loads, ports = link_loads(mapping, w)
        pp = psum_ports(mapping, w)
        links[i] = np.ceil(np.maximum(loads.max(axis=1, initial=0), ports.max(axis=1, initial=0)))
        for k, v in (("mesh", loads), ("ports", ports), ("psums", pp)):
            step[k] = step[k] + v
        stream = pp.max(axis=1, initial=0)
        psum_lat[i] = np.where(stream > 0, w.psum_latency + np.maximum(stream - 1, 0), 0)
        # head tiles work while split tiles work; the head then waits for the split tiles' partial sums
        heads = np.array([t.merges for t in lay.tiles])
        split_a = a[:, ~heads].max(axis=1, initial=0) + psum_lat[i]
        pa[i] = np.maximum(np.maximum(a_c.max(axis=1), links[i]), np.where(psum_lat[i] > 0, split_a, 0))
        pb[i] = b_c.max(axis=1)
        a_cores.append((cores, a_c))
        b_cores.append((cores, b_c))
        for core, cycles in zip(cores.tolist(), (a_c + b_c).sum(axis=0).tolist()):
            busy[core] = busy.get(core, 0) + int(cycles)
    if arch.chip["timestep_mode"] == "lockstep":
        return _lockstep(mapping, names, pa, pb, a_cores, b_cores, step, psum_lat, links, busy)
    deps = _deps(mapping, works)
    start, finish = np.zeros((L, T), np.int64), np.zeros((L, T), np.int64)
    # cores shared by several layers (DRAM spill) serialize them; otherwise "finished t−1" already covers it
    layer_cores = [np.unique(works[n].cores) for n in names]
    used, times = np.unique(np.concatenate(layer_cores), return_counts=True) if L else ([], [])
    shared = used[times > 1]
    tile_cores = [np.intersect1d(cs, shared).tolist() for cs in layer_cores]
    core_free: dict[int, int] = {}
    consumers = [[j for j in range(L) if any(p == i for p, _ in deps[j])] for i in range(L)]
    for t in range(T):
        for i in range(L):
            ready = max([finish[p, t] + lat[t] for p, lat in deps[i]] + [finish[i, t - 1] if t else 0]
                        + [core_free.get(c, 0) for c in tile_cores[i]])
            start[i, t] = ready
            # back-pressure: the neuron phase sends timestep t only once every consumer finished t − 1
            opened = max([finish[j, t - 1] for j in consumers[i]], default=0) if t else 0
            finish[i, t] = max(ready + pa[i, t], opened) + pb[i, t]
            for c in tile_cores[i]:
                core_free[c] = finish[i, t]
    return Timing(names, pa, pb, start, finish, busy, arch.chip["clock_MHz"], "pipelined", "fast",
                  {"link_flits": links})


def _lockstep(mapping, names, pa, pb, a_cores, b_cores, step, psum_lat, links, busy) -> Timing:
    """Every layer works in every step: step s runs the neuron phases of trace row s and delivers the packets they
    send (the synaptic rows s); it ends when the busiest core, link and router port are done, then the barrier."""
    arch = mapping.arch
    L, T = pa.shape
    every = np.unique(np.concatenate([c for c, _ in a_cores])) if L else np.zeros(0, np.int64)
    gen, proc = np.zeros((T, len(every))), np.zeros((T, len(every)))
    for (cores, a_c), (_, b_c) in zip(a_cores, b_cores):
        pos = np.searchsorted(every, cores)
        np.add.at(proc, (slice(None), pos), a_c)
        np.add.at(gen, (slice(None), pos), b_c)
    routers = len({t.xy for t in mapping.tiles})
    bar = barrier_cycles(arch, routers) * mapping.sub_steps

    net = np.maximum(np.max(np.atleast_2d(step["mesh"]), axis=1, initial=0),
                     np.max(np.atleast_2d(step["ports"]), axis=1, initial=0))
    psums = np.max(np.atleast_2d(step["psums"]), axis=1, initial=0)
    work = np.maximum.reduce([gen.max(axis=1, initial=0), proc.max(axis=1, initial=0) + psum_lat.T.max(axis=1,
                              initial=0), net, psums])
    length = np.ceil(work).astype(np.int64) + bar
    ends = np.cumsum(length)
    start = np.broadcast_to(ends - length, (L, T)).copy()
    finish = np.broadcast_to(ends, (L, T)).copy()
    return Timing(names, pa, pb, start, finish, busy, arch.chip["clock_MHz"], "lockstep", "fast",
                  {"link_flits": links, "barrier_cycles": np.full(T, bar), "step_cycles": length})

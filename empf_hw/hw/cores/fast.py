"""Fast timing estimate of the cores template: closed-form phase lengths per tile and timestep, vectorized over the
trace, chained over tiles and timesteps with link load and the timestep barrier as lower bounds.
``empf_hw.hw.cores.cycle`` simulates the same hardware cycle by cycle; the error of this estimate against it is
measured by the tests and published.

Per tile and timestep (``L`` = per-event latencies, see ``work.latencies``):

- phase A (input and synapse stages): DRAM weight reload (spilled tiles; the tiles of a DRAM channel share it, so
  each waits ⌈channel bits / dram_bits_per_cycle⌉ per timestep) + spike bus
  ⌈packets / packets per bus word⌉ + packets × ``L.message_receive`` + lane rows × max(``L.syn_<kind>``,
  ``synapse_bank_cycles`` / ``synapse_banks``) (consecutive rows in consecutive banks; the simulator keeps every
  bank's state, so a packet starting in a busy bank waits);
- phase B (soma): the compute mode's dense pass (popcount; ``empf_hw.hw.cores.compute``) + partial-sum merge
  ⌈psums / lanes⌉ + ⌈neurons / units⌉ × ``L.neuron_access`` + ⌈updated / units⌉ × ``neuron_update_cycles``
  (updated: every neuron, or with ``neuron_update_mode: event`` those with input or potential) + ⌈spikes / units⌉ ×
  ``L.spike_gen`` + packets sent × ``L.message_send`` + ⌈aux ops / units⌉.

Tiles folded onto one core add up. Spikes and partial sums share the links and router ports; their load per
timestep and the busiest on the way into each tile come from ``empf_hw.hw.cores.loads``.

``pipelined`` (``timeline``): per tile, packets are processed as they arrive: from each source they leave evenly
spread over its neuron phase from the end of its first group of neurons (``phases``; the I/O port: as
the host link streams them, ``chip.host_link_bits``) and arrive after their route's latency; phase A ends when the
last is processed at the tile's pace, not before its first packet's source started plus the layer's busiest link or
port. Its neuron phase starts once every producer
finished the timestep (plus the "finished" signal's latency), its partial sums are in (through its ejection port
one after the other) and every consumer finished t − 1 (back-pressure: a core's spike buffer holds one timestep).

With ``chip.readout: host`` the last timestep of the layers that send their output values to the host ends when
the last value has crossed the host link (``_read_out``).

``lockstep``: the phases of a step chain: it lasts the longest neuron phase plus the farthest packet, or the
farthest packet plus the busiest core's processing or busiest link (partial sums released only when their senders
processed their inputs), then the barrier (SANA-FE's ``simple`` timing model adds the busiest core's generation
and processing times to the barrier).
"""

import math

import numpy as np

from ..result import Timing
from .compute import syn_kind
from .loads import credit_period, network_loads, tile_bounds
from .mesh import grid
from .reuse import remember
from .tiles import Mapping
from .timeline import routes, step_timeline, timeline
from .work import LayerWork, flits, latencies, psum_bits, readout_bits, route_latency


def bus_cycles(packets: np.ndarray, bits: int, bus: int) -> np.ndarray:
    """Spike-bus cycles for (already whole) packet counts."""
    ppc = bus // bits
    return np.ceil(packets / ppc) if ppc >= 1 else packets * math.ceil(bits / bus)


def row_cycles(arch, syn: int) -> float:
    """Cycles per lane row of a synaptic op of ``syn`` cycles: a row read holds its bank ``synapse_bank_cycles``
    and consecutive rows go to consecutive banks, so a row issues every max(syn, bank cycles / banks)."""
    return max(float(syn), arch.core["synapse_bank_cycles"] / arch.core["synapse_banks"])


def phases(arch, lay, work: LayerWork, updated: np.ndarray, spikes: np.ndarray, sent: np.ndarray):
    """(T, n) phase A and phase B cycles per tile, and the cycles of phase B before its first spike can leave: the
    dense pass and partial-sum merge (``merge_cycles``), the sweep's first group of ``neuron_units`` neurons (its
    share of ``sweep_cycles``) and one ``L.message_send``. ``updated``/``spikes``: (T, n) neurons updated and spikes
    emitted; ``sent``: (T, n) packets the tile's neurons send."""
    c = arch.core
    lat = latencies(arch)
    units = c["neuron_units"]
    a = (work.dram_cycles[None]
         + bus_cycles(np.ceil(work.packets), work.packet_bits, c["spike_bus_bits"])
         + np.ceil(work.packets) * lat["message_receive"]
         + np.ceil(work.syn.lane_rows) * row_cycles(arch, lat[f"syn_{syn_kind(lay.node)}"]))
    merge, sweep = merge_cycles(arch, work), sweep_cycles(arch, work, updated, spikes)
    b = merge + sweep + np.ceil(sent) * lat["message_send"] + np.ceil(work.aux / units)
    lead = merge + sweep / np.maximum(np.ceil(work.neurons / units), 1)[None] + lat["message_send"]
    return a, b, lead


def sweep_cycles(arch, work: LayerWork, updated: np.ndarray, spikes: np.ndarray) -> np.ndarray:
    """(T, n) cycles of a tile's sweep over its neurons: ⌈neurons / units⌉ × ``L.neuron_access`` + ⌈updated / units⌉
    × ``neuron_update_cycles`` (updated: every neuron, or with ``neuron_update_mode: event`` those with input or
    potential) + ⌈spikes / units⌉ × ``L.spike_gen``."""
    c = arch.core
    lat = latencies(arch)
    units = c["neuron_units"]
    upd = updated if c["neuron_update_mode"] == "event" else np.broadcast_to(work.neurons, updated.shape)
    return ((np.ceil(work.neurons / units) * lat["neuron_access"])[None]
            + np.ceil(np.ceil(upd) / units) * c["neuron_update_cycles"]
            + np.ceil(np.ceil(spikes) / units) * lat["spike_gen"])


def merge_cycles(arch, work: LayerWork) -> np.ndarray:
    """(T, n) cycles of a tile's neuron phase before its sweep over the neurons: the compute mode's dense pass and
    merging the partial sums in (lock-step: those delivered in the previous step)."""
    psums = work.psum_in
    if arch.chip["timestep_mode"] == "lockstep":
        psums = np.concatenate([np.zeros_like(psums[:1]), psums[:-1]])
    return work.syn.dense_cycles + np.ceil(psums / arch.core["accumulator_lanes"])


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


def schedule(mapping: Mapping, works: dict[str, LayerWork], soma: dict[str, tuple], kept: dict | None = None) -> Timing:
    """Fast timing of every layer and timestep. ``soma``: layer → (updated, spikes, sent) per tile, (T, n) each;
    ``kept``: where the network loads, the tile bounds and the route geometry of ``works`` are kept for other
    architectures with the same work (they depend on the timing fields only through the credit period and the host
    link)."""
    arch = mapping.arch
    credit = credit_period(arch)
    kept = {} if kept is None else kept
    names = [lay.name for lay in mapping.layers]
    L = len(names)
    T = works[names[0]].packets.shape[0] if L else 0
    pa, pb, links = np.zeros((L, T), np.int64), np.zeros((L, T), np.int64), np.zeros((L, T), np.int64)
    busy: dict[int, int] = {}
    step = {"mesh": 0, "ports": 0, "psums": 0}  # lockstep: every layer's traffic of a step shares the network
    psum_lat = np.zeros((L, T), np.int64)
    a_tiles, b_tiles, lead = {}, {}, {}  # layer → (T, tiles): phase A, phase B, phase B before its first spike
    key = ("loads", credit, arch.chip["host_link_bits"])
    net = remember(kept, key, lambda: network_loads(mapping, works))
    released = []  # lockstep: ((T,) cycle partial sums of a route group leave, (T, links) their link cycles)
    for i, lay in enumerate(mapping.layers):
        w = works[lay.name]
        a, b, lead[lay.name] = phases(arch, lay, w, *soma[lay.name])
        cores, a_c = _per_core(a, w.cores)
        _, b_c = _per_core(b, w.cores)
        on_core = np.searchsorted(cores, w.cores)  # tiles sharing a core (DRAM spill) share its engine and units
        a_tiles[lay.name], b_tiles[lay.name] = a_c[:, on_core], b_c[:, on_core]
        spike_loads, ports, groups, pp = net.spikes[i], net.ports[i], net.psums[i], net.psum_ports[i]
        loads = sum(groups, spike_loads)  # spikes and partial sums share the links
        released += [(a_tiles[r.sender][:, r.senders].max(axis=1), g) for r, g in zip(w.psum_routes, groups)]
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
    bounds = remember(kept, ("bounds", credit, arch.chip["host_link_bits"]),
                      lambda: _bounds(mapping, works, net, lockstep))
    inject = {}  # layer → (T, P) injection-port cycles of its traffic at each source's router, but the last packet
    for i, lay in enumerate(mapping.layers):
        w = works[lay.name]
        per_packet = flits(w.packet_bits, arch.chip["noc_link_bits"]) * credit
        at = net.ports[i][:, w.src_xy[:, 0] * grid(arch)[1] + w.src_xy[:, 1]]
        inject[lay.name] = np.maximum(at - per_packet, 0)  # (T, P) until its last packet's head leaves
    host_bits = arch.chip["host_link_bits"]
    host = {lay.name: works[lay.name].packets.sum(axis=1) * works[lay.name].packet_bits / host_bits
            for lay in mapping.layers if host_bits and lay.producer == "input"}
    psum_cycles = flits(psum_bits(arch), arch.chip["noc_link_bits"]) * credit
    key = ("routes", credit)
    rt = remember(kept, key, lambda: routes(mapping, works, psum_cycles))
    if lockstep:
        chained, lat = step_timeline(mapping, works, rt, a_tiles, b_tiles, lead, bounds, inject, host, psum_cycles)
        tm = _lockstep(mapping, names, pa, pb, step, links, busy, lat, released, chained)
        ends = [np.full(len(lay.tiles), float(tm.cycles)) for lay in mapping.layers]
    else:
        start, finish, ends = timeline(mapping, works, rt, a_tiles, b_tiles, lead, bounds, inject, host,
                                       psum_cycles)
        tm = Timing(names, pa, pb, start, finish, busy, arch.chip["clock_MHz"], "pipelined", "fast",
                    {"link_flits": links})
    _read_out(mapping, works, ends, tm.finish, credit)
    return tm


def _bounds(mapping: Mapping, works: dict[str, LayerWork], net, lockstep: bool) -> dict[str, np.ndarray]:
    """Layer → (T, n) ``loads.tile_bounds`` of the network loads ``net``: spikes and partial sums share the links,
    and both go through the ports."""
    n = len(mapping.layers)
    mesh = [sum(net.psums[i], net.spikes[i]) for i in range(n)]
    ports = [net.ports[i] + np.pad(net.psum_ports[i], ((0, 0), (0, 1))) for i in range(n)]
    return dict(zip([lay.name for lay in mapping.layers],
                    tile_bounds(mapping, works, mesh, ports, net.psum_ports, lockstep)))


def _read_out(mapping: Mapping, works: dict[str, LayerWork], ends: list, finish: np.ndarray, credit: float) -> None:
    """``chip.readout: host``: the sending layers' last timestep ends (``finish``, in place) when their last value has
    reached the host. Each tile sends its values from its end (``ends``; lock-step: the last step's) one after
    another from its router (a packet's flits × the ``credit`` period each), arriving after the route's latency; the
    I/O port ejects them in arrival order, a flit a cycle, and the host link takes each in readout bits /
    host_link_bits (two queues in a row, in max-plus form)."""
    arch = mapping.arch
    bits, host = readout_bits(arch), arch.chip["host_link_bits"]
    nf = flits(bits, arch.chip["noc_link_bits"])
    take = bits / host if host else 0.0
    arrive, sinks = [], []
    for i, lay in enumerate(mapping.layers):
        w = works[lay.name]
        on = np.flatnonzero(w.readout)
        if len(on):
            sinks.append(i)
            first = ends[i][on] + route_latency(arch, *w.readout_hops[:, on], bits)
            k = np.arange(int(w.readout[on].max()))
            arrive.append((first[:, None] + k[None] * nf * credit)[k[None] < w.readout[on][:, None]])
    if not sinks:
        return
    arr = np.sort(np.concatenate(arrive))
    k = np.arange(len(arr))
    ejected = k * nf + np.maximum.accumulate(arr - k * nf)  # one after the other through the port
    end = float(np.max(ejected + (len(arr) - k) * take))  # then one after the other over the host link
    finish[sinks, -1] = np.maximum(finish[sinks, -1], int(np.ceil(end)))


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

"""Result of the cycle-level simulation: per-layer start and finish cycles, busy cycles per core, stall causes,
flits per link and buffer peaks, as a ``Timing``."""

import numpy as np

from ....errors import EmpfError
from ...result import Timing
from .network import DIRS


def assemble(sim) -> Timing:
    """The Timing of a finished ``Simulation``; EmpfError when a layer did not finish every timestep."""
    if not sim.lockstep:
        for i, lay in enumerate(sim.layers):
            tiles = [sim.tiles[(lay.name, j)] for j in range(len(lay.tiles))]
            fin = np.array([t.finish for t in tiles])
            if (fin < 0).any():
                raise EmpfError(f"cycle-level simulation stalled: layer {lay.name!r} did not finish every "
                                "timestep (a deadlock in the modelled protocol)")
            sim.layer_finish[i] = fin.max(axis=0)
            starts = np.array([np.where(t.a_start >= 0, np.minimum(t.a_start, np.where(t.b_start >= 0, t.b_start,
                                                                                          t.finish)),
                                        np.where(t.b_start >= 0, t.b_start, t.finish)) for t in tiles])
            sim.layer_start[i] = starts.min(axis=0)
    if sim.readout_end >= 0:  # the sending layers' last timestep ends when the host has their last value
        for i, lay in enumerate(sim.layers):
            if any(k[0] == lay.name for k in sim.readout):
                sim.layer_finish[i, -1] = max(sim.layer_finish[i, -1], sim.readout_end)
    net = sim.net
    engines = {int(c): float(v) for c, v in enumerate(net.eng_cycles) if v and c != sim.io_core}
    busy = {c: int(round(sim.busy_cycles.get(c, 0.0) + engines.get(c, 0.0)))
            for c in sorted(set(sim.busy_cycles) | set(engines))}
    for cause, per_core in (("bank_conflict", net.eng_bank), ("output_queue_full", net.oq_delay)):
        for c, v in enumerate(per_core.tolist()):
            if v:
                sim.stall[(cause, c)] = v
    phase = np.maximum(sim.layer_finish - sim.layer_start, 0)
    n = net.R * net.C
    ports = np.arange(n * 5)
    links = [{"router_row": int(p // 5 // net.C), "router_col": int(p // 5 % net.C), "direction": DIRS[p % 5],
              "flits": int(net.flits_moved[p])} for p in ports[net.flits_moved > 0]]
    causes = ("bank_conflict", "lanes_busy", "output_queue_full", "waiting_producers", "waiting_consumers",
              "neuron_units_busy")
    total = int(sim.layer_finish.max(initial=0))
    cores = []
    for t in sorted({(t.core, t.router) for t in sim.tiles.values()}):
        row = {"core": t[0], "router_row": t[1] // net.C, "router_col": t[1] % net.C,
               "busy_cycles": busy.get(t[0], 0),
               **{f"{c}_cycles": int(round(sim.stall.get((c, t[0]), 0))) for c in causes},
               "barrier_cycles": sim.barrier_total}
        row["idle_cycles"] = max(total - sum(v for k, v in row.items() if k.endswith("_cycles")), 0)
        cores.append(row)
    serial, full, fifo = (int(v) for v in net.stall_held.sum(axis=1))
    stats = {"stalls": {"router_link_busy": int(net.stall_link.sum()), "router_link_serialization": serial,
                        "router_queue_full": full, "core_fifo_full": fifo,
                        **{c: int(round(sum(v for (k, _), v in sim.stall.items() if k == c))) for c in causes},
                        "barrier": sim.barrier_total}, "cores": cores,
             "links": links, "buffer_peak_flits": int(net.peak.max(initial=0)),
             "buffer_depth_flits": net.depth, "packets": int(net.n_packets),
             "packets_delivered": int(net.n_packets - net.in_flight), "fifo_peak_fraction": float(net.f_peak[0]),
             "unprocessed_packets": int(sum((t.expected - t.processed).sum() for t in sim.tiles.values())),
             "router_stalls": {"link_busy": net.stall_link.reshape(net.R, net.C),
                               "link_serialization": net.stall_held[0].reshape(net.R, net.C),
                               "queue_full": net.stall_held[1].reshape(net.R, net.C),
                               "fifo_full": net.stall_held[2].reshape(net.R, net.C)}}
    return Timing([lay.name for lay in sim.layers], phase, np.zeros_like(phase), sim.layer_start.copy(),
                  sim.layer_finish.copy(), busy, sim.arch.chip["clock_MHz"],
                  "lockstep" if sim.lockstep else "pipelined", "cycle", stats)


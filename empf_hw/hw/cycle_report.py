"""Cycle-level runs of single inferences next to the fast estimate: latency per sample and per timestep, the error
of the fast estimate, stalls by cause, busy/stalled/idle cycles per core, and flits per link
(``empf-hw cost --timing cycle``, the report)."""

import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd

from ..sim.executor import execute
from .evaluate import evaluate

_JOB: tuple = ()  # (deployed, arch, lowering, placement) of the running cycle_runs, inherited by forked workers


def _sample(i: int) -> tuple:
    """One inference through the fast estimate and the cycle-level simulation: (row, stalls, links, cores,
    per-timestep windows)."""
    deployed, arch, lowering, placement = _JOB
    tr = execute(deployed.graph, deployed.inputs[i:i + 1], "fixed", schedule=deployed.schedule)
    fast = evaluate(tr, arch, lowering=lowering, placement=placement)
    cyc = evaluate(tr, arch, lowering=lowering, timing="cycle", placement=placement)
    st = cyc.timing.stats
    row = {"sample": i, "latency_cycles": cyc.timing.cycles, "fast_latency_cycles": fast.timing.cycles,
           "fast_error_pct": 100 * (fast.timing.cycles / max(cyc.timing.cycles, 1) - 1),
           "packets": st["packets"], "buffer_peak_flits": st["buffer_peak_flits"]}
    return row, st["stalls"], pd.DataFrame(st["links"]), pd.DataFrame(st["cores"]), cyc.timing.windows


def workers_for(n: int) -> int:
    """Worker processes for ``n`` independent samples: one per available CPU (1 where fork is unavailable)."""
    if n < 2 or "fork" not in mp.get_all_start_methods():
        return 1
    return max(1, min(n, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def cycle_runs(deployed, arch, samples: int, lowering: str | None = None, workers: int | None = None,
               placement=None) -> dict:
    """Simulate the first ``samples`` inferences of a deployed model, each on its own, in ``workers`` forked
    processes (default: one per CPU); tables and a summary (the same whatever the number of workers)."""
    global _JOB
    n = min(samples, len(deployed.labels))
    workers = workers or workers_for(n)
    _JOB = (deployed, arch, lowering, placement)
    try:
        if workers > 1:
            with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as pool:
                results = list(pool.map(_sample, range(n)))
        else:
            results = [_sample(i) for i in range(n)]
    finally:
        _JOB = ()
    rows = [r[0] for r in results]
    stalls = [r[1] for r in results]
    links = [r[2] for r in results]
    cores = [r[3] for r in results]
    windows = [r[4] for r in results]
    lat = pd.DataFrame(rows)
    stall = pd.DataFrame(stalls).mean().rename("cycles_per_inference").reset_index().rename(
        columns={"index": "cause"})
    link = pd.concat(links)
    link = (link.groupby(["router_row", "router_col", "direction"], as_index=False)["flits"].sum()
            if len(link) else pd.DataFrame(columns=["router_row", "router_col", "direction", "flits"]))
    link["flits_per_inference"] = link.pop("flits") / n
    link = link.sort_values(["flits_per_inference", "router_row", "router_col"], ascending=[False, True, True])
    core = pd.concat(cores).groupby(["core", "router_row", "router_col"], as_index=False).mean()
    core.columns = [c.replace("_cycles", "_cycles_per_inference") for c in core.columns]
    w = np.array(windows, dtype=float)
    steps = pd.DataFrame({"timestep": np.arange(w.shape[1]), "mean_cycles": w.mean(axis=0),
                          "p50_cycles": np.percentile(w, 50, axis=0), "p99_cycles": np.percentile(w, 99, axis=0)})
    c = lat["latency_cycles"].to_numpy(float)
    summary = {"cycle_latency_cycles_mean": float(c.mean()), "cycle_latency_cycles_p50": float(np.percentile(c, 50)),
               "cycle_latency_cycles_p99": float(np.percentile(c, 99)),
               "fast_vs_cycle_error_pct_mean": float(lat["fast_error_pct"].mean()), "cycle_samples": n}
    return {"latency": lat, "stalls": stall, "links": link.reset_index(drop=True), "cores": core,
            "timesteps": steps,
            "summary": summary}

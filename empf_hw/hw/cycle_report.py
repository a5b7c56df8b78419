"""Cycle-level runs of single inferences next to the fast estimate: latency per sample and per timestep, the error
of the fast estimate, stalls by cause, busy/stalled/idle cycles per core, and flits per link
(``empf-hw cost --timing cycle``, the report)."""

import numpy as np
import pandas as pd

from ..sim.executor import execute
from .evaluate import evaluate


def cycle_runs(deployed, arch, samples: int, lowering: str | None = None) -> dict:
    """Simulate the first ``samples`` inferences of a deployed model one by one; tables and a summary."""
    n = min(samples, len(deployed.labels))
    rows, stalls, links, cores, windows = [], [], [], [], []
    for i in range(n):
        tr = execute(deployed.graph, deployed.inputs[i:i + 1], "fixed", schedule=deployed.schedule)
        fast = evaluate(tr, arch, lowering=lowering)
        cyc = evaluate(tr, arch, lowering=lowering, timing="cycle")
        st = cyc.timing.stats
        rows.append({"sample": i, "latency_cycles": cyc.timing.cycles, "fast_latency_cycles": fast.timing.cycles,
                     "fast_error_pct": 100 * (fast.timing.cycles / max(cyc.timing.cycles, 1) - 1),
                     "packets": st["packets"], "buffer_peak_flits": st["buffer_peak_flits"]})
        stalls.append(st["stalls"])
        links.append(pd.DataFrame(st["links"]))
        cores.append(pd.DataFrame(st["cores"]))
        windows.append(cyc.timing.windows)
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

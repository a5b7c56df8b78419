"""Design-space exploration of the cores template: a seeded random search over the microarchitecture options that
move energy, latency or area (accumulator storage and dataflow, synapse compute mode, spikes per packet, lanes,
synapse word, neuron update, stem), each
design mapped and evaluated on the same chip, the Pareto front in energy × latency × area, and the best design:
the lowest energy per inference at no more latency than the chip as given (same technology, same mesh)."""

import itertools
import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from ..errors import EmpfError
from .evaluate import evaluate

# arch field → the settings the search draws from
DESIGN_SPACE = {
    "core.accumulator_storage": ["sram", "regfile", "latch"],
    "core.accumulation": ["event", "output_stationary"],
    "core.synapse_compute": ["event", "popcount", "auto"],
    "core.spikes_per_packet": [1, 4],
    "core.accumulator_lanes": [4, 8, 16, 32, 64],
    "core.synapse_word_bits": [32, 64, 128],
    "core.neuron_update_mode": ["clock", "event"],
    "chip.stem_once": [False, True],
}
OBJECTIVES = ("energy_pJ_per_inference", "latency_cycles", "area_mm2")
RESULTS = (*OBJECTIVES, "cores_used", "accumulator_bits")
SHOWN = ("design", *DESIGN_SPACE, *OBJECTIVES, "pareto", "best")  # the columns a design table shows


def designs(budget: int, seed: int) -> list[dict]:
    """``budget`` distinct designs: the chip as given ({}), then a seeded sample of the option grid."""
    if budget < 1:
        raise EmpfError(f"--budget {budget}: allowed: 1 or more designs")
    grid = list(itertools.product(*DESIGN_SPACE.values()))
    rng = np.random.default_rng(seed)
    picks = rng.permutation(len(grid))[:budget - 1]
    return [{}] + [dict(zip(DESIGN_SPACE, grid[i])) for i in sorted(picks.tolist())]


def evaluate_design(job: tuple) -> dict:
    """One design's results (a module-level function: Dask workers run it); a design that does not fit is a row
    with its error as ``status``."""
    trace, arch, design, lowering = job
    try:
        s = evaluate(trace, arch.with_overrides(design), lowering=lowering).summary().iloc[0]
    except EmpfError as e:
        return {"status": str(e), **dict.fromkeys(RESULTS)}
    return {"status": "ok", **{k: s[k].item() if hasattr(s[k], "item") else s[k] for k in RESULTS}}


def explore(trace, arch, budget: int, seed: int = 0, mapper: Callable = map,
            lowering: str | None = None) -> pd.DataFrame:
    """One row per design: its settings (the chip's where not drawn), results, ``pareto`` and ``best``.
    ``mapper``: ``map`` (in process) or a Dask client's equivalent; ``lowering``: as for ``evaluate``."""
    if arch.template != "cores":
        raise EmpfError(f"explore searches cores architectures; {arch.name} is {arch.template}")
    ds = designs(budget, seed)
    rows = list(mapper(evaluate_design, [(trace, arch, d, lowering) for d in ds]))
    given = {k: (arch.chip if k.startswith("chip.") else arch.core)[k.split(".", 1)[1]] for k in DESIGN_SPACE}
    df = pd.DataFrame([{"design": i, **given, **d, **r} for i, (d, r) in enumerate(zip(ds, rows))])
    ok = df["status"] == "ok"
    df["pareto"] = False
    df.loc[ok, "pareto"] = pareto(df.loc[ok, list(OBJECTIVES)].to_numpy(np.float64))
    df["best"] = False
    if ok.any():
        df.loc[best(df), "best"] = True
    return df


def settings(row) -> dict:
    """The arch overrides of a design row (plain Python values)."""
    return {k: row[k].item() if hasattr(row[k], "item") else row[k] for k in DESIGN_SPACE}


def pareto(points: np.ndarray) -> np.ndarray:
    """Mask of the rows no other row dominates (no worse in every column, better in one; all minimized)."""
    n = len(points)
    keep = np.ones(n, bool)
    for i in range(n):
        no_worse = (points <= points[i]).all(axis=1)
        better = (points < points[i]).any(axis=1)
        keep[i] = not (no_worse & better).any()
    return keep


def best(df: pd.DataFrame) -> int:
    """Index of the lowest-energy design no slower than the chip as given (design 0); design 0 itself when none
    is."""
    ok = df[df["status"] == "ok"]
    limit = df.loc[0, "latency_cycles"] if df.loc[0, "status"] == "ok" else math.inf
    within = ok[ok["latency_cycles"] <= limit]
    pool = within if len(within) else ok
    return int(pool.sort_values(["energy_pJ_per_inference", "design"]).index[0])

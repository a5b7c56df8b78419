"""Uncertainty of energy figures from the ranges of the energy reference table.

Every ERT entry has a nominal value and a range (low, high) with its source. A Monte Carlo draw picks, per entry
*name*, one quantile u ~ U(0, 1) and sets every chip's entry to the triangular(low, nominal, high) value at u:
the same assumption moves every chip the same way (common random numbers), so ratios between chips are not
blurred by independent draws of one shared fact. Counts are fixed (they come from the trace and the timing), so a
draw is one dot product: thousands of draws take milliseconds.
"""

import numpy as np
import pandas as pd

from .energy import reference_table

INTERVAL = (5.0, 95.0)  # percentiles of the reported 90 % interval


def _triangular(u: np.ndarray, low: float, mode: float, high: float) -> np.ndarray:
    """Quantile function of triangular(low, mode, high) at u."""
    if high <= low:
        return np.full_like(u, mode)
    c = (mode - low) / (high - low)
    left = low + np.sqrt(u * (high - low) * (mode - low))
    right = high - np.sqrt((1 - u) * (high - low) * (high - mode))
    return np.where(u < c, left, right)


def action_counts(costs) -> dict[str, float]:
    """Counts per inference of each action of a Costs."""
    return dict(zip(costs.action_names, costs.counts.sum(axis=(0, 2)).tolist()))


def entries(costs) -> dict:
    """The ERT entries (name → Entry) a Costs was priced with."""
    return reference_table(costs.arch)


def energy_draws(costs_list: list, draws: int = 2000, seed: int = 0) -> np.ndarray:
    """(draws, len(costs_list)) energies per inference (pJ) under the ERT ranges, common draws per entry name."""
    names = sorted({a for c in costs_list for a in c.action_names})
    u = dict(zip(names, np.random.default_rng(seed).random((len(names), draws))))
    out = np.zeros((draws, len(costs_list)))
    for j, c in enumerate(costs_list):
        ert = entries(c)
        for a, n in action_counts(c).items():
            if n:
                e = ert[a]
                out[:, j] += n * _triangular(u[a], e.low, e.pJ, e.high)
    return out


def interval(values: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(values, INTERVAL)
    return float(lo), float(hi)


def entry_tornado(model, baseline) -> pd.DataFrame:
    """The model/baseline energy ratio with one ERT entry at its low and at its high end (both chips), the others
    nominal; sorted by swing."""
    em, eb = entries(model), entries(baseline)
    cm, cb = action_counts(model), action_counts(baseline)
    m0, b0 = model.energy_pJ(), baseline.energy_pJ()
    rows = []
    for a in sorted(set(cm) | set(cb)):
        dm = {end: cm.get(a, 0) * (getattr(em[a], end) - em[a].pJ) if a in em else 0.0 for end in ("low", "high")}
        db = {end: cb.get(a, 0) * (getattr(eb[a], end) - eb[a].pJ) if a in eb else 0.0 for end in ("low", "high")}
        lo, hi = ((m0 + dm[e]) / (b0 + db[e]) for e in ("low", "high"))
        if lo != hi:
            rows.append({"assumption": f"energy entry {a}", "setting_low": "low end", "setting_high": "high end",
                         "ratio_low": lo, "ratio_high": hi})
    return pd.DataFrame(rows)

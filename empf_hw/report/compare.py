"""Fair comparison of a model and a baseline: both on both chips, each chip right-sized to each model, the ratio of
every pairing with its 90 % interval under the energy table's ranges, and the tornado of assumptions."""

import pandas as pd

from ..hw import evaluate
from ..hw.cores.rightsize import right_size
from ..hw.explore import DESIGN_SPACE, explore, settings
from ..hw.uncertainty import energy_draws, entry_tornado, interval

# microarchitecture choices the headline rests on: arch field → alternative settings
OPTIONS = {"core.accumulator_storage": ["sram", "regfile", "latch"],
           "core.accumulation": ["event", "output_stationary"], "core.accumulator_bits": ["auto", 32],
           "core.synapse_compute": ["event", "popcount", "auto"],
           "chip.stem_once": [False, True], "chip.readout": ["none", "host"],
           "core.synapse_word_bits": [32, 64, 128], "core.neuron_update_mode": ["clock", "event"]}

VARIED = ("core.synapse_compute", "core.spikes_per_packet")  # choices shown one at a time from the best designs


def chips(model, baseline, chip_m, chip_b) -> dict:
    """name → arch: the two chips and, for cores chips, each right-sized to its own model."""
    out = {chip_m.name: chip_m, chip_b.name: chip_b}
    for d, c in ((model, chip_m), (baseline, chip_b)):
        if c.template == "cores":
            fit = right_size(d.graph, c)
            out[fit.name] = fit
    return out


def grid(model, baseline, archs: dict, draws: int = 2000, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """Both models on every chip: energy (with its 90 % interval), latency, cores; and the Costs by (role, chip)."""
    costs, rows = {}, []
    for name, arch in archs.items():
        for role, d in (("model", model), ("baseline", baseline)):
            c = evaluate(d.trace, arch, model=d.name, accuracy=d.accuracy)
            costs[(role, name)] = c
    e = energy_draws(list(costs.values()), draws, seed)
    for j, ((role, name), c) in enumerate(costs.items()):
        lo, hi = interval(e[:, j])
        rows.append({"model": c.model, "role": role, "chip": name, "energy_pJ_per_inference": c.energy_pJ(),
                     "energy_pJ_p5": lo, "energy_pJ_p95": hi, "latency_cycles": c.timing.cycles,
                     "cores_used": c.cores_used})
    return pd.DataFrame(rows), costs


def pairings(costs: dict, chip_m: str, chip_b: str, fit_m: str | None, fit_b: str | None, draws: int = 2000,
             seed: int = 0) -> pd.DataFrame:
    """Model / baseline ratios of energy and latency for each pairing, with the energy ratio's 90 % interval."""
    pairs = [("both on " + chip_m, chip_m, chip_m), ("both on " + chip_b, chip_b, chip_b),
             ("each on its own chip", chip_m, chip_b)]
    if fit_m and fit_b:
        pairs.append(("each on its own chip, right-sized", fit_m, fit_b))
    rows = []
    for label, a, b in pairs:
        m, base = costs[("model", a)], costs[("baseline", b)]
        e = energy_draws([m, base], draws, seed)
        lo, hi = interval(e[:, 0] / e[:, 1])
        rows.append({"pairing": label, "model_chip": a, "baseline_chip": b,
                     "energy_ratio": m.energy_pJ() / base.energy_pJ(), "energy_ratio_p5": lo, "energy_ratio_p95": hi,
                     "latency_ratio": m.timing.cycles / base.timing.cycles})
    return pd.DataFrame(rows)


def option_tornado(model, baseline, arch_m, arch_b) -> pd.DataFrame:
    """The energy ratio with each microarchitecture choice set on both chips to each of its settings."""
    rows = []
    for key, values in OPTIONS.items():
        if any(a.template != "cores" for a in (arch_m, arch_b)):
            continue
        ratios = {}
        for v in values:
            m = evaluate(model.trace, arch_m.with_overrides({key: v}))
            b = evaluate(baseline.trace, arch_b.with_overrides({key: v}))
            ratios[v] = m.energy_pJ() / b.energy_pJ()
        lo, hi = min(ratios, key=ratios.get), max(ratios, key=ratios.get)
        rows.append({"assumption": key, "setting_low": str(lo), "setting_high": str(hi), "ratio_low": ratios[lo],
                     "ratio_high": ratios[hi]})
    return pd.DataFrame(rows)


def tornado(model, baseline, costs_m, costs_b) -> pd.DataFrame:
    """Every assumption's low and high model/baseline energy ratio, by swing; ``flips``: the range crosses 1.0."""
    t = pd.concat([entry_tornado(costs_m, costs_b), option_tornado(model, baseline, costs_m.arch, costs_b.arch)],
                  ignore_index=True)
    t["swing"] = (t["ratio_high"] - t["ratio_low"]).abs()
    t = t[t["swing"] > 0]
    t["flips"] = (t[["ratio_low", "ratio_high"]].min(axis=1) < 1) & (t[["ratio_low", "ratio_high"]].max(axis=1) > 1)
    return t.sort_values(["swing", "assumption"], ascending=[False, True]).reset_index(drop=True)


def best_designs(model, baseline, arch_m, arch_b, budget: int, seed: int = 0, draws: int = 2000, mapper=map,
                 lowering=None) -> tuple[dict, dict]:
    """Each side's design search on its chip (``empf_hw.hw.explore``: the lowest energy no slower than the chip as
    given) → ({role: designs table}, the best-vs-best pairing: energy ratio with its 90 % interval, latency and
    area ratios, each side's Costs, and ``variants``: both best designs with each setting of a ``VARIED`` choice)."""
    tables, costs, best = {}, {}, {}
    for role, d, arch in (("model", model, arch_m), ("baseline", baseline, arch_b)):
        df = explore(d.trace, arch, budget, seed, mapper, lowering)
        tables[role] = df
        best[role] = (d, arch, settings(df[df["best"]].iloc[0]))
        costs[role] = evaluate(d.trace, arch.with_overrides(best[role][2]), model=d.name, accuracy=d.accuracy,
                               lowering=lowering)
    variants = []  # each best design with one transport / compute choice changed
    for key in VARIED:
        for v in DESIGN_SPACE[key]:
            e = {role: evaluate(d.trace, arch.with_overrides({**design, key: v}), lowering=lowering).energy_pJ()
                 for role, (d, arch, design) in best.items()}
            variants.append({"choice": key, "setting": str(v), "model_energy_pJ": e["model"],
                             "baseline_energy_pJ": e["baseline"], "energy_ratio": e["model"] / e["baseline"]})
    m, b = costs["model"], costs["baseline"]
    e = energy_draws([m, b], draws, seed)
    lo, hi = interval(e[:, 0] / e[:, 1])
    sm, sb = m.summary().iloc[0], b.summary().iloc[0]
    pair = {"pairing": "each on its best design", "model_chip": f"{arch_m.name} + best design",
            "baseline_chip": f"{arch_b.name} + best design",
            "energy_ratio": m.energy_pJ() / b.energy_pJ(), "energy_ratio_p5": lo, "energy_ratio_p95": hi,
            "latency_ratio": m.timing.cycles / b.timing.cycles, "area_ratio": sm["area_mm2"] / sb["area_mm2"],
            "costs": costs, "variants": pd.DataFrame(variants)}
    return tables, pair

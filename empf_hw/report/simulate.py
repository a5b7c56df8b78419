"""The main job: deploy a model and a baseline on their chips and write the side-by-side report."""

import hashlib
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from .. import __version__
from ..errors import EmpfError
from ..hw import evaluate, load_arch
from ..hw.cores.rightsize import right_size
from ..hw.explore import SHOWN
from ..hw.uncertainty import energy_draws, interval
from ..nn.checkpoint import checkpoint_paths, load_card, resolve_checkpoint
from ..sim.pipeline import CALIBRATION_SAMPLES, deploy, hardware_spike_bits
from . import plots
from .compare import OPTIONS, best_designs, grid, pairings, tornado
from .files import check_output_dir, write_outputs
from .render import ASSUMPTIONS, render_html, render_markdown
from .tables import (
    NEUROBENCH_NOTE,
    Side,
    core_table,
    display_energy,
    display_summary,
    ert_table,
    layers_table,
    memory_table,
    neurobench_table,
    ratio_table,
    summary_table,
)
from .units import human_rows, quantity

MICROARCH_OPTIONS = (*OPTIONS, "core.time_batched")  # the tornado's choices, and one that applies to some models


def _option(arch, key: str):
    """A cores chip's option (``section.field``); empty for a template without it."""
    section, field = key.split(".")
    return getattr(arch, section, {}).get(field, "") if arch.template == "cores" else ""


DEFAULT_MODEL = "models/digits_cnn-empf-online-T4"
DEFAULT_BASELINE = "models/digits_cnn-lif-stbp-T4"


@dataclass
class SimulateConfig:
    model: str = DEFAULT_MODEL
    baseline: str = DEFAULT_BASELINE
    arch: str | None = None  # default: empf-core-45nm for EM-PF, stbp-core-45nm for LIF
    baseline_arch: str | None = None
    timesteps: int | None = None  # default: each model's own
    spike_bits: int | None = None  # EM-PF models only; default: the model's own, or 4 for float spikes
    samples: int | None = None  # default: the whole test split
    seed: int = 0  # 0: the first samples; otherwise a seeded random subset
    data_dir: str | None = None
    timing: str = "cycle"  # "cycle": also simulate cycle_samples inferences cycle by cycle (cores template)
    cycle_samples: int = 3
    right_size: bool = True  # each side on its chip right-sized to it (cores template); else the chip as given
    allow_mixed: bool = False  # compare a model and a baseline trained on different datasets (warned, stated)
    draws: int = 2000  # Monte Carlo draws over the energy table's ranges
    explore_budget: int = 24  # designs searched per side for the best-design headline (cores chips)


def _shown(path: Path) -> str:
    """A checkpoint's path as a report shows it: relative to the package's source tree or the working directory
    when inside one (reports stay byte-identical across checkouts), else absolute."""
    path = path.resolve()
    for root in (Path(__file__).resolve().parents[2], Path.cwd().resolve()):
        if root in path.parents:
            return str(path.relative_to(root))
    return str(path)


def _arch_for(card: dict, arch: str | None):
    return load_arch(arch or ("stbp-core-45nm" if card["config"]["neuron"] == "lif" else "empf-core-45nm"))


def run(cfg: SimulateConfig) -> tuple[list[Side], dict]:
    """Deploy both models and evaluate them; returns the sides and the exact configuration used. Both checkpoints
    and architectures are checked before either model is deployed."""
    used = {"empf_hw_version": __version__, "calibration_samples": CALIBRATION_SAMPLES, "request": asdict(cfg),
            "sides": []}
    plan = []
    for role, path, arch in (("model", cfg.model, cfg.arch), ("baseline", cfg.baseline, cfg.baseline_arch)):
        card = load_card(path)
        plan.append((role, path, card, _arch_for(card, arch)))
    datasets = [card["dataset"] for _, _, card, _ in plan]
    if datasets[0] != datasets[1]:
        if not cfg.allow_mixed:
            raise EmpfError(f"--model {cfg.model} was trained on {datasets[0]}, --baseline {cfg.baseline} on "
                            f"{datasets[1]}; allowed: a model and a baseline of one dataset, or --allow-mixed")
        print(f"warning: the model ({datasets[0]}) and the baseline ({datasets[1]}) were trained on different "
              "datasets; their accuracies and activities are not comparable", file=sys.stderr)
        used["mixed_datasets"] = datasets
    sides = []
    for role, path, card, chip in plan:
        bits = hardware_spike_bits(card, cfg.spike_bits)
        d = deploy(path, spike_bits=bits, timesteps=cfg.timesteps, samples=cfg.samples, seed=cfg.seed,
                   data_dir=cfg.data_dir, mode="fixed")
        hw = right_size(d.graph, chip) if cfg.right_size and chip.template == "cores" else chip
        sides.append(Side(role, d, evaluate(d.trace, hw, model=d.name, accuracy=d.accuracy), chip))
        wpath = checkpoint_paths(resolve_checkpoint(path))[0]
        used["sides"].append({"role": role, "model": str(path), "checkpoint": _shown(wpath),
                              "weights_sha256": hashlib.sha256(wpath.read_bytes()).hexdigest(),
                              "dataset": card["dataset"], "spike_bits": bits,
                              "timesteps": d.graph.timesteps, "samples": len(d.labels), "graph_attrs": d.graph.attrs,
                              "arch": hw.to_dict()})
    return sides, used


def build(cfg: SimulateConfig) -> tuple[dict, dict]:
    """All report files (name → content) and the machine-readable summary."""
    sides, used = run(cfg)
    summary, layers = summary_table(sides), layers_table(sides)
    ratios, mem, cores = ratio_table(summary), memory_table(sides), core_table(sides)
    nb = neurobench_table(sides)
    runs = cycle_section(sides, cfg, summary) if cfg.timing == "cycle" else None
    for col, k in (("nb_footprint_bytes", "footprint_bytes"), ("nb_connection_sparsity", "connection_sparsity"),
                   ("nb_activation_sparsity", "activation_sparsity"), ("nb_effective_macs", "Effective_MACs"),
                   ("nb_effective_acs", "Effective_ACs"), ("nb_dense_synops", "Dense")):
        summary[col] = nb[k].to_numpy()
    figs = {"energy_by_component": plots.energy_by_component(summary),
            "energy_by_layer": plots.per_layer(layers, "energy_pJ", "energy per inference (µJ)",
                                               "Energy per layer", log=True, scale=1e6),
            "operations_by_layer": plots.operations(layers),
            "activity_by_layer": plots.per_layer(layers, "activity", "input activity (events / inputs)",
                                                 "Input activity per layer"),
            "schedule": plots.timeline(sides),
            "core_utilization": plots.core_heatmaps(sides),
            "memory": plots.memory(mem)}
    fair = fair_section(sides, cfg)
    figs.update(fair["figs"])
    m, b = summary.iloc[0], summary.iloc[1]
    lo, hi = fair["interval"]
    head = (f"{m['model']} ({m['method']}) on {m['arch']} against {b['model']} ({b['method']}) on {b['arch']}: "
            f"energy {m['energy_pJ_per_inference'] / b['energy_pJ_per_inference']:.3g}× (90 % interval "
            f"{lo:.3g}–{hi:.3g}× over the energy table's ranges), latency "
            f"{m['latency_cycles'] / b['latency_cycles']:.3g}×, total memory "
            f"{m['total_memory_bits'] / b['total_memory_bits']:.3g}× the baseline's; accuracy "
            f"{quantity('accuracy', m['accuracy'])} vs {quantity('accuracy', b['accuracy'])} on {m['samples']} test "
            "samples.")
    best = fair["best"]
    if best is not None:
        head = (f"Each on its best design (lowest energy no slower than its right-sized chip; same technology and "
                f"mesh; {cfg.explore_budget} designs each, see Design search): energy {best['energy_ratio']:.3g}× "
                f"(90 % interval {best['energy_ratio_p5']:.3g}–{best['energy_ratio_p95']:.3g}×), latency "
                f"{best['latency_ratio']:.3g}×, area {best['area_ratio']:.3g}× the baseline's. As right-sized, "
                "without the search: " + head)
    layer_cols = ["model", "label", "layer", "tiles", "cores", "synapse_compute", "value_width_bits",
                  "weight_width_bits", "accumulator_need_bits", "acc_saturations_per_inference", "input_events",
                  "activity", "sops", "macs", "syn_ops_hw", "neuron_updates", "busy_cycles", "energy_pJ"]
    sections = [
        ("Summary", [head, "Checkpoints: " + "; ".join(
            f"{u['role']} {u['checkpoint']} (weights SHA-256 {u['weights_sha256'][:16]}…)" for u in used["sides"])
            + ".", display_summary(summary), human_rows(ratios, "metric", ["model", "baseline"])]),
        ("Energy", ["Energy per inference by hardware component and by layer (architectural estimate). The "
                    "literature convention is in the summary.", ("plot", "energy_by_component",
                                                                 figs["energy_by_component"]),
                    ("plot", "energy_by_layer", figs["energy_by_layer"]),
                    display_energy(summary)]),
        ("Latency and utilization", [("plot", "schedule", figs["schedule"]),
                                     ("plot", "core_utilization", figs["core_utilization"])]),
        ("Operations and activity", [("plot", "operations_by_layer", figs["operations_by_layer"]),
                                     ("plot", "activity_by_layer", figs["activity_by_layer"]),
                                     layers[[c for c in layer_cols if c in layers]]]),
        ("Memory", [("plot", "memory", figs["memory"]), mem, "Cores: the layers each core holds and how full its "
                    "synapse, membrane and spike-buffer SRAMs are; busy cycles per inference (fast estimate).",
                    *busiest(cores[["model", "core", "mesh_row", "mesh_col", "layers", "synapse_utilization",
                                    "neuron_utilization", "buffer_utilization", "busy_cycles", "utilization"]],
                             "busy_cycles", "cores.csv")]),
    ]
    sections += fair["sections"]
    if runs:
        sections.append(runs["section"])
        figs.update(runs["figs"])
    sections.append(("NeuroBench-compatible metrics", [NEUROBENCH_NOTE, nb]))
    for s in sides:
        sections.append((f"Energy reference table: {s.costs.arch.name}", [ert_table(s.costs)]))
    options = pd.DataFrame([{"model": s.costs.model, "chip": s.costs.arch.name,
                             **{k: _option(s.costs.arch, k) for k in MICROARCH_OPTIONS}} for s in sides])
    sections.append(("Assumptions", [ASSUMPTIONS, "Microarchitecture options of each chip as run (see "
                                     "docs/hardware-model.md; core.time_batched applies to stateless neurons only):",
                                     options]))
    title = f"empf-hw: {m['model']} vs {b['model']}"
    files = {"report.html": render_html(title, sections), "report.md": render_markdown(title, sections),
             "summary.csv": summary, "layers.csv": layers, "ratios.csv": ratios, "neurobench.csv": nb,
             "cores.csv": cores,
             "config.json": json.dumps(used, indent=1, sort_keys=True) + "\n"}
    files.update({f"plots/{k}.png": v for k, v in figs.items()})
    files.update(fair["files"])
    if runs:
        files.update(runs["files"])
    machine = {"summary": summary.to_dict(orient="records"), "ratios": ratios.to_dict(orient="records"),
               "best_designs": None if best is None else {k: v for k, v in best.items()
                                                          if k not in ("costs", "variants")}}
    return files, machine


SHOWN_CORES = 10  # rows of a per-core table shown per model; the CSV holds every core


def busiest(table: pd.DataFrame, by: str, csv: str) -> list:
    """Report items for a per-core table: each model's ``SHOWN_CORES`` busiest cores, and a link to the CSV."""
    order = {m: i for i, m in enumerate(dict.fromkeys(table["model"]))}
    top = table.sort_values(by, ascending=False, kind="stable").groupby("model", sort=False).head(SHOWN_CORES)
    top = top.sort_values("model", key=lambda m: m.map(order), kind="stable")
    counts = table.groupby("model", sort=False).size()
    if (counts <= SHOWN_CORES).all():
        return [table]
    said = ", ".join(f"{m}: {n}" for m, n in counts.items())
    return [top, ("link", f"The {SHOWN_CORES} busiest cores of each model shown ({said} cores used); every core in "
                  f"{csv}", csv)]


def default_out(cfg: SimulateConfig) -> Path:
    return Path("reports") / f"{Path(cfg.model).name}_vs_{Path(cfg.baseline).name}"


def simulate(cfg: SimulateConfig, out: str | Path | None = None, force: bool = False) -> tuple[Path, dict]:
    """Build the report and write it to ``out``; without ``out``, to ``default_out`` (empf-hw's own location,
    whose earlier report is replaced without ``force``; files empf-hw did not write are never touched)."""
    target, force = (out, force) if out is not None else (default_out(cfg), True)
    check_output_dir(target, force)
    files, machine = build(cfg)
    return write_outputs(target, files, force), machine


def cycle_section(sides, cfg: SimulateConfig, summary) -> dict | None:
    """Cycle-level runs of the first ``cfg.cycle_samples`` inferences of every side on a cores chip: the report
    section, its plots, its CSV files; adds the cycle-level latency columns to ``summary``."""
    from ..hw.cycle_report import cycle_runs

    runs = [(s, cycle_runs(s.deployed, s.costs.arch, cfg.cycle_samples)) for s in sides
            if s.costs.arch.template == "cores"]
    if not runs:
        return None
    for k in runs[0][1]["summary"]:
        summary[k] = [next((c["summary"][k] for s, c in runs if s is side), float("nan")) for side in sides]
    tables = {name: pd.concat([c[name].assign(model=s.deployed.name) for s, c in runs], ignore_index=True)
              for name in ("latency", "stalls", "links", "cores", "timesteps")}
    tables = {k: v[["model"] + [c for c in v.columns if c != "model"]] for k, v in tables.items()}
    figs = {"stall_breakdown": plots.stall_breakdown(runs), "noc_link_load": plots.link_heatmaps(runs)}
    errs = "; ".join(f"{s.deployed.name}: fast estimate {c['summary']['fast_vs_cycle_error_pct_mean']:+.1f} % "
                     f"(latency {c['summary']['cycle_latency_cycles_mean']:.0f} cycles simulated)" for s, c in runs)
    text = (f"The first {runs[0][1]['summary']['cycle_samples']} test inference(s) of each model, one at a time, "
            "through the cycle-level simulator of the cores (FIFOs, banked synapse SRAM, neuron units, wormhole "
            "routers with credit back-pressure, the chip's time-step semantics). Energy counts are identical to the "
            f"fast estimate's; its latency error against the simulation: {errs}.")
    section = ("Cycle-level simulation", [
        text, tables["latency"],
        "Latency per timestep window (cycles) across the simulated inferences: mean, median and 99th percentile.",
        tables["timesteps"], ("plot", "stall_breakdown", figs["stall_breakdown"]),
        ("plot", "noc_link_load", figs["noc_link_load"]),
        "Busy, stalled (by cause) and idle cycles per core, per inference.",
        *busiest(tables["cores"], "busy_cycles_per_inference", "cycle_cores.csv")])
    files = {f"cycle_{k}.csv": v for k, v in tables.items()}
    return {"section": section, "figs": figs, "files": files}


def fair_section(sides, cfg: SimulateConfig) -> dict:
    """Both models on both chips (and right-sized), the ratio of every pairing with its 90 % interval, and the
    tornado of assumptions behind the headline ratio."""
    m, b = sides
    archs = {s.chip.name: s.chip for s in sides}
    archs.update({s.costs.arch.name: s.costs.arch for s in sides})
    table, costs = grid(m.deployed, b.deployed, archs, cfg.draws, cfg.seed)
    fit = cfg.right_size and all(s.chip.template == "cores" for s in sides)
    pairs = pairings(costs, m.chip.name, b.chip.name, m.costs.arch.name if fit else None,
                     b.costs.arch.name if fit else None, cfg.draws, cfg.seed)
    best = None
    if all(s.costs.arch.template == "cores" for s in sides):
        designs, best = best_designs(m.deployed, b.deployed, m.costs.arch, b.costs.arch, cfg.explore_budget, cfg.seed,
                                     cfg.draws)
        pairs = pd.concat([pairs, pd.DataFrame([{k: v for k, v in best.items()
                                                 if k not in ("costs", "area_ratio", "variants")}])],
                          ignore_index=True)
    pairs.loc[len(pairs) - 1, "pairing"] += " (headline)"
    e = energy_draws([m.costs, b.costs], cfg.draws, cfg.seed)
    lo, hi = interval(e[:, 0] / e[:, 1])
    tor = tornado(m.deployed, b.deployed, m.costs, b.costs)
    nominal = m.costs.energy_pJ() / b.costs.energy_pJ()
    flips = tor.loc[tor["flips"], "assumption"].tolist()
    says = (f"Assumptions that would move the energy ratio across 1.0: {', '.join(flips)}." if flips else
            "No single assumption moves the energy ratio across 1.0.")
    figs = {"tornado": plots.tornado(tor, nominal)}
    sections = [
        ("Fair comparison", [
            "Both models on both chips, and each chip right-sized to its own model (same mesh, the smallest "
            "crossbar and SRAMs that hold the mapping). Energy intervals are the 5th–95th percentiles of "
            f"{cfg.draws} Monte Carlo draws over the energy table's ranges (one draw per entry, shared by every "
            "chip).", table, pairs]),
        ("Sensitivity", [
            f"How far each assumption moves the headline energy ratio ({nominal:.3g}×): energy-table entries at "
            "the ends of their ranges, microarchitecture choices at each of their settings (on both chips). " + says,
            ("plot", "tornado", figs["tornado"]), tor])]
    files = {"fair_grid.csv": table, "fair_pairings.csv": pairs, "tornado.csv": tor}
    if best is not None:
        sections.append(design_section(sides, designs, best, cfg))
        files.update({f"designs_{role}.csv": df for role, df in designs.items()})
    return {"sections": sections, "figs": figs, "files": files, "interval": (lo, hi), "best": best}


def design_section(sides, designs: dict, best: dict, cfg: SimulateConfig) -> tuple:
    """Each side's design search: its Pareto front and best design, and which accumulator designs favour which
    model."""
    m, b = sides
    keys = ["core.accumulator_storage", "core.accumulation"]
    lowest = {role: df[df["status"] == "ok"].groupby(keys)["energy_pJ_per_inference"].min()
              for role, df in designs.items()}
    favour = pd.DataFrame({"model_energy_pJ": lowest["model"], "baseline_energy_pJ": lowest["baseline"],
                           "energy_ratio": lowest["model"] / lowest["baseline"]}).reset_index()
    text = (f"{cfg.explore_budget} designs per side (the right-sized chip as given, then a seeded sample of "
            "accumulator storage and dataflow, synapse compute mode, spikes per packet, lanes, synapse word, neuron "
            "update and stem; empf_hw.hw.explore), each mapped and evaluated on the same technology and mesh. "
            "Best design: the lowest energy per "
            "inference no slower than the chip as given. Best against best: energy "
            f"{best['energy_ratio']:.3g}× (90 % interval {best['energy_ratio_p5']:.3g}–{best['energy_ratio_p95']:.3g}"
            f"×), latency {best['latency_ratio']:.3g}×, area {best['area_ratio']:.3g}×. The lowest energy of each "
            f"model per accumulator design (model: {m.costs.model}, baseline: {b.costs.model}; ratio below 1: the "
            "design favours the model):")
    variants = ("Both best designs with one compute or transport choice changed (popcount applies to binary-weight "
                "layers only, so a baseline with multi-bit weights stays event-driven; auto: per layer the cheaper "
                "mode):")
    fronts = [pd.concat([df.assign(model=s.costs.model) for s, df in zip(sides, designs.values())])
              .query("pareto or best or design == 0")[["model", *SHOWN]]]
    return ("Design search", [text, favour, variants, best["variants"], "Each model's chip as given (design 0), its "
                              "Pareto front (energy × latency × area) and its best design:", *fronts])

"""The main job: deploy a model and a baseline on their chips and write the side-by-side report."""

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from .. import __version__
from ..hw import evaluate, load_arch
from ..nn.checkpoint import load_card
from ..sim.pipeline import CALIBRATION_SAMPLES, deploy, hardware_spike_bits
from . import plots
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
    sides = []
    for role, path, card, hw in plan:
        bits = hardware_spike_bits(card, cfg.spike_bits)
        d = deploy(path, spike_bits=bits, timesteps=cfg.timesteps, samples=cfg.samples, seed=cfg.seed,
                   data_dir=cfg.data_dir, mode="fixed")
        sides.append(Side(role, d, evaluate(d.trace, hw, model=d.name, accuracy=d.accuracy)))
        used["sides"].append({"role": role, "model": str(path), "dataset": card["dataset"], "spike_bits": bits,
                              "timesteps": d.graph.timesteps, "samples": len(d.labels), "graph_attrs": d.graph.attrs,
                              "arch": hw.to_dict()})
    return sides, used


def build(cfg: SimulateConfig) -> tuple[dict, dict]:
    """All report files (name → content) and the machine-readable summary."""
    sides, used = run(cfg)
    summary, layers = summary_table(sides), layers_table(sides)
    ratios, mem, cores = ratio_table(summary), memory_table(sides), core_table(sides)
    nb = neurobench_table(sides)
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
    m, b = summary.iloc[0], summary.iloc[1]
    head = (f"{m['model']} ({m['method']}) on {m['arch']} against {b['model']} ({b['method']}) on {b['arch']}: "
            f"energy {m['energy_pJ_per_inference'] / b['energy_pJ_per_inference']:.3g}×, latency "
            f"{m['latency_cycles'] / b['latency_cycles']:.3g}×, total memory "
            f"{m['total_memory_bits'] / b['total_memory_bits']:.3g}× the baseline's; accuracy "
            f"{m['accuracy']:.4f} vs {b['accuracy']:.4f} on {m['samples']} test samples.")
    layer_cols = ["model", "label", "layer", "tiles", "cores", "value_width_bits", "weight_width_bits", "input_events",
                  "activity", "sops", "macs", "syn_ops_hw", "neuron_updates", "busy_cycles", "energy_pJ"]
    sections = [
        ("Summary", [head, display_summary(summary), ratios.round(4)]),
        ("Energy", ["Energy per inference by hardware component and by layer (architectural estimate). The "
                    "literature convention is in the summary.", ("plot", "energy_by_component",
                                                                 figs["energy_by_component"]),
                    ("plot", "energy_by_layer", figs["energy_by_layer"]),
                    display_energy(summary)]),
        ("Latency and utilization", [("plot", "schedule", figs["schedule"]),
                                     ("plot", "core_utilization", figs["core_utilization"])]),
        ("Operations and activity", [("plot", "operations_by_layer", figs["operations_by_layer"]),
                                     ("plot", "activity_by_layer", figs["activity_by_layer"]), layers[layer_cols]]),
        ("Memory", [("plot", "memory", figs["memory"]), mem,
                    cores[["model", "core", "mesh_row", "mesh_col", "layers", "synapse_utilization",
                           "neuron_utilization", "buffer_utilization", "busy_cycles", "utilization"]]]),
    ]
    sections.append(("NeuroBench-compatible metrics", [NEUROBENCH_NOTE, nb]))
    for s in sides:
        sections.append((f"Energy reference table: {s.costs.arch.name}", [ert_table(s.costs)]))
    sections.append(("Assumptions", [ASSUMPTIONS]))
    title = f"empf-hw: {m['model']} vs {b['model']}"
    files = {"report.html": render_html(title, sections), "report.md": render_markdown(title, sections),
             "summary.csv": summary, "layers.csv": layers, "ratios.csv": ratios, "neurobench.csv": nb,
             "config.json": json.dumps(used, indent=1, sort_keys=True) + "\n"}
    files.update({f"plots/{k}.png": v for k, v in figs.items()})
    machine = {"summary": summary.to_dict(orient="records"), "ratios": ratios.to_dict(orient="records")}
    return files, machine


def default_out(cfg: SimulateConfig) -> Path:
    return Path("reports") / f"{Path(cfg.model).name}_vs_{Path(cfg.baseline).name}"


def simulate(cfg: SimulateConfig, out: str | Path | None = None, force: bool = False) -> tuple[Path, dict]:
    """Build the report and write it to ``out``; without ``out``, to ``default_out`` (empf-hw's own location,
    whose earlier report is replaced without ``force``; files empf-hw did not write are never touched)."""
    target, force = (out, force) if out is not None else (default_out(cfg), True)
    check_output_dir(target, force)
    files, machine = build(cfg)
    return write_outputs(target, files, force), machine

"""``empf-hw sweep-report``: the stored points as CSV, and plots — Pareto fronts of energy vs latency and of
accuracy vs energy, energy and accuracy vs spike bits, energy vs technology node."""

from pathlib import Path

import pandas as pd

from ..report.files import check_output_dir, write_outputs
from ..report.plots import plt, to_png
from .runner import RESULT_COLUMNS
from .store import Store

ACCURACY_MARGIN = 0.01  # the front is drawn over points within 1 percentage point of the best accuracy


def pareto(df: pd.DataFrame) -> pd.DataFrame:
    """Points within ACCURACY_MARGIN of the best accuracy that no other such point beats in both energy and
    latency (lower is better)."""
    ok = df[df["accuracy"] >= df["accuracy"].max() - ACCURACY_MARGIN]
    ok = ok.sort_values(["latency_cycles", "energy_pJ_per_inference"])
    best, keep = float("inf"), []
    for i, e in zip(ok.index, ok["energy_pJ_per_inference"]):
        if e < best:
            keep.append(i)
            best = e
    return df.loc[keep]


def accuracy_front(df: pd.DataFrame) -> pd.DataFrame:
    """Points that no other point beats in accuracy (higher) and energy (lower), by rising energy: what each gain
    in accuracy costs."""
    ok = df.sort_values(["energy_pJ_per_inference", "accuracy"], ascending=[True, False])
    best, keep = -1.0, []
    for i, a in zip(ok.index, ok["accuracy"]):
        if a > best:
            keep.append(i)
            best = a
    return df.loc[keep]


def _label(row: pd.Series, params: list[str]) -> str:
    return ", ".join(f"{p.split('.')[-1]}={row[p]}" for p in params)


def _pareto_plot(df: pd.DataFrame, params: list[str]) -> bytes:
    fig, ax = plt.subplots(figsize=(7, 4.2))
    good = df["accuracy"] >= df["accuracy"].max() - ACCURACY_MARGIN
    for model, g in df.groupby("model", sort=True):
        ax.scatter(g["latency_cycles"], g["energy_pJ_per_inference"] / 1e6, s=14, alpha=0.6, label=Path(model).name)
    low = df[~good]
    if len(low):
        ax.scatter(low["latency_cycles"], low["energy_pJ_per_inference"] / 1e6, s=30, marker="x", c="grey",
                   label=f"accuracy < best − {ACCURACY_MARGIN * 100:g} pp")
    front = pareto(df)
    ax.plot(front["latency_cycles"], front["energy_pJ_per_inference"] / 1e6, "k-o", ms=4, lw=1, label="Pareto front")
    for _, r in front.iterrows():
        ax.annotate(_label(r, params), (r["latency_cycles"], r["energy_pJ_per_inference"] / 1e6), fontsize=6)
    ax.set_xlabel("latency per inference (cycles)")
    ax.set_ylabel("energy per inference (µJ)")
    ax.set_title(f"Energy vs latency; Pareto front over points within {ACCURACY_MARGIN * 100:g} pp of the best "
                 "accuracy", fontsize=9)
    ax.legend(fontsize=7)
    return to_png(fig)


def _accuracy_plot(df: pd.DataFrame, params: list[str]) -> bytes:
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for model, g in df.groupby("model", sort=True):
        ax.scatter(g["energy_pJ_per_inference"] / 1e6, g["accuracy"] * 100, s=14, alpha=0.6, label=Path(model).name)
    front = accuracy_front(df)
    ax.plot(front["energy_pJ_per_inference"] / 1e6, front["accuracy"] * 100, "k-o", ms=4, lw=1, label="Pareto front")
    for _, r in front.iterrows():
        ax.annotate(_label(r, params), (r["energy_pJ_per_inference"] / 1e6, r["accuracy"] * 100), fontsize=6)
    ax.set_xlabel("energy per inference (µJ)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title("Accuracy vs energy; Pareto front", fontsize=9)
    ax.legend(fontsize=7)
    return to_png(fig)


def _versus(df: pd.DataFrame, x: str, xlabel: str, with_accuracy: bool) -> bytes:
    fig, axes = plt.subplots(1, 2 if with_accuracy else 1, figsize=(9 if with_accuracy else 5.5, 3.6),
                             squeeze=False)
    for model, g in df.groupby("model", sort=True):
        m = g.groupby(x).agg(energy=("energy_pJ_per_inference", "min"), accuracy=("accuracy", "mean"))
        axes[0, 0].plot(m.index, m["energy"] / 1e6, "-o", ms=4, label=Path(model).name)
        if with_accuracy:
            axes[0, 1].plot(m.index, m["accuracy"] * 100, "-o", ms=4, label=Path(model).name)
    axes[0, 0].set_xlabel(xlabel)
    axes[0, 0].set_ylabel("energy per inference (µJ)")
    axes[0, 0].set_title("lowest energy over the other parameters", fontsize=8)
    axes[0, 0].legend(fontsize=7)
    if with_accuracy:
        axes[0, 1].set_xlabel(xlabel)
        axes[0, 1].set_ylabel("accuracy (%)")
    return to_png(fig)


def sweep_report(store_path, out, force: bool = False) -> Path:
    """Write the report of a store (opened read-only) to ``out`` (see ``empf_hw.report.files``)."""
    check_output_dir(out, force)
    store = Store(store_path)
    rows = store.rows()
    source = store.spec_source()
    store.close()
    params = list(source.get("parameters", {}))
    df = pd.DataFrame(rows, columns=["model", "arch", *params, "status", *RESULT_COLUMNS])
    files: dict = {"results.csv": df}
    lines = [f"# Sweep {source.get('name')}", "", f"{len(df)} points stored"]
    ok = df[df["status"] == "ok"] if len(df) else df
    lines.append(f"{len(ok)} evaluated, {len(df) - len(ok)} did not fit their architecture")
    if len(ok):
        front = pareto(ok)
        files["pareto.csv"] = front
        files["plots/pareto_energy_latency.png"] = _pareto_plot(ok, params)
        files["pareto_accuracy_energy.csv"] = accuracy_front(ok)
        files["plots/pareto_accuracy_energy.png"] = _accuracy_plot(ok, params)
        lines += ["", "Pareto front (energy vs latency): pareto.csv, plots/pareto_energy_latency.png",
                  "Pareto front (accuracy vs energy): pareto_accuracy_energy.csv, plots/pareto_accuracy_energy.png"]
        for x, name, label, acc in (("spike_bits", "spike_bits", "spike bits", True),
                                    ("chip.tech_node_nm", "tech_node", "technology node (nm)", False),
                                    ("timesteps", "timesteps", "timesteps", True)):
            if x in ok.columns:
                files[f"plots/energy_vs_{name}.png"] = _versus(ok, x, label, acc)
                lines.append(f"energy{' and accuracy' if acc else ''} vs {label}: plots/energy_vs_{name}.png")
            else:
                lines.append(f"{label}: not swept in this store")
    files["report.md"] = "\n".join(lines) + "\n"
    return write_outputs(out, files, force)

"""Report figures (matplotlib, Agg) as PNG bytes; every axis is labelled with its unit."""

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..hw.result import COMPONENT_ORDER  # noqa: E402

plt.rcParams.update({"figure.dpi": 100, "font.size": 9})


def to_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", metadata={"Software": None}, bbox_inches="tight", pad_inches=0.1)
    plt.close(fig)
    return buf.getvalue()


def energy_by_component(summary: pd.DataFrame) -> bytes:
    comps = [c for c in COMPONENT_ORDER if summary[f"{c}_energy_pJ"].any()]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    bottom = np.zeros(len(summary))
    for c in comps:
        v = summary[f"{c}_energy_pJ"].to_numpy() / 1e6
        ax.bar(summary["model"], v, bottom=bottom, label=c)
        bottom += v
    ax.set_ylabel("energy per inference (µJ)")
    ax.set_title("Energy by hardware component")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.tick_params(axis="x", labelsize=7)
    return to_png(fig)


def per_layer(layers: pd.DataFrame, column: str, ylabel: str, title: str, log: bool = False,
              scale: float = 1.0) -> bytes:
    """One bar panel per model on a shared y axis, so that the models compare by eye."""
    models = list(dict.fromkeys(layers["model"]))
    fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 3.8), squeeze=False, sharey=True)
    for ax, m in zip(axes[0], models):
        df = layers[layers["model"] == m]
        ax.bar(df["label"], df[column] / scale)
        ax.set_title(m, fontsize=8)
        ax.set_xlabel("layer")
        ax.tick_params(axis="x", rotation=45, labelsize=7)
        for t in ax.get_xticklabels():
            t.set_horizontalalignment("right")
        if log:
            ax.set_yscale("log")
    axes[0, 0].set_ylabel(ylabel)
    fig.suptitle(title)
    return to_png(fig)


def operations(layers: pd.DataFrame) -> bytes:
    models = list(dict.fromkeys(layers["model"]))
    fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 3.8), squeeze=False, sharey=True)
    for ax, m in zip(axes[0], models):
        df = layers[layers["model"] == m]
        x = np.arange(len(df))
        for k, (col, label) in enumerate([("sops", "SOPs"), ("macs", "MACs"), ("neuron_updates", "neuron updates")]):
            ax.bar(x + (k - 1) * 0.27, df[col].to_numpy() + 1e-9, width=0.27, label=label)
        ax.set_xticks(x, df["label"], rotation=45, fontsize=7, ha="right")
        ax.set_yscale("log")
        ax.set_ylim(bottom=1)
        ax.set_xlabel("layer")
        ax.set_title(m, fontsize=8)
        ax.legend(fontsize=7)
    axes[0, 0].set_ylabel("operations per inference (count)")
    fig.suptitle("SOPs, MACs and neuron updates per layer")
    return to_png(fig)


def memory(mem: pd.DataFrame) -> bytes:
    kinds = ["weight_memory_bits", "param_memory_bits", "state_memory_bits", "buffer_memory_bits"]
    fig, ax = plt.subplots(figsize=(7, 3.4))
    bottom = np.zeros(len(mem))
    for k in kinds:
        v = mem[k].to_numpy() / 8192
        ax.bar(mem["model"], v, bottom=bottom, label=k.replace("_memory_bits", ""))
        bottom += v
    ax.scatter(mem["model"], mem["fp32_memory_bits"] / 8192, color="k", marker="_", s=400, label="float32 equivalent")
    ax.set_ylabel("memory (KiB)")
    ax.set_title("Memory footprint by kind")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.tick_params(axis="x", labelsize=7)
    return to_png(fig)


def core_heatmaps(sides) -> bytes:
    """Per-core utilization on the mesh (cores template) or per-layer PE-array utilization (systolic template)."""
    fig, axes = plt.subplots(1, len(sides), figsize=(4.6 * len(sides), 4.0), squeeze=False)
    for ax, s in zip(axes[0], sides):
        arch = s.costs.arch
        ax.set_title(f"{s.deployed.name}\non {arch.name}", fontsize=8)
        if arch.template == "systolic":
            info = s.costs.layer_info
            adds = s.costs.counts[:, s.costs.action_names.index("pe_op")].sum(axis=1)
            pe = arch.core["rows"] * arch.core["cols"]
            ax.barh(info["label"], np.minimum(adds / (pe * np.maximum(info["busy_cycles"], 1)), 1))
            ax.set_xlim(0, 1)
            ax.invert_yaxis()
            ax.tick_params(axis="y", labelsize=7)
            ax.set_xlabel("PE-array utilization (useful PE ops / PEs × busy cycles)")
            continue
        df = s.costs.by_core()
        ch = arch.chip
        grid = np.full((ch["mesh_rows"], ch["mesh_cols"]), np.nan)
        grid[df["mesh_row"], df["mesh_col"]] = df["utilization"]
        im = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis")
        ax.set_xlabel("mesh column")
        ax.set_ylabel("mesh row")
        fig.colorbar(im, ax=ax, label="busy / total cycles", shrink=0.85)
    fig.suptitle("Utilization: per core on the mesh (blank: unused core) or per layer on a PE array", y=1.02)
    return to_png(fig)


def timeline(sides) -> bytes:
    fig, axes = plt.subplots(len(sides), 1, figsize=(8, 1.2 + 0.35 * max(len(s.costs.timing.layers) for s in sides)
                                                     * len(sides)), squeeze=False)
    for ax, s in zip(axes[:, 0], sides):
        tm = s.costs.timing
        T = tm.start.shape[1]
        colors = plt.cm.tab10(np.arange(T) % 10)
        for i in range(len(tm.layers)):
            for t in range(T):
                ax.barh(i, tm.finish[i, t] - tm.start[i, t], left=tm.start[i, t], color=colors[t],
                        label=f"t={t}" if i == 0 else None)
        ax.set_yticks(range(len(tm.layers)), s.costs.layer_info["label"], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("cycle")
        kind = ("layers one after another on one PE array" if s.costs.arch.template == "systolic"
                else f"{tm.mode} schedule over the cores (fast estimate)")
        ax.set_title(f"{s.deployed.name} on {s.costs.arch.name}: {kind}, {tm.cycles} cycles", fontsize=8)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), title="timestep", title_fontsize=7)
    return to_png(fig)


def stall_breakdown(runs) -> bytes:
    """Stall cycles per inference by cause, from the cycle-level simulation; ``runs``: (side, cycle_runs) pairs."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    causes = list(runs[0][1]["stalls"]["cause"])
    width = 0.8 / len(runs)
    for k, (s, cyc) in enumerate(runs):
        ax.barh(np.arange(len(causes)) + k * width, cyc["stalls"]["cycles_per_inference"], height=width,
                label=f"{s.deployed.name} on {s.costs.arch.name}")
    ax.set_yticks(np.arange(len(causes)) + width * (len(runs) - 1) / 2, causes)
    ax.invert_yaxis()
    ax.set_xlabel("stalled cycles per inference (summed over cores / router ports)")
    ax.set_title("Stalls by cause (cycle-level simulation)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    return to_png(fig)


def link_heatmaps(runs) -> bytes:
    """Flits per inference leaving each router over its mesh links (local ports excluded), per side."""
    fig, axes = plt.subplots(1, len(runs), figsize=(4.6 * len(runs), 4.0), squeeze=False)
    for ax, (s, cyc) in zip(axes[0], runs):
        ch = s.costs.arch.chip
        grid = np.zeros((ch["mesh_rows"], ch["mesh_cols"]))
        links = cyc["links"][cyc["links"]["direction"] != "local"]
        np.add.at(grid, (links["router_row"].to_numpy(int), links["router_col"].to_numpy(int)),
                  links["flits_per_inference"].to_numpy(float))
        im = ax.imshow(grid, cmap="magma")
        ax.set_title(f"{s.deployed.name}\non {s.costs.arch.name}", fontsize=8)
        ax.set_xlabel("router column")
        ax.set_ylabel("router row")
        fig.colorbar(im, ax=ax, label="flits per inference out of the router", shrink=0.85)
    fig.suptitle("NoC link load (cycle-level simulation)", y=1.02)
    return to_png(fig)


def tornado(table: pd.DataFrame, nominal: float, top: int = 12) -> bytes:
    """Model / baseline energy ratio with each assumption at its two ends (bars), around the nominal ratio."""
    t = table.head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(8, 0.8 + 0.35 * len(t)))
    lo = t[["ratio_low", "ratio_high"]].min(axis=1)
    hi = t[["ratio_low", "ratio_high"]].max(axis=1)
    ax.barh(range(len(t)), hi - lo, left=lo, color=np.where(t["flips"], "tab:red", "tab:blue"))
    labels = [a if a.startswith("energy entry") else f"{a} ({lo_s} … {hi_s})"
              for a, lo_s, hi_s in zip(t["assumption"], t["setting_low"], t["setting_high"])]
    ax.set_yticks(range(len(t)), labels, fontsize=7)
    ax.axvline(nominal, color="k", lw=1, label=f"nominal {nominal:.3g}×")
    ax.axvline(1.0, color="tab:red", lw=1, ls="--", label="parity (1.0×)")
    ax.set_xlabel("model / baseline energy per inference (ratio)")
    ax.set_title("Sensitivity of the energy ratio (red: crosses 1.0)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    return to_png(fig)

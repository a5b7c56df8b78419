"""Report figures (matplotlib, Agg) as PNG bytes; every axis is labelled with its unit."""

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import EngFormatter  # noqa: E402

from ..hw.result import COMPONENT_ORDER  # noqa: E402

# constrained layout fits titles, legends and colorbars without tight_layout's "not applied" warnings
plt.rcParams.update({"figure.dpi": 100, "font.size": 9, "figure.constrained_layout.use": True})


def to_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None}, bbox_inches="tight", pad_inches=0.1)
    plt.close(fig)
    return buf.getvalue()


def energy_by_component(summary: pd.DataFrame) -> bytes:
    """Stacked totals (linear) beside every component on a log axis, so that small components stay readable."""
    comps = [c for c in COMPONENT_ORDER if summary[f"{c}_energy_pJ"].any()]
    fig, (ax, lg) = plt.subplots(1, 2, figsize=(11, 3.8), width_ratios=(1, 1.6))
    bottom = np.zeros(len(summary))
    names = [f"{m}\n({a})" for m, a in zip(summary["model"], summary["arch"])]
    for c in comps:
        v = summary[f"{c}_energy_pJ"].to_numpy() / 1e6
        ax.bar(names, v, bottom=bottom, label=c)
        bottom += v
    ax.set_ylabel("energy per inference (µJ)")
    ax.set_title("Total by component (linear)")
    ax.tick_params(axis="x", labelsize=7)
    width = 0.8 / len(summary)
    x = np.arange(len(comps))
    for k, (m, name) in enumerate(zip(summary.index, names)):
        v = np.array([summary.at[m, f"{c}_energy_pJ"] for c in comps], float) / 1e6
        lg.bar(x + (k - (len(summary) - 1) / 2) * width, np.where(v > 0, v, np.nan), width=width,
               label=name.replace("\n", " "))
    lg.set_xticks(x, comps, rotation=30, ha="right", fontsize=7)
    lg.set_yscale("log")
    lg.set_ylabel("energy per inference (µJ, log)")
    lg.set_title("Each component (log scale)")
    lg.legend(fontsize=7)
    ax.legend(fontsize=7, loc="upper right")
    return to_png(fig)


def _used_box(rows: np.ndarray, cols: np.ndarray) -> tuple[slice, slice]:
    """The rows and columns of the mesh spanned by the used cores (the whole mesh if none)."""
    if not len(rows):
        return slice(None), slice(None)
    return slice(int(rows.min()), int(rows.max()) + 1), slice(int(cols.min()), int(cols.max()) + 1)


def _mesh_image(ax, grid: np.ndarray, box: tuple[slice, slice], **kw):
    """``grid`` cropped to ``box``, its axes labelled with the mesh's own row and column numbers."""
    r0, c0 = box[0].start or 0, box[1].start or 0
    crop = grid[box]
    im = ax.imshow(crop, extent=(c0 - 0.5, c0 + crop.shape[1] - 0.5, r0 + crop.shape[0] - 0.5, r0 - 0.5), **kw)
    ax.set_xticks(range(c0, c0 + crop.shape[1], max(1, crop.shape[1] // 8)))
    ax.set_yticks(range(r0, r0 + crop.shape[0], max(1, crop.shape[0] // 8)))
    return im


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


def _mesh_height(rows: int) -> float:
    """Figure height (inches) of a row of mesh heatmaps ``rows`` routers tall."""
    return min(4.5, 1.6 + 0.45 * rows)


def core_heatmaps(sides) -> bytes:
    """Per-core utilization on the mesh (cores template) or per-layer PE-array utilization (systolic template)."""
    rows = max(int(s.costs.by_core()["mesh_row"].max()) - int(s.costs.by_core()["mesh_row"].min()) + 1
               if s.costs.arch.template == "cores" else 8 for s in sides)
    fig, axes = plt.subplots(1, len(sides), figsize=(4.6 * len(sides), _mesh_height(rows)), squeeze=False)
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
        box = _used_box(df["mesh_row"].to_numpy(), df["mesh_col"].to_numpy())
        im = _mesh_image(ax, grid, box, vmin=0, vmax=1, cmap="viridis")
        ax.set_xlabel("mesh column")
        ax.set_ylabel("mesh row")
        fig.colorbar(im, ax=ax, label="busy / total cycles", shrink=0.85)
    fig.suptitle("Utilization: per core over the used part of the mesh (blank: unused core) or per layer on a PE "
                 "array")
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
        ax.xaxis.set_major_formatter(EngFormatter())
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
    ax.xaxis.set_major_formatter(EngFormatter())
    ax.set_xlabel("stalled cycles per inference (summed over cores / router ports)")
    ax.set_title("Stalls by cause (cycle-level simulation)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    return to_png(fig)


def link_heatmaps(runs) -> bytes:
    """Flits per inference leaving each router over its mesh links (local ports excluded), per side."""
    rows = max(int(c["links"]["router_row"].max()) - int(c["links"]["router_row"].min()) + 1 if len(c["links"]) else 1
               for _, c in runs)
    fig, axes = plt.subplots(1, len(runs), figsize=(4.6 * len(runs), _mesh_height(rows)), squeeze=False)
    for ax, (s, cyc) in zip(axes[0], runs):
        ch = s.costs.arch.chip
        grid = np.zeros((ch["mesh_rows"], ch["mesh_cols"]))
        links = cyc["links"][cyc["links"]["direction"] != "local"]
        np.add.at(grid, (links["router_row"].to_numpy(int), links["router_col"].to_numpy(int)),
                  links["flits_per_inference"].to_numpy(float))
        used = cyc["links"]
        box = _used_box(used["router_row"].to_numpy(int), used["router_col"].to_numpy(int))
        im = _mesh_image(ax, grid, box, cmap="magma")
        ax.set_title(f"{s.deployed.name}\non {s.costs.arch.name}", fontsize=8)
        ax.set_xlabel("router column")
        ax.set_ylabel("router row")
        fig.colorbar(im, ax=ax, label="flits per inference out of the router", shrink=0.85)
    fig.suptitle("NoC link load over the used part of the mesh (cycle-level simulation)")
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

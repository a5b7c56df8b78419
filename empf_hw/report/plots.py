"""Report figures (matplotlib, Agg) as PNG bytes; every axis is labelled with its unit."""

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..hw.costs import COMPONENTS  # noqa: E402

plt.rcParams.update({"figure.dpi": 100, "font.size": 9})


def to_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def energy_by_component(summary: pd.DataFrame) -> bytes:
    comps = sorted(set(COMPONENTS.values()))
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


def per_layer(layers: pd.DataFrame, column: str, ylabel: str, title: str, log: bool = False) -> bytes:
    models = list(dict.fromkeys(layers["model"]))
    fig, axes = plt.subplots(1, len(models), figsize=(4 * len(models), 3.4), squeeze=False)
    for ax, m in zip(axes[0], models):
        df = layers[layers["model"] == m]
        ax.bar(df["layer"], df[column])
        ax.set_title(m, fontsize=8)
        ax.set_xlabel("layer")
        ax.set_ylabel(ylabel)
        ax.tick_params(axis="x", rotation=45, labelsize=7)
        if log:
            ax.set_yscale("log")
    fig.suptitle(title)
    return to_png(fig)


def operations(layers: pd.DataFrame) -> bytes:
    models = list(dict.fromkeys(layers["model"]))
    fig, axes = plt.subplots(1, len(models), figsize=(4 * len(models), 3.4), squeeze=False)
    for ax, m in zip(axes[0], models):
        df = layers[layers["model"] == m]
        x = np.arange(len(df))
        for k, (col, label) in enumerate([("sops", "SOPs"), ("macs", "MACs"), ("neuron_updates", "neuron updates")]):
            ax.bar(x + (k - 1) * 0.27, df[col].to_numpy() + 1e-9, width=0.27, label=label)
        ax.set_xticks(x, df["layer"], rotation=45, fontsize=7)
        ax.set_yscale("log")
        ax.set_ylim(bottom=1)
        ax.set_xlabel("layer")
        ax.set_ylabel("operations per inference (count)")
        ax.set_title(m, fontsize=8)
        ax.legend(fontsize=7)
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
    fig, axes = plt.subplots(1, len(sides), figsize=(4.2 * len(sides), 3.6), squeeze=False)
    for ax, s in zip(axes[0], sides):
        df = s.costs.by_core()
        ch = s.costs.arch.chip
        shape = (ch["mesh_rows"], ch["mesh_cols"]) if "mesh_rows" in ch else (1, 1)
        grid = np.full(shape, np.nan)
        grid[df["mesh_row"], df["mesh_col"]] = df["utilization"]
        im = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis")
        ax.set_title(f"{s.deployed.name}\non {s.costs.arch.name}", fontsize=8)
        ax.set_xlabel("mesh column (core)")
        ax.set_ylabel("mesh row (core)")
        fig.colorbar(im, ax=ax, label="utilization (busy / total cycles)")
    fig.suptitle("Per-core utilization (blank: unused core)")
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
        ax.set_yticks(range(len(tm.layers)), tm.layers, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("cycle")
        ax.set_title(f"{s.deployed.name}: pipelined schedule, {tm.cycles} cycles", fontsize=8)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), title="timestep", title_fontsize=7)
    return to_png(fig)

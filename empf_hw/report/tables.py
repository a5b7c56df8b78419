"""Tables of a model-vs-baseline run: summary (one row per model), per layer, ratios, memory, cores."""

from dataclasses import dataclass

import pandas as pd

from ..hw.result import COMPONENT_ORDER, Costs
from ..sim.pipeline import Deployed

SUMMARY_COLUMNS = ["model", "method", "accuracy", "energy_pJ_per_inference", "literature_energy_pJ_per_inference",
                   "sop_energy_pJ_per_inference", "latency_cycles", "latency_us", "sops", "macs", "neuron_updates",
                   "weight_memory_bits",
                   "total_memory_bits"]
RATIO_METRICS = ["accuracy", "energy_pJ_per_inference", "literature_energy_pJ_per_inference",
                 "sop_energy_pJ_per_inference", "latency_cycles",
                 "latency_us", "sops", "macs", "neuron_updates", "weight_memory_bits", "total_memory_bits"]
MEMORY_KINDS = ["weight_memory_bits", "param_memory_bits", "state_memory_bits", "buffer_memory_bits"]


@dataclass
class Side:
    role: str  # "model" or "baseline"
    deployed: Deployed
    costs: Costs
    chip: object = None  # the chip as given (costs.arch may be it right-sized)


def spike_format(d: Deployed) -> str:
    """How the deployed spikes are represented, in words."""
    c = d.card["config"]
    if c["neuron"] == "lif":
        return "binary (LIF)"
    bits = "/".join(map(str, sorted({n.attrs["spike_bits"] for n in d.graph.nodes if n.op == "neuron"})))
    if c["spike_bits"] and d.spike_bits in (None, c["spike_bits"]):
        return f"{bits}-bit (trained quantizer)"
    trained = f"{c['spike_bits']}-bit" if c["spike_bits"] else "floating-point"
    return f"{bits}-bit (trained with {trained} spikes; step calibrated on training samples)"


def summary_table(sides: list[Side]) -> pd.DataFrame:
    rows = []
    for s in sides:
        c = s.costs.summary().iloc[0].to_dict()
        d = s.deployed
        bits = sorted({n.attrs["spike_bits"] for n in d.graph.nodes if n.op == "neuron"})
        row = {"model": d.name, "method": d.method, **{k: c[k] for k in SUMMARY_COLUMNS[2:]},
               "role": s.role, "arch": c["arch"], "neuron": d.card["config"]["neuron"],
               "spike_bits": "/".join(map(str, bits)), "spike_format": spike_format(d),
               "timesteps": d.graph.timesteps, "samples": len(d.labels),
               "fp32_memory_bits": c["fp32_memory_bits"], "compression_vs_fp32": c["compression_vs_fp32"],
               "dynamic_energy_pJ": c["dynamic_energy_pJ"], "leakage_energy_pJ": c["leakage_energy_pJ"],
               **{f"{k}_energy_pJ": c[f"{k}_energy_pJ"] for k in COMPONENT_ORDER},
               "cores_used": c["cores_used"], "tiles": c["tiles"], "clock_MHz": c["clock_MHz"],
               "tech_node_nm": c["tech_node_nm"]}
        rows.append(row)
    return pd.DataFrame(rows)


def display_summary(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary's headline columns (raw units; ``units.human`` shows them in engineering units)."""
    out = summary[["model", "method", "arch", "spike_format", "accuracy", "energy_pJ_per_inference",
                   "literature_energy_pJ_per_inference", "sop_energy_pJ_per_inference", "latency_cycles",
                   "latency_us", "total_memory_bits"]]
    return out.rename(columns={"spike_format": "spikes"})


def display_energy(summary: pd.DataFrame) -> pd.DataFrame:
    """Energy per inference by component (raw pJ, one column per component)."""
    cols = [c for c in summary.columns if c.endswith("_energy_pJ")]
    return pd.concat([summary[["model"]], summary[cols]], axis=1)


def _stacked(sides: list[Side], table, with_method: bool) -> pd.DataFrame:
    """One per-model table of every side, stacked, with the model (and method) in front."""
    frames = []
    for s in sides:
        df = table(s.costs)
        if with_method:
            df.insert(0, "method", s.deployed.method)
        df.insert(0, "model", s.deployed.name)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def layers_table(sides: list[Side]) -> pd.DataFrame:
    return _stacked(sides, Costs.by_layer, True)


def ratio_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Model ÷ baseline for each headline metric."""
    m, b = summary.iloc[0], summary.iloc[1]
    return pd.DataFrame([{"metric": k, "model": m[k], "baseline": b[k],
                          "ratio_model_over_baseline": m[k] / b[k] if b[k] else float("nan")}
                         for k in RATIO_METRICS])


def memory_table(sides: list[Side]) -> pd.DataFrame:
    rows = []
    for s in sides:
        mem = s.costs.memory
        rows.append({"model": s.deployed.name, **{k: int(mem[k].sum()) for k in MEMORY_KINDS},
                     "total_memory_bits": int(mem["total_memory_bits"].sum()),
                     "fp32_memory_bits": int(mem["fp32_memory_bits"].sum())})
    return pd.DataFrame(rows)


def core_table(sides: list[Side]) -> pd.DataFrame:
    return _stacked(sides, Costs.by_core, False)


NEUROBENCH_NOTE = ("NeuroBench 2.3 definitions: footprint = bytes of the PyTorch parameters and buffers at their "
                   "storage dtypes; synaptic operations count (non-zero input, non-zero weight) pairs per layer call "
                   "and file a call under MACs as soon as one input is not in {−1, 0, 1}, so multi-bit (EM-PF) and "
                   "pooled spikes are MACs there. empf-hw's own columns count every spike event as an accumulate of "
                   "its value (sops), keep MACs for the real-valued stem, and size memory at the deployed bit widths.")


def neurobench_table(sides: list[Side]) -> pd.DataFrame:
    rows = []
    for s in sides:
        nb = s.costs.neurobench()
        summ = s.costs.summary().iloc[0]
        rows.append({"model": s.deployed.name, "footprint_bytes": nb["footprint_bytes"],
                     "connection_sparsity": nb["connection_sparsity"],
                     "activation_sparsity": nb["activation_sparsity"], "Effective_MACs": nb["Effective_MACs"],
                     "Effective_ACs": nb["Effective_ACs"], "Dense": nb["Dense"], "empf_hw_sops": summ["sops"],
                     "empf_hw_macs": summ["macs"], "deployed_total_memory_bytes": summ["total_memory_bits"] / 8})
    return pd.DataFrame(rows)


def ert_table(costs: Costs) -> pd.DataFrame:
    from ..hw.energy import reference_table

    return pd.DataFrame([{"entry": k, "energy_pJ": e.pJ, "formula": e.formula, "source": e.source}
                         for k, e in reference_table(costs.arch).items()])

"""What every hardware template returns: ``Costs`` (counts of named actions × the energy reference table, timing,
memory) and ``Timing``, plus the helpers both templates use (parameter counts, trace totals, memory rows)."""

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..deploy.graph import DeployGraph
from ..sim.trace import COUNTS, ActivityTrace
from .area import chip_mm2
from .energy import LITERATURE_AC_PJ, LITERATURE_MAC_PJ

# action → component: the core pipeline (synapse, dendrite, soma, network) as SANA-FE reports it, the synapse stage
# with its weight reads (SANA-FE's synapse energy includes them), then the other memories, DRAM and leakage
COMPONENTS = {
    "syn_dense": "synapse", "syn_sparse": "synapse", "syn_conv": "synapse", "pe_op": "synapse", "syn_mult": "synapse",
    "popcount_bit": "synapse", "dendrite_acc": "dendrite", "psum_add": "dendrite",
    "neuron_access": "soma", "neuron_update": "soma", "neuron_affine": "soma", "spike_gen": "soma",
    "spike_quantize": "soma", "aux_op": "soma",
    "message_send": "network", "message_bit": "network", "message_receive": "network", "hop_ew": "network",
    "hop_ns": "network", "hop_bit": "network", "router_buffer_bit": "network", "router_xbar_bit": "network",
    "router_arb": "network", "pack_bit": "network", "chip_link_bit": "network", "barrier": "network",
    "synapse_read_bit": "synapse", "synapse_read_word": "synapse", "acc_read_bit": "accumulator",
    "acc_write_bit": "accumulator", "acc_access": "accumulator", "acc_reg_bit": "accumulator",
    "membrane_read_bit": "membrane_sram", "membrane_write_bit": "membrane_sram", "param_read_bit": "membrane_sram",
    "buffer_read_bit": "buffer_sram", "buffer_write_bit": "buffer_sram", "dram_bit": "dram",
    "leakage_core_cycle": "leakage", "leakage_router_cycle": "leakage",
    "leakage_chip_link_cycle": "leakage", "wakeup_core": "leakage",
}
COMPONENT_ORDER = ("synapse", "dendrite", "soma", "network", "accumulator", "membrane_sram",
                   "buffer_sram", "dram", "leakage")
SYNAPTIC_ACTIONS = ("syn_dense", "syn_sparse", "syn_conv", "pe_op")
FP32 = 32


@dataclass
class Timing:
    layers: list[str]
    phase_a: np.ndarray  # (L, T) cycles
    phase_b: np.ndarray  # (L, T)
    start: np.ndarray  # (L, T) cycle a layer starts timestep t
    finish: np.ndarray  # (L, T)
    core_busy: dict[int, int]  # physical core → busy cycles per inference
    clock_MHz: float
    mode: str = "pipelined"  # pipelined | lockstep | sequential (systolic)
    method: str = "fast"  # fast (closed-form estimate) | cycle (cycle-level simulation)
    stats: dict = field(default_factory=dict)  # cycle-level extras: stalls by cause, link loads, per core

    @property
    def cycles(self) -> int:
        return int(self.finish.max(initial=0))

    @property
    def latency_us(self) -> float:
        return self.cycles / self.clock_MHz

    @property
    def windows(self) -> np.ndarray:
        """(T,) cycles between the last layer finishing t−1 and t (they sum to the latency)."""
        ends = self.finish.max(axis=0)
        return np.diff(np.concatenate([[0], np.maximum.accumulate(ends)]))


def param_count(lay) -> int:
    """Per-channel scale and bias of the synaptic layer plus the neuron's per-timestep parameters."""
    n = 2 * lay.node.shape[0]
    if lay.neuron is not None:
        t = lay.neuron.tensors
        n += t["leak"].size + t["threshold"].size
        if not (np.all(t["in_scale"] == 1) and np.all(t["in_bias"] == 0)):
            n += t["in_scale"].size + t["in_bias"].size
    return n


def source_spike_bits(graph: DeployGraph, node) -> int:
    """Spike width of the neurons feeding a synaptic node through pooling / flatten / add (1: binary); 0 for the
    network input."""
    todo, bits = list(node.inputs), 0
    while todo:
        n = graph[todo.pop()]
        if n.op == "neuron":
            bits = max(bits, max(n.attrs["spike_bits"], 1))
        elif n.op != "input":
            todo += n.inputs
    return bits


def trace_summary(trace: ActivityTrace, by: dict) -> dict:
    """Per-inference totals of the trace's counts, overall and for the mapped layers."""
    arr = np.array([[lt.counts[c] for c in COUNTS] for lt in trace.layers]).sum(axis=2) / trace.batch
    totals = {lt.name: dict(zip(COUNTS, row.tolist())) for lt, row in zip(trace.layers, arr)}
    s = dict(zip(COUNTS, arr.sum(axis=0).tolist()))
    s["layers"] = {name: {**totals[name], "inputs": float(lt.event_map[0].size * len(lt.event_map))}
                   for name, lt in by.items() if lt.event_map is not None}
    return s


def memory_frame(rows: list[dict]) -> pd.DataFrame:
    """Per-layer memory rows (weights, weight/param/state/buffer bits, float32-equivalent counts) → the memory
    table with totals."""
    cols = {k: [r[k] for r in rows] for k in rows[0] if k != "fp32_values"}
    cols["total_memory_bits"] = [sum(r[k] for k in ("weight_memory_bits", "param_memory_bits", "state_memory_bits",
                                                    "buffer_memory_bits")) for r in rows]
    cols["fp32_memory_bits"] = [r["fp32_values"] * FP32 for r in rows]
    return pd.DataFrame(cols)


def _total(per_layer: list | None) -> float:
    """Sum over layers; NaN when a layer's figure is unknown (a trace without accumulator widths) or absent."""
    if per_layer is None or any(v is None for v in per_layer):
        return float("nan")
    return float(sum(per_layer))


@dataclass
class Costs:
    """Costs of one model on one architecture; every table is per inference with units in its column names."""

    model: str
    arch: object
    layer_info: dict[str, list]  # columns: layer, label, op, tiles, cores, value_width_bits, weight_width_bits,
    #                              slices, busy_cycles (cores: accumulator_need_bits, acc_saturations_per_inference)
    core_table: Callable[[], pd.DataFrame]  # per core (array): position, placement, memory use, busy cycles
    cores_used: int
    timing: Timing
    action_names: tuple[str, ...]  # axis 1 of counts / energies
    counts: np.ndarray  # (layers, actions, T) per inference
    energies: np.ndarray  # (layers, actions, T) pJ
    memory: pd.DataFrame  # per layer, bits by kind
    trace_summary: dict
    accuracy: float | None = None
    mapping: object = None  # the cores template's placement
    trace: ActivityTrace | None = field(default=None, repr=False)
    graph: DeployGraph | None = field(default=None, repr=False)

    def neurobench(self) -> dict:
        """NeuroBench-compatible metrics of the evaluated trace (see ``empf_hw.sim.neurobench``)."""
        from ..sim.neurobench import neurobench_metrics

        return neurobench_metrics(self.trace, self.graph)

    def count(self, action: str) -> float:
        """Total count of one action per inference (0 when the template has no such action)."""
        if action not in self.action_names:
            return 0.0
        return float(self.counts[:, self.action_names.index(action)].sum())

    @property
    def actions(self) -> pd.DataFrame:
        """Long table: layer, timestep, action, component, value_bits (synaptic actions), count, energy_pJ."""
        L, A, T = self.counts.shape
        acts = list(self.action_names)
        comps = [COMPONENTS[a] for a in acts]
        bits = np.array(self.layer_info["value_width_bits"])[:, None, None]
        syn = np.array([k in SYNAPTIC_ACTIONS for k in acts])[None, :, None]
        return pd.DataFrame({
            "layer": np.repeat(self.layer_info["layer"], A * T), "timestep": np.tile(np.arange(T), L * A),
            "action": np.tile(np.repeat(acts, T), L), "component": np.tile(np.repeat(comps, T), L),
            "value_bits": np.broadcast_to(np.where(syn, bits, -1), self.counts.shape).ravel(),
            "count": self.counts.ravel(), "energy_pJ": self.energies.ravel()})

    def energy_pJ(self) -> float:
        return float(self.energies.sum())

    def component_energy(self) -> dict[str, float]:
        """Energy per inference by component (every component, zero where unused)."""
        per_action = self.energies.sum(axis=(0, 2))
        out = dict.fromkeys(COMPONENT_ORDER, 0.0)
        for k, v in zip(self.action_names, per_action.tolist()):
            out[COMPONENTS[k]] += v
        return out

    def literature_energy_pJ(self) -> float:
        """The EM-PF paper's convention: a synaptic op on an n-bit spike costs n/32 of the 0.9 pJ 32-bit add (a
        4-bit spike: 0.9/8 pJ), on a binary spike the full 0.9 pJ; the real-valued stem's MACs 4.6 pJ each."""
        layers = self.trace_summary["layers"]
        bits = {n.name: source_spike_bits(self.graph, n) for n in self.graph.nodes if n.name in layers}
        sop = sum(lt["sops"] * LITERATURE_AC_PJ * (bits[k] / 32 if bits[k] > 1 else 1) for k, lt in layers.items())
        return sop + self.trace_summary["macs"] * LITERATURE_MAC_PJ

    def sop_energy_pJ(self) -> float:
        """The plain convention: every SOP 0.9 pJ whatever its spike width, every MAC 4.6 pJ."""
        return self.trace_summary["sops"] * LITERATURE_AC_PJ + self.trace_summary["macs"] * LITERATURE_MAC_PJ

    def by_component(self) -> pd.DataFrame:
        g = self.actions.groupby(["component", "action"], sort=True)
        return g[["count", "energy_pJ"]].sum().reset_index()

    def by_layer(self) -> pd.DataFrame:
        comp_idx = {c: [i for i, a in enumerate(self.action_names) if COMPONENTS[a] == c] for c in COMPONENT_ORDER}
        syn = [i for i, a in enumerate(self.action_names) if a in SYNAPTIC_ACTIONS]
        upd = [i for i, a in enumerate(self.action_names) if a == "neuron_update"]
        rows = []
        for li, info in enumerate(pd.DataFrame(self.layer_info).to_dict(orient="records")):
            lt = self.trace_summary["layers"][info["layer"]]
            e = self.energies[li]
            rows.append({**{k: v for k, v in info.items() if k != "slices"}, "energy_pJ": float(e.sum()),
                         "input_events": lt["input_events"], "sops": lt["sops"], "macs": lt["macs"],
                         "syn_ops_hw": float(self.counts[li, syn].sum()) / info["slices"],
                         "neuron_updates": float(self.counts[li, upd].sum()),
                         "activity": lt["input_events"] / max(lt["inputs"], 1),
                         **{f"{c}_energy_pJ": float(e[idx].sum()) for c, idx in comp_idx.items()}})
        return pd.DataFrame(rows).merge(self.memory, on="layer", how="left")

    def by_core(self) -> pd.DataFrame:
        return self.core_table()

    def summary(self) -> pd.DataFrame:
        m = self.memory
        s = self.trace_summary
        e = self.component_energy()
        total = self.energy_pJ()
        cores = self.arch.template == "cores"
        row = {"model": self.model, "arch": self.arch.name, "accuracy": self.accuracy,
               "energy_pJ_per_inference": total,
               "literature_energy_pJ_per_inference": self.literature_energy_pJ(),
               "sop_energy_pJ_per_inference": self.sop_energy_pJ(),
               "latency_cycles": self.timing.cycles, "latency_us": self.timing.latency_us,
               "timing": self.timing.method, "timestep_mode": self.timing.mode,
               "sops": s["sops"], "macs": s["macs"], "neuron_updates": s["neuron_updates"],
               "weight_memory_bits": int(m["weight_memory_bits"].sum()),
               "total_memory_bits": int(m["total_memory_bits"].sum()),
               "fp32_memory_bits": int(m["fp32_memory_bits"].sum()),
               "compression_vs_fp32": m["fp32_memory_bits"].sum() / max(m["total_memory_bits"].sum(), 1),
               "dynamic_energy_pJ": total - e["leakage"], "leakage_energy_pJ": e["leakage"],
               "cores_used": self.cores_used, "tiles": int(sum(self.layer_info["tiles"])),
               "clock_MHz": self.arch.chip["clock_MHz"], "tech_node_nm": self.arch.chip["tech_node_nm"],
               "chip_area_mm2": chip_mm2(self.arch) if cores else float("nan"),
               "area_mm2": chip_mm2(self.arch) * self.arch.chips if cores else float("nan"),
               "accumulator_bits": self.arch.core["accumulator_bits"],
               "acc_saturations_per_inference": _total(self.layer_info.get("acc_saturations_per_inference"))}
        for comp in COMPONENT_ORDER:
            row[f"{comp}_energy_pJ"] = float(e[comp])
        return pd.DataFrame([row])

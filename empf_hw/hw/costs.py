"""Action counts, energy, memory footprint and the ``evaluate`` API.

Counts are per inference (batch totals ÷ batch), per layer and timestep:

- ``syn_add`` (filed by the value width of the input packets), ``syn_mult`` (multi-bit value × multi-bit weight
  slice only); a weight of m bits on cells of c bits is ⌈m / c⌉ slices, each one add;
- ``psum_add``, ``neuron_update``, ``aux_op``;
- SRAM bits: synapse reads (every used cell), membrane-SRAM reads/writes (the input-current accumulator
  read-modify-written per synaptic op and per partial sum; current + membrane read and membrane written per neuron
  update), spike-buffer writes and reads (each packet once);
- ``noc_bit_hop`` (packets and partial sums × hops), ``dram_bit`` (spilled weights, every timestep);
- ``leakage_core_cycle``: every used core leaks for the whole inference; a layer is charged its cores × the
  cycles of each timestep window.

Energy = Σ count × ERT entry. Memory: weights at their exact bit width, per-channel scale and bias and neuron
parameters at ``param_bits``, membrane + current state, spike buffers; and the float32 equivalent of each.
"""

import gc
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..deploy.graph import DeployGraph, layer_labels
from ..errors import EmpfError
from ..sim.trace import COUNTS, ActivityTrace
from .arch import Arch, load_arch
from .energy import LITERATURE_AC_PJ, LITERATURE_MAC_PJ, reference_table
from .mapper import Mapping, map_graph
from .timing import LayerWork, Timing, check_trace, layer_work, schedule

COMPONENTS = {"syn_add": "compute", "syn_mult": "compute", "psum_add": "compute", "neuron_update": "compute",
              "aux_op": "compute", "synapse_read_bit": "synapse_sram", "membrane_read_bit": "membrane_sram",
              "membrane_write_bit": "membrane_sram", "buffer_read_bit": "buffer_sram",
              "buffer_write_bit": "buffer_sram", "noc_bit_hop": "noc", "dram_bit": "dram",
              "leakage_core_cycle": "leakage"}
FP32 = 32


def _counts(mapping: Mapping, lay, w: LayerWork, timing: Timing, leak_cores: int) -> dict[str, np.ndarray]:
    c = mapping.arch.core
    acc, mem = c["accumulator_bits"], c["membrane_bits"]
    syn = w.syn_ops.sum(axis=1)
    adds = syn * lay.slices
    neurons, psums = w.neurons.sum(), w.psum_in.sum(axis=1)
    packets = w.packets.sum(axis=1)
    return {
        "syn_add": adds,
        "syn_mult": adds * (lay.value_bits > 1 and c["weight_bits"] > 1),
        "psum_add": psums,
        "neuron_update": np.full_like(syn, neurons),
        "aux_op": w.aux.sum(axis=1),
        "synapse_read_bit": adds * c["weight_bits"],
        "membrane_read_bit": syn * acc + neurons * (acc + mem) + psums * acc,
        "membrane_write_bit": syn * acc + neurons * mem + psums * acc,
        "buffer_read_bit": packets * w.packet_bits,
        "buffer_write_bit": packets * w.packet_bits,
        "noc_bit_hop": w.bit_hops.sum(axis=1) + w.psum_bh.sum(axis=1),
        "dram_bit": np.full_like(syn, w.dram_bits.sum()),
        "leakage_core_cycle": leak_cores * timing.windows.astype(np.float64),
    }


def _params(graph: DeployGraph, lay) -> int:
    """Per-channel scale and bias of the synaptic layer plus the neuron's per-timestep parameters."""
    n = 2 * lay.node.shape[0]
    if lay.neuron is not None:
        t = lay.neuron.tensors
        n += t["leak"].size + t["threshold"].size
        if not (np.all(t["in_scale"] == 1) and np.all(t["in_bias"] == 0)):
            n += t["in_scale"].size + t["in_bias"].size
    return n


@dataclass
class Costs:
    """Costs of one model on one architecture; every table is per inference with units in its column names."""

    model: str
    arch: Arch
    layer_info: dict[str, list]  # columns: layer, label, op, tiles, cores, value_width_bits, weight_width_bits,
    #                              slices, busy_cycles
    core_table: Callable[[], pd.DataFrame]  # per core (array): position, placement, memory use, busy cycles
    cores_used: int
    timing: Timing
    counts: np.ndarray  # (layers, actions, T) per inference; actions in COMPONENTS order
    energies: np.ndarray  # (layers, actions, T) pJ
    memory: pd.DataFrame  # per layer, bits by kind
    trace_summary: dict
    accuracy: float | None = None
    mapping: Mapping | None = None  # the core template's placement
    trace: ActivityTrace | None = field(default=None, repr=False)
    graph: DeployGraph | None = field(default=None, repr=False)

    def neurobench(self) -> dict:
        """NeuroBench-compatible metrics of the evaluated trace (see ``empf_hw.sim.neurobench``)."""
        from ..sim.neurobench import neurobench_metrics

        return neurobench_metrics(self.trace, self.graph)

    @property
    def actions(self) -> pd.DataFrame:
        """Long table: layer, timestep, action, component, value_bits (synaptic actions), count, energy_pJ."""
        L, A, T = self.counts.shape
        names = self.layer_info["layer"]
        acts = list(COMPONENTS)
        bits = np.array(self.layer_info["value_width_bits"])[:, None, None]
        syn = np.array([k.startswith("syn_") for k in acts])[None, :, None]
        return pd.DataFrame({
            "layer": np.repeat(names, A * T), "timestep": np.tile(np.arange(T), L * A),
            "action": np.tile(np.repeat(acts, T), L), "component": np.tile(np.repeat(list(COMPONENTS.values()), T), L),
            "value_bits": np.broadcast_to(np.where(syn, bits, -1), self.counts.shape).ravel(),
            "count": self.counts.ravel(), "energy_pJ": self.energies.ravel()})

    def energy_pJ(self) -> float:
        return float(self.energies.sum())

    def _component_energy(self) -> dict[str, float]:
        per_action = self.energies.sum(axis=(0, 2))
        out: dict[str, float] = {}
        for k, v in zip(COMPONENTS.values(), per_action.tolist()):
            out[k] = out.get(k, 0.0) + v
        return out

    def literature_energy_pJ(self) -> float:
        return self.trace_summary["sops"] * LITERATURE_AC_PJ + self.trace_summary["macs"] * LITERATURE_MAC_PJ

    def by_component(self) -> pd.DataFrame:
        g = self.actions.groupby(["component", "action"], sort=True)
        return g[["count", "energy_pJ"]].sum().reset_index()

    def by_layer(self) -> pd.DataFrame:
        a = self.actions
        energy = a.pivot_table(index="layer", columns="component", values="energy_pJ", aggfunc="sum",
                               sort=False).add_suffix("_energy_pJ")
        counts = a.pivot_table(index="layer", columns="action", values="count", aggfunc="sum", sort=False)
        rows = []
        per_layer = self.energies.sum(axis=(1, 2)).tolist()
        for info, e in zip(pd.DataFrame(self.layer_info).to_dict(orient="records"), per_layer):
            name = info["layer"]
            lt = self._trace_layer(name)
            rows.append({**{k: v for k, v in info.items() if k != "slices"}, "energy_pJ": e,
                         "input_events": lt["input_events"], "sops": lt["sops"], "macs": lt["macs"],
                         "syn_ops_hw": float(counts.loc[name, "syn_add"]) / info["slices"],
                         "neuron_updates": float(counts.loc[name, "neuron_update"]),
                         "activity": lt["input_events"] / max(lt["inputs"], 1)})
        df = pd.DataFrame(rows).set_index("layer")
        df = df.join(energy).join(self.memory.set_index("layer"))
        return df.reset_index()

    def _trace_layer(self, name: str) -> dict:
        return self.trace_summary["layers"][name]

    def by_core(self) -> pd.DataFrame:
        return self.core_table()

    def summary(self) -> pd.DataFrame:
        m = self.memory
        s = self.trace_summary
        e = self._component_energy()
        total = self.energy_pJ()
        row = {"model": self.model, "arch": self.arch.name, "accuracy": self.accuracy,
               "energy_pJ_per_inference": total,
               "literature_energy_pJ_per_inference": self.literature_energy_pJ(),
               "latency_cycles": self.timing.cycles, "latency_us": self.timing.latency_us,
               "sops": s["sops"], "macs": s["macs"], "neuron_updates": s["neuron_updates"],
               "weight_memory_bits": int(m["weight_memory_bits"].sum()),
               "total_memory_bits": int(m["total_memory_bits"].sum()),
               "fp32_memory_bits": int(m["fp32_memory_bits"].sum()),
               "compression_vs_fp32": m["fp32_memory_bits"].sum() / max(m["total_memory_bits"].sum(), 1),
               "dynamic_energy_pJ": total - e.get("leakage", 0.0), "leakage_energy_pJ": e.get("leakage", 0.0),
               "cores_used": self.cores_used, "tiles": int(sum(self.layer_info["tiles"])),
               "clock_MHz": self.arch.chip["clock_MHz"], "tech_node_nm": self.arch.chip["tech_node_nm"]}
        for comp in sorted(set(COMPONENTS.values())):
            row[f"{comp}_energy_pJ"] = float(e.get(comp, 0.0))
        return pd.DataFrame([row])


def _memory(mapping: Mapping) -> pd.DataFrame:
    c = mapping.arch.core
    rows = []
    for lay in mapping.layers:
        nw = lay.node.tensors["weight"].size
        params = _params(mapping.graph, lay)
        neurons = sum(t.neurons for t in lay.tiles)
        buffer_bits = sum(t.buffer_bits for t in lay.tiles)
        positions = buffer_bits / max(lay.value_bits, 1)
        state = neurons * (c["membrane_bits"] + c["accumulator_bits"])
        row = {"layer": lay.name, "weights": nw, "weight_memory_bits": nw * lay.weight_bits,
               "synapse_sram_bits": sum(t.synapse_bits for t in lay.tiles),
               "param_memory_bits": params * c["param_bits"], "state_memory_bits": state,
               "buffer_memory_bits": buffer_bits}
        row["total_memory_bits"] = row["weight_memory_bits"] + row["param_memory_bits"] + state + buffer_bits
        row["fp32_memory_bits"] = int((nw + params + 2 * neurons + positions) * FP32)
        rows.append(row)
    return pd.DataFrame(rows)


def _trace_summary(trace: ActivityTrace, by: dict) -> dict:
    """Per-inference totals of the trace's counts, overall and for the mapped layers."""
    arr = np.array([[lt.counts[c] for c in COUNTS] for lt in trace.layers]).sum(axis=2) / trace.batch
    totals = {lt.name: dict(zip(COUNTS, row.tolist())) for lt, row in zip(trace.layers, arr)}
    s = dict(zip(COUNTS, arr.sum(axis=0).tolist()))
    s["layers"] = {name: {**totals[name], "inputs": float(lt.event_map.size)} for name, lt in by.items()
                   if lt.event_map is not None}
    return s


def evaluate(trace_or_graph, arch, **kwargs) -> Costs:
    """Costs of running a trace (or a fixed-point graph on inputs ``x``) on ``arch`` (Arch, preset or YAML).

    Keywords: ``graph`` (for a trace loaded from disk), ``x``, ``model`` (a name), ``accuracy``. The cyclic
    garbage collector is paused meanwhile: the many small mapping objects would otherwise trigger full
    collections of a large heap (a torch process), costing more than the evaluation itself."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _evaluate(trace_or_graph, arch, **kwargs)
    finally:
        if enabled:
            gc.enable()


def _evaluate(trace_or_graph, arch, *, graph: DeployGraph | None = None, x: np.ndarray | None = None,
             model: str = "model", accuracy: float | None = None) -> Costs:
    arch = load_arch(arch)
    if isinstance(trace_or_graph, DeployGraph):
        if x is None:
            raise EmpfError("evaluate(graph, arch) needs inputs x to run the graph (or pass an ActivityTrace)")
        from ..sim.executor import execute

        trace = execute(trace_or_graph, x, "fixed", batch_size=256)
    else:
        trace = trace_or_graph
    graph = graph or trace.graph
    if graph is None:
        raise EmpfError("the trace carries no graph (loaded from disk?): pass graph=")
    if arch.template == "systolic":
        from .systolic import evaluate_systolic

        return evaluate_systolic(trace, graph, arch, model, accuracy)
    mapping = map_graph(graph, arch)
    by = check_trace(mapping, trace)
    done: dict = {}
    for lay in mapping.layers:
        aux = sum((by[a].counts["other_ops"] for a in lay.aux), np.zeros(graph.timesteps, np.int64))
        done[lay.name] = layer_work(mapping, lay, by[lay.name], aux, trace.batch, done, trace.cache)
    works = list(done.values())
    timing = schedule(mapping, works)
    ert = reference_table(arch)
    seen: set[int] = set()
    counts = []
    for lay, w in zip(mapping.layers, works):
        own = {int(cr) for cr in w.cores} - seen
        seen |= own
        c = _counts(mapping, lay, w, timing, len(own))
        counts.append(np.stack([np.asarray(c[k], np.float64) for k in COMPONENTS]))
    arr = np.stack(counts)  # (layers, actions, T)
    energies = arr * np.array([ert[k].pJ for k in COMPONENTS])[None, :, None]
    lays = mapping.layers
    busy = (timing.phase_a + timing.phase_b).sum(axis=1).tolist()
    labels = layer_labels(graph.nodes)
    info = {"layer": [lay.name for lay in lays], "label": [labels[lay.name] for lay in lays],
            "op": [lay.node.op for lay in lays],
            "tiles": [len(lay.tiles) for lay in lays], "cores": [len(set(w.cores.tolist())) for w in works],
            "value_width_bits": [lay.value_bits for lay in lays],
            "weight_width_bits": [lay.weight_bits for lay in lays], "slices": [lay.slices for lay in lays],
            "busy_cycles": [int(b) for b in busy]}

    def cores() -> pd.DataFrame:
        df = mapping.utilization()
        df["busy_cycles"] = df["core"].map(timing.core_busy).fillna(0).astype(int)
        df["idle_cycles"] = timing.cycles - df["busy_cycles"]
        df["utilization"] = df["busy_cycles"] / max(timing.cycles, 1)
        return df

    return Costs(model, arch, info, cores, len(seen), timing, arr, energies, _memory(mapping),
                 _trace_summary(trace, by), accuracy, mapping, trace, graph)

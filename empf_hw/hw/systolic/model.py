"""Systolic template: an R × C PE array (weight- or output-stationary) with binary-weight PEs fed by multi-bit
spike streams, ifmap / filter / ofmap SRAM buffers and DRAM.

Every synaptic layer is a GEMM per timestep: M output positions × N output channels × K = C_in·k² reduction
(× weight slices when model weights are wider than a PE's). Dense compute cycles follow SCALE-Sim v3's model
(checked against it layer by layer):

- WS: rows hold K, columns N; folds ⌈K/R⌉·⌈N/C⌉, each ``2R + C + M − 2`` cycles (M input vectors stream through);
- OS: rows hold M, columns N; folds ⌈M/R⌉·⌈N/C⌉, each ``R + C + K − 2`` cycles (K operands stream through);
- the layer takes Σ folds − 1 cycles.

``event`` mode skips, at the array edge, streamed vectors whose spikes are all zero: WS skips output positions
whose input window (restricted to the fold's K rows) has no event, OS skips reduction steps with no event among
the fold's R output positions. Their number comes from the trace's per-position event probabilities p (events ÷
batch), assuming independent positions: P(vector active) = 1 − Π(1 − p) (exact for a batch of one).

Then the neuron units update the N·M outputs (⌈·/units⌉ × cycles per update) and run the auxiliary ops; layers run
one after another, timestep by timestep. A layer-timestep lasts max(compute, each SRAM's bits ÷ its bandwidth):
the excess is stall. Weights are re-read from the filter SRAM every timestep; when the model's weights exceed the
filter SRAM they come from DRAM every timestep, and so do ifmaps larger than the ifmap SRAM.
"""

import math

import numpy as np
import pandas as pd

from ...deploy.graph import DeployGraph, conv_axes, layer_labels
from ...sim.ops import windows
from ..cores.mapper import synaptic_layers
from ..energy import SYSTOLIC_ENTRIES, reference_table
from ..result import Costs, Timing, memory_frame, param_count, trace_summary


def gemm_cycles(M: int, N: int, K: int, rows: int, cols: int, dataflow: str) -> int:
    """Dense compute cycles of one GEMM on the array (SCALE-Sim v3 model)."""
    if dataflow == "ws":
        return math.ceil(K / rows) * math.ceil(N / cols) * (2 * rows + cols + M - 2) - 1
    return math.ceil(M / rows) * math.ceil(N / cols) * (rows + cols + K - 2) - 1


def gemm_shape(node, slices: int) -> tuple[int, int, int]:
    """(M, N, K) of a synaptic node for one sample and timestep."""
    w = node.tensors["weight"]
    if node.op == "conv":
        return node.shape[1] * node.shape[2], w.shape[0], w.shape[1] * w.shape[2] * w.shape[3] * slices
    return 1, w.shape[0], w.shape[1] * slices


def _log_zero(p: np.ndarray) -> np.ndarray:
    """log P(no event) per position; −inf where an event is certain."""
    with np.errstate(divide="ignore"):
        return np.log1p(-np.clip(p, 0.0, 1.0))


def _window_logs(node, log_map: np.ndarray, slices: int) -> np.ndarray:
    """(M, K) log P(no event) of each input of each output position's window (K in C·kh·kw order, sliced)."""
    if node.op == "linear":
        cols = log_map.reshape(1, -1)
    else:
        x = np.moveaxis(log_map, 0, -1)[None]  # (1, H, W, C); padding taps are zeros that never fire
        win = windows(x, *zip(*conv_axes(node)))  # (1, Ho, Wo, C, kh, kw)
        cols = win.reshape(-1, int(np.prod(win.shape[3:])))
    return np.repeat(cols, slices, axis=1) if slices > 1 else cols


def active_vectors(node, event_prob: np.ndarray, rows: int, dataflow: str, slices: int) -> np.ndarray:
    """Expected streamed vectors with at least one event, per row fold (event mode)."""
    L = _window_logs(node, _log_zero(event_prob), slices)  # (M, K)
    M, K = L.shape
    if dataflow == "ws":  # vectors: output positions; folds over K
        pad = -K % rows
        Lf = np.pad(L, ((0, 0), (0, pad))).reshape(M, -1, rows).sum(axis=2)  # (M, K folds)
        return (1.0 - np.exp(Lf)).sum(axis=0)
    pad = -M % rows  # OS: vectors: reduction steps; folds over M
    Lf = np.pad(L, ((0, pad), (0, 0))).reshape(-1, rows, K).sum(axis=1)  # (M folds, K)
    return (1.0 - np.exp(Lf)).sum(axis=1)


def _fold_sizes(total: int, size: int) -> np.ndarray:
    n = math.ceil(total / size)
    return np.minimum(size, total - size * np.arange(n))


def evaluate_systolic(trace, graph: DeployGraph, arch, model: str, accuracy):
    """Costs of a trace on a systolic architecture (the same Costs and tables as the cores template)."""
    a = arch.core
    R, C, df, event = a["rows"], a["cols"], a["dataflow"], a["mode"] == "event"
    layers = synaptic_layers(graph)
    by = {lt.name: lt for lt in trace.layers}
    T, batch = len(trace.logits), trace.batch
    acc_bits, mem_bits = a["accumulator_bits"], a["membrane_bits"]
    stored = [lay.node.tensors["weight"].size * math.ceil(lay.weight_bits / a["weight_bits"]) * a["weight_bits"]
              for lay in layers]
    weights_from_dram = sum(stored) > arch.kib_bits("synapse")
    counts = np.zeros((len(layers), len(SYSTOLIC_ENTRIES), T))
    idx = {k: i for i, k in enumerate(SYSTOLIC_ENTRIES)}
    phase_a, phase_b = np.zeros((len(layers), T), np.int64), np.zeros((len(layers), T), np.int64)
    labels = layer_labels(graph.nodes)
    info = {k: [] for k in ("layer", "label", "op", "tiles", "cores", "value_width_bits", "weight_width_bits", "slices",
                            "busy_cycles")}
    mem_rows, pe_ops_total = [], 0.0
    for li, lay in enumerate(layers):
        slices = math.ceil(lay.weight_bits / a["weight_bits"])
        M, N, K = gemm_shape(lay.node, slices)
        vb = max(lay.value_bits, 1)
        rows_f = _fold_sizes(K if df == "ws" else M, R)  # row folds: K (WS) or M (OS)
        n_cf = math.ceil(N / C)
        dense = gemm_cycles(M, N, K, R, C, df)
        lt = by[lay.name]
        neurons = M * N if lay.neuron is not None else 0
        aux = sum((by[x].counts["other_ops"] for x in lay.aux), np.zeros(T, np.int64)) / batch
        in_bits = int(np.prod(lay.in_shape)) * vb
        for t in range(T):
            if event:
                act = active_vectors(lay.node, lt.event_map[t] / batch, R, df, slices)  # per row fold
                fill = (2 * R + C - 2) if df == "ws" else (R + C - 2)
                compute = int(n_cf * (len(rows_f) * fill + np.ceil(act).sum()) - 1)
            else:
                act = np.full(len(rows_f), float(M if df == "ws" else K))
                compute = dense
            pe = float((act * rows_f).sum() * N)  # useful MAC slots: vectors × rows × columns
            c = counts[li, :, t]
            c[idx["pe_op"]] = pe
            c[idx["syn_mult"]] = pe if (lay.value_bits > 1 and a["weight_bits"] > 1) else 0.0
            if_bits = float((act * rows_f).sum()) * n_cf * vb  # every streamed vector, once per column fold
            if df == "ws":
                fl_bits = float(K * N * a["weight_bits"])
                ps_w = float(act.sum()) * N * acc_bits
                ps_r = float(act[1:].sum()) * N * acc_bits
            else:
                fl_bits = float(act.sum()) * N * a["weight_bits"]
                ps_w, ps_r = float(M * N * acc_bits), 0.0
            c[idx["buffer_read_bit"]] = if_bits
            c[idx["buffer_write_bit"]] = in_bits  # the layer's input map written once per timestep
            c[idx["synapse_read_bit"]] = fl_bits
            c[idx["membrane_write_bit"]] = ps_w + neurons * mem_bits
            c[idx["membrane_read_bit"]] = ps_r + neurons * (acc_bits + mem_bits)
            c[idx["neuron_update"]] = neurons
            c[idx["aux_op"]] = aux[t]
            dram = (stored[li] if weights_from_dram else 0) + (in_bits if in_bits > arch.kib_bits("buffer") else 0)
            c[idx["dram_bit"]] = dram
            stall_free = max(compute, math.ceil(if_bits / a["ifmap_bits_per_cycle"]),
                             math.ceil(fl_bits / a["filter_bits_per_cycle"]),
                             math.ceil((ps_w + ps_r) / a["ofmap_bits_per_cycle"]))
            phase_a[li, t] = stall_free + math.ceil(dram / arch.chip["dram_bits_per_cycle"])
            phase_b[li, t] = (math.ceil(neurons / a["neuron_units"]) * a["neuron_update_cycles"]
                              + math.ceil(aux[t] / a["neuron_units"]))
            pe_ops_total += pe
        info["layer"].append(lay.name)
        info["label"].append(labels[lay.name])
        info["op"].append(lay.node.op)
        info["tiles"].append(len(rows_f) * n_cf)
        info["cores"].append(1)
        info["value_width_bits"].append(lay.value_bits)
        info["weight_width_bits"].append(lay.weight_bits)
        info["slices"].append(slices)
        info["busy_cycles"].append(int(phase_a[li].sum() + phase_b[li].sum()))
        params = param_count(lay)
        nw = lay.node.tensors["weight"].size
        mem_rows.append({"layer": lay.name, "weights": nw, "weight_memory_bits": nw * lay.weight_bits,
                         "synapse_sram_bits": stored[li], "param_memory_bits": params * a["param_bits"],
                         "state_memory_bits": neurons * (mem_bits + acc_bits), "buffer_memory_bits": in_bits,
                         "fp32_values": nw + params + 2 * neurons + in_bits // vb})
    start, finish = np.zeros_like(phase_a), np.zeros_like(phase_a)
    now = 0
    for t in range(T):  # one array: layers one after another, timestep by timestep
        for li in range(len(layers)):
            start[li, t] = now
            now += phase_a[li, t] + phase_b[li, t]
            finish[li, t] = now
    timing = Timing(info["layer"], phase_a, phase_b, start, finish, {0: int(now)}, arch.chip["clock_MHz"],
                    "sequential")
    windows = timing.windows.astype(np.float64)
    counts[0, idx["leakage_core_cycle"]] = windows  # one array leaks for the whole inference
    ert = reference_table(arch)
    energies = counts * np.array([ert[k].pJ for k in SYSTOLIC_ENTRIES])[None, :, None]
    memory = memory_frame(mem_rows)

    def cores() -> pd.DataFrame:
        busy = int(timing.cycles)
        return pd.DataFrame([{"core": 0, "mesh_row": 0, "mesh_col": 0, "tiles": int(sum(info["tiles"])),
                              "layers": " ".join(info["layer"]),
                              "synapse_utilization": max(stored) / arch.kib_bits("synapse"),
                              "neuron_utilization": float("nan"),
                              "buffer_utilization": memory["buffer_memory_bits"].max() / arch.kib_bits("buffer"),
                              "busy_cycles": busy, "idle_cycles": 0,
                              "utilization": pe_ops_total / max(R * C * busy, 1)}])

    by_trace = {lay.name: by[lay.name] for lay in layers}
    return Costs(model, arch, info, cores, 1, timing, SYSTOLIC_ENTRIES, counts, energies, memory,
                 trace_summary(trace, by_trace), accuracy, None, trace, graph)

"""The ``cores`` template: a board of chips, each a mesh of routers serving neuromorphic cores.

``evaluate_cores`` lowers spike formats the chip cannot carry (``lowering``), maps the layers onto cores
(``mapper``), derives per-tile activity from the trace (``work``) with each layer's synapse stage in its compute
mode (``compute``), times it (``fast`` estimate or the ``cycle`` simulator) and counts actions (``counts``);
energy = counts × the energy reference table.
"""

from dataclasses import replace

import numpy as np
import pandas as pd

from ...deploy.graph import layer_labels
from ...errors import check_choice
from ..energy import CORES_ENTRIES, reference_table
from ..result import Costs, memory_frame, param_count, trace_summary
from .compute import layer_modes
from .counts import board_static, layer_counts, soma_activity
from .fast import schedule
from .lowering import lower
from .mapper import accumulator_needs, map_graph, saturations
from .reuse import Prepared, kept, remember, timing_key, work_key
from .stem import stem_once
from .tiles import Mapping, state_bits
from .work import check_trace, layer_work, share_dram

LEAKAGE = CORES_ENTRIES.index("leakage_core_cycle")

TIMINGS = ("fast", "cycle")


def _memory(mapping: Mapping) -> pd.DataFrame:
    c = mapping.arch.core
    rows = []
    for lay in mapping.layers:
        nw = lay.node.tensors["weight"].size
        params = param_count(lay)
        neurons = sum(t.neurons for t in lay.tiles)
        buffer_bits = sum(t.buffer_bits for t in lay.tiles)
        positions = buffer_bits / max(lay.value_bits, 1)
        rows.append({"layer": lay.name, "weights": nw, "weight_memory_bits": nw * lay.weight_bits,
                     "synapse_sram_bits": sum(t.synapse_bits for t in lay.tiles),
                     "param_memory_bits": params * c["param_bits"],
                     "state_memory_bits": neurons * state_bits(mapping.arch, mapping.graph, lay),
                     "buffer_memory_bits": buffer_bits, "fp32_values": int(nw + params + 2 * neurons + positions)})
    return memory_frame(rows)


def _saturated(lt, arch, batch: int) -> float | None:
    """Accumulator sums per inference wider than the chip's accumulator (None: the trace does not say)."""
    sat = saturations(lt.acc_bits, arch.core["accumulator_bits"])
    return None if sat is None else float(sat.sum()) / batch


def _dynamic_pJ(mapping: Mapping, lay, w, soma: tuple, pj: np.ndarray) -> float:
    """A layer's energy without leakage (which follows from the timing) at ``pj`` per action, to choose its compute
    mode."""
    counts = layer_counts(mapping, lay, w, soma, np.zeros(w.packets.shape[0], np.int64), 0, 0)
    return float(counts.sum(axis=1) @ pj)


def _lowered(trace, graph, arch, lowering):
    """(graph, trace) as the chip sees them: lowered to its payloads, the stem computed once if it says so."""
    graph, trace = lower(graph, trace, arch, lowering)
    return graph, stem_once(graph, trace) if arch.chip["stem_once"] else trace


def _prepare(trace, graph, mapping) -> Prepared:
    """The trace's per-tile work on ``mapping`` before the compute-mode choice (``graph``, ``trace``: lowered)."""
    arch = mapping.arch
    by = check_trace(mapping, trace)
    T = len(trace.logits)
    works = {}
    for lay in mapping.layers:
        aux = sum((by[a].counts["other_ops"] for a in lay.aux), np.zeros(T, np.int64))
        shifts = lay.node.attrs.get("serial_steps", 1) - 1  # serial lowering: one accumulator shift per sub-step
        aux = aux + shifts * sum(t.neurons for t in lay.tiles) * trace.batch
        works[lay.name] = layer_work(mapping, lay, by[lay.name], aux, trace.batch, works, trace.cache,
                                     layer_modes(arch, lay))
    share_dram(mapping, works)
    return Prepared(graph, by, works, soma_activity(mapping, works, by, trace.batch), _memory(mapping))


def _chosen(mapping: Mapping, prep: Prepared, pj: np.ndarray) -> dict:
    """The works with each layer's synapse stage in its mode (synapse_compute auto: the lower dynamic energy)."""
    works = dict(prep.works)
    for lay in mapping.layers:
        w = works[lay.name]
        if len(w.options) > 1:
            works[lay.name] = min((replace(w, syn=st) for st in w.options),
                                  key=lambda c, lay=lay: _dynamic_pJ(mapping, lay, c, prep.soma[lay.name], pj))
    return works


def evaluate_cores(trace, graph, arch, model: str, accuracy, timing: str = "fast",
                   lowering: str | None = None, placement=None, compiled: bool = True) -> Costs:
    """Costs of a trace on a cores architecture; ``timing``: ``fast`` (estimate) or ``cycle`` (cycle-level
    simulation of a batch-1 trace); ``lowering``: how spikes wider than the chip's packets are sent (see
    ``empf_hw.hw.cores.lowering``); ``placement``: a policy or a core per tile (see ``empf_hw.hw.cores.placement``).
    With a placement policy, what the trace gives on the mapping and its fast timing are reused across
    architectures that differ only in timing or energy fields (``empf_hw.hw.cores.reuse``)."""
    check_choice("timing", timing, TIMINGS)
    source = trace
    key = (id(graph), arch.core["spike_payload_bits"], lowering, arch.chip["stem_once"])
    _, graph, trace = kept(source, "lowered", key, lambda: (graph, *_lowered(trace, graph, arch, lowering)))
    mapping = map_graph(graph, arch, placement)
    arch = mapping.arch  # core.accumulator_bits: auto resolved
    if placement is None or isinstance(placement, str):
        prep = kept(source, "prepared", (id(graph), placement, work_key(arch)),
                    lambda: _prepare(trace, graph, mapping))
    else:
        prep = _prepare(trace, graph, mapping)
    by, soma = prep.by, prep.soma
    ert = reference_table(arch)
    pj = np.array([ert[k].pJ for k in CORES_ENTRIES])
    works = _chosen(mapping, prep, pj)
    if timing == "cycle":
        from .cycle import simulate

        tm = simulate(mapping, trace, works, soma, compiled)
    else:
        key = (timing_key(arch), tuple(w.syn.mode for w in works.values()))
        tm = replace(remember(prep.timings, key, lambda: schedule(mapping, works, soma, prep.derived)),
                     clock_MHz=arch.chip["clock_MHz"])
    modes = tuple(w.syn.mode for w in works.values())
    activity, own, n_cores = remember(prep.derived, ("counts", modes), lambda: _activity(mapping, works, soma, tm.mode))
    arr = activity.copy()  # (layers, actions, T)
    arr[:, LEAKAGE] += own[:, None] * tm.windows[None].astype(np.float64)
    arr[0] += board_static(mapping, tm.windows, n_cores)
    energies = arr * pj[None, :, None]
    lays = mapping.layers
    busy = (tm.phase_a + tm.phase_b).sum(axis=1).tolist()
    labels = layer_labels(graph.nodes)
    needs = accumulator_needs(graph)
    info = {"layer": [lay.name for lay in lays], "label": [labels[lay.name] for lay in lays],
            "op": [lay.node.op for lay in lays], "tiles": [len(lay.tiles) for lay in lays],
            "cores": [len(set(works[lay.name].cores.tolist())) for lay in lays],
            "value_width_bits": [lay.value_bits for lay in lays],
            "weight_width_bits": [lay.weight_bits for lay in lays], "slices": [lay.slices for lay in lays],
            "synapse_compute": [works[lay.name].syn.mode for lay in lays],
            "accumulator_need_bits": [needs[lay.name] for lay in lays],
            "acc_saturations_per_inference": [_saturated(by[lay.name], arch, trace.batch) for lay in lays],
            "busy_cycles": [int(b) for b in busy]}

    def cores() -> pd.DataFrame:
        df = mapping.utilization()
        df["busy_cycles"] = df["core"].map(tm.core_busy).fillna(0).astype(int)
        df["idle_cycles"] = tm.cycles - df["busy_cycles"]
        df["utilization"] = df["busy_cycles"] / max(tm.cycles, 1)
        return df

    return Costs(model, arch, info, cores, n_cores, tm, CORES_ENTRIES, arr, energies, prep.memory.copy(),
                 trace_summary(trace, {lay.name: by[lay.name] for lay in lays}), accuracy, mapping, trace, graph)


def _activity(mapping: Mapping, works: dict, soma: dict, mode: str) -> tuple[np.ndarray, np.ndarray, int]:
    """(layers, actions, T) counts without the cores' leakage (the same on every architecture with this work, the
    timing aside), (layers,) the cores whose leakage each layer carries (those it is the first to use), and the
    cores used."""
    seen: set[int] = set()
    counts, own = [], []
    for i, lay in enumerate(mapping.layers):
        w = works[lay.name]
        new = {int(cr) for cr in w.cores} - seen
        seen |= new
        own.append(len(new))
        counts.append(layer_counts(mapping, lay, w, soma[lay.name], np.zeros(w.packets.shape[0]), len(new),
                                   mapping.sub_steps if mode == "lockstep" and i == 0 else 0))
    return np.stack(counts), np.array(own, np.float64), len(seen)

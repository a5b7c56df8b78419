"""Work and fast timing reused across architectures (empf_hw.hw.cores.reuse): every field listed as timing- or
energy-only, set to other valid values, gives on a trace whose cache holds the base architecture's work exactly
what an evaluation from an empty cache gives; fields outside the lists are not reused."""

import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hw_helpers import random_trace, rect_graph, tiny_arch, tiny_graph
from test_mapping import other_values

from empf_hw.errors import EmpfError
from empf_hw.hw import evaluate, load_arch
from empf_hw.hw.arch import CHOICES, TEMPLATES
from empf_hw.hw.cores.reuse import ENERGY_FIELDS, TIMING_FIELDS
from empf_hw.sim import execute


def _fresh(trace):
    return replace(trace, cache={})


def _frames(costs) -> tuple:
    t = costs.timing
    return (costs.summary(), costs.by_layer(), costs.by_component(), costs.by_core(),
            [t.phase_a, t.phase_b, t.start, t.finish], t.core_busy, repr(t.stats))


def _assert_same(a, b, what):
    for x, y in zip(_frames(a), _frames(b)):
        if isinstance(x, pd.DataFrame):
            pd.testing.assert_frame_equal(x, y, check_exact=True, obj=what)
        elif isinstance(x, list):
            for u, v in zip(x, y):
                np.testing.assert_array_equal(u, v, err_msg=what)
        else:
            assert x == y, what


def _variants(arch, names: dict) -> list:
    out = []
    for sec, fields in names.items():
        for f in fields:
            spec = TEMPLATES["cores"][sec][f]
            value = getattr(arch, sec)[f]
            if spec.unit == "choice":
                others = [c for c in CHOICES[f] if c != value]
            elif spec.unit == "table":
                others = [7, {1: 3, 4: 40}]
            elif value is None:
                others = [{"vdd_V": 0.8, "nominal_clock_MHz": 400.0, "router_pitch_mm": 0.3}[f]]
            else:
                others = other_values(spec, value)
            for v in others:
                try:
                    out.append((f"{sec}.{f}={v!r}", arch.with_overrides({f"{sec}.{f}": v})))
                except EmpfError:
                    continue  # not a valid architecture with the rest as it is
    return out


CASES = {
    "tiny pipelined auto compute": lambda: (tiny_graph(np.random.default_rng(1), residual=True, width=6),
                                            tiny_arch(synapse_compute="auto", synapse_banks=2, host_link_bits=8,
                                                      input_fifo_packets=2), {}),
    "rect lockstep": lambda: (rect_graph(np.random.default_rng(2)),
                              tiny_arch(timestep_mode="lockstep", barrier_cycles=5), {}),
    "board stem once": lambda: (tiny_graph(np.random.default_rng(3), pool=True, width=6),
                                tiny_arch(mesh_rows=3, mesh_cols=3, stem_once=True).with_overrides(
                                    {"system.chips_rows": 2, "system.chip_link_bits": 4}), {}),
    "lowered parallel, lockstep": lambda: (rect_graph(np.random.default_rng(4), size=(9, 10), pool=True,
                                                      spike_bits=1),
                                           tiny_arch(spike_payload_bits=0, timestep_mode="lockstep", mesh_rows=8,
                                                     mesh_cols=8), {"lowering": "parallel"}),
}


def _trace(graph, arch, kw):
    """A random trace; an executed one where lowering needs its bit planes."""
    schedule = arch.chip["timestep_mode"]
    if kw.get("lowering"):
        x = np.random.default_rng(8).random((1, *graph.nodes[0].shape)).astype(np.float32)
        return execute(graph, x, "fixed", schedule=schedule)
    return random_trace(graph, np.random.default_rng(9), density=0.5, schedule=schedule)


@pytest.mark.parametrize("case", list(CASES))
def test_listed_fields_reuse_exactly(case):
    graph, arch, kw = CASES[case]()
    trace = _trace(graph, arch, kw)
    evaluate(trace, arch, **kw)
    assert trace.cache["prepared"], "the base evaluation kept its work"
    variants = _variants(arch, ENERGY_FIELDS) + _variants(arch, TIMING_FIELDS)
    assert len(variants) > 20
    for what, other in variants:
        try:
            fresh = evaluate(_fresh(trace), other, **kw)
        except EmpfError as e:  # e.g. a node the energy table does not cover: the same error either way
            with pytest.raises(EmpfError, match=re.escape(str(e))):
                evaluate(trace, other, **kw)
            continue
        _assert_same(evaluate(trace, other, **kw), fresh, f"{case}: {what}")
    _assert_same(evaluate(trace, arch, **kw), evaluate(_fresh(trace), arch, **kw), f"{case}: base again")


def test_work_and_timing_are_reused_only_where_they_may_be():
    """An energy-only change reuses the work and its timing; a timing-only change the work, not the timing; a
    structural field (hop cycles) neither; an explicit placement is evaluated afresh."""
    graph, arch = tiny_graph(np.random.default_rng(5), residual=True, width=6), tiny_arch()
    trace = random_trace(graph, np.random.default_rng(6), density=0.5)
    base = evaluate(trace, arch)
    (prep,) = trace.cache["prepared"].values()
    assert len(prep.timings) == 1
    cooler = evaluate(trace, arch.with_overrides({"chip.tech_node_nm": 22, "chip.clock_MHz": 50}))
    assert len(trace.cache["prepared"]) == 1 and len(prep.timings) == 1
    assert cooler.timing.cycles == base.timing.cycles and cooler.timing.clock_MHz == 50
    assert cooler.energy_pJ() != base.energy_pJ()
    deeper = evaluate(trace, arch.with_overrides({"chip.noc_buffer_flits": 1, "core.neuron_units": 1}))
    assert len(trace.cache["prepared"]) == 1 and len(prep.timings) == 2
    assert deeper.timing.cycles > base.timing.cycles
    evaluate(trace, arch.with_overrides({"chip.noc_hop_cycles": 4}))
    assert len(trace.cache["prepared"]) == 2
    evaluate(trace, arch, placement=base.mapping.placement)
    assert len(trace.cache["prepared"]) == 2


def test_a_preset_sweep_of_energy_and_timing_fields_matches_fresh_evaluations():
    from empf_hw.sim.pipeline import deploy

    run = deploy("models/digits_cnn-lif-stbp-T4", samples=2, mode="fixed")
    arch = load_arch("stbp-core-45nm")
    trace = run.trace
    for over in ({}, {"chip.tech_node_nm": 28}, {"chip.noc_buffer_flits": 2}, {"core.synapse_banks": 4},
                 {"chip.clock_MHz": 400, "core.neuron_update_cycles": 3}, {}):
        other = arch.with_overrides(over)
        _assert_same(evaluate(trace, other), evaluate(_fresh(trace), other), repr(over))

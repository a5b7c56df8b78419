"""Fair comparison and uncertainty: right-sized chips, Monte Carlo over the energy table's ranges, the tornado."""

import numpy as np
import pytest

from empf_hw.cli import main
from empf_hw.errors import EmpfError
from empf_hw.hw import evaluate, load_arch
from empf_hw.hw.cores.mapper import map_graph
from empf_hw.hw.cores.rightsize import GRAIN_KIB, right_size
from empf_hw.hw.energy import reference_table
from empf_hw.hw.uncertainty import energy_draws, entry_tornado
from empf_hw.sim.pipeline import deploy


@pytest.fixture(scope="module")
def pair():
    m = deploy("models/digits_cnn-empf-online-T4", spike_bits=4, samples=30, mode="fixed")
    b = deploy("models/digits_cnn-lif-stbp-T4", samples=30, mode="fixed")
    return m, b, evaluate(m.trace, "empf-core-45nm"), evaluate(b.trace, "stbp-core-45nm")


def test_monte_carlo_mean_is_the_triangular_mean(pair):
    _, _, cm, _ = pair
    ert = reference_table(cm.arch)
    counts = dict(zip(cm.action_names, cm.counts.sum(axis=(0, 2))))
    expected = sum(n * (ert[a].low + ert[a].pJ + ert[a].high) / 3 for a, n in counts.items())  # E[triangular]
    draws = energy_draws([cm], draws=20000, seed=1)[:, 0]
    assert draws.mean() == pytest.approx(expected, rel=0.01)
    lo, hi = (sum(n * getattr(ert[a], end) for a, n in counts.items()) for end in ("low", "high"))
    assert lo <= draws.min() and draws.max() <= hi


def test_shared_assumptions_cancel_in_ratios(pair):
    _, _, cm, _ = pair
    e = energy_draws([cm, cm], draws=500, seed=2)
    assert np.allclose(e[:, 0] / e[:, 1], 1.0)  # one draw per entry name, shared by both


def test_tornado_end_equals_an_override_of_that_entry(pair):
    m, b, cm, cb = pair
    t = entry_tornado(cm, cb).set_index("assumption")
    for entry in ("acc_read_bit", "synapse_read_word"):
        ends = {}
        for end in ("low", "high"):
            archs = [c.arch.with_overrides({}) for c in (cm, cb)]
            for a in archs:
                e = getattr(reference_table(a)[entry], end)
                a.energy[entry] = {"pJ": e, "source": "test", "low": e, "high": e}
            ends[end] = evaluate(m.trace, archs[0]).energy_pJ() / evaluate(b.trace, archs[1]).energy_pJ()
        row = t.loc[f"energy entry {entry}"]
        assert row["ratio_low"] == pytest.approx(ends["low"]) and row["ratio_high"] == pytest.approx(ends["high"])


def test_right_sized_chip_is_the_smallest_that_holds_the_mapping(pair):
    _, b, _, cb = pair
    fit = right_size(b.graph, load_arch("stbp-core-45nm"))
    base = load_arch("stbp-core-45nm")
    tiles = len(map_graph(b.graph, fit).tiles)
    for mem in ("synapse", "membrane", "buffer"):
        assert fit.core[f"{mem}_sram_KiB"] <= base.core[f"{mem}_sram_KiB"]
        smaller = fit.core[f"{mem}_sram_KiB"] - GRAIN_KIB
        try:  # one 128-byte grain less: the same tiling no longer fits
            assert len(map_graph(b.graph, fit.with_overrides({f"core.{mem}_sram_KiB": smaller})).tiles) != tiles
        except EmpfError:
            pass
    assert fit.chip["mesh_rows"] == base.chip["mesh_rows"] and fit.chip["mesh_cols"] == base.chip["mesh_cols"]
    assert evaluate(b.trace, fit).energy_pJ() < cb.energy_pJ()  # smaller SRAMs: cheaper accesses, less leakage


def test_sensitivity_cli(capsys):
    assert main(["sensitivity", "--samples", "10", "--draws", "200"]) == 0
    out = capsys.readouterr().out
    assert "90 % interval" in out and "core.accumulator_storage" in out and "right-sized" in out
    assert "best design (headline)" in out
    assert main(["sensitivity", "--draws", "0"]) == 2
    assert "--draws" in capsys.readouterr().err

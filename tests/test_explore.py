"""Design-space exploration: Pareto front, best-design rule and the search itself against independent evaluations;
``empf-hw explore`` on the digits and MNIST-1D zoo, in process and on a Dask LocalCluster."""

import json

import numpy as np
import pandas as pd
import pytest
from hw_helpers import tiny_arch
from test_hw import linear_case

from empf_hw.cli import main
from empf_hw.errors import EmpfError
from empf_hw.hw import evaluate
from empf_hw.hw.explore import DESIGN_SPACE, best, designs, explore, pareto, settings


def test_pareto_keeps_the_undominated_rows():
    pts = np.array([[1, 2, 3], [2, 1, 3], [2, 2, 3], [1, 2, 3], [0, 5, 9], [3, 3, 3]], float)
    # [2, 2, 3] is dominated by [1, 2, 3]; [3, 3, 3] by all of the first four; equal rows do not dominate each other
    assert pareto(pts).tolist() == [True, True, False, True, True, False]


def test_best_is_the_cheapest_no_slower_than_the_chip_as_given():
    df = pd.DataFrame({"design": [0, 1, 2, 3], "status": ["ok", "ok", "ok", "too big"],
                       "energy_pJ_per_inference": [10.0, 5.0, 7.0, None],
                       "latency_cycles": [100, 150, 90, None]})
    assert best(df) == 2  # design 1 is cheaper but slower than design 0


def test_designs_are_seeded_distinct_and_start_with_the_chip_as_given():
    a, b = designs(12, 3), designs(12, 3)
    assert a == b and a[0] == {} and len({tuple(d.items()) for d in a[1:]}) == 11
    assert all(set(d) == set(DESIGN_SPACE) for d in a[1:]) and designs(12, 4) != a
    with pytest.raises(EmpfError, match="budget"):
        designs(0, 0)


def test_explore_rows_are_the_designs_evaluated():
    g, tr = linear_case()
    arch = tiny_arch(mesh_rows=4, mesh_cols=4)
    df = explore(tr, arch, budget=6, seed=1)
    assert len(df) == 6 and (df["status"] == "ok").all() and df["best"].sum() == 1
    for _, row in df.iterrows():
        c = evaluate(tr, arch.with_overrides(settings(row)))
        assert row["energy_pJ_per_inference"] == pytest.approx(c.energy_pJ())
        assert row["latency_cycles"] == c.timing.cycles
    b = df[df["best"]].iloc[0]
    within = df[df["latency_cycles"] <= df.loc[0, "latency_cycles"]]
    assert b["energy_pJ_per_inference"] == within["energy_pJ_per_inference"].min()
    assert settings(df.iloc[0]) == {k: (arch.chip if k.startswith("chip.") else arch.core)[k.split(".")[1]]
                                    for k in DESIGN_SPACE}


def _explore_json(capsys, *args):
    assert main(["explore", *args, "--samples", "8", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_explore_command_on_the_digits_zoo_compares_best_designs(capsys):
    out = _explore_json(capsys, "--model", "models/digits_cnn-empf-online-T4", "--baseline",
                        "models/digits_cnn-lif-stbp-T4", "--budget", "5")
    assert len(out["model"]) == len(out["baseline"]) == 5
    p = out["pairing"]
    best_m = next(r for r in out["model"] if r["best"])
    best_b = next(r for r in out["baseline"] if r["best"])
    assert p["energy_ratio"] == pytest.approx(best_m["energy_pJ_per_inference"] / best_b["energy_pJ_per_inference"])
    assert p["energy_ratio_p5"] < p["energy_ratio"] < p["energy_ratio_p95"]
    assert p["area_ratio"] == pytest.approx(best_m["area_mm2"] / best_b["area_mm2"])
    v = {(r["choice"], r["setting"]): r for r in out["variants"]}
    assert set(v) == {("core.synapse_compute", m) for m in ("event", "popcount", "auto")} | {
        ("core.spikes_per_packet", k) for k in ("1", "4")}
    same = v[("core.synapse_compute", best_m["core.synapse_compute"])]  # the best design itself
    assert same["model_energy_pJ"] == pytest.approx(best_m["energy_pJ_per_inference"])
    stays = v[("core.synapse_compute", "popcount")]["baseline_energy_pJ"]  # STBP weights are 8-bit: no popcount layer
    assert stays == pytest.approx(v[("core.synapse_compute", "event")]["baseline_energy_pJ"], rel=0.05)


def test_explore_command_on_the_mnist1d_zoo_in_process_and_on_dask(capsys):
    args = ("--model", "models/mnist1d_cnn-empf-online-T4", "--budget", "3")
    local = _explore_json(capsys, *args)
    dask = _explore_json(capsys, *args, "--workers", "1")
    assert local == dask and len(local["model"]) == 3


def test_explore_refuses_both_worker_kinds():
    assert main(["explore", "--model", "models/digits_cnn-empf-online-T4", "--workers", "2", "--scheduler",
                 "tcp://127.0.0.1:1"]) == 2

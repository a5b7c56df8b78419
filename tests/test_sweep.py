"""Sweeps: spec validation, trace reuse, kill -9 and resume, Dask LocalCluster = in-process, sweep report."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from empf_hw.cli import main
from empf_hw.errors import EmpfError
from empf_hw.sweep import runner
from empf_hw.sweep.report import accuracy_front, pareto, sweep_report
from empf_hw.sweep.runner import run_sweep
from empf_hw.sweep.spec import load_spec, parse_spec
from empf_hw.sweep.store import Store

EMPF = "models/digits_cnn-empf-online-T4"
LIF = "models/digits_cnn-lif-stbp-T4"


def spec_dict(**over):
    d = {"name": "t", "models": [EMPF], "samples": 30, "parameters": {"core.spike_bus_bits": [16, 32, 64],
                                                                      "spike_bits": [2, 4]}}
    d.update(over)
    return d


def rows_without_time(path):
    s = Store(path)
    rows = s.rows()
    s.close()
    return rows


@pytest.mark.parametrize("change, message", [
    ({"parameters": {"core.bus_width": [1]}}, "unknown parameter 'core.bus_width'; allowed: spike_bits"),
    ({"parameters": {"spike_bits": []}}, "parameter spike_bits: empty list or range"),
    ({"parameters": {"spike_bits": {"range": [8, 2], "step": 1}}}, "parameter spike_bits: empty list or range"),
    ({"constraints": ["spike_bits > 4", "spike_bits < 2"]}, "the constraints exclude every point"),
    ({"constraints": ["core.lanes > 1"]}, "uses 'core.lanes'"),
    ({"constraints": ["spike_bits >"]}, "is not a valid expression"),
    ({"sampling": "latin"}, "sampling='latin' is not valid; allowed: grid, random"),
    ({"turbo": 1}, "unknown key 'turbo'"),
    ({"models": ["models/nope"]}, "nope"),
    ({"parameters": {"core.crossbar_rows": [4096]}}, "core.synapse_sram_KiB=8 cannot hold"),
    ({"parameters": {"core.spike_bus_bits": [32, 32]}}, "parameter core.spike_bus_bits lists 32 more than once"),
    ({"timing": "exact"}, "timing='exact' is not valid; allowed: fast, cycle"),
    ({"cycle_samples": 2}, "cycle_samples applies to timing: cycle"),
    ({"timing": "cycle", "cycle_samples": 0}, "cycle_samples"),
])
def test_bad_specs_are_rejected_before_any_work(tmp_path, change, message, capsys):
    d = spec_dict(**change)
    with pytest.raises(EmpfError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        parse_spec(d)
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(d))
    store = tmp_path / "r.sqlite"
    assert main(["sweep", str(f), "--store", str(store), "--quiet"]) == 2
    assert capsys.readouterr().err.startswith("error:")
    assert not store.exists()


def test_ranges_and_seeded_random_sampling():
    s = parse_spec(spec_dict(parameters={"chip.clock_MHz": {"range": [100, 400], "num": 4},
                                         "core.accumulator_lanes": {"range": [4, 16], "step": 4}}))
    assert s.parameters["chip.clock_MHz"] == [100.0, 200.0, 300.0, 400.0]
    assert s.parameters["core.accumulator_lanes"] == [4, 8, 12, 16]
    grid = s.points()
    assert len(grid) == 16
    r = parse_spec(spec_dict(parameters=s.source["parameters"], sampling="random", points=5, seed=7))
    pts = r.points()
    assert len(pts) == 5 and all(p in grid for p in pts) and pts == r.points()
    c = parse_spec(spec_dict(constraints=["core.spike_bus_bits >= core.address_bits + spike_bits"]))
    assert all(p["core.spike_bus_bits"] >= 16 + p["spike_bits"] for p in c.points()) and len(c.points()) == 4


def test_traces_are_reused_across_architecture_parameters(tmp_path, monkeypatch):
    calls = []
    real = runner.deploy
    monkeypatch.setattr(runner, "deploy", lambda *a, **k: calls.append(k) or real(*a, **k))
    runner._traces.clear()
    run_sweep(parse_spec(spec_dict()), tmp_path / "a.sqlite", progress=False)
    assert len(calls) == 2  # one trace per spike width, three bus widths each
    calls.clear()
    run_sweep(parse_spec(spec_dict()), tmp_path / "b.sqlite", progress=False, reuse_traces=False)
    assert len(calls) == 6
    assert rows_without_time(tmp_path / "a.sqlite") == rows_without_time(tmp_path / "b.sqlite")


def test_killed_sweep_resumes_without_losing_or_repeating(tmp_path):
    d = spec_dict(samples=120, parameters={"spike_bits": [1, 2, 3, 4, 5, 6], "timesteps": [2, 4]})
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(d))
    store = tmp_path / "killed.sqlite"
    cmd = [sys.executable, "-m", "empf_hw.cli", "sweep", str(f), "--store", str(store), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done, deadline = 0, time.time() + 120
    while done < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
        if store.exists():
            try:
                done = sqlite3.connect(store).execute("SELECT COUNT(*) FROM points").fetchone()[0]
            except sqlite3.Error:
                pass
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = len(rows_without_time(store))
    assert 0 < partial < 12, "the sweep must be killed mid-way"
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    resumed = rows_without_time(store)
    run_sweep(load_spec(f), tmp_path / "whole.sqlite", progress=False)
    assert resumed == rows_without_time(tmp_path / "whole.sqlite")
    assert len(resumed) == 12 and len({(r["spike_bits"], r["timesteps"]) for r in resumed}) == 12


def test_dask_local_cluster_gives_the_in_process_rows(tmp_path):
    from dask.distributed import LocalCluster

    spec = parse_spec(spec_dict(models=[EMPF, {"path": LIF, "arch": "stbp-core-45nm"}]))
    run_sweep(spec, tmp_path / "local.sqlite", progress=False)
    run_sweep(spec, tmp_path / "dask.sqlite", workers=2, progress=False)
    assert rows_without_time(tmp_path / "local.sqlite") == rows_without_time(tmp_path / "dask.sqlite")
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        assert main(["sweep", str(_write(tmp_path, spec)), "--store", str(tmp_path / "remote.sqlite"), "--quiet",
                     "--scheduler", cluster.scheduler_address]) == 0  # an existing cluster, by address
    assert rows_without_time(tmp_path / "local.sqlite") == rows_without_time(tmp_path / "remote.sqlite")


def test_dask_tasks_keep_a_traces_points_together():
    """Points sorted by trace go to Dask one trace per task, so each trace is made once; with fewer traces than
    workers a trace's points are dealt round-robin into one task per worker."""
    from empf_hw.sweep.runner import batches

    common = {"samples": 8, "seed": 0, "data_dir": None}
    pts = [(i, {"model": "m", "arch": "empf-core-45nm", "spike_bits": b}) for i, b in enumerate([2, 2, 2, 4, 4])]
    assert [[i for i, _ in t] for t in batches(pts, common, 2)] == [[0, 1, 2], [3, 4]]
    assert [[i for i, _ in t] for t in batches(pts, common, 4)] == [[0, 2], [1], [3], [4]]
    one = [(i, {"model": "m", "arch": "empf-core-45nm", "spike_bits": 2}) for i in range(5)]
    assert [[i for i, _ in t] for t in batches(one, common, 2)] == [[0, 2, 4], [1, 3]]


def _write(tmp_path, spec):
    f = tmp_path / "spec.yaml"
    f.write_text(yaml.safe_dump({**spec.source, "models": [{"path": p, "arch": a} for p, a in spec.models]}))
    return f


def test_store_refuses_another_spec_and_sweep_report(tmp_path):
    store = tmp_path / "s.sqlite"
    run_sweep(parse_spec(spec_dict()), store, progress=False)
    with pytest.raises(EmpfError, match="holds results of another sweep spec"):
        run_sweep(parse_spec(spec_dict(samples=31)), store, progress=False)
    out = sweep_report(store, tmp_path / "rep")
    for name in ("results.csv", "pareto.csv", "report.md", "plots/pareto_energy_latency.png",
                 "plots/energy_vs_spike_bits.png", "pareto_accuracy_energy.csv", "plots/pareto_accuracy_energy.png"):
        assert (out / name).stat().st_size > 0
    import pandas as pd

    df = pd.read_csv(out / "results.csv")
    assert list(df.columns[:5]) == ["model", "arch", "core.spike_bus_bits", "spike_bits", "status"]
    front = pareto(df)
    good = df[df["accuracy"] >= df["accuracy"].max() - 0.01]
    for _, r in good.iterrows():  # nothing on the front is beaten in both energy and latency
        assert not ((front["energy_pJ_per_inference"] > r["energy_pJ_per_inference"])
                    & (front["latency_cycles"] > r["latency_cycles"])).any()


def test_accuracy_front_against_pairwise_dominance():
    """A point is on the accuracy/energy front exactly when no other point is at least as accurate and as cheap
    and better in one of the two (of equal points, one)."""
    import pandas as pd

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"accuracy": rng.integers(0, 6, 60) / 5, "energy_pJ_per_inference": rng.integers(1, 9, 60)})
    a, e = df["accuracy"].to_numpy(), df["energy_pJ_per_inference"].to_numpy()
    beaten = [((a >= a[i]) & (e <= e[i]) & ((a > a[i]) | (e < e[i]))).any() for i in range(len(df))]
    expected = set(map(tuple, df.loc[~np.array(beaten)].to_numpy()))
    front = accuracy_front(df)
    assert set(map(tuple, front.to_numpy())) == expected and len(front) == len(expected)
    assert front["energy_pJ_per_inference"].is_monotonic_increasing


def test_shipped_mnist1d_bits_spec():
    """Both float-spike EM-PF MNIST-1D models × 6 spike widths × 3 bus widths, every bus wide enough for a packet."""
    spec = load_spec(Path(__file__).resolve().parents[1] / "sims" / "sweeps" / "mnist1d-bits.yaml")
    points = spec.points()
    assert len(points) == 2 * 6 * 3
    assert {p["spike_bits"] for p in points} == {1, 2, 3, 4, 6, 8}


def test_a_spec_refused_at_run_time_leaves_no_store_and_an_empty_store_is_reused(tmp_path, capsys):
    """``samples`` larger than the test split is refused when the trace is built: no store file stays; a store
    that holds no point takes the corrected spec."""
    f, store = tmp_path / "s.yaml", tmp_path / "st.sqlite"
    f.write_text(yaml.safe_dump(spec_dict(samples=1_000_000_000_000)))
    assert main(["sweep", str(f), "--store", str(store), "--quiet"]) == 2
    assert capsys.readouterr().err.startswith("error:") and not store.exists()
    Store(store, parse_spec(spec_dict(samples=31))).close()  # an empty store of another spec
    f.write_text(yaml.safe_dump(spec_dict(parameters={"spike_bits": [4]})))
    assert main(["sweep", str(f), "--store", str(store), "--quiet"]) == 0
    assert "1/1 points" in capsys.readouterr().out
    f.write_text(yaml.safe_dump(spec_dict(parameters={"spike_bits": [4, 2]})))
    with pytest.raises(EmpfError, match="holds results of another sweep spec"):
        run_sweep(parse_spec(spec_dict(parameters={"spike_bits": [4, 2]})), store, progress=False)


def test_a_resumed_sweep_says_how_many_points_ran_now(tmp_path, capsys):
    f, store = tmp_path / "s.yaml", tmp_path / "st.sqlite"
    f.write_text(yaml.safe_dump(spec_dict(parameters={"spike_bits": [2, 4]})))
    s = Store(store, parse_spec(spec_dict(parameters={"spike_bits": [2, 4]})))
    spec = parse_spec(spec_dict(parameters={"spike_bits": [2, 4]}))
    first = spec.points()[0]
    result, elapsed = runner._timed(first, runner._common(spec), True)
    s.add(runner.point_key(first), 0, first, result, elapsed)
    s.close()
    assert main(["sweep", str(f), "--store", str(store), "--quiet"]) == 0
    assert "2/2 points in" in (out := capsys.readouterr().out) and "(1 run now, 1 already stored;" in out


def test_timing_cycle_points_carry_the_simulated_latency(tmp_path):
    """With ``timing: cycle`` a point's latency is the mean over ``cycle_samples`` simulated inferences (as
    ``cost --timing cycle`` gives it), the fast estimate's stays beside it, and energy is the fast count's."""
    from empf_hw.hw.cycle_report import cycle_runs
    from empf_hw.sim.pipeline import deploy

    spec = parse_spec(spec_dict(models=[LIF], arch="stbp-core-45nm", samples=4, timing="cycle", cycle_samples=2,
                                parameters={"chip.noc_buffer_flits": [2, 8]}))
    fast = parse_spec(spec_dict(models=[LIF], arch="stbp-core-45nm", samples=4,
                                parameters={"chip.noc_buffer_flits": [2, 8]}))
    assert spec.digest != fast.digest  # a store of one is refused for the other
    rows = {r["chip.noc_buffer_flits"]: r for r in run_sweep(spec, tmp_path / "c.sqlite", progress=False).rows()}
    est = {r["chip.noc_buffer_flits"]: r for r in run_sweep(fast, tmp_path / "f.sqlite", progress=False).rows()}
    from empf_hw.hw import load_arch

    d = deploy(LIF, samples=4, mode="fixed")
    for flits, r in rows.items():
        arch = load_arch("stbp-core-45nm").with_overrides({"chip.noc_buffer_flits": flits})
        want = cycle_runs(d, arch, 2, workers=1)["summary"]
        assert r["timing"] == "cycle" and est[flits]["timing"] == "fast"
        assert r["latency_cycles"] == round(want["cycle_latency_cycles_mean"])
        assert r["latency_cycles_p99"] == want["cycle_latency_cycles_p99"]
        assert r["fast_latency_cycles"] == est[flits]["latency_cycles"]
        assert r["dynamic_energy_pJ"] == est[flits]["dynamic_energy_pJ"]

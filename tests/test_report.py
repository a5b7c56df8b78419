"""`empf-hw simulate`: report files, numbers equal the evaluate API, determinism, Chromium rendering, bad input."""

import json

import numpy as np
import pandas as pd
import pytest
from browser import load_page

from empf_hw.cli import main
from empf_hw.hw import evaluate, load_arch
from empf_hw.hw.cores.rightsize import right_size
from empf_hw.report.simulate import SimulateConfig, simulate
from empf_hw.report.tables import SUMMARY_COLUMNS
from empf_hw.sim.pipeline import deploy

CFG = SimulateConfig(samples=40, seed=3, cycle_samples=2)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("rep") / "run"
    path, machine = simulate(CFG, out)
    return path, machine


def test_report_files_and_columns(report):
    path, machine = report
    for name in ("report.html", "report.md", "summary.csv", "layers.csv", "config.json", "plots/memory.png"):
        assert (path / name).stat().st_size > 0
    summary = pd.read_csv(path / "summary.csv")
    assert list(summary.columns[:len(SUMMARY_COLUMNS)]) == SUMMARY_COLUMNS
    assert list(summary["method"]) == ["online", "stbp"]
    layers = pd.read_csv(path / "layers.csv")
    assert set(layers["model"]) == set(summary["model"])
    cfg = json.loads((path / "config.json").read_text())
    assert [s["arch"]["name"] for s in cfg["sides"]] == ["empf-core-45nm-fit", "stbp-core-45nm-fit"]
    assert all(s["samples"] == 40 for s in cfg["sides"])
    md = (path / "report.md").read_text()
    assert "Energy reference table: empf-core-45nm" in md and "Horowitz" in md and "## Assumptions" in md
    assert "## Fair comparison" in md and "## Sensitivity" in md and "90 % interval" in md
    pairs = pd.read_csv(path / "fair_pairings.csv")
    right = pairs[pairs["pairing"] == "each on its own chip, right-sized"].iloc[0]
    ratio = summary["energy_pJ_per_inference"].iloc[0] / summary["energy_pJ_per_inference"].iloc[1]
    assert right["energy_ratio"] == pytest.approx(ratio)
    assert right["energy_ratio_p5"] < ratio < right["energy_ratio_p95"]
    # the headline: each model on its best design of the search, no slower than its right-sized chip
    head = pairs[pairs["pairing"].str.contains("headline")].iloc[0]
    assert head["pairing"].startswith("each on its best design") and "## Design search" in md
    dm, db = (pd.read_csv(path / f"designs_{role}.csv") for role in ("model", "baseline"))
    bm, bb = dm[dm["best"]].iloc[0], db[db["best"]].iloc[0]
    assert head["energy_ratio"] == pytest.approx(bm["energy_pJ_per_inference"] / bb["energy_pJ_per_inference"])
    assert head["energy_ratio_p5"] < head["energy_ratio"] < head["energy_ratio_p95"]
    for i, (df, b) in enumerate(((dm, bm), (db, bb))):  # design 0 is the right-sized chip of the summary
        given = df[df["design"] == 0].iloc[0]
        assert b["latency_cycles"] <= given["latency_cycles"]
        assert given["energy_pJ_per_inference"] == pytest.approx(summary["energy_pJ_per_inference"].iloc[i])


def test_report_numbers_equal_the_evaluate_api(report):
    path, _ = report
    summary = pd.read_csv(path / "summary.csv").set_index("model")
    layers = pd.read_csv(path / "layers.csv")
    for model, arch in (("digits_cnn-empf-online-T4", "empf-core-45nm"), ("digits_cnn-lif-stbp-T4", "stbp-core-45nm")):
        d = deploy(f"models/{model}", spike_bits=None if "lif" in model else 4, samples=40, seed=3, mode="fixed")
        c = evaluate(d.trace, right_size(d.graph, load_arch(arch)), model=model, accuracy=d.accuracy)
        s = c.summary().iloc[0]
        for k in SUMMARY_COLUMNS[2:]:
            assert summary.loc[model, k] == pytest.approx(s[k], rel=1e-12), k
        mine = layers[layers["model"] == model].reset_index(drop=True)
        api = c.by_layer()
        assert list(mine["layer"]) == list(api["layer"])
        assert np.allclose(mine["energy_pJ"], api["energy_pJ"], rtol=1e-12)
        assert np.allclose(mine["sops"], api["sops"], rtol=1e-12)


def test_cycle_level_section_equals_the_simulator(report):
    from empf_hw.sim.executor import execute

    path, _ = report
    lat = pd.read_csv(path / "cycle_latency.csv")
    summary = pd.read_csv(path / "summary.csv").set_index("model")
    d = deploy("models/digits_cnn-lif-stbp-T4", samples=40, seed=3, mode="fixed")
    mine = lat[lat["model"] == "digits_cnn-lif-stbp-T4"]
    assert list(mine["sample"]) == [0, 1]
    for i in range(2):
        tr = execute(d.graph, d.inputs[i:i + 1], "fixed", schedule=d.schedule)
        chip = right_size(d.graph, load_arch("stbp-core-45nm"))
        cyc, fast = evaluate(tr, chip, timing="cycle"), evaluate(tr, chip)
        assert mine["latency_cycles"].iloc[i] == cyc.timing.cycles
        assert mine["fast_latency_cycles"].iloc[i] == fast.timing.cycles
    assert summary.loc["digits_cnn-lif-stbp-T4", "cycle_latency_cycles_mean"] == mine["latency_cycles"].mean()
    steps = pd.read_csv(path / "cycle_timesteps.csv")
    assert (steps["p50_cycles"] <= steps["p99_cycles"]).all() and len(steps) == 2 * 4
    stalls = pd.read_csv(path / "cycle_stalls.csv")
    assert set(stalls["cause"]) >= {"router_link_busy", "router_queue_full", "bank_conflict", "barrier"}
    cores = pd.read_csv(path / "cycle_cores.csv")
    assert (cores["busy_cycles_per_inference"] > 0).all()
    md = (path / "report.md").read_text()
    assert "## Cycle-level simulation" in md and "plots/noc_link_load.png" in md and "plots/stall_breakdown.png" in md


def test_same_inputs_same_bytes(report, tmp_path):
    """A second run of the same configuration writes the same bytes in every file (tables, report, plots)."""
    path, machine = report
    again, machine_again = simulate(CFG, tmp_path / "run")
    files = sorted(p.relative_to(path) for p in path.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert {"summary.csv", "cycle_latency.csv", "cycle_links.csv", "report.html"} <= {str(f) for f in files}
    for f in files:
        assert (path / f).read_bytes() == (again / f).read_bytes(), f
    assert json.dumps(machine, sort_keys=True) == json.dumps(machine_again, sort_keys=True)


def test_cli_json_is_byte_identical(tmp_path, capsys):
    args = ["simulate", "--samples", "20", "--seed", "1", "--json", "--timing", "fast"]
    assert main(args + ["--out", str(tmp_path / "a")]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(args + ["--out", str(tmp_path / "b")]) == 0
    second = json.loads(capsys.readouterr().out)
    assert first.pop("report") != second.pop("report")
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)
    for name in ("summary.csv", "layers.csv", "config.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_bad_arch_fails_cleanly_and_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nchip: {}\ncore: {}\nturbo: true\n")
    out = tmp_path / "never"
    assert main(["simulate", "--samples", "5", "--arch", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "'turbo'" in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and not list(tmp_path.glob(".never*"))
    assert main(["simulate", "--samples", "0", "--out", str(out)]) == 2
    assert "--samples: 0 is out of range" in capsys.readouterr().err


@pytest.mark.peer  # needs Debian's chromium (.ci/run installs it)
def test_report_renders_in_headless_chromium(report):
    path, _ = report
    shot = path.parent / "report-1280px.png"  # looked at by hand when the layout changes
    page = load_page(path / "report.html", width=1280, screenshot=shot)
    assert page["errors"] == []
    assert page["scroll_width"] <= page["viewport_width"] <= 1280  # no horizontal scroll at 1280 px
    assert shot.stat().st_size > 10000
    assert page["title"].startswith("empf-hw:")
    plots = {p.name for p in (path / "plots").glob("*.png")}
    assert plots == {f"{name}.png" for name in (
        "activity_by_layer", "core_utilization", "energy_by_component", "energy_by_layer", "memory",
        "operations_by_layer", "schedule", "tornado", "stall_breakdown", "noc_link_load")}
    assert len(page["images"]) == len(plots)
    assert all(complete and width > 100 for complete, width in page["images"])

"""`empf-hw simulate`: report files, numbers equal the evaluate API, determinism, Chromium rendering, bad input."""

import json

import numpy as np
import pandas as pd
import pytest
from browser import load_page

from empf_hw.cli import main
from empf_hw.hw import evaluate
from empf_hw.report.simulate import SimulateConfig, build, simulate
from empf_hw.report.tables import SUMMARY_COLUMNS
from empf_hw.sim.pipeline import deploy

CFG = SimulateConfig(samples=40, seed=3)


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
    assert [s["arch"]["name"] for s in cfg["sides"]] == ["empf-core-45nm", "stbp-core-45nm"]
    assert all(s["samples"] == 40 for s in cfg["sides"])
    md = (path / "report.md").read_text()
    assert "Energy reference table: empf-core-45nm" in md and "Horowitz" in md and "## Assumptions" in md


def test_report_numbers_equal_the_evaluate_api(report):
    path, _ = report
    summary = pd.read_csv(path / "summary.csv").set_index("model")
    layers = pd.read_csv(path / "layers.csv")
    for model, arch in (("digits_cnn-empf-online-T4", "empf-core-45nm"), ("digits_cnn-lif-stbp-T4", "stbp-core-45nm")):
        d = deploy(f"models/{model}", spike_bits=None if "lif" in model else 4, samples=40, seed=3, mode="fixed")
        c = evaluate(d.trace, arch, model=model, accuracy=d.accuracy)
        s = c.summary().iloc[0]
        for k in SUMMARY_COLUMNS[2:]:
            assert summary.loc[model, k] == pytest.approx(s[k], rel=1e-12), k
        mine = layers[layers["model"] == model].reset_index(drop=True)
        api = c.by_layer()
        assert list(mine["layer"]) == list(api["layer"])
        assert np.allclose(mine["energy_pJ"], api["energy_pJ"], rtol=1e-12)
        assert np.allclose(mine["sops"], api["sops"], rtol=1e-12)


def test_same_inputs_same_bytes():
    a, ma = build(CFG)
    b, mb = build(CFG)
    for name in ("summary.csv", "layers.csv", "ratios.csv"):
        assert a[name].to_csv() == b[name].to_csv()
    assert a["config.json"] == b["config.json"]
    assert json.dumps(ma, sort_keys=True) == json.dumps(mb, sort_keys=True)


def test_cli_json_is_byte_identical(tmp_path, capsys):
    args = ["simulate", "--samples", "20", "--seed", "1", "--json"]
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
    page = load_page(path / "report.html")
    assert page["errors"] == []
    assert page["title"].startswith("empf-hw:")
    assert len(page["images"]) == len(list((path / "plots").glob("*.png"))) == 7
    assert all(complete and width > 100 for complete, width in page["images"])

"""One unit system for people: engineering units with one SI prefix per column, accuracy in %, the same text in
the CLI, Markdown and HTML; CSV and JSON keep raw pJ / bits / fractions. Report tables fit the page: per-core
tables collapsed to the busiest cores with the CSV linked, and no plotting warnings."""

import json
import re
import warnings

import pandas as pd
import pytest

from empf_hw.cli import main
from empf_hw.report.render import html_table, md_table
from empf_hw.report.simulate import SHOWN_CORES, SimulateConfig, simulate
from empf_hw.report.units import human, human_rows, quantity


def test_each_column_takes_its_own_prefix():
    df = pd.DataFrame({"energy_pJ": [2.0e7, 5.0e5], "leakage_energy_pJ": [4154.0, 5550.0],
                       "total_memory_bits": [8 * 1024 * 106.4, 8 * 1024 * 150.8], "latency_us": [0.5, 0.25],
                       "accuracy": [0.9733, 1.0], "sops": [2_026_000, 1_478_000], "latency_cycles": [28_913, 41_630],
                       "value_width_bits": [0, 3], "tiles": [14, 2], "model": ["a", "b"]})
    h = human(df)
    assert list(h.columns) == ["energy (µJ)", "leakage energy (nJ)", "total memory (KiB)", "latency (ns)",
                               "accuracy (%)", "sops (M)", "latency (k cycles)", "value width (bits)", "tiles",
                               "model"]
    assert h["energy (µJ)"].tolist() == ["20.00", "0.50"]  # 4 significant digits on the column's largest
    assert h["leakage energy (nJ)"].tolist() == ["4.154", "5.550"]
    assert h["total memory (KiB)"].tolist() == ["106.4", "150.8"]
    assert h["latency (ns)"].tolist() == ["500.0", "250.0"]
    assert h["accuracy (%)"].tolist() == ["97.33", "100.00"]
    assert h["sops (M)"].tolist() == ["2.026", "1.478"]
    assert h["latency (k cycles)"].tolist() == ["28.91", "41.63"]
    assert h["value width (bits)"].tolist() == ["0", "3"] and h["tiles"].tolist() == ["14", "2"]
    assert quantity("energy_pJ_per_inference", 2.2e7) == "22.00 µJ" and quantity("accuracy", 0.5) == "50.00 %"
    assert quantity("total_memory_bits", 8 * 2**20 * 3) == "3.000 MiB"


def test_rows_of_quantities_and_text_columns():
    ratios = pd.DataFrame({"metric": ["accuracy", "energy_pJ_per_inference", "arch"], "model": [0.95, 2.084e7, "x"],
                           "baseline": [1.0, 1.798e7, "y"], "ratio": [0.95, 1.159, float("nan")]})
    h = human_rows(ratios, "metric", ["model", "baseline"])
    assert h["metric"].tolist() == ["accuracy (%)", "energy per inference (µJ)", "arch"]
    assert h["model"].tolist() == ["95.00", "20.84", "x"]
    assert h["ratio"].tolist() == ["0.950", "1.159", "–"]
    mixed = human(pd.DataFrame({"setting_low": ["latch", 64, None], "flips": [True, False, True]}))
    assert mixed["setting low"].tolist() == ["latch", "64", "–"] and mixed["flips"].tolist() == ["True", "False",
                                                                                                   "True"]


def test_markdown_and_html_show_the_same_text():
    df = pd.DataFrame({"model": ["m"], "energy_pJ": [1.5e6], "accuracy": [0.5]})
    assert md_table(df).splitlines()[0] == "| model | energy (µJ) | accuracy (%) |"
    assert "| m | 1.500 | 50.00 |" in md_table(df)
    assert "<th>energy (µJ)</th>" in html_table(df) and '<td class="n">1.500</td>' in html_table(df)


def test_cli_prints_engineering_units_and_json_keeps_raw_values(capsys):
    argv = ["cost", "--model", "models/digits_cnn-lif-stbp-T4", "--samples", "3"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert not re.search(r"\d[eE][+-]\d", out)  # no e-notation
    assert re.search(r"energy per inference \(µJ\)\s+\d+\.\d+", out)
    assert re.search(r"accuracy \(%\)\s+\d+\.\d\d", out) and re.search(r"total memory \(KiB\)\s+\d", out)
    assert main([*argv, "--json"]) == 0
    raw = json.loads(capsys.readouterr().out)
    assert raw["energy_pJ_per_inference"] > 1e6 and 0 <= raw["accuracy"] <= 1 and raw["total_memory_bits"] > 8192
    assert re.search(rf"energy per inference \(µJ\)\s+{raw['energy_pJ_per_inference'] / 1e6:.2f}", out)


@pytest.fixture(scope="module")
def same_pair(tmp_path_factory):
    """The baseline against itself, with warnings as errors (a matplotlib layout warning fails the test)."""
    out = tmp_path_factory.mktemp("same") / "r"
    cfg = SimulateConfig("models/digits_cnn-lif-stbp-T4", "models/digits_cnn-lif-stbp-T4", samples=10, draws=50)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        path, machine = simulate(cfg, out)
    return path, machine


def test_per_core_tables_show_the_busiest_cores_and_link_the_csv(tmp_path):
    path, _ = simulate(SimulateConfig(samples=10, draws=50), tmp_path / "r")
    md = (path / "report.md").read_text()
    cores = pd.read_csv(path / "cores.csv")
    assert cores.groupby("model").size().max() > SHOWN_CORES  # the EM-PF chip uses more cores than are shown
    section = md.split("Cores: the layers each core holds")[1].split("## ")[0]
    rows = [ln for ln in section.splitlines() if ln.startswith("| digits")]
    shown = pd.Series([r.split(" | ")[0].strip("| ") for r in rows]).value_counts()
    assert (shown == cores.groupby("model").size().clip(upper=SHOWN_CORES).reindex(shown.index)).all()
    assert "every core in cores.csv](cores.csv)" in section
    busiest = cores.sort_values("busy_cycles", ascending=False).groupby("model").head(SHOWN_CORES)
    assert len(rows) == len(busiest)
    html = (path / "report.html").read_text()
    assert '<a href="cores.csv">' in html and "accuracy (%)" in html and "accuracy (%)" in md


def test_same_model_and_baseline_report_without_warnings(same_pair):
    path, machine = same_pair
    assert machine["summary"][0]["energy_pJ_per_inference"] == machine["summary"][1]["energy_pJ_per_inference"]
    assert (path / "plots" / "energy_by_component.png").stat().st_size > 0


def test_the_report_names_each_checkpoint_and_its_hash(same_pair):
    import hashlib
    from pathlib import Path

    path, _ = same_pair
    md = (path / "report.md").read_text()
    sha = hashlib.sha256(Path("models/digits_cnn-lif-stbp-T4.safetensors").read_bytes()).hexdigest()
    assert f"model models/digits_cnn-lif-stbp-T4.safetensors (weights SHA-256 {sha[:16]}…)" in md
    assert json.loads((path / "config.json").read_text())["sides"][0]["weights_sha256"] == sha

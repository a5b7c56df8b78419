"""Safe by default: output directories never lose user data, work is bounded, shipped files resolve from anywhere,
bad input is refused before any work, the CLI starts without its heavy dependencies."""

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from empf_hw.cli import main
from empf_hw.errors import EmpfError
from empf_hw.report.files import MARKER, write_outputs
from empf_hw.sweep.spec import parse_spec
from empf_hw.sweep.store import Store

LIF = "models/digits_cnn-lif-stbp-T4"
REPO = Path(__file__).resolve().parents[1]


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_new_and_empty_directories_are_written_with_a_marker(tmp_path):
    write_outputs(tmp_path / "a" / "b", {"x.csv": "1\n", "plots/p.png": b"png"})
    assert tree(tmp_path / "a" / "b").keys() == {"x.csv", "plots/p.png", MARKER}
    (tmp_path / "empty").mkdir()
    write_outputs(tmp_path / "empty", {"x.csv": "1\n"})
    assert tree(tmp_path / "empty")["x.csv"] == b"1\n"
    assert not [p for p in tmp_path.rglob(".*partial*")]


def test_a_directory_with_user_files_is_never_touched(tmp_path):
    (tmp_path / "u").mkdir()
    (tmp_path / "u" / "keep.txt").write_text("x")
    before = tree(tmp_path)
    for force in (False, True):
        with pytest.raises(EmpfError, match="holds files empf-hw did not write.*keep.txt"):
            write_outputs(tmp_path / "u", {"keep.txt": "overwritten"}, force=force)
    assert tree(tmp_path) == before


def test_rewrite_needs_force_keeps_user_files_and_refuses_changed_outputs(tmp_path):
    out = tmp_path / "r"
    write_outputs(out, {"a.csv": "1\n", "old/stale.csv": "s\n"})
    with pytest.raises(EmpfError, match="--force"):
        write_outputs(out, {"a.csv": "2\n"})
    (out / "notes.txt").write_text("mine")
    write_outputs(out, {"a.csv": "2\n"}, force=True)
    assert tree(out).keys() == {"a.csv", "notes.txt", MARKER}  # the stale output and its folder are gone
    assert (out / "a.csv").read_text() == "2\n" and (out / "notes.txt").read_text() == "mine"
    (out / "a.csv").write_text("edited by hand")
    with pytest.raises(EmpfError, match="a.csv was changed after empf-hw wrote it"):
        write_outputs(out, {"a.csv": "3\n"}, force=True)
    assert (out / "a.csv").read_text() == "edited by hand"


def _forge(out: Path, files: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text(json.dumps({"written_by": "empf-hw", "files": files}))


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("entry", ["abs", "../victim.txt", "d/../../victim.txt", "./x", "a/b/c.csv", "", MARKER])
def test_a_forged_marker_reaching_outside_makes_the_folder_foreign(tmp_path, entry):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "d"
    name = str(victim) if entry == "abs" else entry
    _forge(out, {name: _sha(victim)})
    before = tree(tmp_path)
    with pytest.raises(EmpfError, match="holds files empf-hw did not write"):
        write_outputs(out, {"summary.csv": "1\n"}, force=True)
    assert tree(tmp_path) == before


def test_forged_marker_cli_reproduction_keeps_the_victim(tmp_path, monkeypatch, capsys):
    """The issue's reproduction: an absolute path with the right hash in a received report folder."""
    monkeypatch.chdir(tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    _forge(tmp_path / "d", {str(victim): _sha(victim)})
    assert main(["cost", "--model", LIF, "--samples", "2", "--out", "d", "--force"]) == 2
    assert "did not write" in capsys.readouterr().err
    assert victim.read_text() == "precious\n"


def test_symlinks_in_a_marker_or_the_output_folder_are_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "p.png").write_bytes(b"user")
    out = tmp_path / "o"
    write_outputs(out, {"a.csv": "1\n", "plots/p.png": b"png"})
    # a marker entry that names a symlink to a user file: the marker is invalid
    (out / "link.csv").symlink_to(outside / "p.png")
    m = json.loads((out / MARKER).read_text())
    m["files"]["link.csv"] = _sha(outside / "p.png")
    (out / MARKER).write_text(json.dumps(m))
    with pytest.raises(EmpfError, match="did not write"):
        write_outputs(out, {"a.csv": "2\n"}, force=True)
    # a plots folder replaced by a symlink to another directory: nothing is written through it
    (out / "link.csv").unlink()
    del m["files"]["link.csv"]
    (out / MARKER).write_text(json.dumps(m))
    (out / "plots" / "p.png").unlink()
    (out / "plots").rmdir()
    (out / "plots").symlink_to(outside)
    before = tree(tmp_path)
    with pytest.raises(EmpfError, match="did not write|plots"):
        write_outputs(out, {"a.csv": "2\n", "plots/p.png": b"new"}, force=True)
    assert tree(tmp_path) == before and (outside / "p.png").read_bytes() == b"user"


def test_a_forged_entry_for_a_user_file_added_later_is_kept(tmp_path):
    """A stale name is removed only while unchanged and not newer than its marker: a user file put into a
    received report folder afterwards survives a forged entry carrying its hash."""
    import os

    out = tmp_path / "r"
    write_outputs(out, {"a.csv": "1\n"})
    mine = out / "mine.txt"
    mine.write_text("precious")
    m = json.loads((out / MARKER).read_text())
    m["files"]["mine.txt"] = _sha(mine)
    (out / MARKER).write_text(json.dumps(m))
    t = (out / MARKER).stat().st_mtime
    os.utime(mine, (t + 10, t + 10))
    write_outputs(out, {"a.csv": "2\n"}, force=True)
    assert mine.read_text() == "precious" and (out / "a.csv").read_text() == "2\n"


def test_out_dot_in_a_working_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.txt").write_text("precious")
    before = tree(tmp_path)
    assert main(["cost", "--model", LIF, "--samples", "2", "--out", ".", "--force"]) == 2
    assert "mine.txt" in capsys.readouterr().err
    assert tree(tmp_path) == before
    (tmp_path / "mine.txt").unlink()
    assert main(["cost", "--model", LIF, "--samples", "2", "--out", ".", "--json"]) == 0
    assert tree(tmp_path).keys() == {"summary.csv", "layers.csv", MARKER}


@pytest.mark.parametrize("where, message", [("file/out", "not a directory"), ("/proc/no/such/out", "cannot write")])
def test_unwritable_out_is_one_error_and_leaves_nothing(tmp_path, monkeypatch, capsys, where, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("x")
    assert main(["cost", "--model", LIF, "--samples", "2", "--out", where]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and message in err[0]
    assert tree(tmp_path).keys() == {"file"}


def test_simulate_default_location_is_refreshed_but_user_files_survive(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    quick = ["--samples", "3", "--timing", "fast"]  # output handling is the point here, not the cycle section
    assert main(["simulate", *quick, "--json"]) == 0
    (out,) = (tmp_path / "reports").iterdir()
    (out / "notes.md").write_text("mine")
    assert main(["simulate", *quick, "--json"]) == 0
    assert (out / "notes.md").read_text() == "mine" and (out / "report.html").exists()
    assert main(["simulate", *quick, "--out", str(out)]) == 2  # an explicit --out needs --force


def test_checkpoint_and_trace_targets_are_not_overwritten(tmp_path, capsys):
    (tmp_path / "t.json").write_text("{}")
    before = tree(tmp_path)
    assert main(["run", "--model", LIF, "--samples", "2", "--trace-out", str(tmp_path / "t")]) == 2
    assert main(["run", "--model", LIF, "--samples", "2", "--trace-out", str(tmp_path / "t"), "--force"]) == 2
    (tmp_path / "c.json").write_text("{}")
    assert main(["train", "--dataset", "synthetic", "--arch", "digits_mlp", "--epochs", "1", "--out",
                 str(tmp_path / "c"), "--force", "--quiet"]) == 2
    assert "c.json" in capsys.readouterr().err
    assert tree(tmp_path) == {**before, "c.json": b"{}"}


def test_sweep_report_opens_stores_read_only_and_refuses_foreign_sqlite(tmp_path, capsys):
    foreign = tmp_path / "other.sqlite"
    db = sqlite3.connect(foreign)
    db.execute("CREATE TABLE users (name TEXT)")
    db.commit()
    db.close()
    before = foreign.read_bytes()
    assert main(["sweep-report", str(foreign), "--out", str(tmp_path / "rep")]) == 2
    assert "not an empf-hw sweep store" in capsys.readouterr().err
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump({"name": "t", "models": [LIF], "arch": "stbp-core-45nm", "samples": 2,
                                 "parameters": {"chip.clock_MHz": [100]}}))
    assert main(["sweep", str(foreign.with_name("spec-store.sqlite")), "--store", str(foreign)]) == 2
    assert main(["sweep", str(f), "--store", str(foreign), "--quiet"]) == 2
    assert foreign.read_bytes() == before and not (tmp_path / "rep").exists()
    assert main(["sweep", str(f), "--store", str(tmp_path / "ok.sqlite"), "--quiet"]) == 0
    ro = Store(tmp_path / "ok.sqlite")
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        ro.db.execute("DELETE FROM points")
    ro.close()


def test_oversized_specs_and_runaway_constraints_are_refused_at_once(tmp_path):
    base = {"name": "t", "models": [LIF], "arch": "stbp-core-45nm"}
    t0 = time.perf_counter()
    with pytest.raises(EmpfError, match="more than 100000 points"):
        parse_spec({**base, "parameters": {"chip.clock_MHz": {"range": [1, 10**8], "step": 1}}})
    with pytest.raises(EmpfError, match="more than 10 points"):
        parse_spec({**base, "parameters": {"chip.clock_MHz": [1, 2, 3, 4], "core.neuron_units": [1, 2, 3]}},
                   max_points=10)
    for c, msg in (("10 ** 10 ** 9 > 1", "too large"), ("chip.clock_MHz / 0 > 1", "cannot be evaluated"),
                   ("((2 ** 64) ** 64) ** 2 > 1", "too large"),
                   ("chip.clock_MHz" + " + 1" * 300 + " > 0", "characters")):
        with pytest.raises(EmpfError, match=msg):
            parse_spec({**base, "parameters": {"chip.clock_MHz": [100]}, "constraints": [c]})
    assert time.perf_counter() - t0 < 30  # generous: each is refused without enumeration or big arithmetic


def test_unreachable_scheduler_is_one_error_and_no_store(tmp_path, capsys):
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump({"name": "t", "models": [LIF], "arch": "stbp-core-45nm", "samples": 2,
                                 "parameters": {"chip.clock_MHz": [100]}}))
    assert main(["sweep", str(f), "--store", str(tmp_path / "r.sqlite"), "--scheduler", "tcp://127.0.0.1:9",
                 "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no Dask scheduler answered" in err[0]
    assert not (tmp_path / "r.sqlite").exists()


def test_shipped_files_resolve_from_any_directory(tmp_path):
    env_home = tmp_path / "home"
    (env_home / "sims" / "hw").mkdir(parents=True)
    d = yaml.safe_load((REPO / "sims" / "hw" / "stbp-core-45nm.yaml").read_text())
    d["name"], d["chip"]["clock_MHz"] = "my-chip", 50
    (env_home / "sims" / "hw" / "my-chip.yaml").write_text(yaml.safe_dump(d))
    run = subprocess.run([sys.executable, "-m", "empf_hw.cli", "cost", "--model", "digits_cnn-lif-stbp-T4",
                          "--arch", "my-chip", "--samples", "2", "--json"], cwd=tmp_path, capture_output=True,
                         text=True, env={"EMPF_HW_HOME": str(env_home), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["clock_MHz"] == 50
    work = tmp_path / "elsewhere"
    work.mkdir()
    run = subprocess.run([sys.executable, "-m", "empf_hw.cli", "simulate", "--samples", "3", "--timing", "fast",
                          "--json"], cwd=work, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert (work / json.loads(run.stdout)["report"] / "report.html").is_file()


def test_help_imports_no_heavy_module():
    code = ("import sys; from empf_hw.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch', 'numpy', 'pandas', 'matplotlib') if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"


def test_broken_pipe_is_quiet():
    run = subprocess.run(f"{sys.executable} -m empf_hw.cli ert --arch loihi-like | head -c 10", shell=True,
                         capture_output=True, text=True)
    assert run.stderr == "" and len(run.stdout) == 10


@pytest.mark.peer
def test_an_installed_wheel_runs_from_anywhere(tmp_path):
    """Build the wheel, install it without dependencies into a venv that sees this environment's packages, and run
    the main job from an unrelated directory."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "dist"), str(REPO)], check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("empf_hw-*.whl")
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(tmp_path / "venv")], check=True)
    py = tmp_path / "venv" / "bin" / "python"
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True, capture_output=True)
    work = tmp_path / "work"
    work.mkdir()
    where = subprocess.run([py, "-c", "import empf_hw; print(empf_hw.__file__)"], cwd=work, capture_output=True,
                           text=True, check=True).stdout
    assert str(tmp_path / "venv") in where
    run = subprocess.run([tmp_path / "venv" / "bin" / "empf-hw", "simulate", "--samples", "3", "--json"], cwd=work,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert (work / json.loads(run.stdout)["report"] / "report.html").is_file()


def test_spike_bits_where_they_cannot_apply_are_refused(capsys):
    empf = "digits_cnn-empf-online-T4"
    for args, why in ((["run", "--model", LIF, "--spike-bits", "4"], "LIF neurons"),
                      (["cost", "--model", LIF, "--spike-bits", "4"], "LIF neurons"),
                      (["run", "--model", empf, "--mode", "float", "--spike-bits", "4"], "fixed point")):
        assert main([*args, "--samples", "2"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: --spike-bits 4") and why in err[0]


def test_shipped_zoo_models_are_never_written(tmp_path, capsys):
    """``train --out`` and ``run --record`` refuse a shipped model (the source tree's ``models/`` here)."""
    stem = REPO / "models" / "digits_cnn-empf-online-T4"
    before = {p: p.read_bytes() for p in (stem.with_suffix(".json"), stem.with_suffix(".safetensors"))}
    assert main(["train", "--arch", "digits_mlp", "--neuron", "lif", "--epochs", "1", "--out", str(stem),
                 "--force"]) == 2
    assert "shipped zoo model" in capsys.readouterr().err
    assert main(["run", "--model", LIF, "--mode", "fixed", "--record"]) == 2
    assert "shipped zoo model card" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in before} == before


@pytest.mark.parametrize("argv", [["ert"], ["cost", "--model", LIF, "--samples", "2", "--timing", "fast"]])
def test_a_closed_stdout_is_a_success(argv):
    """`empf-hw … | head -1`: the reader leaves early; the command exits 0 without a traceback."""
    import os

    r, w = os.pipe()
    os.close(r)  # the reader is gone before the first write
    proc = subprocess.run([sys.executable, "-m", "empf_hw.cli", *argv], stdout=w, stderr=subprocess.PIPE,
                          cwd=REPO, timeout=300)
    os.close(w)
    assert proc.returncode == 0 and proc.stderr == b""


def test_a_key_given_twice_in_yaml_is_refused(tmp_path, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_text(f"name: t\nmodels: [{LIF}]\nsamples: 5\nsamples: 6\nparameters: {{core.spike_bus_bits: [16]}}\n")
    store = tmp_path / "st.sqlite"
    assert main(["sweep", str(spec), "--store", str(store), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "duplicate key 'samples' (line 4)" in err and not store.exists()
    arch = tmp_path / "a.yaml"
    arch.write_text((REPO / "sims/hw/empf-core-45nm.yaml").read_text() + "\nname: again\n")
    assert main(["ert", "--arch", str(arch)]) == 2
    assert "duplicate key 'name'" in capsys.readouterr().err


def test_a_local_file_and_a_zoo_model_of_one_name_are_ambiguous(tmp_path, monkeypatch, capsys):
    import shutil

    monkeypatch.chdir(tmp_path)
    name = "digits_cnn-lif-stbp-T4"
    for suffix in (".json", ".safetensors"):
        shutil.copy(REPO / "models" / (name + suffix), tmp_path / (name + suffix))
    assert main(["cost", "--model", name, "--samples", "2", "--timing", "fast", "--json"]) == 2
    err = capsys.readouterr().err
    assert "both a file in the working directory and a shipped zoo model" in err and f"./{name}" in err
    assert main(["cost", "--model", f"./{name}", "--samples", "2", "--timing", "fast", "--json"]) == 0
    capsys.readouterr()


def test_model_and_baseline_of_different_datasets_need_allow_mixed(tmp_path, capsys):
    argv = ["simulate", "--model", "models/mnist1d_cnn-empf-online-T4", "--samples", "4", "--timing", "fast",
            "--out", str(tmp_path / "r")]
    assert main(argv) == 2
    assert "trained on mnist1d, --baseline" in capsys.readouterr().err and not (tmp_path / "r").exists()
    assert main([*argv, "--allow-mixed", "--json"]) == 0
    assert "warning: the model (mnist1d) and the baseline (digits)" in capsys.readouterr().err
    used = json.loads((tmp_path / "r" / "config.json").read_text())
    assert used["mixed_datasets"] == ["mnist1d", "digits"]
    import hashlib

    side = used["sides"][1]
    assert side["checkpoint"] == "models/digits_cnn-lif-stbp-T4.safetensors"
    assert side["weights_sha256"] == hashlib.sha256((REPO / side["checkpoint"]).read_bytes()).hexdigest()


def test_an_untrained_network_reports_no_accuracy(capsys):
    assert main(["cost", "--random-init", "digits_cnn", "--samples", "1", "--timing", "fast", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] is None

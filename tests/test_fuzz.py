"""Fuzz test of every input kind and every typed CLI flag: hypothesis mutates valid inputs into invalid ones and
the CLI must answer each with exit code 2, exactly one ``error:`` line on stderr, no traceback, and no new or
changed file. Inputs: architecture YAML (empf-hw's and SANA-FE's), sweep specs, model cards and weights, SCALE-Sim
topologies and configs, sweep stores, numeric and choice flags; and each bad input a user or tester reported
(``REPORTED``). Over 400 cases per run."""

import contextlib
import hashlib
import io
import json
import math
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save_file

from empf_hw.cli import build_parser, main
from empf_hw.cli.args import spike_bits
from empf_hw.deploy.graph import DEFAULT_FORMATS
from empf_hw.hw import load_arch
from empf_hw.hw.arch import ARRAY_FIELDS, CHIP_FIELDS, CHOICES, CORE_FIELDS, FLOAT_FIELDS
from empf_hw.hw.sanafe_io import arch_yaml
from empf_hw.sim.executor import max_spike_bits

REPO = Path(__file__).resolve().parents[1]
LIF = REPO / "models" / "digits_cnn-lif-stbp-T4"
PRESETS = sorted((REPO / "sims" / "hw").glob("*.yaml"))
FUZZ = settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOT_UTF8 = b"\xff\xfe\xfa not utf-8 \xc3\x28\n"


def snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


def refused(argv, files: dict[str, bytes | str]) -> None:
    """Write ``files`` into a fresh directory, run the CLI there, and check the refusal."""
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        for name, content in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(content.encode() if isinstance(content, str) else content)
        before = snapshot(root)
        err, out = io.StringIO(), io.StringIO()
        cwd = os.getcwd()
        os.chdir(root)
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
                code = main([str(a) for a in argv])
        finally:
            os.chdir(cwd)
        lines = err.getvalue().strip().splitlines()
        assert code == 2, (argv, err.getvalue(), out.getvalue())
        assert len(lines) == 1 and lines[0].startswith("error:"), (argv, err.getvalue())
        assert "Traceback" not in err.getvalue()
        assert snapshot(root) == before, argv


def bad_numbers(lo, hi, integer):
    """Values outside a field's type or range, of any kind YAML can express."""
    out = [math.nan, math.inf, -math.inf, "text", [1], {"a": 1}, True, lo - 1, (hi or 10**6) * 10 + 1]
    if integer:
        out.append(lo + 0.5)
    return [v for v in out if not (v == lo - 1 and lo - 1 >= lo)]


# --- architecture YAML ------------------------------------------------------------------------------------
@st.composite
def bad_arch(draw):
    text = draw(st.sampled_from(PRESETS)).read_text()
    d = yaml.safe_load(text)
    section = "array" if d.get("template") == "systolic" else "core"
    kind = draw(st.sampled_from(["value", "value", "value", "missing", "unknown", "top", "energy", "latency",
                                 "bytes"]))
    if kind == "bytes":
        return draw(st.sampled_from([NOT_UTF8 + text.encode(), b"chip: [unclosed\n", b"- a\n- b\n", b""]))
    if kind in ("value", "missing"):
        sec = draw(st.sampled_from(["chip", section]))
        fields = {"chip": CHIP_FIELDS, "core": CORE_FIELDS, "array": ARRAY_FIELDS}[sec]
        if kind == "missing":  # a required field
            del d[sec][draw(st.sampled_from(sorted(k for k in d[sec] if fields[k].default is ...)))]
        else:
            f = draw(st.sampled_from(sorted(fields)))
            spec = fields[f]
            bad = ([1, "yes", 2.5, [True]] if spec.unit == "bool" else ["xyz", 3, [1]] if spec.unit == "choice"
                   else [{}, {0: 5}, {1: -1}, "x", -1] if spec.unit == "table"
                   else bad_numbers(spec.lo, spec.hi, f not in FLOAT_FIELDS))
            if spec.unit == "choice":
                assert "xyz" not in CHOICES[f]
            d.setdefault(sec, {})[f] = draw(st.sampled_from(bad))
    elif kind == "unknown":
        d[draw(st.sampled_from(["chip", section]))]["turbo"] = 1
    elif kind == "latency":
        d["latency"] = draw(st.sampled_from([{"syn_dense": -1}, {"bogus": 1}, {"hop_ns": 1.5}, [1]]))
        if section == "array":
            d["latency"] = {"syn_dense": 1}  # the systolic template has no latency section
    elif kind == "top":
        change = draw(st.sampled_from(["extra", "template", "list"]))
        if change == "extra":
            d["gpu"] = True
        elif change == "template":
            d["template"] = "gpu"
        else:
            d[section] = [1, 2]
    else:
        d["energy"] = draw(st.sampled_from([{"aux_op": math.nan}, {"bogus": 1.0}, {"aux_op": -1},
                                            {"aux_op": {"pJ": "x"}}, {"aux_op": {"pJ": 1, "extra": 2}}, [1],
                                            {"aux_op": {"pJ": 1, "low": 2}}]))
    return yaml.safe_dump(d)


@FUZZ
@given(bad_arch(), st.sampled_from(["ert", "cost", "simulate"]))
def test_fuzz_architecture_yaml(text, command):
    argv = {"ert": ["ert", "--arch", "a.yaml"],
            "cost": ["cost", "--model", LIF, "--arch", "a.yaml", "--samples", "2"],
            "simulate": ["simulate", "--baseline-arch", "a.yaml", "--samples", "2", "--out", "o"]}[command]
    refused(argv, {"a.yaml": text})


# --- SANA-FE architecture YAML ---------------------------------------------------------------------------
SANAFE = arch_yaml(load_arch("loihi-sanafe"), 64)


@st.composite
def bad_sanafe_arch(draw):
    d = json.loads(json.dumps(SANAFE))
    a = d["architecture"]
    tile, core = a["tile"][0], a["tile"][0]["core"][0]
    unit = draw(st.sampled_from(["axon_in", "soma", "dendrite", "synapse", "axon_out"]))
    kind = draw(st.sampled_from(["unknown", "value", "model", "structure", "core", "chip", "hop"]))
    if kind == "unknown":
        where = draw(st.sampled_from([d["architecture"], a["attributes"], tile, tile["attributes"], core,
                                      core["attributes"], core[unit][0], core[unit][0]["attributes"]]))
        where[draw(st.sampled_from(["turbo", "noise", "plugin", "log_potential"]))] = 1
    elif kind == "value":
        att = core[unit][0]["attributes"]
        att[draw(st.sampled_from(sorted(k for k in att if k != "model")))] = draw(
            st.sampled_from([-1e-12, "fast", math.nan, math.inf, [1], True]))
    elif kind == "model":
        core[draw(st.sampled_from(["soma", "dendrite", "synapse"]))][0]["attributes"]["model"] = draw(
            st.sampled_from(["truenorth", "plugin", 3, None]))
    elif kind == "structure":
        change = draw(st.sampled_from(["two_tiles", "two_cores", "no_tile", "no_soma", "empty_synapse", "name"]))
        if change == "two_tiles":
            a["tile"].append(json.loads(json.dumps(tile)))
        elif change == "two_cores":
            tile["core"].append(json.loads(json.dumps(core)))
        elif change == "no_tile":
            del a["tile"]
        elif change == "no_soma":
            del core["soma"]
        elif change == "empty_synapse":
            core["synapse"] = []
        else:
            core["name"] = "core[3..0]"
    elif kind == "core":
        key, value = draw(st.sampled_from([
            ("max_neurons_supported", 0), ("max_neurons_supported", -4), ("max_neurons_supported", 2.5),
            ("max_neurons_supported", "many"), ("buffer_position", "axon_out"), ("buffer_inside_unit", True)]))
        core["attributes"][key] = value
    elif kind == "chip":
        key, value = draw(st.sampled_from([
            ("width", 0), ("height", -1), ("width", 2.5), ("topology", "torus"), ("link_buffer_size", 0),
            ("sync_model", "magic"), ("latency_sync", {1: "x"}), ("sync_model", "fixed")]))
        a["attributes"][key] = value
        a["attributes"].pop("height", None) if draw(st.booleans()) and kind == "chip" and key == "width" else None
    else:
        tile["attributes"][draw(st.sampled_from(["energy_south_hop", "latency_west_hop"]))] = 9.9e-9
    return yaml.safe_dump(d)


@FUZZ
@given(bad_sanafe_arch())
def test_fuzz_sanafe_architecture_yaml(text):
    refused(["ert", "--arch", "a.yaml"], {"a.yaml": text})


# --- sweep specs --------------------------------------------------------------------------------------------
SPEC = {"name": "f", "models": [str(LIF)], "arch": "stbp-core-45nm", "samples": 2,
        "parameters": {"chip.clock_MHz": [100, 200]}}


@st.composite
def bad_spec(draw):
    d = json.loads(json.dumps(SPEC))
    kind = draw(st.sampled_from(["top", "parameter", "parameter", "constraint", "constraint", "models", "bytes"]))
    if kind == "bytes":
        return draw(st.sampled_from([NOT_UTF8, b"parameters: {unclosed\n", b"[1, 2]\n"]))
    if kind == "top":
        key, value = draw(st.sampled_from([
            ("samples", "ten"), ("samples", 0), ("samples", 1.5), ("samples", math.nan), ("seed", 1.5),
            ("seed", -1), ("seed", "x"), ("seed", 2**40), ("sampling", "latin"), ("sampling", 3), ("points", 5),
            ("name", [1, 2]), ("turbo", 1), ("data_dir", 3), ("arch", ["x"]), ("arch", "no-such-chip")]))
        d[key] = value
    elif kind == "parameter":
        d["parameters"] = draw(st.sampled_from([
            {"core.bus_width": [1]}, {"chip.clock_MHz": []}, {"chip.clock_MHz": {"range": [1]}},
            {"chip.clock_MHz": {"range": ["a", 2], "step": 1}}, {"chip.clock_MHz": {"range": [math.nan, 1], "num": 2}},
            {"chip.clock_MHz": {"range": [1, 10], "step": 0}}, {"chip.clock_MHz": {"range": [1, 10], "step": "x"}},
            {"chip.clock_MHz": {"range": [1, 10], "num": 1.5}}, {"chip.clock_MHz": {"range": [1, 1e12], "step": 1}},
            {"chip.clock_MHz": ["fast"]}, {"chip.clock_MHz": [math.nan]}, {"chip.mesh_rows": [2.5]},
            {"chip.dram_spill": ["yes"]}, {"spike_bits": [0]}, {"spike_bits": [max_spike_bits(DEFAULT_FORMATS) + 1]},
            {"timesteps": [2.5]}, {"chip.clock_MHz": 100}, [1], {}, {"chip.clock_MHz": [1e9]}]))
    elif kind == "constraint":
        d["constraints"] = draw(st.sampled_from([
            ["chip.clock_MHz / 0 > 1"], ["10 ** 10 ** 9 > 1"], ["chip.clock_MHz >"], ["core.lanes > 1"],
            ["chip.clock_MHz > 1e9"], "chip.clock_MHz > 1", [1], ["x" * 600], ["__import__('os')"],
            ["chip.clock_MHz % 0 == 1"], ["array.rows > 1"], ["(2 ** 70) ** 2 > 1"]]))
    else:
        d["models"] = draw(st.sampled_from([["no/such/model"], [1], [{"path": 3}], [], "x", [{"arch": "y"}]]))
    return yaml.safe_dump(d)


@FUZZ
@given(bad_spec())
def test_fuzz_sweep_spec(text):
    refused(["sweep", "s.yaml", "--store", "r.sqlite", "--quiet"], {"s.yaml": text})


# --- model cards and weights ------------------------------------------------------------------------------
CARD = json.loads(Path(f"{LIF}.json").read_text())
WEIGHTS = load_file(f"{LIF}.safetensors")


def _weights_bytes(tensors) -> bytes:
    with tempfile.TemporaryDirectory() as d:
        save_file(tensors, f"{d}/w.safetensors", metadata={"format": "empf-hw"})
        return Path(f"{d}/w.safetensors").read_bytes()


@st.composite
def bad_checkpoint(draw):
    card, weights = json.loads(json.dumps(CARD)), dict(WEIGHTS)
    kind = draw(st.sampled_from(["config", "config", "card", "card_bytes", "weights"]))
    if kind == "config":
        key, value = draw(st.sampled_from([
            ("timesteps", "4"), ("timesteps", 4.5), ("timesteps", 0), ("timesteps", True), ("arch", "alexnet"),
            ("neuron", 3), ("spike_bits", 40), ("mem_bn", "yes"), ("bogus", 1), ("num_classes", -1),
            ("weights", "float")]))
        card["config"][key] = value
    elif kind == "card":
        key, value = draw(st.sampled_from([
            ("card_version", 2), ("dataset", "imagenet"), ("test_accuracy", "x"), ("test_accuracy", 2.0),
            ("training", []), ("training", {"method": "sgd"}), ("config", [1]), ("parameters", -5), ("seed", -1)]))
        card[key] = value
    elif kind == "card_bytes":
        return draw(st.sampled_from([NOT_UTF8, b"{not json", b"[1, 2]"])), _weights_bytes(weights)
    else:
        name = draw(st.sampled_from(sorted(k for k in weights if weights[k].is_floating_point())))
        change = draw(st.sampled_from(["nan", "inf", "shape", "drop", "truncate", "garbage"]))
        if change == "truncate":
            return json.dumps(card).encode(), _weights_bytes(weights)[:200]
        if change == "garbage":
            return json.dumps(card).encode(), bytes(draw(st.binary(min_size=1, max_size=64)))
        if change in ("nan", "inf"):
            w = weights[name].clone()
            w.view(-1)[0] = float(change)
            weights[name] = w
        elif change == "shape":
            weights[name] = weights[name].reshape(-1)[:1].clone()
        else:
            del weights[name]
    return json.dumps(card).encode(), _weights_bytes(weights)


@FUZZ
@given(bad_checkpoint(), st.sampled_from(["cost", "evaluate", "run"]))
def test_fuzz_model_card_and_weights(files, command):
    card, weights = files
    argv = {"cost": ["cost", "--model", "m", "--samples", "2"], "evaluate": ["evaluate", "--model", "m"],
            "run": ["run", "--model", "m", "--samples", "2"]}[command]
    refused(argv, {"m.json": card, "m.safetensors": weights})


# --- SCALE-Sim topologies and configs ---------------------------------------------------------------------
CONV = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
CFG = (REPO / "tests" / "peers.py").read_text().split('CFG = """')[1].split('"""')[0]


@st.composite
def bad_scalesim(draw):
    if draw(st.booleans()):
        topo = draw(st.sampled_from([
            "", CONV, "Layer, X, Y, Z,\nc, 1, 2, 3,\n", CONV + "c1, 34, 34, 3, 3, 64, 64, 0,\n",
            CONV + "c1, 3, 3, 5, 5, 1, 1, 1,\n", CONV + "c1, a, 34, 3, 3, 64, 64, 1,\n", CONV + "c1, 34,\n",
            "Layer, M, N, K,\ng, 0, 4, 4,\n", "Layer, M, N, K,\ng, 1.5, 4, 4,\n"]))
        gemm = draw(st.booleans())
        return ["scalesim", "--topology", "t.csv"] + (["--gemm"] if gemm else []), {"t.csv": topo}
    if draw(st.booleans()):
        return ["scalesim", "--topology", "t.csv", "--gemm"], {"t.csv": CONV + "c1, 34, 34, 3, 3, 64, 64, 1,\n"}
    cfg = draw(st.sampled_from([
        CFG.format(rows=0, cols=8, dataflow="ws"), CFG.format(rows="x", cols=8, dataflow="ws"),
        CFG.format(rows=8, cols=8, dataflow="is"), CFG.replace("[architecture_presets]", "[other]"),
        CFG.format(rows=8, cols=8, dataflow="ws").replace("IfmapSramSzkB: 65536", ""), "not a config",
        NOT_UTF8]))
    return (["scalesim", "--topology", "t.csv", "--arch", "a.cfg"],
            {"t.csv": CONV + "c1, 34, 34, 3, 3, 64, 64, 1,\n", "a.cfg": cfg})


@FUZZ
@given(bad_scalesim())
def test_fuzz_scalesim_files(case):
    refused(*case)


# --- sweep stores ---------------------------------------------------------------------------------------------
def _sqlite(statements) -> bytes:
    with tempfile.TemporaryDirectory() as d:
        db = sqlite3.connect(f"{d}/s.sqlite")
        for s in statements:
            db.execute(s)
        db.commit()
        db.close()
        return Path(f"{d}/s.sqlite").read_bytes()


STORES = [
    _sqlite(["CREATE TABLE users (name TEXT)"]),
    _sqlite(["CREATE TABLE meta (key TEXT, value TEXT)", "INSERT INTO meta VALUES ('spec', 'not json')",
             "CREATE TABLE points (key TEXT)"]),
    _sqlite(["CREATE TABLE meta (key TEXT, value TEXT)", "INSERT INTO meta VALUES ('spec', '{}')"]),
    _sqlite(["CREATE TABLE meta (key TEXT, value TEXT)", "INSERT INTO meta VALUES ('spec', '{}')",
             "CREATE TABLE points (key TEXT, idx INTEGER, params TEXT, result TEXT, elapsed_s REAL)",
             "INSERT INTO points VALUES ('k', 0, 'not json', '{}', 0.0)"]),
]


@FUZZ
@given(st.one_of(st.sampled_from(STORES), st.binary(min_size=1, max_size=256)))
def test_fuzz_sweep_store(data):
    refused(["sweep-report", "s.sqlite", "--out", "rep"], {"s.sqlite": data})


# --- numeric and choice flags -------------------------------------------------------------------------------
BASE = {("simulate",): [], ("sweep",): ["s.yaml", "--store", "r.sqlite"], ("sweep-report",): ["s.sqlite", "--out", "o"],
        ("train",): [], ("evaluate",): ["--model", LIF], ("run",): ["--model", LIF], ("zoo",): [],
        ("cost",): ["--model", LIF], ("ert",): [], ("scalesim",): ["--topology", "t.csv"],
        ("sanafe", "export"): ["--model", LIF, "--out", "o"], ("memory",): [], ("sensitivity",): [],
        ("map",): ["--model", LIF], ("explore",): ["--model", LIF]}


def _commands(parser, path=()) -> dict:
    """Every (sub)command's parser by its words."""
    sub = [a for a in parser._actions if a.choices and not a.option_strings and hasattr(a, "_name_parser_map")]
    if not sub:
        return {path: parser}
    out = {}
    for name, p in sub[0].choices.items():
        out.update(_commands(p, path + (name,)))
    return out


def _flags():
    out = []
    for command, parser in _commands(build_parser()).items():
        for a in parser._actions:
            if getattr(a.type, "bounds", None):
                out.append((command, a.option_strings[0], a.type.bounds))
            elif a.choices and a.option_strings:
                out.append((command, a.option_strings[0], tuple(a.choices)))
    return out


FLAGS = _flags()


def test_every_typed_flag_is_fuzzed_and_spike_bounds_match_the_formats():
    assert set(BASE) == set(_commands(build_parser()))
    assert len(FLAGS) >= 25
    assert spike_bits.bounds[:2] == (1, max_spike_bits(DEFAULT_FORMATS))


@st.composite
def bad_flag(draw):
    command, flag, spec = draw(st.sampled_from(FLAGS))
    if isinstance(spec, tuple) and len(spec) == 3 and isinstance(spec[2], bool):
        lo, hi, integer = spec
        cands = [st.integers(max_value=int(math.ceil(lo)) - 1).map(str), st.sampled_from(["nan", "inf", "-inf", "",
                                                                                        "abc", "1e", "0x1"])]
        if hi is not None:
            cands.append(st.integers(min_value=int(hi) + 1, max_value=int(hi) * 1000 + 10).map(str))
        if integer:
            cands.append(st.floats(min_value=lo + 0.01, max_value=lo + 0.99).map(repr))
        value = draw(st.one_of(cands))
    else:
        value = draw(st.sampled_from(["not-a-choice", "", "CPU"]))
        assert value not in spec
    return [*command, *BASE[command], flag, value]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bad_flag())
def test_fuzz_cli_flags(argv):
    refused(argv, {})


# --- reported bad inputs ------------------------------------------------------------------------------------
def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _forged(entry: str, target: Path | None = None) -> str:
    """A marker that claims ``entry`` (with the right hash of ``target``) was written by empf-hw."""
    h = _sha(target) if target else hashlib.sha256(b"precious\n").hexdigest()
    return json.dumps({"written_by": "empf-hw", "files": {entry: h}})


def _tensors(change) -> bytes:
    w = dict(WEIGHTS)
    change(w)
    return _weights_bytes(w)


SPEC_DUP = yaml.safe_dump({**SPEC, "parameters": {"core.spike_bus_bits": [32, 32]}})
SPEC_HUGE = yaml.safe_dump({**SPEC, "samples": 1000000000000})
ZOO_LIF = {"digits_cnn-lif-stbp-T4.json": Path(f"{LIF}.json").read_bytes(),
           "digits_cnn-lif-stbp-T4.safetensors": Path(f"{LIF}.safetensors").read_bytes()}
FAST = ["--samples", "2", "--timing", "fast"]
REPORTED = {  # each a bad input from a user's or tester's report: one error line, nothing written
    "forged marker, ../ entry": (["simulate", *FAST, "--out", "d", "--force"],
                                 {"victim.txt": "precious\n", "d/.empf-hw-output.json": _forged("../victim.txt")}),
    "forged marker, absolute entry": (["simulate", *FAST, "--out", "d", "--force"],
                                      {"d/.empf-hw-output.json": _forged(str(REPO / "README.md"), REPO / "README.md")}),
    "train over a zoo model": (["train", "--out", REPO / "models" / "digits_cnn-empf-online-T4", "--force"], {}),
    "run --record on a zoo model": (["run", "--model", LIF, "--mode", "fixed", "--record"], {}),
    "a local file shadows a zoo name": (["cost", "--model", "digits_cnn-lif-stbp-T4", "--samples", "2"], ZOO_LIF),
    "int8 weights": (["cost", "--model", "m", "--samples", "2"], {"m.json": json.dumps(CARD), "m.safetensors": _tensors(
        lambda w: w.update({k: v.to(torch.int8) for k, v in w.items() if k.endswith("conv.weight")}))}),
    "negative BatchNorm variance": (["cost", "--model", "m", "--samples", "2"], {
        "m.json": json.dumps(CARD), "m.safetensors": _tensors(
            lambda w: w.update({k: -torch.ones_like(v) for k, v in w.items() if k.endswith("running_var")}))}),
    "duplicate YAML key": (["ert", "--arch", "a.yaml"], {"a.yaml": PRESETS[0].read_text() + "template: cores\n"}),
    "SANA-FE max_neurons_supported 0": (["ert", "--arch", "a.yaml"], {"a.yaml": yaml.safe_dump(SANAFE).replace(
        "max_neurons_supported: 1024", "max_neurons_supported: 0")}),
    "SANA-FE unknown key": (["ert", "--arch", "a.yaml"], {"a.yaml": yaml.safe_dump(SANAFE).replace(
        "buffer_position: soma", "buffer_position: soma\n        turbo: true")}),
    "model and baseline of different datasets": (["simulate", "--model", "mnist1d_cnn-empf-online-T4", *FAST,
                                                  "--out", "o"], {}),
    "sanafe export on a systolic chip": (["sanafe", "export", "--model", LIF, "--arch", "systolic-32x32-45nm",
                                          "--out", "o"], {}),
    "sweep with duplicate values": (["sweep", "s.yaml", "--store", "r.sqlite", "--quiet"], {"s.yaml": SPEC_DUP}),
    "sweep with 10^12 samples": (["sweep", "s.yaml", "--store", "r.sqlite", "--quiet"], {"s.yaml": SPEC_HUGE}),
}


@pytest.mark.parametrize("case", sorted(REPORTED))
def test_reported_bad_inputs_are_refused(case):
    zoo = {p: _sha(p) for p in sorted((REPO / "models").iterdir())}
    refused(*REPORTED[case])
    assert {p: _sha(p) for p in sorted((REPO / "models").iterdir())} == zoo


def test_fuzz_inputs_are_invalid_by_construction():
    """The mutations above are refusals of invalid input, never of valid input: the unmutated files pass."""
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        shutil.copy(f"{LIF}.json", root / "m.json")
        shutil.copy(f"{LIF}.safetensors", root / "m.safetensors")
        (root / "s.yaml").write_text(yaml.safe_dump(SPEC))
        (root / "a.cfg").write_text(CFG.format(rows=8, cols=8, dataflow="ws"))
        (root / "t.csv").write_text(CONV + "c1, 34, 34, 3, 3, 64, 64, 1,\n")
        cwd = os.getcwd()
        os.chdir(root)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                assert main(["cost", "--model", "m", "--samples", "2", "--json"]) == 0
                assert main(["sweep", "s.yaml", "--store", "r.sqlite", "--quiet"]) == 0
                assert main(["sweep-report", "r.sqlite", "--out", "rep"]) == 0
                assert main(["scalesim", "--topology", "t.csv", "--arch", "a.cfg"]) == 0
                for p in PRESETS:
                    assert main(["ert", "--arch", str(p)]) == 0
                (root / "sf.yaml").write_text(yaml.safe_dump(SANAFE))
                assert main(["ert", "--arch", "sf.yaml"]) == 0
        finally:
            os.chdir(cwd)
    assert np.isfinite(sum(float(v.float().sum()) for v in WEIGHTS.values()))

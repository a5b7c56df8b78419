"""Dataset loaders on generated files, checkpoints, the CLI's bad-input handling and the shipped zoo."""

import gzip
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from empf_hw.cli import main
from empf_hw.errors import EmpfError
from empf_hw.nn import ModelConfig, build_model, evaluate, load_checkpoint, save_checkpoint
from empf_hw.nn.data import load_cifar10, load_dataset, load_digits_split, load_mnist

ZOO = Path(__file__).resolve().parents[1] / "models"


def write_idx(path: Path, arr: np.ndarray, gz: bool = False):
    header = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data = header + arr.astype(np.uint8).tobytes()
    (gzip.open(path.with_name(path.name + ".gz"), "wb") if gz else open(path, "wb")).write(data)


def test_mnist_idx_loader(tmp_path):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (5, 28, 28))
    labels = np.array([3, 1, 4, 1, 5])
    write_idx(tmp_path / "train-images-idx3-ubyte", imgs)
    write_idx(tmp_path / "train-labels-idx1-ubyte", labels)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", imgs[:2], gz=True)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels[:2], gz=True)
    (xtr, ytr), (xte, yte) = load_mnist(tmp_path)
    assert xtr.shape == (5, 1, 28, 28) and xte.shape == (2, 1, 28, 28)
    assert xtr[2, 0, 10, 7] == pytest.approx(imgs[2, 10, 7] / 255)
    assert ytr.tolist() == [3, 1, 4, 1, 5] and yte.tolist() == [3, 1]


def test_mnist_missing_files_named(tmp_path):
    with pytest.raises(EmpfError, match="train-images-idx3-ubyte.*expected files:.*t10k-labels-idx1-ubyte"):
        load_mnist(tmp_path)


def test_cifar_binary_loader(tmp_path):
    rng = np.random.default_rng(1)
    records = {}
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        rec = rng.integers(0, 256, (3, 3073)).astype(np.uint8)
        rec[:, 0] = rng.integers(0, 10, 3)
        (tmp_path / name).write_bytes(rec.tobytes())
        records[name] = rec
    (xtr, ytr), (xte, yte) = load_cifar10(tmp_path)
    assert xtr.shape == (15, 3, 32, 32) and xte.shape == (3, 3, 32, 32)
    t = records["test_batch.bin"]
    assert yte.tolist() == t[:, 0].tolist()
    # channel-major layout: byte 1 + 1024·c + 32·h + w
    assert xte[1, 2, 5, 6] == pytest.approx(t[1, 1 + 1024 * 2 + 32 * 5 + 6] / 255)
    (tmp_path / "test_batch.bin").write_bytes(b"\x00" * 100)
    with pytest.raises(EmpfError, match="not a multiple of 3073"):
        load_cifar10(tmp_path)


def test_digits_split_is_fixed():
    (xtr, ytr), (xte, yte) = load_digits_split()
    assert len(xtr) == 1437 and len(xte) == 360 and xtr.shape[1:] == (1, 8, 8)
    assert 0 <= xtr.min() and xtr.max() <= 1
    assert np.array_equal(load_digits_split()[1][1], yte)


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = build_model(ModelConfig("digits_cnn", spike_bits=4, mem_bn=True)).eval()
    save_checkpoint(model, tmp_path / "m", {"dataset": "digits", "training": {"method": "online"},
                                             "test_accuracy": 0.5})
    loaded, card = load_checkpoint(tmp_path / "m.json")
    x = torch.rand(3, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(model.run(x), loaded.run(x))
    assert card["config"]["spike_bits"] == 4 and card["parameters"] == sum(p.numel() for p in model.parameters())
    assert "package_version" in card


def test_corrupt_and_mismatched_checkpoints(tmp_path):
    model = build_model(ModelConfig("digits_mlp"))
    save_checkpoint(model, tmp_path / "m", {"dataset": "digits", "training": {"method": "online"},
                                            "test_accuracy": 0.0})
    card = json.loads((tmp_path / "m.json").read_text())
    card["config"]["arch"] = "digits_cnn"
    (tmp_path / "m.json").write_text(json.dumps(card))
    with pytest.raises(EmpfError, match="does not match"):
        load_checkpoint(tmp_path / "m")
    (tmp_path / "m.safetensors").write_bytes(b"\x07" * 64)
    with pytest.raises(EmpfError, match="corrupt") as e:
        load_checkpoint(tmp_path / "m")
    assert "\n" not in str(e.value)
    (tmp_path / "m.json").write_text("{not json")
    with pytest.raises(EmpfError, match="not valid JSON"):
        load_checkpoint(tmp_path / "m")


@pytest.mark.parametrize("argv,message", [
    (["train", "--arch", "alexnet"], "invalid choice: 'alexnet'"),
    (["train", "--timesteps", "0"], "--timesteps: 0 is out of range"),
    (["train", "--dataset", "mnist", "--arch", "mnist_cnn", "--data-dir", "{tmp}"], "expected files"),
    (["train", "--dataset", "mnist", "--data-dir", "{tmp}"], "missing file"),
    (["evaluate", "--model", "{tmp}/nothing"], "not found"),
])
def test_cli_bad_input_exits_2_with_one_line(argv, message, tmp_path, capsys):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    with pytest.raises(SystemExit) as e:
        raise SystemExit(main(argv))
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert not list(tmp_path.iterdir())


def test_cli_train_writes_checkpoint(tmp_path, capsys):
    out = tmp_path / "tiny"
    assert main(["train", "--arch", "digits_mlp", "--dataset", "synthetic", "--epochs", "1", "--timesteps", "2",
                 "--quiet", "--out", str(out)]) == 0
    model, card = load_checkpoint(out)
    assert card["training"]["method"] == "online" and card["dataset"] == "synthetic"
    assert len(card["training"]["history"]) == 1


ZOO_FLOOR = {"digits": 0.95, "mnist1d": 0.9}  # the zoo's test accuracy, at least, per dataset


@pytest.mark.parametrize("card_path", sorted(ZOO.glob("*.json")), ids=lambda p: p.stem)
def test_zoo_model_reproduces_recorded_accuracy(card_path):
    model, card = load_checkpoint(card_path)
    _, (x, y) = load_dataset(card["dataset"])
    acc = evaluate(model, x, y)
    assert acc == pytest.approx(card["test_accuracy"], abs=1 / len(y))  # one sample
    assert acc >= ZOO_FLOOR[card["dataset"]]


def test_zoo_has_the_required_models():
    cards = [json.loads(p.read_text()) for p in ZOO.glob("*.json")]
    kinds = {(c["config"]["arch"], c["config"]["neuron"], c["config"]["weights"], c["config"]["spike_bits"],
              c["training"]["method"], c["config"]["timesteps"]) for c in cards}
    arch = "digits_cnn"
    assert {(arch, "empf", "binary", 0, "online", 4), (arch, "lif", "full", 0, "stbp", 4),
            (arch, "empf", "binary", 4, "online", 4)} <= kinds
    # MNIST-1D: five variants of the 1-D CNN at T=4, trained alike (seed, epochs, optimizer settings)
    m1d = [c for c in cards if c["config"]["arch"] == "mnist1d_cnn"]
    assert sorted((c["config"]["neuron"], c["config"]["spike_bits"], c["config"]["parallel"],
                   c["config"]["attention"], c["training"]["method"]) for c in m1d) == [
        ("empf", 0, False, False, "online"), ("empf", 0, False, True, "online"), ("empf", 0, True, False, "online"),
        ("empf", 4, False, False, "online"), ("lif", 0, False, False, "stbp")]
    assert {(c["dataset"], c["config"]["timesteps"], c["seed"], c["training"]["epochs"], c["training"]["lr"],
             c["training"]["batch_size"]) for c in m1d} == {("mnist1d", 4, 0, 30, 5e-3, 64)}
    for c in m1d:  # fixed-point accuracy recorded at every width of the accuracy-vs-bits table
        assert set(c["fixed_point_accuracy"]) == ({"1"} if c["config"]["neuron"] == "lif" else
                                                  {"1", "2", "3", "4", "6", "8", "16"})


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.update({k: v.to(torch.int8) for k, v in s.items() if k.endswith("weight")}), "has dtype int8"),
    (lambda s: s.update({k: -torch.ones_like(v) for k, v in s.items() if k.endswith("running_var")}),
     "negative BatchNorm variance"),
])
def test_integer_weights_and_negative_variances_are_refused(tmp_path, edit, message):
    from safetensors.torch import load_file, save_file

    model = build_model(ModelConfig("digits_cnn", mem_bn=True))
    save_checkpoint(model, tmp_path / "m", {"dataset": "digits", "training": {"method": "online"},
                                            "test_accuracy": 0.0})
    state = load_file(tmp_path / "m.safetensors")
    edit(state)
    save_file(state, tmp_path / "m.safetensors", metadata={"format": "empf-hw"})
    with pytest.raises(EmpfError, match=message) as e:
        load_checkpoint(tmp_path / "m")
    assert "\n" not in str(e.value)

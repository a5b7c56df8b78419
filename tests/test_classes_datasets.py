"""``--num-classes`` for every architecture, the CIFAR-100 binary loader and the MNIST-1D dataset + MLP."""

import numpy as np
import pytest
import torch

from empf_hw.cli import main
from empf_hw.errors import EmpfError
from empf_hw.nn import ModelConfig, build_model, load_checkpoint
from empf_hw.nn.data import load_cifar100, load_mnist1d


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


# --- number of classes ------------------------------------------------------------------------------------------

def test_cifar100_resnet18_has_100_outputs_and_90_more_classifier_rows():
    c10 = build_model(ModelConfig("resnet18", timesteps=1))
    c100 = build_model(ModelConfig("resnet18", timesteps=1, num_classes=100))
    with torch.no_grad():
        assert c100.eval().run(torch.rand(1, 3, 32, 32)).shape == (1, 1, 100)
    assert n_params(c100) - n_params(c10) == 90 * 513  # 512 features + 1 bias per extra class


@pytest.mark.parametrize("bad", [1, -1, True, 2.0, "10", 100001])
def test_config_rejects_bad_num_classes(bad):
    with pytest.raises(EmpfError, match="num_classes=.*2..100000"):
        ModelConfig("digits_mlp", num_classes=bad)


def test_cli_train_num_classes(tmp_path, capsys):
    out = tmp_path / "three"
    assert main(["train", "--arch", "digits_mlp", "--dataset", "synthetic", "--num-classes", "3", "--epochs", "1",
                 "--timesteps", "1", "--quiet", "--out", str(out)]) == 0
    model, card = load_checkpoint(out)
    assert card["config"]["num_classes"] == 3 and model.classifier.out_features == 3
    assert main(["train", "--num-classes", "1", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--num-classes: 1 is out of range; allowed: 2..100000" in err[0]


# --- CIFAR-100 --------------------------------------------------------------------------------------------------

def write_cifar100(root, n_train=4, n_test=3, seed=0) -> dict:
    rng = np.random.default_rng(seed)
    records = {}
    for name, n in (("train.bin", n_train), ("test.bin", n_test)):
        rec = rng.integers(0, 256, (n, 2 + 3072)).astype(np.uint8)
        rec[:, 0] = rng.integers(0, 20, n)  # coarse label
        rec[:, 1] = rng.integers(0, 100, n)  # fine label
        root.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(rec.tobytes())
        records[name] = rec
    return records


def test_cifar100_binary_loader_uses_fine_labels(tmp_path):
    records = write_cifar100(tmp_path / "cifar-100-binary")
    (xtr, ytr), (xte, yte) = load_cifar100(tmp_path)  # finds the archive's own subdirectory
    assert xtr.shape == (4, 3, 32, 32) and xte.shape == (3, 3, 32, 32)
    t = records["test.bin"]
    assert yte.tolist() == t[:, 1].tolist() and ytr.tolist() == records["train.bin"][:, 1].tolist()
    # channel-major pixels after the two label bytes: byte 2 + 1024·c + 32·h + w
    assert xte[2, 1, 7, 30] == pytest.approx(t[2, 2 + 1024 * 1 + 32 * 7 + 30] / 255)


def test_cifar100_bad_files_are_named(tmp_path):
    with pytest.raises(EmpfError, match="missing file train.bin.*expected files: train.bin, test.bin"):
        load_cifar100(tmp_path)
    write_cifar100(tmp_path)
    (tmp_path / "test.bin").write_bytes(bytes(3073))  # a CIFAR-10 record
    with pytest.raises(EmpfError, match="test.bin holds 3073 bytes, not a multiple of 3074-byte records"):
        load_cifar100(tmp_path)
    (tmp_path / "test.bin").write_bytes(b"")
    with pytest.raises(EmpfError, match="test.bin is empty"):
        load_cifar100(tmp_path)
    (tmp_path / "test.bin").write_bytes(bytes([3, 100]) + bytes(3072))
    with pytest.raises(EmpfError, match="test.bin has fine label 100; allowed: 0..99"):
        load_cifar100(tmp_path)


def test_cli_cifar100_needs_100_classes(tmp_path, capsys):
    data = tmp_path / "data"
    write_cifar100(data)
    rec = np.zeros((1, 3074), np.uint8)
    rec[0, 1] = 99
    (data / "test.bin").write_bytes(rec.tobytes())
    argv = ["train", "--arch", "resnet18", "--dataset", "cifar100", "--data-dir", str(data), "--out",
            str(tmp_path / "run" / "m")]
    (tmp_path / "run").mkdir()
    assert main(argv) == 2
    assert "labels up to 99 but the model has 10 classes; allowed: --num-classes 100" in capsys.readouterr().err
    assert not list((tmp_path / "run").iterdir())


# --- MNIST-1D ---------------------------------------------------------------------------------------------------

def test_mnist1d_sizes_and_determinism():
    """mnist1d's defaults: 5000 signals of length 40, 10 classes, 80 / 20 split."""
    np.random.seed(7)
    expected_next = np.random.rand()
    np.random.seed(7)
    (xtr, ytr), (xte, yte) = load_mnist1d()
    assert np.random.rand() == expected_next  # the global generator is left as it was
    assert xtr.shape == (4000, 1, 1, 40) and xte.shape == (1000, 1, 1, 40) and xtr.dtype == np.float32
    assert set(ytr.tolist()) == set(yte.tolist()) == set(range(10)) and ytr.dtype == np.int64
    assert xtr.min() == 0 and xtr.max() == 1 and 0 <= xte.min() and xte.max() <= 1
    (xtr2, ytr2), (xte2, yte2) = load_mnist1d()
    assert np.array_equal(xtr, xtr2) and np.array_equal(yte, yte2) and np.array_equal(xte, xte2)
    (xtr3, _), _ = load_mnist1d(seed=1)
    assert not np.array_equal(xtr, xtr3)


def test_mnist1d_mlp_trains_one_epoch(tmp_path):
    out = tmp_path / "m1d"
    assert main(["train", "--arch", "mnist1d_mlp", "--dataset", "mnist1d", "--epochs", "1", "--timesteps", "2",
                 "--quiet", "--out", str(out)]) == 0
    model, card = load_checkpoint(out)
    assert card["dataset"] == "mnist1d" and model.cfg.input_shape == (1, 1, 40)
    # 40→256 stem, 256→256, 256→10: weights + biases + BatchNorm + EM-PF (a_t, b_t) for T = 2
    assert card["parameters"] == 40 * 256 + 256 * 256 + 256 * 10 + 10 + 2 * (2 * 256) + 2 * (2 * 2)
    assert card["test_accuracy"] > 0.3  # chance is 0.1

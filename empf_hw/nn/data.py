"""Datasets as (train, test) pairs of float32 image arrays (N, C, H, W) in [0, 1] and int64 labels.

``digits`` ships with scikit-learn; MNIST (IDX files) and CIFAR-10 (binary version) are read from a local
directory; ``synthetic`` is a seeded, learnable toy set for tests.
"""

import gzip
from pathlib import Path

import numpy as np

from ..errors import EmpfError, check_choice
from .catalog import DATASETS

DIGITS_TEST_FRACTION, DIGITS_SPLIT_SEED = 0.2, 0

Split = tuple[np.ndarray, np.ndarray]


def load_digits_split() -> tuple[Split, Split]:
    """scikit-learn's 8×8 digits, pixel values /16, fixed stratified 80/20 split (seed 0): 1437 / 360."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    xtr, xte, ytr, yte = train_test_split(x, d.target.astype(np.int64), test_size=DIGITS_TEST_FRACTION,
                                          random_state=DIGITS_SPLIT_SEED, stratify=d.target)
    return (xtr, ytr), (xte, yte)


def _open_any(root: Path, names: list[str], dataset: str, expected: list[str]):
    for n in names:
        for p in (root / n, root / (n + ".gz")):
            if p.is_file():
                return gzip.open(p, "rb") if p.suffix == ".gz" else open(p, "rb")
    raise EmpfError(f"{dataset}: missing file {names[0]}[.gz] in {root}; expected files: {', '.join(expected)}")


def _read_idx(fh, dataset: str, name: str) -> np.ndarray:
    with fh:
        raw = fh.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise EmpfError(f"{dataset}: {name} is not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">u4", count=ndim, offset=4).astype(int)
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise EmpfError(f"{dataset}: {name} holds {data.size} bytes, header says {tuple(dims)}")
    return data.reshape(dims)


MNIST_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
               "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def load_mnist(root: str | Path) -> tuple[Split, Split]:
    """MNIST from the four IDX files (optionally .gz) in ``root``."""
    root, expected = Path(root), [f for pair in MNIST_FILES.values() for f in pair]
    out = []
    for img_name, lbl_name in MNIST_FILES.values():
        x = _read_idx(_open_any(root, [img_name, img_name.replace("-idx3", ".idx3")], "mnist", expected),
                      "mnist", img_name)
        y = _read_idx(_open_any(root, [lbl_name, lbl_name.replace("-idx1", ".idx1")], "mnist", expected),
                      "mnist", lbl_name)
        if x.ndim != 3 or len(x) != len(y):
            raise EmpfError(f"mnist: {img_name} has shape {x.shape} but {lbl_name} has {len(y)} labels")
        out.append(((x / 255.0).astype(np.float32)[:, None], y.astype(np.int64)))
    return out[0], out[1]


CIFAR_TRAIN = [f"data_batch_{i}.bin" for i in range(1, 6)]
CIFAR_TEST = ["test_batch.bin"]
CIFAR_RECORD = 1 + 3 * 32 * 32


def load_cifar10(root: str | Path) -> tuple[Split, Split]:
    """CIFAR-10 binary version: ``data_batch_{1..5}.bin`` and ``test_batch.bin`` in ``root``
    (or its ``cifar-10-batches-bin`` subdirectory); records are 1 label byte + 3072 pixel bytes."""
    root = Path(root)
    if (root / "cifar-10-batches-bin").is_dir():
        root = root / "cifar-10-batches-bin"
    out = []
    for names in (CIFAR_TRAIN, CIFAR_TEST):
        xs, ys = [], []
        for n in names:
            with _open_any(root, [n], "cifar10", CIFAR_TRAIN + CIFAR_TEST) as fh:
                raw = np.frombuffer(fh.read(), dtype=np.uint8)
            if raw.size % CIFAR_RECORD:
                raise EmpfError(f"cifar10: {n} size {raw.size} is not a multiple of {CIFAR_RECORD}-byte records")
            rec = raw.reshape(-1, CIFAR_RECORD)
            ys.append(rec[:, 0].astype(np.int64))
            xs.append((rec[:, 1:].reshape(-1, 3, 32, 32) / 255.0).astype(np.float32))
        out.append((np.concatenate(xs), np.concatenate(ys)))
    return out[0], out[1]


def synthetic(shape=(1, 8, 8), classes: int = 10, n_train: int = 256, n_test: int = 64,
              seed: int = 0) -> tuple[Split, Split]:
    """Seeded separable toy set: each class is a fixed random prototype plus uniform noise, clipped to [0, 1]."""
    rng = np.random.default_rng(seed)
    protos = rng.random((classes, *shape), dtype=np.float32)

    def make(n):
        y = rng.integers(0, classes, n).astype(np.int64)
        x = np.clip(protos[y] + 0.3 * (rng.random((n, *shape), dtype=np.float32) - 0.5), 0, 1)
        return x.astype(np.float32), y

    return make(n_train), make(n_test)


def load_dataset(name: str, data_dir: str | None = None, shape=(1, 8, 8), classes: int = 10,
                 seed: int = 0) -> tuple[Split, Split]:
    """Load a dataset by name; ``data_dir`` is required for mnist and cifar10."""
    check_choice("dataset", name, DATASETS)
    if name == "digits":
        return load_digits_split()
    if name == "synthetic":
        return synthetic(shape, classes, seed=seed)
    if not data_dir:
        raise EmpfError(f"dataset {name} needs --data-dir pointing at the local files")
    return load_mnist(data_dir) if name == "mnist" else load_cifar10(data_dir)

"""Checkpoints: ``<stem>.safetensors`` (weights) + ``<stem>.json`` (model card). Nothing is ever unpickled."""

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .. import __version__
from ..errors import EmpfError, check_choice, check_range
from ..resources import find, is_shipped, shipped
from .architectures import ModelConfig, SpikingNet, build_model
from .catalog import DATASETS, METHODS

CARD_VERSION = 1
REQUIRED_CARD_FIELDS = ("card_version", "config", "dataset", "training", "test_accuracy", "parameters")


def checkpoint_paths(path: str | Path) -> tuple[Path, Path]:
    """``models/x``, ``models/x.json`` or ``models/x.safetensors`` → both file paths."""
    p = Path(path)
    stem = p.with_suffix("") if p.suffix in (".json", ".safetensors") else p
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def resolve_checkpoint(path: str | Path) -> Path:
    """The stem of an existing checkpoint: ``path`` as given, else a shipped model of that path or name (see
    ``empf_hw.resources``). A bare name that is both a file in the working directory and a different shipped
    model is ambiguous and refused: ``./NAME`` names the local file, ``models/NAME`` the zoo's."""
    _, cpath = checkpoint_paths(path)
    if str(path) == cpath.stem or str(path) == cpath.name or str(path) == cpath.stem + ".safetensors":
        local = Path.cwd() / cpath.name
        zoo = {(d / cpath.name).resolve() for d in shipped("models") if (d / cpath.name).is_file()}
        if local.is_file() and zoo - {local.resolve()}:
            raise EmpfError(f"checkpoint {path}: both a file in the working directory and a shipped zoo model; "
                            f"allowed: ./{cpath.stem} for the local file, models/{cpath.stem} for the zoo's")
    found = find(cpath, "models", Path.is_file)
    if found is None:
        names = sorted({p.stem for d in shipped("models") for p in d.glob("*.json")})
        raise EmpfError(f"checkpoint: model card {cpath} not found; shipped models: {', '.join(names) or 'none'}")
    return found.with_suffix("")


def check_writable_checkpoint(path: str | Path, force: bool) -> None:
    """Refuse to overwrite checkpoint files unless ``force`` is given and both are empf-hw's own."""
    existing = [p for p in checkpoint_paths(path) if p.exists()]
    if not existing:
        return
    if any(is_shipped(p) for p in existing):
        raise EmpfError(f"--out {path}: names a shipped zoo model, which is never overwritten; allowed: a new path")
    if not force:
        raise EmpfError(f"--out {path}: {existing[0]} already exists; allowed: a new path, or --force to replace an "
                        "empf-hw checkpoint")
    for p in existing:
        if p.suffix == ".json":
            load_card(p)
        elif not p.is_file() or load_file_metadata(p).get("format") != "empf-hw":
            raise EmpfError(f"--out {path}: {p} was not written by empf-hw; it is never overwritten")


def load_file_metadata(path: Path) -> dict:
    """The metadata of a safetensors file ({} when it is not one)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt") as f:
            return f.metadata() or {}
    except Exception:  # noqa: BLE001 - any unreadable file has no empf-hw metadata
        return {}


def parameter_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def check_not_shipped(path: Path) -> None:
    """Refuse to rewrite a shipped model card (``run --record``)."""
    if is_shipped(path):
        raise EmpfError(f"--record: {path} is a shipped zoo model card, which is never written; allowed: --record "
                        "on a copy of the checkpoint outside the zoo")


def save_checkpoint(model: SpikingNet, path: str | Path, card: dict) -> tuple[Path, Path]:
    """Write weights and model card; ``card`` adds dataset/training/accuracy fields to the generated ones."""
    wpath, cpath = checkpoint_paths(path)
    wpath.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    full = {"card_version": CARD_VERSION, "package_version": __version__, "config": model.cfg.to_dict(),
            "parameters": parameter_count(model), **card}
    atomic_write(wpath, lambda tmp: save_file(state, tmp, metadata={"format": "empf-hw"}))
    atomic_write(cpath, lambda tmp: Path(tmp).write_text(json.dumps(full, indent=2, sort_keys=True) + "\n"))
    return wpath, cpath


def load_card(path: str | Path) -> dict:
    """Read and validate a model card (a path as given or a shipped model)."""
    _, cpath = checkpoint_paths(resolve_checkpoint(path))
    try:
        card = json.loads(cpath.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as e:
        raise EmpfError(f"checkpoint: model card {cpath} is not valid JSON ({str(e).splitlines()[0]})") from None
    missing = [f for f in REQUIRED_CARD_FIELDS if not isinstance(card, dict) or f not in card]
    if missing:
        raise EmpfError(f"checkpoint: model card {cpath} lacks field(s) {missing}")
    if card["card_version"] != CARD_VERSION:
        raise EmpfError(f"checkpoint: card_version={card['card_version']!r} unsupported; allowed: {CARD_VERSION}")
    try:
        ModelConfig.from_dict(card["config"])
        check_choice("dataset", card["dataset"], DATASETS)
        check_range("test_accuracy", card["test_accuracy"], 0, 1)
        check_range("parameters", card["parameters"], 0, integer=True)
        if not isinstance(card["training"], dict):
            raise EmpfError(f"training={card['training']!r} must be a mapping with the training method")
        check_choice("training.method", card["training"].get("method"), METHODS)
        check_range("seed", card.get("seed", 0), 0, integer=True)
    except EmpfError as e:
        raise EmpfError(f"checkpoint: model card {cpath}: {e}") from None
    return card


def load_checkpoint(path: str | Path, device: str = "cpu") -> tuple[SpikingNet, dict]:
    """Rebuild the model from its card and load the weights strictly; returns (model in eval mode, card)."""
    wpath, cpath = checkpoint_paths(resolve_checkpoint(path))
    card = load_card(cpath)
    model = build_model(ModelConfig.from_dict(card["config"]))
    if not wpath.is_file():
        raise EmpfError(f"checkpoint: weights file {wpath} not found")
    try:
        state = load_file(str(wpath))
    except (SafetensorError, OSError, ValueError) as e:
        raise EmpfError(f"checkpoint: {wpath} is corrupt ({str(e).splitlines()[0]})") from None
    expected = model.state_dict()
    missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or extra:
        raise EmpfError(f"checkpoint: {wpath} does not match {cpath}: missing {missing[:3]}, unexpected {extra[:3]}")
    for k, v in state.items():
        if v.shape != expected[k].shape:
            raise EmpfError(f"checkpoint: tensor {k} has shape {tuple(v.shape)}, "
                            f"the model card's architecture needs {tuple(expected[k].shape)}")
        if expected[k].is_floating_point() and not v.is_floating_point():
            raise EmpfError(f"checkpoint: tensor {k} in {wpath} has dtype {str(v.dtype).removeprefix('torch.')}; "
                            "allowed: a floating-point dtype (float32, float16, bfloat16, float64)")
        if v.dtype != expected[k].dtype and not expected[k].is_floating_point():
            raise EmpfError(f"checkpoint: tensor {k} in {wpath} has dtype {str(v.dtype).removeprefix('torch.')}; "
                            f"allowed: {str(expected[k].dtype).removeprefix('torch.')}")
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise EmpfError(f"checkpoint: tensor {k} in {wpath} holds NaN or infinite values; allowed: finite numbers")
        if k.endswith("running_var") and bool((v < 0).any()):
            raise EmpfError(f"checkpoint: tensor {k} in {wpath} holds a negative BatchNorm variance "
                            f"({float(v.min()):.4g}); allowed: variances ≥ 0")
    model.load_state_dict(state)
    return model.to(device).eval(), card

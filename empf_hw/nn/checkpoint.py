"""Checkpoints: ``<stem>.safetensors`` (weights) + ``<stem>.json`` (model card). Nothing is ever unpickled."""

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .. import __version__
from ..errors import EmpfError
from .architectures import ModelConfig, SpikingNet, build_model

CARD_VERSION = 1
REQUIRED_CARD_FIELDS = ("card_version", "config", "dataset", "training", "test_accuracy", "parameters")


def checkpoint_paths(path: str | Path) -> tuple[Path, Path]:
    """``models/x``, ``models/x.json`` or ``models/x.safetensors`` → both file paths."""
    p = Path(path)
    stem = p.with_suffix("") if p.suffix in (".json", ".safetensors") else p
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


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
    """Read and validate a model card."""
    _, cpath = checkpoint_paths(path)
    if not cpath.is_file():
        raise EmpfError(f"checkpoint: model card {cpath} not found")
    try:
        card = json.loads(cpath.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise EmpfError(f"checkpoint: model card {cpath} is not valid JSON ({e})") from None
    missing = [f for f in REQUIRED_CARD_FIELDS if not isinstance(card, dict) or f not in card]
    if missing:
        raise EmpfError(f"checkpoint: model card {cpath} lacks field(s) {missing}")
    if card["card_version"] != CARD_VERSION:
        raise EmpfError(f"checkpoint: card_version={card['card_version']!r} unsupported; allowed: {CARD_VERSION}")
    return card


def load_checkpoint(path: str | Path, device: str = "cpu") -> tuple[SpikingNet, dict]:
    """Rebuild the model from its card and load the weights strictly; returns (model in eval mode, card)."""
    wpath, cpath = checkpoint_paths(path)
    card = load_card(path)
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
    model.load_state_dict(state)
    return model.to(device).eval(), card

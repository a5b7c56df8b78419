"""Checks on where empf-hw may write, made before any work starts."""

import os
from pathlib import Path

from .errors import EmpfError


def existing_ancestor(path: Path) -> Path:
    """``path`` itself, or its nearest ancestor that exists."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_parent(path: str | Path, flag: str = "--out") -> None:
    """EmpfError unless the file ``path`` can be created: its nearest existing ancestor is a writable directory."""
    path = Path(path)
    anc = existing_ancestor(path.parent)
    if not anc.is_dir():
        raise EmpfError(f"{flag} {path}: lies under {anc}, which is not a directory; allowed: a path in a directory")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise EmpfError(f"{flag} {path}: {anc} is not writable; allowed: a directory you can write to")

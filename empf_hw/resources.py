"""Where shipped files are found — the model zoo, hardware presets and sweep specs — from any working directory.

A relative path or a bare name is looked up, in order, under ``$EMPF_HW_HOME`` (if set), the working directory,
the source tree this package sits in (a checkout or an editable install) and ``<prefix>/share/empf-hw`` (where a
wheel installs the shipped ``models/`` and ``sims/``). Absolute paths are taken as they are.
"""

import os
import sysconfig
from pathlib import Path

HOME_ENV = "EMPF_HW_HOME"
KINDS = {"models": "models", "presets": "sims/hw", "sweeps": "sims/sweeps", "scalesim": "sims/scalesim"}


def roots() -> list[Path]:
    """Directories searched for shipped files, in order (existing ones only, no duplicates)."""
    cands = [Path(os.environ[HOME_ENV])] if os.environ.get(HOME_ENV) else []
    cands += [Path.cwd(), Path(__file__).resolve().parents[1],
              Path(sysconfig.get_path("data")) / "share" / "empf-hw"]
    out = []
    for c in cands:
        if c.is_dir() and c.resolve() not in out:
            out.append(c.resolve())
    return out


def find(path: str | Path, kind: str, exists) -> Path | None:
    """The first candidate for ``path`` (as given, then under each root, then ``<root>/<kind dir>/<name>``) for
    which ``exists(candidate)`` holds; None if there is none."""
    p = Path(path).expanduser()
    if p.is_absolute():
        return p if exists(p) else None
    cands = [r / p for r in roots()] + [r / KINDS[kind] / p.name for r in roots()]
    return next((c for c in cands if exists(c)), None)


def shipped(kind: str) -> list[Path]:
    """The shipped directories of one kind (``models``, ``presets``, ``sweeps``) under every root."""
    return [r / KINDS[kind] for r in roots() if (r / KINDS[kind]).is_dir()]


def is_shipped(path: str | Path) -> bool:
    """Whether ``path`` lies inside the package's own shipped ``models/`` or ``sims/`` (the source tree's, or the
    installed ``<prefix>/share/empf-hw``): those files are never written."""
    p = Path(path).expanduser().resolve()
    homes = [Path(__file__).resolve().parents[1], Path(sysconfig.get_path("data")) / "share" / "empf-hw"]
    dirs = [(h / d).resolve() for h in homes for d in ("models", "sims")]
    return any(p == d or d in p.parents for d in dirs)

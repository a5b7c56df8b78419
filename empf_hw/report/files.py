"""Output directories that never lose user data.

empf-hw writes into a new directory, into an existing empty one, or — with ``force`` — into a directory it wrote
before: such a directory carries a marker (``.empf-hw-output.json``) listing every file empf-hw wrote there with
its SHA-256. Only those files are replaced or removed, and only while they are unchanged; anything else in the
directory is left alone. A marker is trusted only while every entry is a relative name of a plain file inside the
directory (no absolute path, no ``..``, no empty part, no symlink on the way, no more than one level of subfolder);
one bad entry makes the whole marker invalid and the directory foreign, so a forged marker cannot reach outside
``out``. A stale file (listed before, not written now) is removed only when its hash still matches and it is older
than the marker that lists it. A new directory is written as a hidden sibling and moved into place at once; into an
existing directory, files are written to a hidden subdirectory first, so bad input or a failed write leaves the
directory as it was.
"""

import hashlib
import json
import os
import shutil
from pathlib import Path

import pandas as pd

from ..errors import EmpfError
from ..paths import existing_ancestor

MARKER = ".empf-hw-output.json"


def _bytes(content) -> bytes:
    if isinstance(content, pd.DataFrame):
        return content.to_csv(index=False, lineterminator="\n").encode()
    return content.encode() if isinstance(content, str) else bytes(content)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _safe_name(out: Path, name) -> bool:
    """Whether marker entry ``name`` is a relative path of a plain file inside ``out`` reached without symlinks."""
    if not isinstance(name, str) or not name or "\\" in name or name.startswith("/"):
        return False
    parts = name.split("/")
    if len(parts) > 2 or any(part in ("", ".", "..") for part in parts) or name == MARKER:
        return False
    path = out
    for part in parts:
        path = path / part
        if path.is_symlink():
            return False
    return not path.exists() or path.is_file()


def _marker(out: Path) -> dict | None:
    """{relative name: sha256} of the files empf-hw wrote in ``out``, or None when it carries no valid marker."""
    try:
        if (out / MARKER).is_symlink():
            return None
        d = json.loads((out / MARKER).read_text(encoding="utf-8"))
        files = d["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(files, dict) or d.get("written_by") != "empf-hw":
        return None
    ok = all(isinstance(v, str) and len(v) == 64 and _safe_name(out, k) for k, v in files.items())
    return files if ok else None


def _file_sha(path: Path) -> str | None:
    try:
        return _sha(path.read_bytes()) if path.is_file() else None
    except OSError:
        return None


def check_output_dir(out: str | Path, force: bool = False) -> dict:
    """Check that ``out`` can take empf-hw's output; returns the files empf-hw wrote there before ({} if none).

    EmpfError when ``out`` is a file, lies under a file, is not writable, holds files empf-hw did not write, or
    was written by empf-hw but ``force`` is not given."""
    out = Path(out)
    anc = existing_ancestor(out)
    if not anc.is_dir():
        where = "is" if anc == out else f"lies under {anc}, which is"
        raise EmpfError(f"--out {out}: {where} not a directory; allowed: a new or empty directory")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise EmpfError(f"--out {out}: {anc} is not writable; allowed: a directory you can write to")
    if anc != out:
        return {}
    entries = sorted(p.name for p in out.iterdir())
    if not entries:
        return {}
    old = _marker(out)
    if old is None:
        raise EmpfError(f"--out {out}: the directory holds files empf-hw did not write ({entries[0]}, ...); "
                        "allowed: a new or empty directory, or an empf-hw output directory with --force")
    if not force:
        raise EmpfError(f"--out {out}: holds earlier empf-hw output; allowed: --force to replace it (files "
                        "empf-hw did not write are kept), or a new or empty directory")
    for name, sha in sorted(old.items()):
        now = _file_sha(out / name)
        if (out / name).exists() and now != sha:
            raise EmpfError(f"--out {out}: {name} was changed after empf-hw wrote it; it is never overwritten. "
                            "Move it away, or choose another --out")
    return old


def _stale(out: Path, old: dict, data: dict) -> list[str]:
    """Names of the earlier run that this run does not write and that may go: unchanged since empf-hw wrote them
    (hash checked) and not newer than the marker that lists them (a file put there afterwards is the user's)."""
    marker = out / MARKER
    stamp = marker.stat().st_mtime if marker.is_file() else 0.0
    return [n for n in sorted(set(old) - set(data))
            if (out / n).is_file() and _file_sha(out / n) == old[n] and (out / n).stat().st_mtime <= stamp]


def write_outputs(out: str | Path, files: dict[str, object], force: bool = False) -> Path:
    """Write ``{relative name: DataFrame | str | bytes}`` under ``out`` (see the module docstring)."""
    out = Path(out)
    old = check_output_dir(out, force)
    data = {name: _bytes(content) for name, content in files.items()}
    for name in data:
        if not _safe_name(out, name):
            raise EmpfError(f"--out {out}: {name} is a symlink or not a plain file; allowed: a directory whose "
                            "entries empf-hw wrote")
    marker = json.dumps({"written_by": "empf-hw", "files": {n: _sha(b) for n, b in sorted(data.items())}},
                        indent=1, sort_keys=True) + "\n"
    fresh = not out.exists()
    tmp = (out.parent / f".{out.name}.partial-{os.getpid()}") if fresh else out / f".empf-hw-partial-{os.getpid()}"
    anc = existing_ancestor(out.parent)
    try:
        if fresh:
            out.parent.mkdir(parents=True, exist_ok=True)
        for name, b in [*data.items(), (MARKER, marker.encode())]:
            path = tmp / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b)
        if fresh:
            os.replace(tmp, out)
            return out
        stale = _stale(out, old, data)
        for name in stale:
            (out / name).unlink()
        for name in [*data, MARKER]:  # the marker last
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp / name, out / name)
        for name in stale:  # directories left empty by removed files
            d = (out / name).parent
            while d != out and d.is_dir() and not any(d.iterdir()):
                d.rmdir()
                d = d.parent
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        d = out.parent
        while d != anc and d.is_dir() and not any(d.iterdir()):  # parents created for this run
            d.rmdir()
            d = d.parent
        raise EmpfError(f"--out {out}: cannot write ({e.strerror or e})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out

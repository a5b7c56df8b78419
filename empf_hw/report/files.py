"""All-or-nothing output directories: files are written to a hidden sibling, then moved into place."""

import os
import shutil
from pathlib import Path

import pandas as pd


def _bytes(content) -> bytes:
    if isinstance(content, pd.DataFrame):
        return content.to_csv(index=False, lineterminator="\n").encode()
    return content.encode() if isinstance(content, str) else bytes(content)


def write_outputs(out: str | Path, files: dict[str, object]) -> Path:
    """Write ``{relative name: DataFrame | str | bytes}`` under ``out``, replacing it only once all are written."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        for name, content in files.items():
            path = tmp / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(_bytes(content))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out

"""``load_arch``: an Arch from a preset name, an empf-hw YAML spec, a SCALE-Sim ``.cfg`` or a SANA-FE architecture
YAML (recognised by its top-level ``architecture`` key)."""

import copy
from pathlib import Path

from ..errors import EmpfError
from ..resources import find
from .arch import Arch, from_dict, presets, read_yaml

_loaded: dict = {}  # (spec, file, its mtime and size) → Arch: a sweep loads its preset once per point


def load_arch(spec: "str | Path | Arch") -> Arch:
    """An Arch from a preset name, a YAML path, a SCALE-Sim ``.cfg`` or an Arch (returned as is). A file read
    before and unchanged since (same modification time and size) is not parsed again."""
    if isinstance(spec, Arch):
        return spec
    s = str(spec)
    is_path = s.endswith((".yaml", ".yml", ".cfg")) or "/" in s
    path = find(s if is_path else f"{s}.yaml", "presets", Path.exists)
    if path is None and s.endswith(".cfg"):  # a shipped SCALE-Sim config
        path = find(s, "scalesim", Path.is_file)
    if path is None:
        raise EmpfError(f"arch={s!r}: no such file or preset; presets: {', '.join(presets()) or 'none'}")
    try:
        st = path.stat()
    except OSError:
        return _read(path)  # gone since it was found: reading it names the problem
    key = (s, str(path.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _loaded:
        _loaded[key] = _read(path)
    return copy.deepcopy(_loaded[key])


def _read(path: Path) -> Arch:
    if path.suffix == ".cfg" and path.is_file():
        from .systolic.scalesim_io import read_config

        return read_config(path)
    d = read_yaml(path, "arch")
    if isinstance(d, dict) and "architecture" in d:
        from .sanafe_io import read_arch

        return read_arch(d, str(path))
    return from_dict(d, str(path))

"""Framework-neutral deployment graph: export from PyTorch, save/load, NIR interop (names imported lazily)."""

from ..lazy import exports

_NAMES = {"DeployGraph": "graph", "Node": "graph", "export_model": "export"}
__all__ = sorted(_NAMES)
__getattr__ = exports(__name__, _NAMES)

"""Framework-neutral deployment graph: export from PyTorch, save/load, NIR interop."""

from .export import export_model
from .graph import DeployGraph, Node

__all__ = ["DeployGraph", "Node", "export_model"]

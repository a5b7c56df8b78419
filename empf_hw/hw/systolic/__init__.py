"""The ``systolic`` template: an R × C PE array (SCALE-Sim-compatible cycle model) with multi-bit spike streams."""

from .model import evaluate_systolic

__all__ = ["evaluate_systolic"]

"""Vectorized NumPy execution of DeployGraphs (float and fixed-point) and the ActivityTrace it records."""

from .executor import MODES, Executor, calibrate, execute
from .trace import ActivityTrace, LayerTrace

__all__ = ["MODES", "ActivityTrace", "Executor", "LayerTrace", "calibrate", "execute"]

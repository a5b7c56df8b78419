"""Hardware model: architecture spec, energy reference table, the cores and systolic templates, costs."""

from .arch import Arch
from .energy import format_table, reference_table
from .evaluate import evaluate
from .formats import load_arch
from .result import Costs

__all__ = ["Arch", "Costs", "evaluate", "format_table", "load_arch", "reference_table"]

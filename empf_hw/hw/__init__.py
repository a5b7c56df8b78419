"""Hardware model: architecture spec, energy reference table, mapper, cycle-level timing, costs."""

from .arch import Arch, load_arch
from .costs import Costs, evaluate
from .energy import format_table, reference_table

__all__ = ["Arch", "Costs", "evaluate", "format_table", "load_arch", "reference_table"]

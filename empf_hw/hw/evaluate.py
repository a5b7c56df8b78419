"""``evaluate``: the costs of a trace (or of a fixed-point graph run on inputs) on an architecture, by its
template: ``cores`` (``empf_hw.hw.cores``) or ``systolic`` (``empf_hw.hw.systolic``)."""

import gc

from ..deploy.graph import DeployGraph
from ..errors import EmpfError
from .formats import load_arch
from .result import Costs


def evaluate(trace_or_graph, arch, **kwargs) -> Costs:
    """Costs of running a trace (or a fixed-point graph on inputs ``x``) on ``arch`` (Arch, preset or YAML).

    Keywords: ``graph`` (for a trace loaded from disk), ``x``, ``model`` (a name), ``accuracy``, ``timing``
    (``fast`` | ``cycle``, cores template), ``lowering`` (``parallel`` | ``serial``, for spikes wider than the
    chip's packets), ``placement`` (cores template: a policy or a core per tile, see
    ``empf_hw.hw.cores.placement``), ``compiled`` (cycle timing: the numba network kernel, else the NumPy reference;
    the same result). The cyclic garbage collector is paused meanwhile: the many small mapping
    objects would otherwise trigger full collections of a large heap (a torch process), costing more than the
    evaluation."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _evaluate(trace_or_graph, arch, **kwargs)
    finally:
        if enabled:
            gc.enable()


def schedule_of(arch) -> str:
    """The timestep semantics a trace must be executed with for ``arch`` (systolic arrays: pipelined)."""
    return arch.chip.get("timestep_mode", "pipelined")


def _evaluate(trace_or_graph, arch, *, graph: DeployGraph | None = None, x=None, model: str = "model",
              accuracy: float | None = None, timing: str = "fast", lowering: str | None = None,
              placement=None, compiled: bool = True) -> Costs:
    arch = load_arch(arch)
    schedule = schedule_of(arch)
    if isinstance(trace_or_graph, DeployGraph):
        if x is None:
            raise EmpfError("evaluate(graph, arch) needs inputs x to run the graph (or pass an ActivityTrace)")
        from ..sim.executor import execute

        trace = execute(trace_or_graph, x, "fixed", batch_size=256, schedule=schedule)
    else:
        trace = trace_or_graph
        ran = trace.meta.get("schedule", "pipelined")
        if ran != schedule:
            raise EmpfError(f"the trace was executed with {ran} timesteps but {arch.name} runs {schedule} "
                            f"timesteps (chip.timestep_mode); allowed: a trace executed with schedule={schedule!r}")
    graph = graph or trace.graph
    if graph is None:
        raise EmpfError("the trace carries no graph (loaded from disk?): pass graph=")
    if arch.template == "systolic":
        if placement is not None:
            raise EmpfError(f"placement applies to the cores template; {arch.name} is a systolic array; allowed: "
                            "placement=None")
        from .systolic import evaluate_systolic

        return evaluate_systolic(trace, graph, arch, model, accuracy)
    from .cores import evaluate_cores

    return evaluate_cores(trace, graph, arch, model, accuracy, timing, lowering, placement, compiled)

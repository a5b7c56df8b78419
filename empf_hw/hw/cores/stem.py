"""Stem computed once (``chip.stem_once``): with a static input (direct encoding, the same frame every timestep)
the stem layer's input current is the same at every step, so the chip computes it at the first step and its
neurons re-integrate the stored current afterwards (the accumulator read of every neuron update). The stem's input
events after the first step disappear from the trace the hardware sees; the model's own counts (SOPs, MACs) are
unchanged."""

from dataclasses import replace

import numpy as np

from ...sim.trace import ActivityTrace


def stem_once(graph, trace: ActivityTrace) -> ActivityTrace:
    """The trace with the stem layers' input events kept at the first step only (static input; else unchanged)."""
    if not trace.meta.get("static_input", True):
        return trace
    stems = {n.name for n in graph.nodes if n.op in ("conv", "linear") and graph[n.inputs[0]].op == "input"}

    def first_only(a):
        if a is None:
            return None
        out = np.zeros_like(a)
        out[0] = a[0]
        return out

    layers = [replace(lt, event_map=first_only(lt.event_map), bit_maps=first_only(lt.bit_maps))
              if lt.name in stems else lt for lt in trace.layers]
    return ActivityTrace(layers, trace.logits, {**trace.meta, "stem_once": True}, trace.graph)

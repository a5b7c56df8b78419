"""Synaptic compute modes of the cores template: one module per mode, each with the same three functions that the
work model, the action counts and both timings use.

- ``work(x: SynapseInputs) -> Synapse``: per tile and timestep of the mean inference, the synapse stage's
  operations, the engine's lane rows (summed over input packets), weight words read, and the dense cycles the mode
  runs before the neuron phase;
- ``packet_rows(fanout, lanes, slices)``: lane rows of each input packet (the cycle simulation's synapse engine);
- ``counts(c, lay, s, psum_acc_bits, update_bits) -> dict``: synapse-stage and accumulator actions.

Modes: ``event`` (every input event reads its weight rows and accumulates into its neurons) and ``popcount`` (a
dense bit-plane AND / popcount array; binary weights only). ``layer_modes`` says which a layer may use under
``core.synapse_compute``.
"""

from . import event, popcount
from .base import Synapse, SynapseInputs, syn_kind

MODES = {"event": event, "popcount": popcount}


def layer_modes(arch, lay) -> tuple[str, ...]:
    """The modes ``lay`` may use: popcount needs binary weights in one cell (``auto``: both, the cheaper is kept)."""
    choice = arch.core["synapse_compute"]
    binary = lay.weight_bits == 1 and lay.slices == 1
    if choice == "event" or not binary:
        return ("event",)
    return ("popcount",) if choice == "popcount" else ("event", "popcount")


__all__ = ["MODES", "Synapse", "SynapseInputs", "layer_modes", "syn_kind"]

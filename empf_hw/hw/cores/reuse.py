"""What an evaluation derives from a trace before its energy, kept with the trace for the sweep points that share
it: the lowered and stem-once trace (``core.spike_payload_bits``, ``chip.stem_once``), the per-tile work of a
mapping (the same on architectures that differ only in ``TIMING_FIELDS`` or ``ENERGY_FIELDS``), with its action
counts but the cores' leakage, and its fast timing (the same on architectures that differ only in
``ENERGY_FIELDS``). tests/test_reuse.py perturbs every field listed
and compares with an evaluation from an empty cache."""

from dataclasses import dataclass, field

from ..arch import TEMPLATES

# read only by the energy reference table and the action counts (clock_MHz also sets a cycle's length in seconds)
ENERGY_FIELDS = {"chip": ("clock_MHz", "tech_node_nm", "tech_flavor", "vdd_V", "nominal_clock_MHz",
                          "router_pitch_mm", "power_gating")}
# read only by the timing (fast estimate, cycle-level simulator)
TIMING_FIELDS = {"chip": ("noc_buffer_flits", "barrier_cycles", "host_link_bits"),
                 "core": ("neuron_units", "neuron_update_cycles", "synapse_banks", "synapse_bank_cycles",
                          "input_fifo_packets", "output_queue_packets")}
KEPT = 16  # entries of each kind remembered per trace


@dataclass
class Prepared:
    """A trace's work on one mapping: the (lowered) graph (kept so that its id, part of the key, stays its own), the
    trace's layers by name, the per-tile work before the compute-mode choice, the soma activity, the memory table,
    the fast timings by timing key and what the fast timing derives from the work alone (``fast.schedule``'s
    ``kept``)."""

    graph: object
    by: dict
    works: dict
    soma: dict
    memory: object
    timings: dict = field(default_factory=dict)
    derived: dict = field(default_factory=dict)


def _values(arch, skip: dict) -> tuple:
    out = []
    for sec in TEMPLATES[arch.template]:
        out += [(sec, f, repr(v)) for f, v in getattr(arch, sec).items() if f not in skip.get(sec, ())]
    return tuple(out) + tuple(sorted((k, repr(v)) for k, v in (arch.latency or {}).items()))


def work_key(arch) -> tuple:
    """Every field but the timing and energy ones (the ``energy`` section included among the latter)."""
    skip = {s: ENERGY_FIELDS.get(s, ()) + TIMING_FIELDS.get(s, ()) for s in TEMPLATES[arch.template]}
    return _values(arch, skip)


def timing_key(arch) -> tuple:
    """The ``TIMING_FIELDS`` values."""
    return tuple((sec, f, repr(getattr(arch, sec)[f])) for sec, names in TIMING_FIELDS.items() for f in names)


def remember(store: dict, key, make):
    """``store[key]``, made by ``make()`` when absent (the oldest of ``KEPT`` entries dropped)."""
    if key not in store:
        if len(store) >= KEPT:
            store.pop(next(iter(store)))
        store[key] = make()
    return store[key]


def kept(trace, kind: str, key, make):
    """The value under ``key`` in the trace's cache of ``kind`` (``remember``)."""
    return remember(trace.cache.setdefault(kind, {}), key, make)

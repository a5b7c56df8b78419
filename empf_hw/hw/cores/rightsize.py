"""A chip right-sized to a network: the same mesh with the smallest crossbar and SRAMs that still hold its
mapping (crossbar rows × columns the largest tile uses, SRAMs the fullest core needs, rounded up to 128 bytes).
Used for fair comparisons: a model is not charged for memory its chip carries for another model."""

import math

from ...errors import EmpfError
from .mapper import map_graph
from .tiles import state_bits

GRAIN_KIB = 1 / 8  # SRAM sizes are rounded up to 128 bytes


def _kib(bits: float) -> float:
    return max(GRAIN_KIB, math.ceil(bits / 8192 / GRAIN_KIB) * GRAIN_KIB)


def _usage(mapping) -> dict:
    c = mapping.arch.core
    rows = cols = 0
    per_core: dict[int, list[int]] = {}
    for lay in mapping.layers:
        taps = math.prod(lay.node.tensors["weight"].shape[2:]) if lay.node.op == "conv" else 1  # kh·kw
        for t in lay.tiles:
            rows = max(rows, (t.inputs[1] - t.inputs[0]) * taps)
            cols = max(cols, (t.outputs[1] - t.outputs[0]) * lay.slices)
            u = per_core.setdefault(t.core, [0, 0, 0])
            u[0] += t.synapse_bits * t.resident
            u[1] += t.neurons * state_bits(mapping.arch, mapping.graph, lay)
            u[2] += t.buffer_bits
    syn, state, buf = (max(u[i] for u in per_core.values()) for i in range(3))
    return {"core.crossbar_rows": rows, "core.crossbar_cols": cols,
            "core.synapse_sram_KiB": _kib(max(syn, rows * cols * c["weight_bits"])),
            "core.membrane_sram_KiB": _kib(max(state, c["membrane_bits"] + c["accumulator_bits"])),
            "core.buffer_sram_KiB": _kib(buf)}


def right_size(graph, arch):
    """``arch`` with its crossbar and SRAMs shrunk to what ``graph``'s mapping uses (same mesh); the mapping is
    redone on the smaller core and the sizes re-derived until they settle."""
    if arch.template != "cores":
        raise EmpfError(f"right-sizing applies to cores architectures; {arch.name} is {arch.template}")
    current = arch
    for _ in range(4):
        sizes = _usage(map_graph(graph, current))
        if all(current.core[k.split(".")[1]] == v for k, v in sizes.items()):
            break
        try:
            candidate = current.with_overrides(sizes)
            map_graph(graph, candidate)
        except EmpfError:
            break
        current = candidate
    d = current.to_dict()
    d["name"] = f"{arch.name}-fit"
    d["description"] = f"{arch.name} with crossbar and SRAMs right-sized to one network (same mesh)"
    from ..arch import from_dict

    return from_dict(d, d["name"])

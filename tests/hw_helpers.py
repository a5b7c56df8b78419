"""Tiny random networks, architectures and activity for the hardware-model tests."""

import numpy as np

from empf_hw.deploy.graph import DeployGraph, Node, infer_shape
from empf_hw.hw.arch import from_dict
from empf_hw.sim.trace import COUNTS, ActivityTrace, LayerTrace


def _add(nodes, name, op, inputs, attrs=None, tensors=None):
    n = Node(name, op, inputs, (), attrs or {}, tensors or {})
    n.shape = infer_shape(n, [next(m.shape for m in nodes if m.name == i) for i in inputs])
    nodes.append(n)
    return name


def _synaptic(nodes, name, x, out, rng, k=None, stride=1, padding=0, bits=1):
    """A conv (kernel ``k``: an int or (kh, kw)) or, without ``k``, a linear layer of ±1 weights."""
    shape = next(m.shape for m in nodes if m.name == x)
    kernel = (k, k) if isinstance(k, int) else k
    w = rng.choice([-1.0, 1.0], size=(out, shape[0], *kernel) if k else (out, shape[0])).astype(np.float32)
    tensors = {"weight": w, "codes": w.astype(np.int8), "scale": np.ones(out, np.float32),
               "bias": np.zeros(out, np.float32)}
    attrs = {"weight_kind": "binary" if bits == 1 else "int", "weight_bits": bits}
    if k:
        return _add(nodes, name, "conv", [x], {**attrs, "stride": stride, "padding": padding}, tensors)
    return _add(nodes, name, "linear", [x], attrs, tensors)


def _neuron(nodes, name, x, T, spike_bits):
    c = next(m.shape for m in nodes if m.name == x)[0]
    ones = np.ones((T, c), np.float32)
    model = "lif" if spike_bits == 1 else "empf"
    return _add(nodes, name, "neuron", [x], {"model": model, "reset": "threshold" if model == "lif" else "spike",
                                             "spike_bits": spike_bits},
                {"leak": ones * 0.5, "threshold": np.ones(T, np.float32), "in_scale": ones,
                 "in_bias": ones * 0, "spike_step": np.array(0.25, np.float32)})


def tiny_graph(rng, T=2, residual=False, pool=False, spike_bits=2, weight_bits=1, c_in=2, size=5, width=4):
    nodes = []
    x = _add(nodes, "input", "input", [], {"shape": [c_in, size, size], "input_bits": 8})
    h = _synaptic(nodes, "c1", x, width, rng, k=3, padding=1, bits=8)
    h = _neuron(nodes, "n1", h, T, spike_bits)
    if residual:
        a = _synaptic(nodes, "c2", h, width, rng, k=3, padding=1, bits=weight_bits)
        sc = _synaptic(nodes, "sc", h, width, rng, k=1, bits=weight_bits)
        h = _neuron(nodes, "n2", _add(nodes, "add", "add", [a, sc]), T, spike_bits)
    if pool:
        h = _add(nodes, "pool", "pool", [h], {"kind": "avg", "kernel": 2, "stride": 2, "padding": 0})
    h = _synaptic(nodes, "c3", h, width, rng, k=3, stride=2, padding=1, bits=weight_bits)
    h = _neuron(nodes, "n3", h, T, spike_bits)
    h = _add(nodes, "flat", "flatten", [h])
    h = _synaptic(nodes, "fc", h, 3, rng, bits=8)
    _add(nodes, "output", "output", [h])
    return DeployGraph(nodes, {"timesteps": T, "membrane_bits": 24, "membrane_frac_bits": 8,
                               "accumulator_bits": 32})


RECT_CONVS = (((3, 2), (2, 1), (1, 0)), ((2, 3), (1, 2), (0, 1)))  # (kernel, stride, padding), (rows, columns)
CONVS_1D = (((1, 5), (1, 2), (0, 1)), ((1, 3), (1, 2), (0, 1)))  # mnist1d_cnn's geometry


def rect_graph(rng, T=2, spike_bits=2, c_in=2, size=(5, 9), width=4, convs=RECT_CONVS, pool=False, weight_bits=1):
    """input (c_in, *size) → per (kernel, stride, padding) of ``convs`` a conv (the first with 8-bit weights) and
    a neuron (``pool``: a 2×2 average pool after the first) → flatten → fc 3."""
    nodes = []
    h = _add(nodes, "input", "input", [], {"shape": [c_in, *size], "input_bits": 8})
    for i, (k, s, p) in enumerate(convs):
        h = _synaptic(nodes, f"c{i + 1}", h, width, rng, k=k, stride=list(s), padding=list(p),
                      bits=8 if i == 0 else weight_bits)
        h = _neuron(nodes, f"n{i + 1}", h, T, spike_bits)
        if pool and i == 0:
            h = _add(nodes, "pool", "pool", [h], {"kind": "avg", "kernel": 2, "stride": 2, "padding": 0})
    h = _synaptic(nodes, "fc", _add(nodes, "flat", "flatten", [h]), 3, rng, bits=8)
    _add(nodes, "output", "output", [h])
    return DeployGraph(nodes, {"timesteps": T, "membrane_bits": 24, "membrane_frac_bits": 8,
                               "accumulator_bits": 32})


def random_trace(graph, rng, density=0.4, batch=1, schedule="pipelined"):
    """A trace with random per-position events at every synaptic input and random auxiliary op counts (lockstep:
    over the T + depth steps of a lockstep chip)."""
    from empf_hw.sim.executor import depths

    T = graph.timesteps + (max(depths(graph).values()) if schedule == "lockstep" else 0)
    layers = []
    for n in graph.nodes:
        counts = {c: np.zeros(T, np.int64) for c in COUNTS}
        em = vb = None
        if n.op in ("conv", "linear"):
            shape = graph[n.inputs[0]].shape
            em = rng.binomial(batch, density, size=(T, *shape)).astype(np.int32)
            counts["input_events"][:] = em.reshape(T, -1).sum(axis=1)
            vb = np.zeros((T, 33), np.int64)
        if n.op == "neuron":
            counts["neuron_updates"][:] = batch * int(np.prod(n.shape))
        if n.op in ("pool", "add", "attention"):
            counts["other_ops"][:] = rng.integers(0, 50, size=T) * batch
        layers.append(LayerTrace(n.name, n.op, tuple(n.shape), counts, vb, em))
    return ActivityTrace(layers, np.zeros((T, batch, 3), np.float32),
                         {"mode": "fixed", "timesteps": T, "batch": batch, "graph_attrs": graph.attrs,
                          "schedule": schedule}, graph)


CHIP_KEYS = {"mesh_rows", "mesh_cols", "cores_per_router", "clock_MHz", "tech_node_nm", "tech_flavor", "vdd_V",
             "nominal_clock_MHz", "noc_link_bits", "noc_hop_cycles", "noc_buffer_flits", "router_pitch_mm", "stem_once",
             "io_row", "io_col",
             "timestep_mode", "barrier_cycles", "dram_bits_per_cycle", "dram_spill", "power_gating", "host_link_bits",
             "readout"}


def arch_dict(**core_over):
    core = {"crossbar_rows": 64, "crossbar_cols": 16, "weight_bits": 1, "synapse_sram_KiB": 1,
            "membrane_sram_KiB": 1, "buffer_sram_KiB": 1, "spike_bus_bits": 32, "address_bits": 12,
            "accumulator_lanes": 4, "neuron_units": 2, "neuron_update_cycles": 1, "accumulator_bits": 32,
            "membrane_bits": 24, "param_bits": 16}
    chip = {"mesh_rows": 4, "mesh_cols": 4, "clock_MHz": 100, "tech_node_nm": 45, "vdd_V": None,
            "noc_link_bits": 16, "noc_hop_cycles": 1, "dram_bits_per_cycle": 64, "dram_spill": False}
    for k, v in core_over.items():
        (chip if k in CHIP_KEYS else core)[k] = v
    return {"name": "tiny", "template": "cores", "chip": chip, "core": core}


def tiny_arch(**over):
    return from_dict(arch_dict(**over), "tiny")

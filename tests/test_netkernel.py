"""The compiled network kernel (numba) against the NumPy reference network: the same simulation cycle for cycle
and stall for stall, on random networks, architectures and activities (single chips and boards of chips with
narrow chip-to-chip links, contention-heavy buffers, links and core FIFOs, multi-spike packets and the popcount
compute mode included)."""

import numpy as np
from hw_helpers import arch_dict, random_trace, tiny_graph
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from empf_hw.errors import EmpfError
from empf_hw.hw import evaluate
from empf_hw.hw.arch import from_dict


def board_case(seed, realistic=False):
    """A random workload on a random chip, or on a board of chips (chips side by side, slow chip links);
    ``realistic``: the same draws with 16/32-bit links, 4/8-flit buffers, no core FIFO limit and 8/32-bit chip links
    (as the realistic family of tests/test_cycle.py)."""
    r = np.random.default_rng(seed)
    pick = lambda *xs: xs[int(r.integers(len(xs)))]  # noqa: E731
    graph = tiny_graph(r, T=int(r.integers(1, 4)), residual=bool(r.integers(2)), pool=bool(r.integers(2)),
                       spike_bits=int(r.integers(1, 5)), weight_bits=pick(1, 2), c_in=int(r.integers(1, 4)),
                       size=int(r.integers(3, 7)), width=int(r.integers(2, 7)))
    board = bool(r.integers(2))
    d = arch_dict(crossbar_rows=pick(9, 18, 64), crossbar_cols=pick(8, 16), synapse_sram_KiB=4,
                  membrane_sram_KiB=1.0 if board else pick(0.1, 1.0), buffer_sram_KiB=pick(0.05, 1.0),
                  spike_bus_bits=pick(12, 32),
                  accumulator_lanes=int(r.integers(1, 9)), neuron_units=int(r.integers(1, 5)),
                  noc_link_bits=pick(4, 8, 16, 32), noc_hop_cycles=int(r.integers(0, 4)),
                  noc_buffer_flits=pick(1, 2, 4, 8), input_fifo_packets=pick(0, 1, 2, 8),
                  mesh_rows=pick(2, 3) if board else 8, mesh_cols=3 if board else 8, dram_spill=board,
                  cores_per_router=2 if board else pick(1, 2), timestep_mode=pick("pipelined", "lockstep"),
                  barrier_cycles=int(r.integers(0, 21)), synapse_banks=pick(1, 2), synapse_bank_cycles=pick(1, 2),
                  spikes_per_packet=pick(1, 1, 2, 5), synapse_compute=pick("event", "popcount", "auto"))
    if board:
        d["system"] = {"chips_rows": pick(1, 2), "chips_cols": pick(2, 3), "chip_link_bits": pick(1, 4, 8, 32),
                       "chip_link_cycles": int(r.integers(1, 20))}
    if realistic:
        d["chip"].update(noc_link_bits=16 if d["chip"]["noc_link_bits"] < 32 else 32,
                         noc_buffer_flits=max(4, d["chip"]["noc_buffer_flits"]))
        d["core"]["input_fifo_packets"] = 0
        if board:
            d["system"]["chip_link_bits"] = max(8, d["system"]["chip_link_bits"])
    arch = from_dict(d, "random")
    return arch, random_trace(graph, r, density=pick(0.2, 0.7, 1.0), schedule=arch.chip["timestep_mode"])


def assert_same(a, b):
    ta, tb = a.timing, b.timing
    assert ta.cycles == tb.cycles
    assert np.array_equal(ta.start, tb.start) and np.array_equal(ta.finish, tb.finish)
    assert ta.core_busy == tb.core_busy
    sa, sb = dict(ta.stats), dict(tb.stats)
    ra, rb = sa.pop("router_stalls"), sb.pop("router_stalls")
    assert all(np.array_equal(ra[k], rb[k]) for k in ra)
    assert sa == sb  # stall causes, per-link flits, per-core rows, packets, buffer peaks


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
          derandomize=True)
@given(st.integers(0, 2**31))
def test_compiled_network_equals_the_reference(seed):
    arch, trace = board_case(seed)
    if seed % 2:  # outputs to the host, over a host link of 0 (keeps up) to 6 bits per cycle
        arch = arch.with_overrides({"chip.readout": "host", "chip.host_link_bits": seed % 7})
    if seed % 3 == 0:  # an output queue of 1-4 packets between each core's encoder and its router
        arch = arch.with_overrides({"core.output_queue_packets": 1 + seed // 3 % 4})
    try:
        fast = evaluate(trace, arch, timing="cycle")
    except EmpfError as e:  # a random network that does not fit the random board
        assume("fit" not in str(e) and "room" not in str(e))
        raise
    ref = evaluate(trace, arch, timing="cycle", compiled=False)
    assert_same(fast, ref)
    assert fast.timing.stats["packets"] > 0 or trace.layers[0].counts["input_events"].sum() == 0


def test_the_zoo_models_simulate_identically():
    from empf_hw.sim.pipeline import deploy

    for model, preset in (("models/digits_cnn-lif-stbp-T4", "stbp-core-45nm"),
                          ("models/digits_cnn-lif-stbp-T4", "loihi-sanafe"),
                          ("models/mnist1d_cnn-empf-online-T4", "empf-core-45nm")):
        d = deploy(model, spike_bits=None if "lif" in model else 4, samples=1, mode="fixed",
                   schedule="lockstep" if preset == "loihi-sanafe" else "pipelined")
        assert_same(evaluate(d.trace, preset, timing="cycle", lowering="parallel"),
                    evaluate(d.trace, preset, timing="cycle", lowering="parallel", compiled=False))


def test_more_packets_than_the_int32_fields_hold_is_refused():
    """Packet fields are int32: an inference of more than 2^31 − 1 packets gets one clear error, not a wrap-around."""
    import pytest

    from empf_hw.hw.cores.cycle.network import NetworkBase

    net = NetworkBase(from_dict(arch_dict(), "tiny"), np.full(16, 4))
    net.reserve(10_000)
    assert len(net.p_dst) == 10_000 and net.p_dst.dtype == np.int32 and net.p_rel.dtype == np.int64
    with pytest.raises(EmpfError, match=r"2,147,483,648 packets exceeds its limit of 2,147,483,647"):
        net.reserve(2**31)

"""Multi-spike packets (``core.spikes_per_packet``): sizes, counts and timing hand-computed on the 4 → 3 → 2 network
of test_hw, the batch estimate, and the fast model's packets equal to the simulator's on random networks."""

import numpy as np
import pytest
from hw_helpers import random_trace, tiny_arch, tiny_graph
from test_hw import LINEAR_ARCH, linear_case

from empf_hw.hw import evaluate, reference_table
from empf_hw.hw.cores.work import pack, packet_bits


def _acts(c):
    return c.actions.groupby(["layer", "action"])["count"].sum()


def test_two_spike_packets_by_hand():
    g, tr = linear_case()
    arch = tiny_arch(**LINEAR_ARCH, spikes_per_packet=2)  # spike_index_bits 8 by default
    assert packet_bits(arch, 8) == 12 + 2 * (8 + 8) and packet_bits(arch, 0) == 12 + 2 * 8
    c = evaluate(tr, arch)
    a = _acts(c)
    # fc1: 3 input events from the I/O port → 2 packets of 44 bits (the second half empty)
    assert a["fc1", "message_send"] == 2 and a["fc1", "message_bit"] == 2 * 32
    assert a["fc1", "buffer_write_bit"] == 2 * 44
    assert a["fc1", "syn_dense"] == 9  # the synaptic work is the events'
    assert a["fc1", "pack_bit"] == 2 * 44 and a["fc2", "pack_bit"] == 28  # assembled at the sender
    rf = reference_table(arch)["router_buffer_bit"]
    assert reference_table(arch)["pack_bit"].pJ == rf.pJ and "Eyeriss" in reference_table(arch)["pack_bit"].source
    assert _acts(evaluate(tr, tiny_arch(**LINEAR_ARCH))).xs("pack_bit", level=1).sum() == 0  # single-spike packets
    # fc2: 2 binary spikes from fc1's tile → 1 packet of 28 bits, 1 hop east, 2 flits of 16 through 2 routers
    assert a["fc2", "message_send"] == 1 and a["fc2", "hop_bit"] == 28
    assert a["fc2", "router_buffer_bit"] == 2 * 2 * 16
    # fc1: 2 packets of 3 flits, the first in ⌈44 / 16⌉ − 1 = 2 cycles after leaving the I/O port (its own router),
    # bus 2 × ⌈44 / 32⌉ = 4 + 6 lane rows = 10 at 5 a packet → 2 + 10 = 12, then 3 neurons on 2 units × 3 cycles →
    # 18; fc2: fc1's one packet (neurons 0 and 1, its first group of 2) leaves once that group is done (15), 1 hop
    # × 2 + ⌈28 / 16⌉ − 1 = 3 → 18, bus 1 + 16 lane rows → 35, + 3 → 38, as simulated
    assert c.timing.finish.tolist() == [[18], [38]]
    assert evaluate(tr, arch, timing="cycle").timing.finish.tolist() == [[18], [38]]
    assert _acts(evaluate(tr, arch, timing="cycle"))["fc2", "message_send"] == 1


@pytest.mark.parametrize("events, k, batch, want", [(0, 4, 1, 0), (1, 4, 1, 1), (5, 4, 1, 2), (8, 4, 1, 2),
                                                     (3, 4, 4, 3), (12, 4, 2, 4), (9, 2, 3, 6)])
def test_batch_packets_spread_events_evenly(events, k, batch, want):
    # 12 events over 2 inferences, 6 each → 2 packets of 4 each; 3 over 4 → 3 inferences send 1; 9 over 3 → 2 each
    assert pack(np.array([float(events)]), k, batch)[0] == want


@pytest.mark.parametrize("seed", range(6))
def test_fast_packets_equal_the_simulators(seed):
    rng = np.random.default_rng(seed)
    g = tiny_graph(rng, T=2, spike_bits=int(rng.integers(1, 5)), residual=bool(seed % 2), pool=seed > 2)
    tr = random_trace(g, rng, density=float(rng.choice([0.1, 0.5, 0.9])))
    k = int(rng.choice([2, 3, 8]))
    arch = tiny_arch(spikes_per_packet=k, crossbar_rows=18, crossbar_cols=8)
    fast, cyc = evaluate(tr, arch), evaluate(tr, arch, timing="cycle")
    assert cyc.timing.stats["packets"] == pytest.approx(_acts(fast).xs("message_send", level=1).sum())
    one = evaluate(tr, tiny_arch(crossbar_rows=18, crossbar_cols=8))
    sends = _acts(fast).xs("message_send", level=1)
    assert (sends <= _acts(one).xs("message_send", level=1)).all()  # never more packets than events
    assert _acts(fast).xs("syn_conv", level=1).sum() == _acts(one).xs("syn_conv", level=1).sum()


@pytest.mark.parametrize("seed", range(12))
def test_simulator_conserves_packed_and_popcount_traffic(seed):
    """Random networks with multi-spike packets and each compute mode: the simulator's counts equal the fast
    model's, every packet is delivered and processed once, the latency stays within the contention bound."""
    from test_cycle import case, check_against_fast

    arch, trace = case(seed, realistic=seed % 2 == 0)
    rng = np.random.default_rng(seed)
    arch = arch.with_overrides({"core.spikes_per_packet": int(rng.choice([1, 2, 4, 7])),
                                "core.synapse_compute": str(rng.choice(["event", "popcount", "auto"]))})
    check_against_fast(arch, trace)

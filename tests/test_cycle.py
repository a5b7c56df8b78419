"""The cycle-level simulator against the fast estimate on random networks, architectures and activity, including
contention-heavy cases (narrow links, one-flit router buffers, tiny core FIFOs, many tiles fed by one I/O port,
lockstep barriers, shared routers). The two must count exactly the same actions (energy differs only by the leakage
of a different latency); the simulator must deliver every packet exactly once, process every one, and never hold
more flits than its router buffers; the fast latency must lie within the bounds README states ("Fast estimate
against the cycle-level simulator"): loose under heavy contention, tight on realistic configurations."""

import numpy as np
import pytest
from hw_helpers import CONVS_1D, random_trace, rect_graph, tiny_arch, tiny_graph
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from empf_hw.errors import EmpfError
from empf_hw.hw import evaluate

CONTENTION_BOUND = (1 / 16, 4)  # fast / cycle latency, any configuration (head-of-line blocking behind 1-packet
#                                 core FIFOs is what the fast estimate misses most: down to ~1/10 measured)
REALISTIC_BOUND = (0.6, 1.15)  # fast / cycle latency, realistic links (16/32 bit), buffers (4/8 flits), no FIFO limit
REALISTIC_MEDIAN_ERROR, REALISTIC_P90_ERROR = 0.04, 0.15  # measured on seeds 0–39: 2.4 %, 12.7 % (0.64–1.13)
BOARD_BOUND, BOARD_MEDIAN_ERROR, BOARD_P90_ERROR = (0.75, 1.25), 0.05, 0.16  # realistic boards: 3.0 %, 14.8 %
#                                                                              (0.81–1.23)


def case(seed, realistic, one_d=False):
    """A random network (``one_d``: 1×k convolutions over (C, 1, L), MNIST-1D's geometry), architecture and
    activity."""
    r = np.random.default_rng(seed)
    pick = lambda *xs: xs[int(r.integers(len(xs)))]  # noqa: E731
    if one_d:
        graph = rect_graph(r, T=int(r.integers(1, 4)), spike_bits=int(r.integers(1, 5)), weight_bits=pick(1, 2, 8),
                           c_in=int(r.integers(1, 4)), size=(1, int(r.integers(8, 30))), width=int(r.integers(2, 7)),
                           convs=CONVS_1D)
    else:
        graph = tiny_graph(r, T=int(r.integers(1, 4)), residual=bool(r.integers(2)), pool=bool(r.integers(2)),
                           spike_bits=int(r.integers(1, 5)), weight_bits=pick(1, 2, 8), c_in=int(r.integers(1, 4)),
                           size=int(r.integers(3, 7)), width=int(r.integers(2, 7)))
    arch = tiny_arch(crossbar_rows=pick(9, 18, 64), crossbar_cols=pick(8, 16, 24), weight_bits=pick(1, 2, 8),
                     synapse_sram_KiB=4, membrane_sram_KiB=pick(0.1, 1.0), buffer_sram_KiB=pick(0.05, 1.0),
                     spike_bus_bits=pick(12, 16, 32, 64), address_bits=12, accumulator_lanes=int(r.integers(1, 9)),
                     neuron_units=int(r.integers(1, 5)), neuron_update_cycles=int(r.integers(1, 4)),
                     noc_link_bits=pick(16, 32) if realistic else pick(4, 8, 32),
                     noc_hop_cycles=int(r.integers(0, 4)),
                     noc_buffer_flits=pick(4, 8) if realistic else pick(1, 2, 8),
                     input_fifo_packets=0 if realistic else pick(0, 1, 4), mesh_rows=16, mesh_cols=16,
                     cores_per_router=pick(1, 2), timestep_mode=pick("pipelined", "lockstep"),
                     barrier_cycles=int(r.integers(0, 21)), synapse_banks=pick(1, 2), synapse_bank_cycles=pick(1, 2),
                     neuron_update_mode=pick("clock", "event"))
    trace = random_trace(graph, r, density=pick(0.0, 0.2, 0.7, 1.0), schedule=arch.chip["timestep_mode"])
    return arch, trace


def ratio(fast, cyc):
    return fast.timing.cycles / cyc.timing.cycles if cyc.timing.cycles else 1.0


def latency_errors(make, seeds) -> dict[str, np.ndarray]:
    """Per timestep mode: signed fast / cycle − 1 of the latency over the cases ``make(seed)`` gives that fit, with a
    non-zero simulated latency (also benchmarks/fast_vs_cycle.py's)."""
    out: dict[str, list] = {"pipelined": [], "lockstep": []}
    for s in seeds:
        arch, trace = make(s)
        try:
            cyc = evaluate(trace, arch, timing="cycle")
        except EmpfError:  # a random network that does not fit its random chip
            continue
        if cyc.timing.cycles:
            out[arch.chip["timestep_mode"]].append(evaluate(trace, arch).timing.cycles / cyc.timing.cycles - 1)
    return {k: np.array(v) for k, v in out.items()}


def check_against_fast(arch, trace):
    """Exact counts, every packet delivered and processed once, buffers never overfilled, latency in bounds."""
    fast = evaluate(trace, arch)
    cyc = evaluate(trace, arch, timing="cycle")
    dyn = [i for i, a in enumerate(fast.action_names) if not a.startswith("leakage_")]
    assert np.array_equal(fast.counts[:, dyn], cyc.counts[:, dyn])
    stats = cyc.timing.stats
    assert stats["packets"] == stats["packets_delivered"] == round(fast.count("message_send"))
    assert stats["unprocessed_packets"] == 0
    assert stats["buffer_peak_flits"] <= arch.chip["noc_buffer_flits"] and stats["fifo_peak_fraction"] <= 1
    assert (cyc.timing.finish >= cyc.timing.start).all()
    assert CONTENTION_BOUND[0] <= ratio(fast, cyc) <= CONTENTION_BOUND[1], (fast.timing.cycles, cyc.timing.cycles)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**31))
def test_cycle_simulation_counts_conserves_and_bounds_the_fast_estimate(seed):
    arch, trace = case(seed, realistic=False)
    if seed % 2:  # outputs to the host
        arch = arch.with_overrides({"chip.readout": "host", "chip.host_link_bits": seed % 3 * 8})
    check_against_fast(arch, trace)


@pytest.mark.parametrize("seed", range(16))
def test_cycle_simulation_agrees_with_the_fast_counts_on_1d_networks(seed):
    check_against_fast(*case(seed, realistic=seed % 2 == 0, one_d=True))


@pytest.mark.parametrize("family", ["chips", "boards"])
def test_fast_estimate_on_realistic_configurations(family):
    from test_netkernel import board_case

    make = (lambda s: case(s, realistic=True)) if family == "chips" else (lambda s: board_case(s, realistic=True))
    bound, median, p90 = ((REALISTIC_BOUND, REALISTIC_MEDIAN_ERROR, REALISTIC_P90_ERROR) if family == "chips" else
                          (BOARD_BOUND, BOARD_MEDIAN_ERROR, BOARD_P90_ERROR))
    ratios, pipelined = [], []
    for a, tr in (make(seed) for seed in range(40)):
        try:
            ratios.append(ratio(evaluate(tr, a), evaluate(tr, a, timing="cycle")))
        except EmpfError:  # a random network that does not fit its random board
            continue
        pipelined.append(a.chip["timestep_mode"] == "pipelined")
    err = np.abs(np.array(ratios) - 1)
    assert len(ratios) >= 30 and np.median(err) <= median and np.quantile(err, 0.9) <= p90, (np.median(err),
                                                                                            np.quantile(err, 0.9))
    assert min(ratios) >= bound[0] and max(ratios) <= bound[1], (min(ratios), max(ratios))
    if family == "chips":  # issue 18's targets, met on pipelined chips (README's table)
        piped = err[np.array(pipelined)]
        assert np.median(piped) <= 0.03 and np.quantile(piped, 0.9) <= 0.10, (np.median(piped),
                                                                                np.quantile(piped, 0.9))


@pytest.mark.parametrize("preset", ["empf-core-45nm", "stbp-core-45nm"])
def test_fast_estimate_within_5_percent_on_the_zoo(preset):
    from empf_hw.sim.pipeline import deploy

    for model in ("models/digits_cnn-empf-online-T4", "models/digits_cnn-lif-stbp-T4"):
        d = deploy(model, spike_bits=4 if "empf" in model else None, samples=1, mode="fixed")
        fast, cyc = evaluate(d.trace, preset), evaluate(d.trace, preset, timing="cycle")
        assert abs(fast.timing.cycles / cyc.timing.cycles - 1) <= 0.05


def test_cycle_simulation_on_the_1d_zoo_models():
    """MNIST-1D's 1×k EM-PF CNN (4-bit spikes) on the EM-PF chip: exact counts, fast latency within 10 % of the
    simulated one."""
    from empf_hw.sim.pipeline import deploy

    d = deploy("models/mnist1d_cnn-empf-online-T4", spike_bits=4, samples=1, mode="fixed")
    fast, cyc = evaluate(d.trace, "empf-core-45nm"), evaluate(d.trace, "empf-core-45nm", timing="cycle")
    dyn = [i for i, a in enumerate(fast.action_names) if not a.startswith("leakage_")]
    assert np.array_equal(fast.counts[:, dyn], cyc.counts[:, dyn])
    assert cyc.timing.stats["packets_delivered"] == round(fast.count("message_send")) > 0
    assert abs(fast.timing.cycles / cyc.timing.cycles - 1) <= 0.10


def test_cost_cycle_json_names_its_timing_and_carries_the_tables(capsys):
    import json

    from empf_hw.cli import main

    base = ["cost", "--model", "models/digits_cnn-lif-stbp-T4", "--samples", "3", "--json"]
    assert main([*base, "--timing", "fast"]) == 0
    fast = json.loads(capsys.readouterr().out)
    assert main([*base, "--timing", "cycle", "--cycle-samples", "2"]) == 0
    cyc = json.loads(capsys.readouterr().out)
    assert fast["timing"] == "fast" and cyc["timing"] == "cycle"
    per_sample = [r["latency_cycles"] for r in cyc["cycle"]["latency"]]
    assert len(per_sample) == 2 and cyc["latency_cycles"] == pytest.approx(sum(per_sample) / 2)
    assert cyc["fast_latency_cycles"] == fast["latency_cycles"]
    assert cyc["energy_pJ_per_inference"] == fast["energy_pJ_per_inference"]
    assert {r["cause"] for r in cyc["cycle"]["stalls"]} and cyc["cycle"]["links"] and cyc["cycle"]["timesteps"]


def test_cycle_samples_in_parallel_workers_give_the_serial_tables():
    from empf_hw.hw.cycle_report import cycle_runs
    from empf_hw.sim.pipeline import deploy

    d = deploy("models/digits_cnn-lif-stbp-T4", samples=4, mode="fixed")
    serial, parallel = cycle_runs(d, "stbp-core-45nm", 4, workers=1), cycle_runs(d, "stbp-core-45nm", 4, workers=2)
    assert serial["summary"] == parallel["summary"]
    for name in ("latency", "stalls", "links", "cores", "timesteps"):
        assert serial[name].equals(parallel[name]), name
    lat = serial["latency"]["latency_cycles"].to_numpy(float)
    assert serial["summary"]["cycle_latency_cycles_p50"] == np.percentile(lat, 50) and len(set(lat)) > 1


def test_chip_link_serialization_is_labelled_as_such():
    """fc1 on chip 0 sends fc2 (chip 1) two 12-bit packets (one 16-bit flit each) over a 1-bit chip link, which
    serializes the packet's 12 bits, not the flit's 16: 12 cycles each, so the second packet, ready one cycle after
    the first, is held 11 cycles by the link, not by a full queue."""
    from test_hw import linear_case

    g, tr = linear_case()
    a = tiny_arch(crossbar_rows=64, crossbar_cols=16, weight_bits=1, spike_bus_bits=32, address_bits=12,
                  mesh_rows=1, mesh_cols=1, noc_link_bits=16).with_overrides(
        {"system.chips_cols": 2, "system.chip_link_bits": 1, "system.chip_link_cycles": 5})
    for compiled in (True, False):
        s = evaluate(tr, a, timing="cycle", compiled=compiled).timing.stats["stalls"]
        assert s["router_link_serialization"] == 11
        assert s["router_queue_full"] == s["router_link_busy"] == s["core_fifo_full"] == 0


def test_host_link_paces_the_network_input_by_hand():
    """fc1's three 20-bit input packets over a 4-bit host link are in at cycles 5, 10, 15; each starts one cycle
    later at fc1 (the I/O port's own router) and takes 1 bus cycle + 2 lane rows: the last ends at 19, then 3 neurons
    on 2 units × 3 cycles → 25 (16 without a host link). The fast estimate streams them the same way: the last leaves
    the host at 15, is in 1 cycle later and takes 3 → 19, + 6 → 25."""
    from test_hw import LINEAR_ARCH, linear_case

    g, tr = linear_case()
    over = LINEAR_ARCH
    slow = tiny_arch(**over, host_link_bits=4)
    for compiled in (True, False):
        c = evaluate(tr, slow, timing="cycle", compiled=compiled).timing
        assert c.start[0, 0] == 6 and c.finish[0, 0] == 25
    assert evaluate(tr, slow).timing.finish[0, 0] == 25
    assert evaluate(tr, tiny_arch(**over), timing="cycle").timing.finish[0, 0] == 16


def test_the_readout_crosses_the_network_and_the_host_link_by_hand():
    """readout: host on the host-link case's chip: fc2 (router (0, 1)) ends at 35 and sends its 2 values (12-bit
    address + 24-bit membrane: 3 flits of 16 bits) west to the I/O port at (0, 0): their flits leave at 35–37 and
    38–40 and arrive 2 cycles later, the last at 42. Over a 4-bit host link (fc1 ends at 25 as above, its spikes
    leave at 22, 23 and fc2 ends at 44) each takes 36 / 4 = 9 cycles from its arrival at 48 and 51: 48 → 57 → 66.
    Counted: 2 sends and receipts of 24 value bits, 2 east-west hops of 36 bits, 4 router traversals of 3 flits of
    16 bits."""
    from test_hw import LINEAR_ARCH, linear_case

    g, tr = linear_case()
    for host, end in ((0, 42), (4, 66)):
        off = tiny_arch(**LINEAR_ARCH, host_link_bits=host)
        on = tiny_arch(**LINEAR_ARCH, host_link_bits=host, readout="host")
        for compiled in (True, False):
            c = evaluate(tr, on, timing="cycle", compiled=compiled)
            assert c.timing.finish[1, 0] == c.timing.cycles == end
            assert c.timing.stats["packets"] == c.timing.stats["packets_delivered"] == 5 + 2
        fast, base = evaluate(tr, on), evaluate(tr, off)
        assert fast.timing.cycles == end
        delta = {a: fast.count(a) - base.count(a) for a in ("message_send", "message_receive", "message_bit",
                                                             "hop_ew", "hop_ns", "hop_bit", "router_buffer_bit",
                                                             "router_arb")}
        assert delta == {"message_send": 2, "message_receive": 2, "message_bit": 48, "hop_ew": 2, "hop_ns": 0,
                         "hop_bit": 72, "router_buffer_bit": 192, "router_arb": 4}


def test_the_lockstep_readout_follows_the_last_step_by_hand():
    """Lock-step, the same chip: the readout leaves when the last step (and its barrier) ends at E; fc2's two values
    leave its router at E … E + 2 and E + 3 … E + 5, one hop west, the last in at E + 7; over a 4-bit host link they
    arrive at E + 4 and E + 7 and take 9 cycles each: E + 22."""
    from test_hw import LINEAR_ARCH, linear_case

    g, _ = linear_case()
    tr = random_trace(g, np.random.default_rng(0), schedule="lockstep")
    for host, extra in ((0, 7), (4, 22)):
        off = tiny_arch(**LINEAR_ARCH, host_link_bits=host, timestep_mode="lockstep")
        on = tiny_arch(**LINEAR_ARCH, host_link_bits=host, timestep_mode="lockstep", readout="host")
        for compiled in (True, False):
            with_out = evaluate(tr, on, timing="cycle", compiled=compiled).timing
            assert with_out.cycles - evaluate(tr, off, timing="cycle", compiled=compiled).timing.cycles == extra
            assert with_out.finish[0, -1] < with_out.finish[1, -1] == with_out.cycles  # fc2's last step holds it
        assert evaluate(tr, on).timing.cycles - evaluate(tr, off).timing.cycles == extra


def test_synapse_bank_conflicts_arise_from_the_row_addresses_by_hand():
    """The host-link case above with 2 synapse banks busy 8 cycles per row read. fc1's packets carry inputs 0, 2, 3
    (2 lane rows each, row k of input i in bank (i + k) mod 2) and start at 6, 11, 17 (the engine is busy until 17):
    input 0 reads banks 0, 1 at 7, 8 (ends 9; the banks are free at 15, 16); input 2 waits for bank 0 until 15
    (3 cycles), reads bank 1 at 16 (ends 17; free at 23, 24); input 3 waits for bank 1 until 24 (6), reads bank 0
    at 25, ends 26; + 6 neuron cycles → 32. Core 0: 9 conflict cycles, busy 3 + 6 + 9 + 6 = 24. (The old bank
    factor, 8 / 2 per row, would give 1 + 8 per packet.)"""
    from test_hw import LINEAR_ARCH, linear_case

    g, tr = linear_case()
    arch = tiny_arch(**LINEAR_ARCH, host_link_bits=4, synapse_banks=2, synapse_bank_cycles=8)
    for compiled in (True, False):
        c = evaluate(tr, arch, timing="cycle", compiled=compiled).timing
        assert c.finish[0, 0] == 32
        core0 = next(row for row in c.stats["cores"] if row["core"] == 0)
        assert core0["bank_conflict_cycles"] == 9 and core0["busy_cycles"] == 24
    one_bank = tiny_arch(**LINEAR_ARCH, host_link_bits=4, synapse_banks=1, synapse_bank_cycles=1)
    assert evaluate(tr, one_bank, timing="cycle").timing.stats["stalls"]["bank_conflict"] == 0


def test_path_max_is_the_largest_load_on_each_xy_route():
    """``loads.path_max`` (sparse-table range maxima) against the links ``route_loads`` puts each route on."""
    from empf_hw.hw.cores.loads import path_max, route_loads

    arch = tiny_arch(mesh_rows=5, mesh_cols=7)
    rng = np.random.default_rng(0)
    load = rng.random((3, 4 * 35))
    s, d = rng.integers(0, [5, 7], size=(300, 2)), rng.integers(0, [5, 7], size=(300, 2))
    t = rng.integers(0, 3, size=300)
    got = path_max(arch, load, s, d, t)
    for i in range(300):
        on = route_loads(arch, s[i:i + 1], d[i:i + 1], np.ones((1, 1)))[0, 0] > 0
        assert got[i] == load[t[i], on].max(initial=0)


def test_a_layer_is_not_bounded_by_its_own_partial_sums():
    """A board whose shortcut layer ``sc`` (one tile, at the I/O router) takes 21 cycles for its input and then sends
    its 100 cycles of partial sums from the same router to ``c2``: the estimate's bound on sc's input leaves that
    outgoing traffic out (it once was sc's bound: sc finished 86 cycles late and the latency was 21.7 % high), so sc
    finishes with the simulator's (±10 %) and the latency is within 3.5 %."""
    from test_netkernel import board_case

    arch, trace = board_case(23, realistic=True)
    fast, cyc = evaluate(trace, arch), evaluate(trace, arch, timing="cycle")
    i = fast.timing.layers.index("sc")
    run = lambda t: t.finish[i, 0] - t.start[i, 0]  # noqa: E731
    assert abs(run(fast.timing) / run(cyc.timing) - 1) <= 0.1
    assert abs(ratio(fast, cyc) - 1) <= 0.035


def test_layers_fed_by_one_producer_share_its_wavefront():
    """A block's first conv and its shortcut both take the stem's spikes at the same time, so the pipelined
    estimate loads them into one wavefront slot (``loads.waves``: 0, 1, 1, 2, 3 for c1, sc, c2, c3, fc). On a board
    where the stem's spikes to both cross one chip link, the shortcut's input waits behind the block's: the
    simulator finishes sc at cycle 2138, the estimate at 2129 (it was 588 with a slot per layer index)."""
    from test_netkernel import board_case

    from empf_hw.hw.cores.loads import waves

    arch, trace = board_case(37, realistic=True)
    fast, cyc = evaluate(trace, arch), evaluate(trace, arch, timing="cycle")
    assert fast.timing.layers == ["c1", "sc", "c2", "c3", "fc"]
    assert waves(fast.mapping).tolist() == [0, 1, 1, 2, 3]
    assert abs(fast.timing.finish[1, 0] / cyc.timing.finish[1, 0] - 1) <= 0.02
    assert abs(ratio(fast, cyc) - 1) <= 0.05


def test_tiles_sharing_a_router_share_its_ejection_port():
    """A lock-step board with two cores per router: the shortcut's tile and a block conv's tile eject at one router.
    The port serves them round-robin, so the shortcut's input is in after its own load plus as much of the other's
    (not after both layers' whole load, which made every step about 105 cycles long: +22.5 %)."""
    from test_netkernel import board_case

    arch, trace = board_case(31, realistic=True)
    fast, cyc = evaluate(trace, arch), evaluate(trace, arch, timing="cycle")
    assert arch.chip["cores_per_router"] == 2 and arch.chip["timestep_mode"] == "lockstep"
    assert abs(ratio(fast, cyc) - 1) <= 0.02
    np.testing.assert_allclose(fast.timing.finish[0], cyc.timing.finish[0], rtol=0.03)


def test_a_source_sends_its_input_groups_in_order():
    """A lock-step chip whose first layer is split over input channels into 36 tiles: the I/O port streams the input
    channel by channel, so the tiles of the first groups have their input, and send their partial sums, long before
    the stream ends. Counting every tile's last packet at the stream's end made each step 8–13 % long (+12.6 %)."""
    arch, trace = case(36, realistic=True)
    fast, cyc = evaluate(trace, arch), evaluate(trace, arch, timing="cycle")
    assert arch.chip["timestep_mode"] == "lockstep" and len(fast.mapping.layers[0].splits[0]) > 1
    assert abs(ratio(fast, cyc) - 1) <= 0.04


@pytest.mark.parametrize("seed", [0, 58])
def test_the_host_input_queues_behind_the_spikes_of_its_router(seed):
    """Lock-step boards whose first layer sits at the I/O router: every step its neuron phase releases its spikes at
    the step's first cycle, ahead of the host's input in the router's queue, so the input reaches that layer that
    much later (the estimate was 1.2–1.8 % low on these cases; it now meets the simulator within 0.5 %)."""
    from test_netkernel import board_case

    arch, trace = board_case(seed, realistic=True)
    assert arch.chip["timestep_mode"] == "lockstep"
    fast, cyc = evaluate(trace, arch), evaluate(trace, arch, timing="cycle")
    assert abs(ratio(fast, cyc) - 1) <= 0.005


def test_partial_sums_over_a_chip_link_queue_on_it():
    """A pipelined board whose block conv has split tiles on the next chip: their partial sums to the head tile
    cross an 8-bit chip link one after the other, at its serialization (two cycles per 16-bit flit), not at the
    head's ejection port (one cycle per flit); the estimate, 31.7 % low when it used the port, is within 10 %."""
    from test_netkernel import board_case

    arch, trace = board_case(59, realistic=True)
    assert arch.system["chip_link_bits"] < arch.chip["noc_link_bits"] and arch.chip["timestep_mode"] == "pipelined"
    fast, cyc = evaluate(trace, arch), evaluate(trace, arch, timing="cycle")
    assert abs(ratio(fast, cyc) - 1) <= 0.10


def test_row_split_tiles_get_their_rows_in_stream_order():
    """A lock-step board whose convs are split by output rows (4 tiles per layer, one row each): a source sends its
    positions channel by channel and row by row, so the tile of the last output row gets its first input well
    into each stream and the tile of the first row its last well before the end. Taking every tile's packets as
    spread over the whole stream put the estimate 15.2 % low; it is now within 8 %."""
    from test_netkernel import board_case

    arch, trace = board_case(39, realistic=True)
    fast, cyc = evaluate(trace, arch), evaluate(trace, arch, timing="cycle")
    assert [len(lay.splits[2]) for lay in fast.mapping.layers][:3] == [4, 4, 4]
    assert abs(ratio(fast, cyc) - 1) <= 0.08


def test_fast_estimate_meets_issue_18_targets_over_120_realistic_cases():
    """Over 60 realistic chips and 60 realistic boards (the README's pooled rows): median |error| ≤ 3 %, p90 ≤ 10 %,
    lock-step median ≤ 2 % (the lock-step tail is not bounded here: back-pressure through small buffers)."""
    from test_netkernel import board_case

    by_mode = [latency_errors(make, range(60)) for make in (lambda s: case(s, realistic=True),
                                                              lambda s: board_case(s, realistic=True))]
    err = np.abs(np.concatenate([e[m] for e in by_mode for m in ("pipelined", "lockstep")]))
    lockstep = np.concatenate([np.full(len(e[m]), m == "lockstep") for e in by_mode for m in ("pipelined", "lockstep")])
    assert len(err) >= 100
    assert np.median(err) <= 0.03 and np.quantile(err, 0.9) <= 0.10, (np.median(err), np.quantile(err, 0.9))
    assert np.median(err[lockstep]) <= 0.02, np.median(err[lockstep])


def test_the_partial_sum_merge_waits_for_the_accumulator_lanes_the_engine_holds(monkeypatch):
    """The lanes are one resource: a head tile's neuron phase (at cycle 10, no dense pass) merges its partial
    sums only once the synapse engine's packet in service ends (40.5 → 41), counted as ``lanes_busy``; the packets
    after that one wait for the merge (``eng_free``), the phase and every spike it sends move with it. An idle
    engine does not hold the lanes (its ``eng_free`` of 40.5 is only a floor for the next packet)."""
    from test_netkernel import board_case

    import empf_hw.hw.cores.cycle as cycle
    from empf_hw.hw.cores.cycle.simulation import Simulation

    args = []
    orig = cycle.simulate
    monkeypatch.setattr(cycle, "simulate", lambda *a: args.append(a) or orig(*a))
    for seed in range(200):
        arch, trace = board_case(seed, realistic=True)
        if arch.chip["timestep_mode"] != "pipelined":
            continue
        evaluate(trace, arch, timing="cycle")
        sim = Simulation(*args[-1][:4])
        found = [(k, t) for k in sim.tiles for t in range(sim.T)
                 if sim.tiles[k].head and sim.works[k[0]].neurons[k[1]] and sim.b_cycles(k, t)[2]
                 and not sim.b_cycles(k, t)[1]
                 and any(sim.packets[c][t] is not None for c in sim.consumers[k[0]])]
        if found:
            break
    key, t = found[0]
    for busy in (1, 0):
        sim = Simulation(*args[-1][:4])
        core = sim.tiles[key].core
        dur, dense, merge, sweep = sim.b_cycles(key, t)
        sim.net.eng_busy[core], sim.net.eng_free[core] = busy, 40.5
        sim.start_b(key, t, 10)
        lanes = 41 if busy else 10
        assert sim.net.eng_free[core] == max(lanes + merge, 40.5)
        assert sim.stall.get(("lanes_busy", core), 0) == (31 if busy else 0)
        assert sim.units_free[core] == lanes + dur and sim.tiles[key].b_start[t] == 10
        assert ("b_done", (key, t)) in [(e[2], e[3]) for e in sim.heap if e[0] == lanes + dur]
        sent = sim.net.p_rel[:sim.net.n_packets]
        assert len(sent) and sent.min() >= lanes + merge and sent.max() <= lanes + dur


def test_spikes_leave_as_the_neuron_units_finish_their_group_by_hand(monkeypatch):
    """The linear case's fc1 sweeps its 3 neurons from cycle 10 as 2 groups of 2 neuron units, 3 cycles each: with
    neurons 0 and 2 spiking, neuron 0's packet leaves when the first group is done (13), neuron 2's at the end of
    the second (16); with neurons 0 and 1, both at 13 (in order: the second a cycle later through the router)."""
    from test_hw import LINEAR_ARCH, linear_case

    import empf_hw.hw.cores.cycle as cycle
    from empf_hw.hw.cores.cycle.simulation import Simulation

    arch = tiny_arch(**LINEAR_ARCH)
    sims = []
    monkeypatch.setattr(cycle, "simulate", lambda *a: sims.append(Simulation(*a)) or sims[-1].run())
    for spikes, times in (([1, 0, 1], [13, 16]), ([1, 1, 0], [13, 13])):
        g, tr = linear_case()
        tr.layers[3].event_map[:] = np.array([spikes])
        evaluate(tr, arch, timing="cycle")
        net = sims[-1].net
        fc2 = sims[-1].key_index[("fc2", 0)]
        assert net.p_rel[:net.n_packets][net.p_tile[:net.n_packets] == fc2].tolist() == times


def test_a_full_output_queue_stalls_the_neuron_units_by_hand():
    """The linear case on 4-bit links: fc1's two spikes (neurons 0 and 1, its first group) are due at 20, 12 bits =
    3 flits each. With a one-packet output queue the first fills it until its tail is injected at 22, so the encoder
    (and with it the neuron units) stalls at 20, 21 and 22 and sends the second at 23, when the router would have
    taken its head anyway: fc1 ends 3 cycles late (26 instead of 23), counted as ``output_queue_full``, and fc2 is
    unchanged. A two-packet queue never fills."""
    from test_hw import LINEAR_ARCH, linear_case

    g, tr = linear_case()
    arch = tiny_arch(**{**LINEAR_ARCH, "noc_link_bits": 4})
    for compiled in (True, False):
        free = evaluate(tr, arch, timing="cycle", compiled=compiled).timing
        for cap, late in ((1, 3), (2, 0)):
            q = evaluate(tr, arch.with_overrides({"core.output_queue_packets": cap}), timing="cycle",
                         compiled=compiled).timing
            assert free.finish.tolist() == [[23], [44]]
            assert q.finish[0, 0] == 23 + late and q.finish[1, 0] == 44
            assert q.stats["stalls"]["output_queue_full"] == late
            core0 = next(row for row in q.stats["cores"] if row["core"] == 0)
            assert core0["output_queue_full_cycles"] == late

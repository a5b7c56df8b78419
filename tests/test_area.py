"""Area model, router pitch from area, router energy per flit and hop, and static power (every powered core and
router, power gating with its wake-up), hand-computed on tiny cases."""

import math

import pytest
from hw_helpers import tiny_arch
from test_hw import LINEAR_ARCH, linear_case

from empf_hw.hw import evaluate, load_arch, reference_table
from empf_hw.hw.area import chip_mm2, core_mm2, router_mm2, router_pitch_mm, tile_mm2
from empf_hw.hw.tech import int_add, int_mult

GE = 0.798e-6  # mm² per NAND2 equivalent at 45 nm


def test_tiny_core_router_and_chip_area_by_hand():
    a = tiny_arch()  # 45 nm; 1 KiB synapse, membrane and buffer SRAM; 4 lanes × 32 b; 2 units × 24 b; 16-bit links
    sram = 3 * 8192 * 146 * (45e-6) ** 2 / 0.6  # 6T cells of 146 F² at 60 % array efficiency
    logic = (4 * 32 * (6 + 5.67) + 2 * (6 * 24 * 24 + 3 * 6 * 24) + 5000) * GE  # lanes, neuron units, control
    assert core_mm2(a) == pytest.approx(sram + logic)
    router = (5 * 8 * 16 * 5.67 + 5 * 5 * 16 * 2 + 2000) * GE  # 5 ports × 8 flits × 16 b buffers, crossbar, control
    assert router_mm2(a) == pytest.approx(router)
    assert tile_mm2(a) == pytest.approx(sram + logic + router)
    assert chip_mm2(a) == pytest.approx(16 * (sram + logic + router))
    assert router_pitch_mm(a) == pytest.approx(math.sqrt(sram + logic + router))
    assert router_pitch_mm(tiny_arch(router_pitch_mm=0.5)) == 0.5  # a given pitch wins


def test_area_scales_with_the_node_and_output_stationary_registers_cost_area():
    a = tiny_arch()
    assert core_mm2(tiny_arch(tech_node_nm=22.5)) == pytest.approx(core_mm2(a) / 4)
    os_ = tiny_arch(accumulation="output_stationary", accumulator_registers=100)
    assert core_mm2(os_) - core_mm2(a) == pytest.approx(100 * 32 * 5.67 * GE)


def test_bigger_cores_mean_longer_hops():
    small, big = tiny_arch(), tiny_arch(synapse_sram_KiB=64)
    wire = lambda a: reference_table(a)["hop_bit"].pJ  # noqa: E731
    assert wire(big) / wire(small) == pytest.approx(router_pitch_mm(big) / router_pitch_mm(small))
    assert router_pitch_mm(big) > 2 * router_pitch_mm(small)


def test_router_energy_per_flit_and_hop_by_hand():
    g, tr = linear_case()
    arch = tiny_arch(**LINEAR_ARCH)
    c = evaluate(tr, arch)
    a = c.actions.groupby(["layer", "action"])["count"].sum()
    # fc1: 3 packets of 12 + 8 bits from the I/O port at its own router: 1 router each, 2 flits of 16 bits
    assert a["fc1", "router_buffer_bit"] == 3 * 1 * 2 * 16 and a["fc1", "router_arb"] == 3
    # fc2: 2 binary packets of 12 bits, one east-west hop: 2 routers each, 1 flit
    assert a["fc2", "router_buffer_bit"] == 2 * 2 * 16 == a["fc2", "router_xbar_bit"]
    assert a["fc2", "router_arb"] == 4
    t = reference_table(c.arch)
    rf = (int_mult(16) + int_add(16)) / 16  # Eyeriss: a register-file access ≈ a 16-bit MAC
    assert t["router_buffer_bit"].pJ == pytest.approx(2 * rf)  # written and read
    assert t["router_xbar_bit"].pJ == pytest.approx(310 / 2560 * 2 * 5 * 16 * 0.14e-3)  # 2 lines × 5 × 16 tracks
    assert t["router_arb"].pJ == pytest.approx(5 * int_add(8))
    for k in ("router_buffer_bit", "router_xbar_bit", "router_arb"):
        assert t[k].low < t[k].pJ < t[k].high and t[k].source


def test_area_in_the_summary_counts_every_chip():
    g, tr = linear_case()
    board = tiny_arch(mesh_rows=2, mesh_cols=2).with_overrides({"system.chips_cols": 2})
    s = evaluate(tr, board).summary().iloc[0]
    assert s["chip_area_mm2"] == pytest.approx(chip_mm2(board)) and s["area_mm2"] == pytest.approx(2 * chip_mm2(board))


@pytest.mark.parametrize("preset", ["loihi-like", "loihi-board", "loihi-sanafe"])
def test_per_message_loihi_presets_price_no_router_bits(preset):
    t = reference_table(load_arch(preset))  # Davies et al. / SANA-FE price a hop per message, routers included
    assert all(t[k].pJ == 0 for k in ("router_buffer_bit", "router_xbar_bit", "router_arb", "hop_bit",
                                      "acc_access", "acc_reg_bit"))
    if preset == "loihi-sanafe":  # SANA-FE models no static power
        assert all(t[k].pJ == 0 for k in ("leakage_core_cycle", "leakage_router_cycle", "wakeup_core"))


def test_static_power_of_powered_cores_and_routers_by_hand():
    g, tr = linear_case()
    gated = tiny_arch()  # 4 × 4 routers, one core each, 100 MHz; fc1 and fc2 take one core each
    t = reference_table(gated)
    bits, core_ge = 3 * 8192, 4 * 32 * (6 + 5.67) + 2 * (6 * 24 * 24 + 3 * 6 * 24) + 5000
    router_ge = 5 * 8 * 16 * 5.67 + 5 * 5 * 16 * 2 + 2000
    assert t["leakage_core_cycle"].pJ == pytest.approx((10 * bits + 20 * core_ge) * 1e-6 / 100)  # pW ÷ MHz → pJ
    assert t["leakage_router_cycle"].pJ == pytest.approx(20 * router_ge * 1e-6 / 100)
    assert t["wakeup_core"].pJ == pytest.approx(50 * t["leakage_core_cycle"].pJ)  # 50-cycle break-even
    c = evaluate(tr, gated)
    n = c.timing.cycles
    # idle gating: the 2 used cores leak all along and wake once; every router of the (only) chip stays on
    assert c.count("leakage_core_cycle") == 2 * n and c.count("wakeup_core") == 2
    assert c.count("leakage_router_cycle") == 16 * n
    off = evaluate(tr, tiny_arch(power_gating="none"))
    assert off.count("leakage_core_cycle") == 16 * n and off.count("wakeup_core") == 0
    board = evaluate(tr, tiny_arch(mesh_rows=2, mesh_cols=2).with_overrides({"system.chips_cols": 2}))
    assert board.count("leakage_router_cycle") == 4 * board.timing.cycles  # the second chip holds no tile: off
    assert board.count("leakage_chip_link_cycle") == 0  # no powered neighbour: its links are off too


def test_always_on_chip_links_by_hand():
    g, tr = linear_case()
    arch = tiny_arch(mesh_rows=2, mesh_cols=2).with_overrides({"system.chips_cols": 3, "system.chip_link_bits": 4})
    e = reference_table(arch)["leakage_chip_link_cycle"]
    assert e.pJ == pytest.approx(0.54 * 4) and (e.low, e.high) == pytest.approx((0.47 * 4, 9.1 * 4))
    assert "Poulton" in e.source
    spread = evaluate(tr, arch, placement=[0, 2])  # fc1 on chip 0, fc2 on chip 1: both chips powered
    assert {t.xy[1] // 2 for t in spread.mapping.tiles} == {0, 1}
    # chips 0 and 1 share an edge of 2 routers: 2 links each way, on for the whole inference; chip 2 is off
    assert spread.count("leakage_chip_link_cycle") == 4 * spread.timing.cycles
    everything = evaluate(tr, arch.with_overrides({"chip.power_gating": "none"}), placement=[0, 2])
    assert everything.count("leakage_chip_link_cycle") == 8 * everything.timing.cycles  # both chip edges


def test_a_lower_supply_limits_the_clock_by_hand():
    from empf_hw.errors import EmpfError

    def lp45(v):  # Stillmaker & Baas LP 45 nm delay fit
        return -285.7 * v ** 3 + 1239 * v ** 2 - 1795 * v + 898.8

    limit = 500 * lp45(0.9) / lp45(0.7)  # nominal 0.9 V at 45 nm
    assert limit == pytest.approx(259.6, abs=0.1)
    over = dict(tech_flavor="lp", vdd_V=0.7, nominal_clock_MHz=500)
    assert tiny_arch(**over, clock_MHz=250).chip["clock_MHz"] == 250
    with pytest.raises(EmpfError, match=r"chip.clock_MHz=300 exceeds the 259.6 MHz that chip.vdd_V=0.7 allows"):
        tiny_arch(**over, clock_MHz=300)
    from empf_hw.hw.tech import delay_scale

    # the HP 45 nm fit turns up above 0.95 V: a higher supply is taken at the fit's lowest delay, never slower
    hp = [delay_scale(45, v, "hp") for v in (0.9, 0.95, 1.0, 1.1)]
    assert hp[0] == 1 and hp[1] < 1 and hp[2] == pytest.approx(hp[1], rel=2e-3) and hp[3] == pytest.approx(hp[2])

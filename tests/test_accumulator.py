"""Accumulator design space of the cores template: width (auto or fixed, saturations counted), storage word model,
output-stationary accumulation; hand-computed on the 4 → 3 → 2 network of test_hw."""

import numpy as np
import pytest
from hw_helpers import tiny_arch
from test_deploy_sim import passthrough_graph
from test_hw import LINEAR_ARCH, linear_case

from empf_hw.errors import EmpfError
from empf_hw.hw import evaluate, reference_table
from empf_hw.hw.cores.mapper import accumulator_needs, saturations
from empf_hw.hw.tech import int_add, sram_bit
from empf_hw.sim import execute
from empf_hw.sim.executor import width_counts


def _acts(c):
    return c.actions.groupby(["layer", "action"])["count"].sum()


def test_auto_width_is_the_widest_need():
    g, tr = linear_case()
    # fc1: 8-bit input codes ≤ 255 × Σ|code| = 4 per output → 1020, 10 bits + sign; fc2: binary spikes × 3 → 3 bits
    assert accumulator_needs(g) == {"fc1": 11, "fc2": 3}
    c = evaluate(tr, tiny_arch(**LINEAR_ARCH, accumulator_bits="auto"))
    assert c.arch.core["accumulator_bits"] == 11
    assert c.layer_info["accumulator_need_bits"] == [11, 3]
    assert c.summary()["accumulator_bits"].item() == 11


def test_fixed_width_18_moves_accumulator_energy_by_hand():
    g, tr = linear_case()
    arch = tiny_arch(**LINEAR_ARCH, accumulator_bits=18)
    c = evaluate(tr, arch)
    a = _acts(c)
    # fc1: 3 events × 3 neurons = 9 synaptic events in ⌈3/2⌉ = 2 lane rows each (6 rows), 3 neuron updates
    assert a["fc1", "acc_read_bit"] == 9 * 18 + 3 * 18 and a["fc1", "acc_write_bit"] == 9 * 18
    # each lane row read and written (12 words) + the update's reads as 2 × 18-bit words (54 / 36)
    assert a["fc1", "acc_access"] == pytest.approx(12 + 54 / 36)
    # fc2: 8-bit weights on 1-bit cells, 2 events × 1 lane row × 8 slices, shift-added before the accumulator: one
    # read-modify-write per event (4 words), and its 2 integrators read as one 36-bit word
    assert a["fc2", "acc_access"] == pytest.approx(4 + 1)
    ert = reference_table(c.arch)
    e64 = sram_bit(1.0) * 64  # the 1 KiB membrane SRAM's 64-bit access (45 nm, 0.9 V: no node scaling)
    assert ert["acc_access"].pJ == pytest.approx(0.5 * e64)
    assert ert["acc_read_bit"].pJ == pytest.approx(0.5 * e64 / 64)
    assert ert["dendrite_acc"].pJ == pytest.approx(int_add(18))
    wide = evaluate(tr, tiny_arch(**LINEAR_ARCH, accumulator_bits=32))
    per_bit = 0.5 * e64 / 64
    # fc1: 21 accesses' worth of bits (12 read, 9 written) 14 bits wider; the update's 96 bits are 1.5 words of 64
    # bits, as its 54 bits were of 36: the same word count
    want = (9 + 3 + 9) * (32 - 18) * per_bit + (96 / 64 - 54 / 36) * 0.5 * e64
    fc1 = lambda costs: costs.by_layer().set_index("layer").loc["fc1", "accumulator_energy_pJ"]  # noqa: E731
    assert fc1(wide) - fc1(c) == pytest.approx(want)
    assert ert["acc_access"].low < ert["acc_access"].pJ < ert["acc_access"].high


def test_more_lanes_fewer_words():
    g, tr = linear_case()
    two, four = (evaluate(tr, tiny_arch(**{**LINEAR_ARCH, "accumulator_lanes": n}, accumulator_bits=18))
                 for n in (2, 4))
    # 4 lanes: each event's 3 neurons in one row (3 rows, 6 words), the update's 54 bits as 54/72 words
    assert _acts(four)["fc1", "acc_access"] == pytest.approx(6 + 54 / 72)
    assert four.component_energy()["accumulator"] < two.component_energy()["accumulator"]


def test_output_stationary_by_hand():
    g, tr = linear_case()
    ev = evaluate(tr, tiny_arch(**LINEAR_ARCH, accumulator_bits=18))
    os_ = evaluate(tr, tiny_arch(**LINEAR_ARCH, accumulator_bits=18, accumulation="output_stationary"))
    a = _acts(os_)
    assert a["fc1", "acc_reg_bit"] == 9 * 18  # every event adds into a lane register (one write per bit)
    assert a["fc1", "acc_write_bit"] == 3 * 18 and a["fc1", "acc_read_bit"] == 3 * 18  # write-back, update read
    assert a["fc1", "acc_access"] == pytest.approx(108 / 36)
    ff = 5.67 * int_add(8) / (8 * 6)  # a flip-flop of 5.67 GE at the per-GE energy of an 8-bit add (6 GE per bit)
    ert = reference_table(os_.arch)
    assert ert["acc_reg_bit"].pJ == pytest.approx(ff)
    fc1 = os_.by_layer().set_index("layer").loc["fc1", "accumulator_energy_pJ"]
    assert fc1 == pytest.approx(162 * ff + 108 * ert["acc_read_bit"].pJ + 3 * ert["acc_access"].pJ)
    assert np.array_equal(os_.timing.finish, ev.timing.finish)  # same engine time


def test_output_stationary_registers_limit_tiling():
    g, tr = linear_case()
    few = tiny_arch(**LINEAR_ARCH, accumulation="output_stationary", accumulator_registers=2)
    c = evaluate(tr, few)
    assert [t.neurons for t in c.mapping.layer("fc1").tiles] == [2, 1]  # 3 neurons, 2 registers per core
    assert c.cores_used == 3


def test_narrow_width_counts_saturations():
    codes = np.array([[15, 15, 15, 15, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0, 0, 0]], np.float32)
    w = np.array([[1] * 8, [-1] * 8], np.float64)
    g = passthrough_graph({}, w, spike_bits=4, step=1 / 15, acc_bits=32)
    lt = execute(g, codes / 15, "fixed").layers[2]
    # sums ±60 (sample 0) and ±2 (sample 1): ±60 needs 7 signed bits, ±2 needs 3
    assert saturations(lt.acc_bits, 6).tolist() == [2, 2] and saturations(lt.acc_bits, 7).tolist() == [0, 0]
    assert lt.counts["acc_saturations"].sum() == 0  # the export's 32 bits never clipped


def test_width_counts_match_python_bit_length():
    rng = np.random.default_rng(3)
    x = rng.integers(-2 ** 40, 2 ** 40, (2, 500)).astype(np.float64) // rng.integers(1, 2 ** 30, (2, 500))
    got = width_counts(x, 2)
    want = np.zeros_like(got)
    for t in range(2):
        for v in x[t]:
            want[t, int(abs(v)).bit_length() + 1] += 1
    assert np.array_equal(got, want)


@pytest.mark.parametrize("field, value, allowed", [("accumulator_bits", "wide", "auto"),
                                                   ("accumulator_bits", 1, "2"),
                                                   ("accumulation", "lanes", "output_stationary")])
def test_bad_accumulator_fields_are_named(field, value, allowed):
    with pytest.raises(EmpfError, match=f"core.{field}.*{allowed}"):
        tiny_arch(**{field: value})

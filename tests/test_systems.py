"""Multi-chip systems: chip crossings routed, costed and timed (fast and cycle-level), and the shipped boards hold
the paper's networks (untrained, ``--random-init``) without DRAM spill."""

import numpy as np
import pytest
from hw_helpers import random_trace, tiny_arch, tiny_graph

from empf_hw.cli import main
from empf_hw.hw import evaluate, load_arch
from empf_hw.hw.cores.mesh import hop_matrices
from empf_hw.hw.energy import reference_table
from empf_hw.sim.random_init import deploy_random


def board(link_cycles, link_bits=4):
    arch = tiny_arch(mesh_rows=2, mesh_cols=2)
    d = arch.to_dict()
    d["system"] = {"chips_rows": 1, "chips_cols": 3, "chip_link_bits": link_bits, "chip_link_cycles": link_cycles}
    from empf_hw.hw.arch import from_dict

    return from_dict(d, "board")


def test_hops_split_into_on_chip_hops_and_crossings():
    arch = tiny_arch(mesh_rows=3, mesh_cols=3)
    # (0, 0) → (4, 5) on 3×3 chips: 4 rows and 5 columns apart, crossing one chip edge each way
    ns, ew, cr = hop_matrices(arch, np.array([[0, 0]]), np.array([[4, 5]]))
    assert (ns[0, 0], ew[0, 0], cr[0, 0]) == (3, 4, 2)


@pytest.mark.parametrize("timing", ["fast", "cycle"])
def test_crossings_are_costed_and_timed(timing):
    rng = np.random.default_rng(0)
    g = tiny_graph(rng, T=2, width=3)
    tr = random_trace(g, rng, density=0.5)
    near, far = (evaluate(tr, board(c), timing=timing) for c in (0, 400))
    bits = near.count("chip_link_bit")
    assert bits > 0 and bits == far.count("chip_link_bit")
    e = reference_table(near.arch)["chip_link_bit"].pJ
    assert near.component_energy()["network"] >= bits * e
    assert far.timing.cycles >= near.timing.cycles + 400  # at least one crossing on the critical path


def test_chip_link_width_limits_the_fast_estimate_as_in_the_simulation():
    """A narrow chip-to-chip link serializes a packet's bits flit by flit (⌈noc_link_bits / chip_link_bits⌉ per full
    flit, the last flit only its own bits): the fast estimate's link load counts that, so it moves with the width as
    the simulation does, and a 4096-bit link costs no more than an on-chip one."""
    from empf_hw.hw.cores.loads import credit_period, link_cycles

    rng = np.random.default_rng(3)
    g = tiny_graph(rng, T=2, width=6)
    tr = random_trace(g, rng, density=0.9)
    arch = board(1, 1)
    full = link_cycles(arch, 16).reshape(4, 2, 6)  # east, west, south, north out of each router of the 2×6 grid
    assert full[0, :, 1].tolist() == full[0, :, 3].tolist() == [16, 16]  # one 16-bit flit over a 1-bit link
    assert full[0, :, 0].tolist() == [credit_period(arch)] * 2 and full[1, :, 2].tolist() == [16, 16]
    part = link_cycles(arch, 20).reshape(4, 2, 6)  # 2 flits on chip; across: 16 + 4 bits
    assert part[0, 0, 1] == 20 and part[0, 0, 0] == 2 * credit_period(arch)
    fast = {b: evaluate(tr, board(1, b)).timing.cycles for b in (1, 4, 4096)}
    cyc = {b: evaluate(tr, board(1, b), timing="cycle").timing.cycles for b in (1, 4, 4096)}
    assert fast[1] > fast[4] > fast[4096] and cyc[1] > cyc[4] > cyc[4096]
    assert abs(fast[1] / cyc[1] - 1) <= 0.5  # a link-bound case: the load term is what both see


@pytest.mark.parametrize("net, kw", [("resnet18", {}), ("vgg_snn_dvs", {"time_axis": True, "timesteps": 2})])
def test_boards_hold_the_paper_networks_without_spill(net, kw):
    d = deploy_random(net, **kw)
    assert d.trace.meta["static_input"] is (not kw.get("time_axis", False))
    arch = load_arch("empf-board-45nm")
    assert not arch.chip["dram_spill"]
    c = evaluate(d.trace, arch)
    assert c.count("dram_bit") == 0 and c.count("chip_link_bit") > 0
    assert c.cores_used <= 100 * 16 * 16


def test_random_init_from_the_command_line(capsys):
    assert main(["cost", "--random-init", "digits_cnn", "--neuron", "lif", "--json"]) == 0
    assert '"arch": "stbp-core-45nm"' in capsys.readouterr().out
    assert main(["cost", "--random-init", "resnet99"]) == 2
    assert "--random-init" in capsys.readouterr().err
    assert main(["cost", "--model", "models/digits_cnn-lif-stbp-T4", "--random-init", "resnet18"]) == 2

"""SpikingJelly 2.0's synaptic-operation counter run on the zoo models must give exactly empf-hw's per-layer SOPs
where the two definitions coincide, and differ by exactly the stated rule where they do not.

SpikingJelly 2.0.0 (``spikingjelly.activation_based.op_counter.SynOpCounter`` inside a ``DispatchCounterMode``)
counts per aten ``convolution`` / ``mm`` / ``addmm`` call (one layer at one timestep over the batch) whose input
tensor is binary (every value 0 or 1) and whose weight is not: Σ over non-zero inputs of their fan-out (the
convolution of the input with an all-ones kernel: zero padding adds nothing, stride honoured; a linear layer's
fan-out is its output count) — empf-hw's ``sops``. A call whose input holds any other value (the real-valued stem,
average-pooled spikes, EM-PF's multi-bit spikes) is 0 SynOps for it; its ``MACCounter`` then counts the dense
``C_out·H_out·W_out·C_in·k²`` (padding taps included) = empf-hw's ``dense_ops``. empf-hw counts every non-zero input
× its fan-out whatever its value (the stem: ``macs`` = ``dense_ops``, ``sops`` 0). Hence, per layer and timestep:

- binary call (LIF spikes): ours ``sops`` == their SynOps, their MACs 0;
- the stem: ours ``sops`` == their SynOps == 0, ours ``macs`` == their MACs;
- other non-binary call: their SynOps 0, their MACs == ours ``dense_ops``, and ours ``sops`` − their SynOps ==
  their SynOps of the same layer fed the call's event indicator 1[x ≠ 0] (their definition applied to the events).

Average pooling: their ``ACCounter`` counts ``k² − 1`` adds per pooled output, empf-hw's ``other_ops`` ``k²``.
"""

import numpy as np
import pytest
import torch
from torch import nn

from empf_hw.nn import load_checkpoint
from empf_hw.nn.data import load_digits_split
from empf_hw.sim.ops import fanout_1d
from empf_hw.sim.pipeline import deploy

pytestmark = pytest.mark.peer  # needs spikingjelly==2.0.0 and loguru (installed --no-deps by .ci/run)

MODELS = ["digits_cnn-lif-stbp-T4", "digits_cnn-empf-online-T4"]
FIELDS = ("synops", "macs", "binary", "event_synops")


def spikingjelly_counts(model, x: torch.Tensor) -> tuple[dict, dict]:
    """SpikingJelly's counts of ``model`` on the batch ``x``, per timestep (fresh counters every step): per synaptic
    module, SynOps, MACs, whether the call's input was binary and SynOps of the module re-run on the call's event
    indicator 1[x ≠ 0]; per average-pooling module, ACs."""
    from spikingjelly.activation_based.op_counter import (
        ACCounter,
        DispatchCounterMode,
        MACCounter,
        SynOpCounter,
        is_binary_tensor,
    )

    root, T = type(model).__name__, model.cfg.timesteps
    synaptic = {n: m for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    pools = [n for n, m in model.named_modules() if isinstance(m, nn.AvgPool2d)]
    counts = {n: {k: np.zeros(T, np.int64) for k in FIELDS} for n in synaptic}
    pool_acs = {n: np.zeros(T, np.int64) for n in pools}
    inputs = {}
    hooks = [m.register_forward_pre_hook(lambda m, a, n=n: inputs.__setitem__(n, a[0])) for n, m in synaptic.items()]
    try:
        with torch.no_grad():
            model.reset()
            for t in range(T):
                syn, mac, ac = SynOpCounter(), MACCounter(), ACCounter()
                with DispatchCounterMode([syn, mac, ac]):
                    model(x)
                s, m, a = syn.get_counts(), mac.get_counts(), ac.get_counts()
                for n in pools:
                    pool_acs[n][t] = a[f"{root}.{n}"][torch.ops.aten.avg_pool2d.default]
                for n, module in synaptic.items():
                    c, inp = counts[n], inputs[n]
                    c["synops"][t] = sum(s.get(f"{root}.{n}", {}).values())
                    c["macs"][t] = sum(m.get(f"{root}.{n}", {}).values())
                    c["binary"][t] = is_binary_tensor(inp)
                    assert not is_binary_tensor(module.weight)  # else their rule counts (spike, 1-weight) pairs
                    events = SynOpCounter()
                    with DispatchCounterMode([events]):
                        module((inp != 0).to(inp.dtype))
                    c["event_synops"][t] = events.get_total()
    finally:
        for h in hooks:
            h.remove()
    return counts, pool_acs


@pytest.fixture(scope="module")
def digits_test():
    return load_digits_split()[1]


@pytest.mark.parametrize("name", MODELS)
def test_sops_equal_spikingjelly(name, digits_test):
    x, _ = digits_test
    model, _ = load_checkpoint(f"models/{name}")
    theirs, pool_acs = spikingjelly_counts(model, torch.tensor(x))
    d = deploy(f"models/{name}", mode="float", batch_size=len(x))
    assert np.array_equal(d.inputs, x)  # the same samples, the whole test split
    by = {lt.name: lt.counts for lt in d.trace.layers}
    nodes = [n for n in d.graph.nodes if n.op in ("conv", "linear")]
    module = {n.name: n.name if n.name in theirs else f"features.{n.name}" for n in nodes}
    assert sorted(module.values()) == sorted(theirs)  # every synaptic layer compared, on both sides

    total_ours = total_theirs = total_rule = 0
    for n in nodes:
        ours, sj = by[n.name], theirs[module[n.name]]
        binary = sj["binary"].astype(bool)
        assert np.array_equal(binary, ours["nonbinary_inputs"] == 0), n.name  # the same calls are spike-driven
        if n.inputs[0] == d.graph.nodes[0].name:  # the stem: real-valued input, MACs on both sides
            assert not binary.any()
            assert (ours["sops"] == 0).all() and (sj["synops"] == 0).all()
            assert np.array_equal(ours["macs"], sj["macs"]) and np.array_equal(ours["macs"], ours["dense_ops"])
            continue
        assert (ours["macs"] == 0).all()
        # their definition applied to the events is ours, at every call
        assert np.array_equal(ours["sops"], sj["event_synops"]), n.name
        # binary calls: the same count; non-binary calls: 0 SynOps for them, dense MACs
        assert np.array_equal(ours["sops"][binary], sj["synops"][binary]), n.name
        assert (sj["macs"][binary] == 0).all()
        assert (sj["synops"][~binary] == 0).all()
        assert np.array_equal(sj["macs"][~binary], ours["dense_ops"][~binary]), n.name
        total_ours += int(ours["sops"].sum())
        total_theirs += int(sj["synops"].sum())
        total_rule += int(sj["event_synops"][~binary].sum())
    assert total_ours == total_theirs + total_rule

    # which rule applies where: LIF spikes are binary, pooled LIF spikes and EM-PF spikes are not
    expect_binary = {"1.conv"} if "lif" in name else set()
    for n in nodes[1:]:
        assert bool(theirs[module[n.name]]["binary"].all()) == (n.name in expect_binary), n.name
        assert bool(theirs[module[n.name]]["binary"].any()) == (n.name in expect_binary), n.name
    if "lif" in name:
        assert total_theirs > 0 and total_rule > 0  # the exact-match path and the rule path both exercised
    else:
        assert total_theirs == 0 and total_rule > 0

    # average pooling: ours k² ops per pooled output, theirs k² − 1 adds
    for n in d.graph.nodes:
        if n.op == "pool":
            outputs = len(x) * int(np.prod(n.shape))
            ours_minus_theirs = by[n.name]["other_ops"] - pool_acs[f"features.{n.name}"]
            assert (ours_minus_theirs == outputs).all(), n.name


def test_spikingjelly_synop_definition():
    """Their rule on a hand-countable case: each spike × its fan-out (padding excluded, stride honoured), equal to
    empf-hw's fan-out map; a multi-bit value makes the call 0 SynOps and dense MACs."""
    from spikingjelly.activation_based.op_counter import DispatchCounterMode, MACCounter, SynOpCounter

    torch.manual_seed(0)
    x = torch.zeros(1, 2, 5, 5)
    x[0, 0, 0, 0] = 1  # corner
    x[0, 1, 2, 3] = 1  # interior
    for stride, hand in ((1, 3 * (2 * 2 + 3 * 3)), (2, 3 * (1 * 1 + 2 * 1))):
        conv = nn.Conv2d(2, 3, 3, stride, 1, bias=False)
        fan = np.outer(fanout_1d(5, 3, stride, 1), fanout_1d(5, 3, stride, 1)) * 3  # empf-hw's per-position fan-out
        assert int((x[0].sum(0).numpy() * fan).sum()) == hand
        syn, mac = SynOpCounter(), MACCounter()
        with torch.no_grad(), DispatchCounterMode([syn, mac]):
            conv(x)
        assert (syn.get_total(), mac.get_total()) == (hand, 0)
        syn, mac = SynOpCounter(), MACCounter()
        with torch.no_grad(), DispatchCounterMode([syn, mac]):
            out = conv(2 * x)  # a 2-valued spike
        assert (syn.get_total(), mac.get_total()) == (0, out.numel() * 2 * 3 * 3)

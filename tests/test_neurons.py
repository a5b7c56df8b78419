"""Neuron equations against hand-computed sequences, and the EM-PF separability property."""

import math

import pytest
import torch

from empf_hw.nn.neurons import ATanSurrogate, EMPFNeuron, LIFNeuron, SpikeQuantizer


def run(neuron, currents):
    neuron.reset()
    return [neuron(torch.tensor([[c]])).item() for c in currents]


def test_empf_fire_no_fire_reset_leak_hand_computed():
    # λ = σ(0) = 0.5, θ = σ(0) = 0.5
    n = EMPFNeuron(1, 4, learnable=False)
    # t0: m=0.3 → no fire, u=0.3; t1: m=0.15+0.6=0.75 → s=0.25, u=0.5 (reset to θ)
    # t2: m=0.25+1.0=1.25 → s=0.75, u=0.5; t3: m=0.25+0 → s=0, u=0.25
    assert run(n, [0.3, 0.6, 1.0, 0.0]) == pytest.approx([0.0, 0.25, 0.75, 0.0])
    assert n.u.item() == pytest.approx(0.25)


def test_empf_per_timestep_leak_and_threshold():
    n = EMPFNeuron(1, 2)
    with torch.no_grad():
        n.a.copy_(torch.tensor([0.0, math.log(0.8 / 0.2)]))  # λ_1 = 0.8
        n.b.copy_(torch.tensor([math.log(0.2 / 0.8), math.log(0.9 / 0.1)]))  # θ_0 = 0.2, θ_1 = 0.9
    # t0: m=0.5 → s=0.3, u=0.2; t1: m=0.8·0.2+1.0=1.16 → s=0.26
    assert run(n, [0.5, 1.0]) == pytest.approx([0.3, 0.26])


def test_parallel_neuron_is_stateless():
    n = EMPFNeuron(1, 3, learnable=False, parallel=True)
    assert run(n, [0.4, 0.4, 0.9]) == pytest.approx([0.0, 0.0, 0.4])


def test_parallel_equals_vanilla_with_zero_leak():
    torch.manual_seed(0)
    x = torch.randn(5, 8, 3)
    vanilla, parallel = EMPFNeuron(8, 5), EMPFNeuron(8, 5, parallel=True)
    with torch.no_grad():
        vanilla.a.fill_(-1e4)  # σ(−1e4) = 0 exactly in float32
        for n in (vanilla, parallel):
            n.b.copy_(torch.linspace(-1, 1, 5))
    vanilla.reset()
    parallel.reset()
    for t in range(5):
        assert torch.equal(vanilla(x[t]), parallel(x[t]))


def test_quantizer_levels_and_straight_through_gradient():
    q = SpikeQuantizer(2, step=0.25)  # levels 0, 0.25, 0.5, 0.75
    s = torch.tensor([0.0, 0.1, 0.3, 0.4, 0.7, 2.0], requires_grad=True)
    out = q(s)
    assert out.tolist() == pytest.approx([0.0, 0.0, 0.25, 0.5, 0.75, 0.75])
    out.sum().backward()
    # identity inside [0, 3Δ], zero where clipped (2.0 > 0.75)
    assert s.grad.tolist() == [1.0, 1.0, 1.0, 1.0, 1.0, 0.0]


def test_quantized_empf_emits_only_levels():
    n = EMPFNeuron(16, 4, spike_bits=3)
    n.reset()
    s = n(torch.rand(32, 16) * 3)
    codes = s / n.quant.step
    assert torch.allclose(codes, codes.round(), atol=1e-5)
    assert codes.max() <= 7 and codes.min() >= 0


@pytest.mark.parametrize("reset,expected_u", [("subtract", [0.6, 0.1, 0.25, 0.625]), ("zero", [0.6, 0.0, 0.2, 0.0])])
def test_lif_hand_computed(reset, expected_u):
    n = LIFNeuron(1, 4, leak=0.5, threshold=1.0, reset=reset)
    n.reset()
    spikes, us = [], []
    for c in [0.6, 0.8, 0.2, 1.5]:
        spikes.append(n(torch.tensor([c])).item())
        us.append(n.u.item())
    assert spikes == [0.0, 1.0, 0.0, 1.0]
    assert us == pytest.approx(expected_u)


def test_atan_surrogate_gradient():
    x = torch.tensor([0.0, 0.5, -1.0], requires_grad=True)
    ATanSurrogate.apply(x).sum().backward()
    alpha = 2.0
    expected = [alpha / 2 / (1 + (math.pi / 2 * alpha * v) ** 2) for v in (0.0, 0.5, -1.0)]
    assert x.grad.tolist() == pytest.approx(expected)


def _input_gradients(neuron, currents, online: bool):
    """Gradient of Σ_t w_t·s_t w.r.t. each I_t: full BPTT, or online (each loss only through its own step)."""
    inputs = [c.clone().requires_grad_(True) for c in currents]
    weights = [torch.full_like(c, float(t + 1)) for t, c in enumerate(currents)]
    neuron.online = online
    neuron.reset()
    losses = [(w * neuron(i)).sum() for i, w in zip(inputs, weights)]
    if online:
        for loss in losses:
            loss.backward()
    else:
        sum(losses).backward()
    return torch.stack([i.grad for i in inputs])


def test_empf_online_gradient_equals_bptt_where_fired():
    torch.manual_seed(1)
    currents = [torch.rand(200) * 1.5 for _ in range(4)]
    n = EMPFNeuron(200, 4)
    with torch.no_grad():
        n.a.copy_(torch.tensor([0.3, -0.2, 0.5, 1.0]))
    g_online = _input_gradients(n, currents, online=True)
    g_bptt = _input_gradients(n, currents, online=False)
    n.reset()
    fired = torch.stack([n(c) > 0 for c in currents])
    assert fired[:-1].sum() > 50 and (~fired[:-1]).sum() > 50
    assert torch.allclose(g_online[fired], g_bptt[fired])
    # where the neuron did not fire, the membrane carries I_t into later steps: BPTT differs
    assert not torch.allclose(g_online[:-1][~fired[:-1]], g_bptt[:-1][~fired[:-1]])


def test_lif_online_gradient_differs_from_bptt():
    torch.manual_seed(2)
    currents = [torch.rand(200) * 1.5 for _ in range(4)]
    n = LIFNeuron(200, 4)
    g_online = _input_gradients(n, currents, online=True)
    g_bptt = _input_gradients(n, currents, online=False)
    n.reset()
    fired = torch.stack([n(c) > 0 for c in currents])
    first = fired[:-1]
    assert not torch.allclose(g_online[:-1][first], g_bptt[:-1][first])


def test_mem_bn_fold_keeps_eval_outputs():
    torch.manual_seed(3)
    n = EMPFNeuron(6, 3, mem_bn=True)
    n.train()
    for _ in range(5):  # give the per-timestep BatchNorms non-trivial running statistics
        n.reset()
        for _t in range(3):
            n(torch.randn(16, 6, 4, 4) * 2 + 1)
    with torch.no_grad():
        for bn in n.mem_bn.bns:
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.3, 0.3)
    n.eval()
    x = torch.randn(3, 8, 6, 4, 4) * 2 + 1
    n.reset()
    before = [n(x[t]) for t in range(3)]
    n.fold_mem_bn()
    n.reset()
    after = [n(x[t]) for t in range(3)]
    for b, a in zip(before, after):
        assert torch.allclose(b, a, atol=1e-6)
        assert (b > 0).any()


def test_stepping_past_timesteps_is_an_error():
    n = EMPFNeuron(1, 1)
    n.reset()
    n(torch.zeros(1, 1))
    with pytest.raises(RuntimeError, match="reset"):
        n(torch.zeros(1, 1))

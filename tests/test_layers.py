"""Binary/ternary layers and ECA attention against independent computations."""

import torch
import torch.nn.functional as F

from empf_hw.nn.layers import ECA, BinaryConv2d, BinaryLinear, eca_kernel_size


def test_binary_conv_forward_equals_conv_with_alpha_sign():
    torch.manual_seed(0)
    layer = BinaryConv2d(3, 5, 3, padding=1, bias=False)
    x = torch.randn(2, 3, 6, 6)
    w = layer.weight.detach()
    alpha = w.abs().mean(dim=(1, 2, 3))
    wb = torch.where(w >= 0, 1.0, -1.0) * alpha[:, None, None, None]
    assert torch.allclose(layer(x), F.conv2d(x, wb, padding=1), atol=1e-6)


def test_binary_straight_through_gradient_is_clipped_identity():
    torch.manual_seed(1)
    layer = BinaryConv2d(2, 4, 3, bias=False)
    with torch.no_grad():
        layer.weight.mul_(8)  # push many entries outside [−1, 1]
    x = torch.randn(3, 2, 5, 5)
    g_out = torch.randn(3, 4, 3, 3)
    (layer(x) * g_out).sum().backward()
    # independent: gradient w.r.t. the binarized weight, masked by |W| <= 1
    w = layer.weight.detach()
    wb = (torch.where(w >= 0, 1.0, -1.0) * w.abs().mean(dim=(1, 2, 3))[:, None, None, None]).requires_grad_(True)
    (F.conv2d(x, wb) * g_out).sum().backward()
    mask = (w.abs() <= 1).float()
    assert 0 < mask.mean() < 1
    assert torch.allclose(layer.weight.grad, wb.grad * mask, atol=1e-5)


def test_ternary_linear_hand_computed():
    layer = BinaryLinear(4, 2, bias=False, mode="ternary")
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.9, -0.1, -0.6, 0.2], [0.05, 0.05, 0.05, -0.85]]))
    # row 0: mean|W| = 0.45, Δ = 0.315 → kept 0.9, −0.6 → α = 0.75 → [0.75, 0, −0.75, 0]
    # row 1: mean|W| = 0.25, Δ = 0.175 → kept −0.85 → α = 0.85 → [0, 0, 0, −0.85]
    out = layer(torch.eye(4))
    expected = torch.tensor([[0.75, 0, -0.75, 0], [0, 0, 0, -0.85]]).T
    assert torch.allclose(out, expected, atol=1e-6)


def test_eca_kernel_size_and_gate():
    assert [eca_kernel_size(c) for c in (16, 64, 128, 512)] == [3, 3, 5, 5]
    torch.manual_seed(2)
    eca = ECA(8)
    with torch.no_grad():
        eca.conv.weight.copy_(torch.tensor([[[0.5, -1.0, 2.0]]]))
    x = torch.rand(2, 8, 3, 3)
    pooled = x.mean(dim=(2, 3))
    padded = F.pad(pooled, (1, 1))
    conv = 0.5 * padded[:, :-2] - 1.0 * padded[:, 1:-1] + 2.0 * padded[:, 2:]
    expected = x * torch.sigmoid(conv)[:, :, None, None]
    assert torch.allclose(eca(x), expected, atol=1e-6)

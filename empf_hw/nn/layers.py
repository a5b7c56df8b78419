"""Binary / ternary synaptic layers and ECA channel attention."""

import math

import torch
import torch.nn.functional as F
from torch import nn


def quantize_weight(w: torch.Tensor, mode: str) -> torch.Tensor:
    """``α·sign(W)`` (binary) or TWN ternary ``α·sign(W)·[|W| > 0.7·mean|W|]``, α per output channel.

    The value is the quantized weight; the gradient w.r.t. ``W`` is the clipped identity ``[|W| ≤ 1]``.
    """
    flat = w.detach().reshape(w.shape[0], -1)
    view = (-1,) + (1,) * (w.dim() - 1)
    if mode == "binary":
        alpha = flat.abs().mean(dim=1)
        q = torch.where(w.detach() >= 0, 1.0, -1.0) * alpha.reshape(view)
    else:
        delta = 0.7 * flat.abs().mean(dim=1, keepdim=True)
        mask = (flat.abs() > delta).to(w.dtype)
        alpha = (flat.abs() * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1)
        q = (torch.sign(flat) * mask).reshape(w.shape) * alpha.reshape(view)
    clipped = torch.clamp(w, -1.0, 1.0)
    return q + (clipped - clipped.detach())  # value exactly q, gradient of the clipped identity


class BinaryConv2d(nn.Conv2d):
    """Conv2d whose weight is binarized (or ternarized) on every forward."""

    def __init__(self, *args, mode: str = "binary", **kwargs):
        super().__init__(*args, **kwargs)
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, quantize_weight(self.weight, self.mode), self.bias)


class BinaryLinear(nn.Linear):
    """Linear layer whose weight is binarized (or ternarized) on every forward."""

    def __init__(self, *args, mode: str = "binary", **kwargs):
        super().__init__(*args, **kwargs)
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, quantize_weight(self.weight, self.mode), self.bias)


def conv(cin: int, cout: int, k: int | tuple[int, int], stride: int | tuple[int, int] = 1,
         padding: int | tuple[int, int] = 0, mode: str = "full") -> nn.Conv2d:
    """Bias-free conv (a BatchNorm follows; kernel, stride, padding: ints or (height, width) pairs); binary/ternary
    unless ``mode == 'full'``."""
    if mode == "full":
        return nn.Conv2d(cin, cout, k, stride, padding, bias=False)
    return BinaryConv2d(cin, cout, k, stride, padding, bias=False, mode=mode)


def linear(fin: int, fout: int, mode: str = "full", bias: bool = True) -> nn.Linear:
    """Linear layer; binary/ternary unless ``mode == 'full'``."""
    if mode == "full":
        return nn.Linear(fin, fout, bias=bias)
    return BinaryLinear(fin, fout, bias=bias, mode=mode)


def eca_kernel_size(channels: int, gamma: int = 2, b: int = 1) -> int:
    """ECA-Net's adaptive kernel size: nearest odd ``|log2(C)/γ + b/γ|``."""
    k = int(abs(math.log2(channels) / gamma + b / gamma))
    return k if k % 2 else k + 1


class ECA(nn.Module):
    """Efficient channel attention: global average pool → 1-D conv over channels → sigmoid → channel scale."""

    def __init__(self, channels: int):
        super().__init__()
        k = eca_kernel_size(channels)
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """Per-channel gate in (0, 1), shape (B, C)."""
        pooled = x.mean(dim=tuple(range(2, x.dim())))
        return torch.sigmoid(self.conv(pooled.unsqueeze(1)).squeeze(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = self.gate(x)
        return x * g.reshape(*g.shape, *([1] * (x.dim() - 2)))

"""Spiking neurons, one timestep per call: EM-PF (multi-precision firing) and the LIF baseline.

Every neuron keeps its membrane ``u`` and a timestep counter between calls; ``reset()`` starts a new sample.
With ``online=True`` the temporal path ``u_{t-1}`` is detached, so gradients never flow back in time.
"""

import math

import torch
from torch import nn


class SpikeQuantizer(nn.Module):
    """n-bit spike quantizer: levels ``k·Δ`` for ``k = 0 … 2^n − 1``, clipped straight-through gradient.

    The step ``Δ`` is learnable; its gradient is the level index ``k`` (as in LSQ without the gradient scale).
    """

    def __init__(self, bits: int, step: float = 0.125):
        super().__init__()
        self.bits = bits
        self.levels = 2**bits - 1
        self.step = nn.Parameter(torch.tensor(float(step)))

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        q = torch.clamp(s / self.step, 0, self.levels)
        k = torch.round(q).detach() + (q - q.detach())  # value exactly round(q), gradient of q
        return k * self.step


class MemBN(nn.Module):
    """Membrane-potential BatchNorm: one BatchNorm per timestep over the channel (feature) axis 1."""

    def __init__(self, channels: int, timesteps: int):
        super().__init__()
        self.bns = nn.ModuleList(nn.BatchNorm1d(channels) for _ in range(timesteps))

    def forward(self, m: torch.Tensor, t: int) -> torch.Tensor:
        shape = m.shape
        return self.bns[t](m.reshape(shape[0], shape[1], -1)).reshape(shape)

    def affine(self, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Eval-mode ``BN_t(m) = k·m + c`` as per-channel ``(k, c)``."""
        bn = self.bns[t]
        k = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        return k, bn.bias - k * bn.running_mean


def _per_channel(v: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Broadcast a scalar or per-channel vector against a (B, C, ...) tensor."""
    return v if v.dim() == 0 else v.reshape(1, -1, *([1] * (m.dim() - 2)))


class EMPFNeuron(nn.Module):
    """EM-PF neuron: ``m_t = λ_t·u_{t-1} + I_t``, ``s_t = ReLU(m_t − θ_t)``, ``u_t = m_t − s_t``.

    ``λ_t = σ(a_t)`` and ``θ_t = σ(b_t)`` are per-timestep scalars (learnable or fixed). Options: ``parallel``
    (stateless, ``s_t = ReLU(I_t − θ_t)``), ``mem_bn`` (BatchNorm of ``m_t`` per timestep; ``fold_mem_bn``
    removes it for inference), ``spike_bits`` (n-bit quantized spikes). After folding, ``λ`` becomes per channel
    and the input gets a per-timestep, per-channel affine map ``I ↦ κ_t·I + β_t``.
    """

    def __init__(self, channels: int, timesteps: int, *, learnable: bool = True, parallel: bool = False,
                 mem_bn: bool = False, spike_bits: int | None = None, online: bool = True):
        super().__init__()
        self.timesteps, self.parallel, self.online = timesteps, parallel, online
        init = torch.zeros(timesteps)
        if learnable:
            self.a, self.b = nn.Parameter(init.clone()), nn.Parameter(init.clone())
        else:
            self.register_buffer("a", init.clone())
            self.register_buffer("b", init.clone())
        self.mem_bn = MemBN(channels, timesteps) if mem_bn else None
        self.quant = SpikeQuantizer(spike_bits) if spike_bits else None
        self.folded: dict[str, torch.Tensor] | None = None
        self.reset()

    def reset(self) -> None:
        self.u, self.t = None, 0

    def leak(self, t: int) -> torch.Tensor:
        return self.folded["leak"][t] if self.folded else torch.sigmoid(self.a[t])

    def threshold(self, t: int) -> torch.Tensor:
        return torch.sigmoid(self.b[t])

    def forward(self, current: torch.Tensor) -> torch.Tensor:
        t = self.t
        if t >= self.timesteps:
            raise RuntimeError(f"neuron built for {self.timesteps} timesteps was stepped again; call reset()")
        m = current
        if self.folded:
            m = _per_channel(self.folded["scale"][t], m) * m + _per_channel(self.folded["bias"][t], m)
        if not self.parallel and self.u is not None:
            u = self.u.detach() if self.online else self.u
            lam = self.leak(t)
            m = m + _per_channel(lam, m) * u if self.folded else m + lam * u
        if self.mem_bn is not None and not self.folded:
            m = self.mem_bn(m, t)
        s = torch.relu(m - self.threshold(t))
        if self.quant is not None:
            s = self.quant(s)
        self.u = m - s
        self.t = t + 1
        return s

    @torch.no_grad()
    def fold_mem_bn(self) -> None:
        """Fold eval-mode Mem-BN into per-channel leak and input affine: ``BN_t(λ_t·u + I) = kλ_t·u + kI + c``."""
        if self.mem_bn is None or self.folded:
            return
        leak, scale, bias = [], [], []
        for t in range(self.timesteps):
            k, c = self.mem_bn.affine(t)
            leak.append(k * torch.sigmoid(self.a[t]))
            scale.append(k)
            bias.append(c)
        self.folded = {"leak": torch.stack(leak), "scale": torch.stack(scale), "bias": torch.stack(bias)}


class ATanSurrogate(torch.autograd.Function):
    """Heaviside forward; arctan surrogate gradient ``α/2 / (1 + (π/2·α·x)²)`` (SpikingJelly's default)."""

    alpha = 2.0

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        a = ATanSurrogate.alpha
        return grad * (a / 2) / (1 + (math.pi / 2 * a * x) ** 2)


class LIFNeuron(nn.Module):
    """LIF baseline: ``m_t = λ·u_{t-1} + I_t``, ``s_t = H(m_t − θ)`` (binary), reset by subtraction or to zero."""

    def __init__(self, channels: int, timesteps: int, *, leak: float = 0.5, threshold: float = 1.0,
                 reset: str = "subtract", online: bool = False):
        super().__init__()
        self.timesteps, self.leak_value, self.threshold_value = timesteps, leak, threshold
        self.reset_mode, self.online = reset, online
        self.reset()

    def reset(self) -> None:
        self.u, self.t = None, 0

    def forward(self, current: torch.Tensor) -> torch.Tensor:
        if self.t >= self.timesteps:
            raise RuntimeError(f"neuron built for {self.timesteps} timesteps was stepped again; call reset()")
        m = current
        if self.u is not None:
            m = m + self.leak_value * (self.u.detach() if self.online else self.u)
        s = ATanSurrogate.apply(m - self.threshold_value)
        self.u = m - s * self.threshold_value if self.reset_mode == "subtract" else m * (1 - s)
        self.t += 1
        return s

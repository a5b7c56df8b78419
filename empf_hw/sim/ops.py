"""Vectorized NumPy kernels on channel-last (N, H, W, C) arrays: im2col convolution, pooling, ECA, fan-out maps."""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def windows(x: np.ndarray, k: int, stride: int, padding: int, fill: float = 0.0) -> np.ndarray:
    """(N, H, W, C) → strided view (N, Ho, Wo, C, k, k)."""
    if padding:
        x = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)), constant_values=fill)
    return sliding_window_view(x, (k, k), axis=(1, 2))[:, ::stride, ::stride]


def conv2d(x: np.ndarray, w: np.ndarray, stride: int, padding: int) -> np.ndarray:
    """Cross-correlation like ``torch.conv2d``; ``x`` (N, H, W, C), ``w`` (O, C, k, k) → (N, Ho, Wo, O)."""
    o, c, k, _ = w.shape
    if k == 1:
        cols = x[:, ::stride, ::stride] if stride > 1 else x
        return cols @ w.reshape(o, c).T
    win = windows(x, k, stride, padding)
    n, ho, wo = win.shape[:3]
    return (win.reshape(n * ho * wo, c * k * k) @ w.reshape(o, -1).T).reshape(n, ho, wo, o)


def pool2d(x: np.ndarray, kind: str, k: int, stride: int, padding: int) -> np.ndarray:
    """Sum (``kind='sum'``) or max pooling of (N, H, W, C)."""
    n, h, w, c = x.shape
    if kind == "sum" and k == stride and not padding and h % k == 0 and w % k == 0:
        return x.reshape(n, h // k, k, w // k, k, c).sum(axis=(2, 4))
    win = windows(x, k, stride, padding, fill=0.0 if kind == "sum" else -np.inf)
    return win.sum(axis=(-2, -1)) if kind == "sum" else win.max(axis=(-2, -1))


def eca_gate(current: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """ECA gate of (T, N, H, W, C): spatial mean → 1-D correlation over channels (zero padded) → sigmoid → (T, N, C)."""
    pooled = current.mean(axis=(2, 3))
    k = len(weight)
    padded = np.pad(pooled, [(0, 0)] * (pooled.ndim - 1) + [(k // 2, k // 2)])
    c = pooled.shape[-1]
    z = sum(weight[j] * padded[..., j:j + c] for j in range(k))
    return 1.0 / (1.0 + np.exp(-z))


def fanout_1d(size: int, k: int, stride: int, padding: int) -> np.ndarray:
    """For each input index, how many output positions read it (kernel taps that land on a real output)."""
    out = (size + 2 * padding - k) // stride + 1
    idx = np.arange(size)[:, None] + padding - np.arange(k)[None, :]
    valid = (idx % stride == 0) & (idx >= 0) & (idx // stride < out)
    return valid.sum(axis=1)

"""Vectorized NumPy kernels on channel-last (N, H, W, C) arrays: chunked im2col convolution, pooling, ECA, fan-out
maps."""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def windows(x: np.ndarray, k: int, stride: int, padding: int, fill: float = 0.0) -> np.ndarray:
    """(N, H, W, C) → strided view (N, Ho, Wo, C, k, k)."""
    if padding:
        x = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)), constant_values=fill)
    return sliding_window_view(x, (k, k), axis=(1, 2))[:, ::stride, ::stride]


CHUNK_ROWS = 1024  # output positions per GEMM, at least: efficient for BLAS, an im2col buffer that stays in cache


def gemm_weights(w: np.ndarray) -> np.ndarray:
    """(O, C, k, k) → (O, k·k·C): the weight matrix in the column order of ``conv2d_gemm``'s im2col."""
    return np.ascontiguousarray(w.transpose(0, 2, 3, 1).reshape(len(w), -1))


def conv2d_gemm(x: np.ndarray, wmat: np.ndarray, k: int, stride: int, padding: int) -> np.ndarray:
    """``x`` (N, H, W, C) ⊛ ``wmat`` (O, k·k·C) from ``gemm_weights`` → (N, Ho, Wo, O).

    im2col in chunks of whole images (CHUNK_ROWS output positions or more), then one GEMM per chunk into the
    output. A chunk is copied into a zero-bordered padded buffer; with channels last, the k taps of one kernel row
    of an output are k·C consecutive values of a padded row, so each kernel row is one copy of such runs. No padded
    copy of all of ``x`` and no full-size im2col matrix are made."""
    n, h, w, c = x.shape
    o, kc = wmat.shape
    wt = wmat.T
    ho, wo = (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1
    dtype = np.result_type(x, wmat)
    if k == 1 and stride == 1 and not padding:
        return (x.reshape(-1, c) @ wt).reshape(n, h, w, o)
    out = np.empty((n, ho, wo, o), dtype)
    nb = max(1, min(n, -(-CHUNK_ROWS // (ho * wo))))  # images per chunk
    hp, wp = h + 2 * padding, w + 2 * padding
    padded = np.zeros((nb, hp, wp, c), dtype) if padding else None
    cols = np.empty((nb, ho, wo, k, k * c), dtype)
    for b0 in range(0, n, nb):
        m = min(nb, n - b0)
        if padding:
            padded[:m, padding:padding + h, padding:padding + w] = x[b0:b0 + m]
        src = padded[:m] if padding else x[b0:b0 + m]
        runs = sliding_window_view(src.reshape(m, hp, wp * c), k * c, axis=2)  # (m, Hp, ·, k·C)
        for i in range(k):
            cols[:m, :, :, i] = runs[:, i:i + (ho - 1) * stride + 1:stride, :wo * stride * c:stride * c]
        np.matmul(cols[:m].reshape(-1, kc), wt, out=out[b0:b0 + m].reshape(-1, o))
    return out


def conv2d(x: np.ndarray, w: np.ndarray, stride: int, padding: int) -> np.ndarray:
    """Cross-correlation like ``torch.conv2d``; ``x`` (N, H, W, C), ``w`` (O, C, k, k) → (N, Ho, Wo, O)."""
    return conv2d_gemm(x, gemm_weights(w), w.shape[-1], stride, padding)


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

"""Vectorized NumPy kernels on channel-last (N, H, W, C) arrays: chunked im2col convolution, pooling, ECA, fan-out
maps."""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def windows(x: np.ndarray, k: int, stride: int, padding: int, fill: float = 0.0) -> np.ndarray:
    """(N, H, W, C) → strided view (N, Ho, Wo, C, k, k)."""
    if padding:
        x = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)), constant_values=fill)
    return sliding_window_view(x, (k, k), axis=(1, 2))[:, ::stride, ::stride]


CHUNK_BYTES = 4 << 20  # im2col buffer per GEMM call: small enough to stay in cache


def gemm_weights(w: np.ndarray) -> np.ndarray:
    """(O, C, k, k) → (k·k·C, O): the weight matrix in the column order of ``conv2d_gemm``'s im2col."""
    return np.ascontiguousarray(w.transpose(2, 3, 1, 0).reshape(-1, w.shape[0]))


def _tap(size: int, out: int, i: int, stride: int, padding: int) -> tuple[int, int, int]:
    """Output positions ``[o0, o1)`` whose kernel tap ``i`` reads a real (not padding) input, and that input's start."""
    o0 = max(0, -((i - padding) // stride))
    o1 = min(out, (size - 1 + padding - i) // stride + 1)
    return o0, max(o0, o1), o0 * stride - padding + i


def conv2d_gemm(x: np.ndarray, wmat: np.ndarray, k: int, stride: int, padding: int) -> np.ndarray:
    """``x`` (N, H, W, C) ⊛ ``wmat`` (k·k·C, O) from ``gemm_weights`` → (N, Ho, Wo, O).

    im2col in chunks of whole images into one small zeroed buffer (columns tap-major, channel-minor, so every tap
    is a copy of C-long runs; padding taps are never written and stay zero), then one GEMM per chunk into the
    output. No padded copy of ``x`` and no full-size im2col matrix are made."""
    n, h, w, c = x.shape
    o = wmat.shape[1]
    ho, wo = (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1
    dtype = np.result_type(x, wmat)
    if k == 1 and stride == 1 and not padding:
        return (x.reshape(-1, c) @ wmat.astype(dtype, copy=False)).reshape(n, h, w, o)
    out = np.empty((n, ho, wo, o), dtype)
    nb = int(np.clip(CHUNK_BYTES // (ho * wo * wmat.shape[0] * dtype.itemsize), 1, n))
    buf = np.zeros((nb, ho, wo, k, k, c), dtype)
    taps = [(i, j, _tap(h, ho, i, stride, padding), _tap(w, wo, j, stride, padding))
            for i in range(k) for j in range(k)]
    for b0 in range(0, n, nb):
        b1 = min(n, b0 + nb)
        for i, j, (y0, y1, ys), (x0, x1, xs) in taps:
            buf[:b1 - b0, y0:y1, x0:x1, i, j] = x[b0:b1, ys:ys + (y1 - y0 - 1) * stride + 1:stride,
                                                  xs:xs + (x1 - x0 - 1) * stride + 1:stride]
        np.matmul(buf[:b1 - b0].reshape(-1, wmat.shape[0]), wmat, out=out[b0:b1].reshape(-1, o))
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

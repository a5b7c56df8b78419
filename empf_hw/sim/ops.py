"""Vectorized NumPy kernels on channel-last (N, H, W, C) arrays: chunked im2col convolution, pooling, ECA, fan-out
maps."""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _pair(v) -> tuple[int, int]:
    """An int (both axes) or a (rows, columns) pair."""
    return (int(v), int(v)) if np.ndim(v) == 0 else (int(v[0]), int(v[1]))


def windows(x: np.ndarray, k, stride, padding, fill: float = 0.0) -> np.ndarray:
    """(N, H, W, C) → strided view (N, Ho, Wo, C, kh, kw); ``k``, ``stride``, ``padding``: ints or (rows, columns)."""
    (kh, kw), (sh, sw), (ph, pw) = _pair(k), _pair(stride), _pair(padding)
    if ph or pw:
        x = np.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)), constant_values=fill)
    return sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]


CHUNK_ROWS = 1024  # output positions per GEMM, at least: efficient for BLAS, an im2col buffer that stays in cache


def gemm_weights(w: np.ndarray) -> np.ndarray:
    """(O, C, kh, kw) → (O, kh·kw·C): the weight matrix in the column order of ``conv2d_gemm``'s im2col."""
    return np.ascontiguousarray(w.transpose(0, 2, 3, 1).reshape(len(w), -1))


def conv2d_gemm(x: np.ndarray, wmat: np.ndarray, k, stride, padding) -> np.ndarray:
    """``x`` (N, H, W, C) ⊛ ``wmat`` (O, kh·kw·C) from ``gemm_weights`` → (N, Ho, Wo, O); ``k``, ``stride``,
    ``padding``: ints or (rows, columns).

    im2col in chunks of whole images (CHUNK_ROWS output positions or more), then one GEMM per chunk into the
    output. A chunk is copied into a zero-bordered padded buffer; with channels last, the kw taps of one kernel row
    of an output are kw·C consecutive values of a padded row, so each kernel row is one copy of such runs. No padded
    copy of all of ``x`` and no full-size im2col matrix are made."""
    (kh, kw), (sh, sw), (ph, pw) = _pair(k), _pair(stride), _pair(padding)
    n, h, w, c = x.shape
    o, kc = wmat.shape
    wt = wmat.T
    ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    dtype = np.result_type(x, wmat)
    if kh == kw == sh == sw == 1 and not ph and not pw:
        return (x.reshape(-1, c) @ wt).reshape(n, h, w, o)
    out = np.empty((n, ho, wo, o), dtype)
    nb = max(1, min(n, -(-CHUNK_ROWS // (ho * wo))))  # images per chunk
    hp, wp = h + 2 * ph, w + 2 * pw
    pad = ph or pw
    padded = np.zeros((nb, hp, wp, c), dtype) if pad else None
    cols = np.empty((nb, ho, wo, kh, kw * c), dtype)
    for b0 in range(0, n, nb):
        m = min(nb, n - b0)
        if pad:
            padded[:m, ph:ph + h, pw:pw + w] = x[b0:b0 + m]
        src = padded[:m] if pad else x[b0:b0 + m]
        runs = sliding_window_view(src.reshape(m, hp, wp * c), kw * c, axis=2)  # (m, Hp, ·, kw·C)
        for i in range(kh):
            cols[:m, :, :, i] = runs[:, i:i + (ho - 1) * sh + 1:sh, :wo * sw * c:sw * c]
        np.matmul(cols[:m].reshape(-1, kc), wt, out=out[b0:b0 + m].reshape(-1, o))
    return out


def conv2d(x: np.ndarray, w: np.ndarray, stride, padding) -> np.ndarray:
    """Cross-correlation like ``torch.conv2d``; ``x`` (N, H, W, C), ``w`` (O, C, kh, kw), ``stride`` and ``padding``
    ints or (rows, columns) → (N, Ho, Wo, O)."""
    return conv2d_gemm(x, gemm_weights(w), w.shape[2:], stride, padding)


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

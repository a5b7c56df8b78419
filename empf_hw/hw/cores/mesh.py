"""Mesh geometry of the cores template: the board's router grid (chips side by side, each a mesh of routers),
the serpentine path cores are numbered along, the I/O port, and XY-routing hop counts between routers."""

import numpy as np


def grid(arch) -> tuple[int, int]:
    """(rows, cols) of the board's router grid: chips side by side, each a mesh of routers."""
    s, ch = arch.system, arch.chip
    return s["chips_rows"] * ch["mesh_rows"], s["chips_cols"] * ch["mesh_cols"]


def serpentine(k: int, cols: int) -> tuple[int, int]:
    r, c = divmod(k, cols)
    return r, c if r % 2 == 0 else cols - 1 - c


def core_xy(arch, core: int) -> tuple[int, int]:
    """Router position of a core along the default (serpentine) placement path."""
    return serpentine(core // arch.chip["cores_per_router"], grid(arch)[1])


def io_xy(arch) -> tuple[int, int]:
    """Router position of the board's I/O port (on the first chip)."""
    return arch.chip["io_row"], arch.chip["io_col"]


def router_xy(arch) -> np.ndarray:
    """(routers, 2) grid position of every router, in path order (core k sits at router k // cores_per_router)."""
    cols = grid(arch)[1]
    return np.array([serpentine(q, cols) for q in range(arch.cores // arch.chip["cores_per_router"])], np.int64)


def tile_xy(tiles) -> np.ndarray:
    """(len(tiles), 2) router positions of tiles (anything with an ``xy``)."""
    return np.array([t.xy for t in tiles], dtype=np.int64).reshape(-1, 2)


def hop_matrices(arch, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(len(a), len(b)) XY-routing hops between two arrays of router positions: on-chip north-south hops,
    on-chip east-west hops, and chip-to-chip crossings (which replace on-chip hops at chip edges)."""
    return hop_pairs(arch, a[:, None], b[None, :])


def hop_pairs(arch, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``hop_matrices`` of the routes from ``a[..., :]`` to ``b[..., :]`` (router positions, broadcast
    against each other: (m, 2) and (m, 2) give the m routes of paired positions)."""
    mr, mc = arch.chip["mesh_rows"], arch.chip["mesh_cols"]
    dy = np.abs(a[..., 0] - b[..., 0])
    dx = np.abs(a[..., 1] - b[..., 1])
    cy = np.abs(a[..., 0] // mr - b[..., 0] // mr)
    cx = np.abs(a[..., 1] // mc - b[..., 1] // mc)
    return dy - cy, dx - cx, cy + cx

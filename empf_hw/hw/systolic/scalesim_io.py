"""SCALE-Sim v3 interop: read its topology CSVs and ``.cfg`` files, write our layers as its topologies, and give
our dense-mode cycles for them.

SCALE-Sim computes a convolution's output size as ``⌈(IFMAP − filter) / stride⌉ + 1`` (IFMAP sizes include
padding), while PyTorch uses ``⌊(H + 2p − k) / s⌋ + 1``; they differ when the stride does not divide. Imported
topologies keep SCALE-Sim's rule; exported ones give the *effective* input extent ``(out − 1)·s + k`` so both tools
see the same GEMM.
"""

import configparser
import math
from dataclasses import dataclass
from pathlib import Path

from ...deploy.graph import SYNAPTIC, DeployGraph, conv_axes
from ...errors import EmpfError
from ...resources import find
from ..arch import Arch, from_dict, preset
from .model import gemm_cycles

CONV_HEADER = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,"
GEMM_HEADER = "Layer, M, N, K,"


@dataclass(frozen=True)
class Gemm:
    name: str
    M: int  # output positions
    N: int  # filters
    K: int  # reduction (filter h · w · channels)


def read_topology(path: str | Path, gemm: bool | None = None) -> list[Gemm]:
    """Layers of a SCALE-Sim topology CSV (conv, or ``M, N, K`` rows when ``gemm``; default: from the header): a
    path, or the name of a shipped topology (``sims/scalesim``, e.g. ``resnet18_cifar10.csv``)."""
    p = find(path, "scalesim", Path.is_file) or Path(path)
    try:
        lines = [ln.strip() for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except UnicodeDecodeError:
        raise EmpfError(f"topology {p}: not UTF-8 text; allowed: a SCALE-Sim topology CSV") from None
    except OSError as e:
        raise EmpfError(f"topology {p}: cannot read ({e.strerror or e})") from None
    if not lines:
        raise EmpfError(f"topology {p}: empty file; allowed: a header line ({CONV_HEADER} or {GEMM_HEADER}) and "
                        "one row per layer")
    head = [c.strip().lower() for c in lines[0].split(",")]
    kind = "gemm" if head[1:4] == ["m", "n", "k"] else "conv" if len(head) > 1 and "ifmap" in head[1] else None
    if kind is None or (gemm is not None and kind != ("gemm" if gemm else "conv")):
        want = GEMM_HEADER if gemm else CONV_HEADER if gemm is not None else f"{CONV_HEADER} or {GEMM_HEADER}"
        raise EmpfError(f"topology {p}: header {lines[0]!r} is not a {'GEMM' if gemm else 'conv'} topology's; "
                        f"allowed: {want}" + (" (drop --gemm for a conv topology)" if gemm else ""))
    if len(lines) == 1:
        raise EmpfError(f"topology {p}: no layers after the header; allowed: one row per layer")
    out = []
    for i, ln in enumerate(lines[1:], start=2):
        f = [x.strip() for x in ln.split(",")]
        try:
            if kind == "gemm":
                g = Gemm(f[0], int(f[1]), int(f[2]), int(f[3]))
                if min(g.M, g.N, g.K) < 1:
                    raise ValueError
                out.append(g)
                continue
            h, w, fh, fw, c, n, s = (int(x) for x in f[1:8])
        except (ValueError, IndexError):
            raise EmpfError(f"topology {p}, line {i}: expected {GEMM_HEADER if kind == 'gemm' else CONV_HEADER} "
                            "with integers >= 1") from None
        if fh > h or fw > w or min(h, w, fh, fw, c, n, s) < 1:
            raise EmpfError(f"topology {p}, line {i}: impossible layer (IFMAP {h}×{w}, filter {fh}×{fw}, "
                            f"stride {s}); allowed: filter within the IFMAP, sizes >= 1")
        oh, ow = math.ceil((h - fh) / s) + 1, math.ceil((w - fw) / s) + 1
        out.append(Gemm(f[0], oh * ow, n, fh * fw * c))
    return out


def read_config(path: str | Path, name: str | None = None) -> Arch:
    """A systolic Arch from a SCALE-Sim ``.cfg`` (array shape, dataflow, SRAM sizes), named by ``name``, else its
    ``[general] run_name``, else the file's stem; the fields SCALE-Sim does not have take the ``systolic-32x32-45nm``
    preset's values (200 MHz, 45 nm, binary PEs, 8-bit words)."""
    p = Path(path)
    cp = configparser.ConfigParser()
    try:
        cp.read_string(p.read_text(encoding="utf-8"))
        sec = cp["architecture_presets"]
        rows, cols = int(sec["ArrayHeight"]), int(sec["ArrayWidth"])
        df = sec["Dataflow"].strip().lower()
        sizes = {k: int(sec[f"{k}SramSzkB"]) for k in ("Ifmap", "Filter", "Ofmap")}
    except (OSError, KeyError, ValueError, configparser.Error) as e:
        what = f"missing key {e}" if isinstance(e, KeyError) else str(e).splitlines()[0] if str(e) else type(e).__name__
        raise EmpfError(f"SCALE-Sim config {p}: cannot read ({what}); allowed: a SCALE-Sim .cfg with "
                        "[architecture_presets] ArrayHeight, ArrayWidth, Dataflow and Ifmap/Filter/OfmapSramSzkB") \
            from None
    if df not in ("ws", "os"):
        raise EmpfError(f"SCALE-Sim config {p}: Dataflow={df!r} is not supported; allowed: ws, os")
    run_name = cp["general"].get("run_name", "").strip() if cp.has_section("general") else ""
    base = preset("systolic-32x32-45nm").to_dict()
    base["name"] = name or run_name or p.stem
    base["description"] = f"imported from SCALE-Sim config {p.name}"
    base["array"].update(rows=rows, cols=cols, dataflow=df, mode="dense", ifmap_sram_KiB=sizes["Ifmap"],
                         filter_sram_KiB=sizes["Filter"], ofmap_sram_KiB=sizes["Ofmap"])
    return from_dict(base, str(p))


def graph_gemms(graph: DeployGraph) -> list[Gemm]:
    """The synaptic layers of a graph as GEMMs (one sample, one timestep)."""
    out = []
    for n in graph.nodes:
        if n.op in SYNAPTIC:
            w = n.tensors["weight"]
            if n.op == "conv":
                out.append(Gemm(n.name, n.shape[1] * n.shape[2], w.shape[0], w.shape[1] * w.shape[2] * w.shape[3]))
            else:
                out.append(Gemm(n.name, 1, w.shape[0], w.shape[1]))
    return out


def conv_topology(graph: DeployGraph) -> str:
    """The graph's convolutions as a SCALE-Sim conv topology (effective IFMAP extents, trailing commas). SCALE-Sim
    has one stride for both axes: an axis with a single output position takes the other axis's stride (its own
    does not matter); EmpfError for strides that differ along two axes of several positions."""
    rows = [CONV_HEADER]
    for n in graph.nodes:
        if n.op == "conv":
            o, c, kh, kw = n.tensors["weight"].shape
            (_, sh, _), (_, sw, _) = conv_axes(n)
            _, ho, wo = n.shape
            if sh != sw and ho > 1 and wo > 1:
                raise EmpfError(f"node {n.name!r}: stride {sh}×{sw} differs between the axes; allowed in a "
                                "SCALE-Sim topology: one stride, or a single output row or column")
            s = sw if ho == 1 else sh
            h, w = (ho - 1) * s + kh, (wo - 1) * s + kw
            rows.append(f"{n.name}, {h}, {w}, {kh}, {kw}, {c}, {o}, {s},")
    return "\n".join(rows) + "\n"


def gemm_topology(gemms: list[Gemm]) -> str:
    return "\n".join([GEMM_HEADER] + [f"{g.name}, {g.M}, {g.N}, {g.K}," for g in gemms]) + "\n"


def dense_cycles(gemms: list[Gemm], arch: Arch) -> list[int]:
    """Our dense-mode compute cycles of each GEMM on a systolic arch."""
    a = arch.core
    return [gemm_cycles(g.M, g.N, g.K, a["rows"], a["cols"], a["dataflow"]) for g in gemms]

"""Energy reference table (ERT): picojoules per action, each entry with its source.

Base data (45 nm, 0.9 V): Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014.
Interpolation rules:

- integer add / multiply at ``b`` bits: power law through Horowitz's 8- and 32-bit points (log-log linear,
  extrapolated outside them); add ≈ b^0.87, multiply ≈ b^1.98. A comparison costs an add of the same width.
- SRAM per bit read or written: Horowitz's 64-bit access energy at 8 KB / 32 KB / 1 MB divided by 64,
  log-log interpolated in capacity and extrapolated from the nearest segment. Reads and writes cost the same.
- DRAM: midpoint of Horowitz's 1.3–2.6 nJ per 64 bits.
- NoC: Loihi's mean hop energy (3.0 pJ east-west, 4.2 pJ north-south per spike message at 14 nm; Davies et al.,
  IEEE Micro 38(1), 2018, as encoded in SANA-FE's Loihi model) for a 32-bit message (assumed), scaled to 45 nm.
- Leakage: SRAM leakage per bit (assumption, see the entry), integrated over the core's memories and cycle time.

Technology scaling: Stillmaker & Baas, "Scaling equations for the accurate prediction of CMOS device performance
from 180 nm to 7 nm", Integration 58 (2017): energy factor ``a·V² + b·V + c`` with their per-node coefficients,
at the node's nominal supply unless ``chip.vdd_V`` is set (45 nm: Horowitz's 0.9 V, so its factor is 1); nodes
between tabulated ones (28, 22 nm) are interpolated log-linearly in the feature size. Overrides from the spec's
``energy`` section replace an entry's value (taken as already at the spec's node) and carry their own source.
"""

import math
from dataclasses import dataclass

import numpy as np

from ..errors import EmpfError, check_range

HOROWITZ = "Horowitz, ISSCC 2014, 45 nm 0.9 V"
INT_ADD = {8: 0.03, 32: 0.1}
INT_MULT = {8: 0.2, 32: 3.1}
SRAM_64B = {8: 10.0, 32: 20.0, 1024: 100.0}  # KiB → pJ per 64-bit access
FP32_ADD, FP32_MULT = 0.9, 3.7
DRAM_PJ_PER_BIT = (1300 + 2600) / 2 / 64
LOIHI = "Davies et al., IEEE Micro 38(1) 2018 (Loihi, 14 nm)"
LOIHI_HOP_PJ, LOIHI_MESSAGE_BITS = (3.0 + 4.2) / 2, 32
SRAM_LEAK_PW_PER_BIT = 10.0
LITERATURE_AC_PJ, LITERATURE_MAC_PJ = 0.9, 4.6  # SNN-paper convention: fp32 add; fp32 mult + add

STILLMAKER = "Stillmaker & Baas, Integration 58 (2017)"
# node nm → (a, b, c) of the energy factor a·V² + b·V + c, and the nominal supply (V) assumed for the node
STILLMAKER_ENERGY = {130: (7.171, -6.709, 2.904), 90: (4.762, -4.781, 2.092), 65: (3.755, -4.398, 1.975),
                     45: (1.103, -0.362, 0.2767), 32: (0.9559, -0.7823, 0.471), 20: (0.373, -0.1582, 0.04104),
                     16: (0.2958, -0.1241, 0.03024), 14: (0.2363, -0.09675, 0.02239),
                     10: (0.2068, -0.09311, 0.02375), 7: (0.1776, -0.09097, 0.02447)}
NOMINAL_VDD = {130: 1.3, 90: 1.2, 65: 1.1, 45: 0.9, 32: 0.9, 20: 0.9, 16: 0.85, 14: 0.8, 10: 0.75, 7: 0.7}
HOROWITZ_VDD = 0.9

ENTRIES = ("syn_add", "syn_mult", "psum_add", "neuron_update", "aux_op", "synapse_read_bit", "membrane_read_bit",
           "membrane_write_bit", "buffer_read_bit", "buffer_write_bit", "noc_bit_hop", "dram_bit",
           "leakage_core_cycle")


def _loglog(points: dict, x: float) -> float:
    xs = sorted(points)
    i = min(max(np.searchsorted(xs, x) - 1, 0), len(xs) - 2)
    x0, x1 = xs[i], xs[i + 1]
    k = math.log(points[x1] / points[x0]) / math.log(x1 / x0)
    return points[x0] * (x / x0) ** k


def int_add(bits: int) -> float:
    return _loglog(INT_ADD, bits)


def int_mult(bits: int) -> float:
    return _loglog(INT_MULT, bits)


def sram_bit(kib: float) -> float:
    return _loglog(SRAM_64B, kib) / 64


def _factor(node: float, vdd: float) -> float:
    a, b, c = STILLMAKER_ENERGY[node]
    return a * vdd * vdd + b * vdd + c


def node_scale(node_nm: float, vdd: float | None = None) -> float:
    """Energy at ``node_nm``/``vdd`` relative to Horowitz's 45 nm, 0.9 V."""
    nodes = sorted(STILLMAKER_ENERGY)
    if not nodes[0] <= node_nm <= nodes[-1]:
        raise EmpfError(f"chip.tech_node_nm={node_nm} is out of range; allowed: {nodes[0]}..{nodes[-1]}")
    base = _factor(45, HOROWITZ_VDD)
    if node_nm in STILLMAKER_ENERGY:
        return _factor(node_nm, vdd or NOMINAL_VDD[node_nm]) / base
    hi = min(n for n in nodes if n > node_nm)
    lo = max(n for n in nodes if n < node_nm)
    f_lo, f_hi = (_factor(n, vdd or NOMINAL_VDD[n]) for n in (lo, hi))
    w = math.log(node_nm / lo) / math.log(hi / lo)
    return math.exp((1 - w) * math.log(f_lo) + w * math.log(f_hi)) / base


@dataclass(frozen=True)
class Entry:
    pJ: float
    formula: str
    source: str


def check_overrides(d, where: str) -> dict:
    """Validate ``energy:`` overrides: entry → number or {pJ: number, source: text}."""
    if not isinstance(d, dict):
        raise EmpfError(f"{where}: 'energy' must be a mapping of entry: pJ")
    out = {}
    for k, v in d.items():
        if k not in ENTRIES:
            raise EmpfError(f"{where}: unknown energy entry {k!r}; allowed: {', '.join(ENTRIES)}")
        if isinstance(v, dict):
            extra = set(v) - {"pJ", "source"}
            if extra or "pJ" not in v:
                raise EmpfError(f"{where}: energy.{k} must be a number or {{pJ: number, source: text}}")
            value, source = v["pJ"], str(v.get("source", f"override in {where}"))
        else:
            value, source = v, f"override in {where}"
        check_range(f"{where}: energy.{k} (pJ)", value, 0)
        out[k] = {"pJ": float(value), "source": source}
    return out


def reference_table(arch) -> dict[str, Entry]:
    """The ERT of ``arch``: entry → Entry(pJ per action at the arch's node and widths, formula, source)."""
    c, ch = arch.core, arch.chip
    s = node_scale(ch["tech_node_nm"], ch["vdd_V"])
    node = f"× {s:.3f} ({STILLMAKER}, {ch['tech_node_nm']:g} nm)"
    acc, mem = c["accumulator_bits"], c["membrane_bits"]
    bits = {m: arch.kib_bits(m) for m in ("synapse", "membrane", "buffer")}
    mult_bits = max(c["weight_bits"], 8)
    leak_pw = SRAM_LEAK_PW_PER_BIT * sum(bits.values()) * s
    t = {
        "syn_add": Entry(int_add(acc) * s, f"int add {acc} b {node}", HOROWITZ),
        "syn_mult": Entry(int_mult(mult_bits) * s, f"int mult {mult_bits} b (multi-bit value × multi-bit weight "
                          f"slice) {node}", HOROWITZ),
        "psum_add": Entry(int_add(acc) * s, f"int add {acc} b, merging partial sums of split rows {node}",
                          HOROWITZ),
        "neuron_update": Entry((int_mult(mem) + 3 * int_add(mem)) * s, f"leak mult + integrate, threshold "
                               f"compare, reset subtract: int mult {mem} b + 3 int add {mem} b {node}", HOROWITZ),
        "aux_op": Entry(int_add(acc) * s, f"pooling / residual / attention op as int add {acc} b {node}",
                        HOROWITZ),
        "noc_bit_hop": Entry(LOIHI_HOP_PJ / LOIHI_MESSAGE_BITS / node_scale(14) * s,
                             f"{LOIHI_HOP_PJ} pJ per hop per {LOIHI_MESSAGE_BITS}-bit message at 14 nm "
                             f"(message width assumed), rescaled {node}", f"{LOIHI}; {STILLMAKER}"),
        "dram_bit": Entry(DRAM_PJ_PER_BIT, "midpoint of 1.3–2.6 nJ per 64 bits (off-chip, not node-scaled)",
                          HOROWITZ),
        "leakage_core_cycle": Entry(leak_pw / ch["clock_MHz"] * 1e-6, f"{SRAM_LEAK_PW_PER_BIT} pW/bit × "
                                    f"{sum(bits.values())} SRAM bits per core {node} ÷ clock",
                                    "assumption (no 45 nm leakage figure in the base data); override in YAML"),
    }
    for m in ("synapse", "membrane", "buffer"):
        kib = bits[m] / 8192
        for op in ("read", "write"):
            if op == "write" and m == "synapse":
                continue
            t[f"{m}_{op}_bit"] = Entry(sram_bit(kib) * s, f"64-bit SRAM access at {kib:g} KiB ÷ 64 {node}",
                                       HOROWITZ)
    for k, v in arch.energy.items():
        t[k] = Entry(v["pJ"], "override", v["source"])
    return {k: t[k] for k in ENTRIES}


def format_table(arch) -> str:
    """The ERT as aligned text with a source for every entry."""
    t = reference_table(arch)
    lines = [f"Energy reference table for {arch.name} ({arch.chip['tech_node_nm']:g} nm, "
             f"{arch.chip['clock_MHz']:g} MHz)", f"{'entry':<20} {'energy_pJ':>12}  formula | source"]
    lines += [f"{k:<20} {e.pJ:>12.5g}  {e.formula} | {e.source}" for k, e in t.items()]
    lines.append(f"literature convention: AC {LITERATURE_AC_PJ} pJ, MAC {LITERATURE_MAC_PJ} pJ "
                 f"(fp32 add; fp32 mult + add, {HOROWITZ})")
    return "\n".join(lines)

"""Technology physics the energy reference table is assembled from: integer logic, SRAM, DRAM, wires, leakage and
node / supply scaling, each figure with its source (area: ``empf_hw.hw.area``).

Base data (45 nm, 0.9 V): Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014.
Interpolation rules:

- integer add / multiply at ``b`` bits: power law through Horowitz's 8- and 32-bit points (log-log linear,
  extrapolated outside them); add ≈ b^0.87, multiply ≈ b^1.98. A comparison costs an add of the same width.
- SRAM per bit read or written: Horowitz's 64-bit access energy at 8 KB / 32 KB / 1 MB divided by 64,
  log-log interpolated in capacity (extrapolated above 1 MB); below 8 KB toward a 0.5 KB register file (Eyeriss:
  a 16-bit access ≈ a 16-bit MAC), held at that figure for smaller arrays. Reads and writes cost the same.
- DRAM: midpoint of Horowitz's 1.3–2.6 nJ per 64 bits (the range is the entry's range).
- Wires: 310 pJ to move 256 bits 10 mm at 40 nm (Keckler et al., IEEE Micro 31(5) 2011), i.e. 0.121 pJ per bit
  per mm, times the router pitch; wires do not shrink with the node, so only the supply voltage scales them (V²).
- Leakage: SRAM leakage per bit and logic leakage per gate equivalent (assumptions, see the entries), per powered
  core and router and cycle; a power-gated core's wake-up costs its leakage over a break-even time.

Logic and SRAM scale with the node by Stillmaker & Baas, "Scaling equations for the accurate prediction of CMOS
device performance from 180 nm to 7 nm", Integration 58 (2017): energy factor ``a·V² + b·V + c`` with the
coefficients of *one* flavor (``chip.tech_flavor``: ``lp`` or ``hp``; 130–65 nm have a single set), relative to
the same flavor at 45 nm and Horowitz's 0.9 V; nodes between tabulated ones are interpolated log-linearly.
"""

import math

import numpy as np

from ..errors import EmpfError

HOROWITZ_PAPER = "Horowitz, ISSCC 2014, 45 nm 0.9 V"
HOROWITZ = f"{HOROWITZ_PAPER} (range: ×/÷ 1.5 and the other Stillmaker flavor)"
# Horowitz's table gives rounded, design-independent figures; published 45 nm adders, multipliers and SRAM macros
# spread around them by about this factor either way (assumption, the range of every entry derived from them)
HOROWITZ_SPREAD = 1.5
INT_ADD = {8: 0.03, 32: 0.1}
INT_MULT = {8: 0.2, 32: 3.1}
SRAM_64B = {8: 10.0, 32: 20.0, 1024: 100.0}  # KiB → pJ per 64-bit access
RF_KIB = 0.5  # Eyeriss's register file (the smallest array priced)
DRAM_PJ_PER_BIT, DRAM_RANGE = (1300 + 2600) / 2 / 64, (1300 / 64, 2600 / 64)
KECKLER = "Keckler et al., IEEE Micro 31(5) 2011 (40 nm: 310 pJ to move 256 bits 10 mm)"
WIRE_PJ_PER_BIT_MM, WIRE_RANGE = 310 / (256 * 10), (0.08, 0.2)
SRAM_LEAK_PW_PER_BIT = 10.0
LOGIC_LEAK_PW_PER_GE = 20.0  # assumption: a gate equivalent leaks about two SRAM bits (lower-Vt logic); 0.1–10×
LEAK_SOURCE = "assumption (no 45 nm leakage figure in the base data); range 0.1–10×, override in YAML"
# power gating: waking a gated block costs about its leakage over the break-even time, 10–100 cycles in Hu et al.,
# "Microarchitectural techniques for power gating of execution units", ISLPED 2004
BREAK_EVEN_CYCLES, BREAK_EVEN_RANGE = 50, (10, 100)
EYERISS = ("Chen, Emer & Sze, ISCA 2016 (Eyeriss): a 0.5 KB register-file access ≈ 1× the energy of a 16-bit MAC; "
           "range 0.5–2×")
# share of a 64-bit SRAM access that does not scale with the word (address decode, wordline, timing and control);
# the rest scales with the bits read or written (bitlines, sense amplifiers, write drivers), as in CACTI's split of
# an access into decoder / wordline and bitline / sense-amp energies (Thoziyoor et al., CACTI 5.1, HPL-2008-20)
SRAM_ACCESS_SHARE, SRAM_ACCESS_RANGE = 0.5, (0.25, 0.75)
CACTI_SPLIT = ("assumption: half of Horowitz's 64-bit access is per-access periphery (decode, wordline, control), "
               "half per bit, after CACTI 5.1's decoder / bitline split (Thoziyoor et al., HPL-2008-20); "
               "share 25–75 %")
ORION = "router structure (buffers, crossbar, allocator) after ORION 2.0 (Kahng et al., DATE 2009)"
TEMAN = ("assumption: half the register-file figure (latch arrays have no precharged bitlines; Teman et al., ACM "
         "TODAES 21(4) 2016, standard-cell memories); range 0.25–1× the register file")

FINN = ("Umuroglu et al., FPGA 2017 (FINN): binary-weight layers as XNOR / AND + popcount over PE × SIMD lanes, "
        "multi-bit inputs bit-serially")
STILLMAKER = "Stillmaker & Baas, Integration 58 (2017)"
# node nm → {flavor: (a, b, c)} of the energy factor a·V² + b·V + c (130–65 nm: one set for both flavors)
STILLMAKER_ENERGY = {
    130: {"lp": (7.171, -6.709, 2.904), "hp": (7.171, -6.709, 2.904)},
    90: {"lp": (4.762, -4.781, 2.092), "hp": (4.762, -4.781, 2.092)},
    65: {"lp": (3.755, -4.398, 1.975), "hp": (3.755, -4.398, 1.975)},
    45: {"lp": (1.103, -0.362, 0.2767), "hp": (1.018, -0.3107, 0.1539)},
    32: {"lp": (0.9559, -0.7823, 0.471), "hp": (0.8367, -0.4341, 0.1701)},
    20: {"lp": (0.2632, -0.14, 0.06841), "hp": (0.373, -0.1582, 0.04104)},
    16: {"lp": (0.2139, -0.1187, 0.05639), "hp": (0.2958, -0.1241, 0.03024)},
    14: {"lp": (0.1556, -0.06472, 0.03066), "hp": (0.2363, -0.09675, 0.02239)},
    10: {"lp": (0.1261, -0.0518, 0.02769), "hp": (0.2068, -0.09311, 0.02375)},
    7: {"lp": (0.09365, -0.03409, 0.02043), "hp": (0.1776, -0.09097, 0.02447)},
}
# nominal supply assumed per node when chip.vdd_V is null (PTM-style nominal voltages; 45 nm: Horowitz's 0.9 V)
NOMINAL_VDD = {130: 1.3, 90: 1.2, 65: 1.1, 45: 0.9, 32: 0.9, 20: 0.9, 16: 0.85, 14: 0.8, 10: 0.75, 7: 0.7}
HOROWITZ_VDD = 0.9


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


def sram_access(kib: float) -> float:
    """pJ per 64-bit access of an SRAM of ``kib``: Horowitz's points log-log; below 8 KiB toward a 0.5 KiB register
    file (Eyeriss: ≈ one 16-bit MAC per 16-bit access), held there for smaller arrays (no extrapolation below
    the smallest array either source measured)."""
    rf = RF_KIB, 4 * (int_mult(16) + int_add(16))
    points = {rf[0]: rf[1], **SRAM_64B}
    return _loglog(points, max(kib, RF_KIB))


def sram_source(kib: float) -> str:
    """The source of an SRAM price at ``kib`` (a register file's below Horowitz's smallest array)."""
    return HOROWITZ if kib >= min(SRAM_64B) else f"{HOROWITZ}; below 8 KB toward {EYERISS}"


def sram_bit(kib: float) -> float:
    return sram_access(kib) / 64


def _factor(node: float, flavor: str, vdd: float) -> float:
    a, b, c = STILLMAKER_ENERGY[node][flavor]
    return a * vdd * vdd + b * vdd + c


def node_scale(node_nm: float, vdd: float | None = None, flavor: str = "hp") -> float:
    """Logic / SRAM energy at ``node_nm``/``vdd`` relative to Horowitz's 45 nm, 0.9 V, with one flavor's
    coefficients throughout."""
    nodes = sorted(STILLMAKER_ENERGY)
    if not nodes[0] <= node_nm <= nodes[-1]:
        raise EmpfError(f"chip.tech_node_nm={node_nm} is out of range; allowed: {nodes[0]}..{nodes[-1]}")
    base = _factor(45, flavor, HOROWITZ_VDD)
    if node_nm in STILLMAKER_ENERGY:
        return _factor(node_nm, flavor, vdd or NOMINAL_VDD[node_nm]) / base
    hi = min(n for n in nodes if n > node_nm)
    lo = max(n for n in nodes if n < node_nm)
    f_lo, f_hi = (_factor(n, flavor, vdd or NOMINAL_VDD[n]) for n in (lo, hi))
    w = math.log(node_nm / lo) / math.log(hi / lo)
    return math.exp((1 - w) * math.log(f_lo) + w * math.log(f_hi)) / base


def nominal_vdd(node_nm: float) -> float:
    """The nominal supply at a node (interpolated log-linearly between tabulated nodes)."""
    nodes = sorted(NOMINAL_VDD)
    if node_nm in NOMINAL_VDD:
        return NOMINAL_VDD[node_nm]
    hi = min(n for n in nodes if n > node_nm)
    lo = max(n for n in nodes if n < node_nm)
    w = math.log(node_nm / lo) / math.log(hi / lo)
    return (1 - w) * NOMINAL_VDD[lo] + w * NOMINAL_VDD[hi]

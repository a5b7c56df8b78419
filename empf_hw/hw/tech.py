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
# an always-on chip-to-chip link burns its power whether or not it carries data: per bit of capacity and cycle,
# Poulton et al.'s 0.54 pJ/b (28 nm ground-referenced short-reach link, data-independent current); range Song et al.'s
# 0.47 pJ/b (65 nm) to Anand et al.'s 9.1 pJ/b (65 nm embedded-clock transceiver without rapid on/off)
SERDES_IDLE_PJ_PER_BIT, SERDES_IDLE_RANGE = 0.54, (0.47, 9.1)
SERDES = ("Poulton et al., JSSC 48(12) 2013 (0.54 pJ/b at 20 Gb/s, data-independent current); range: Song et al., "
          "JSSC 48(5) 2013 (0.47–0.66 pJ/b) to Anand et al., JSSC 2015 (9.1 pJ/b, 7 Gb/s embedded clock)")
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
# node nm → {flavor: (a3, a2, a1, a0)} of the delay factor a3·V³ + a2·V² + a1·V + a0 (Stillmaker & Baas's fits, as
# tabulated in UCLA NanoCAD's nodeScale, github.com/wromaszkan/nodeScale; 130–65 nm: one set for both flavors)
STILLMAKER_DELAY = {
    130: {"lp": (-76.65, 334.9, -493.4, 275.8), "hp": (-76.65, 334.9, -493.4, 275.8)},
    90: {"lp": (-60.34, 262.5, -384.2, 210.9), "hp": (-60.34, 262.5, -384.2, 210.9)},
    65: {"lp": (-53.3, 230.4, -333.9, 178.6), "hp": (-53.3, 230.4, -333.9, 178.6)},
    45: {"lp": (-285.7, 1239, -1795, 898.8), "hp": (-501.6, 1567, -1619, 566.1)},
    32: {"lp": (-325.9, 1374, -1922, 913.2), "hp": (-1047, 2982, -2797, 873.5)},
    20: {"lp": (-160.5, 514.1, -558.6, 217.5), "hp": (0.0, 34.63, -66.37, 41.15)},
    16: {"lp": (-114.6, 366.7, -397.4, 153.6), "hp": (0.0, 24.8, -47.52, 28.87)},
    14: {"lp": (-85.37, 271.6, -292.2, 111.4), "hp": (-40.66, 109.2, -100.6, 35.92)},
    10: {"lp": (-71.76, 228.6, -246.3, 93.91), "hp": (-34.95, 93.65, -85.99, 30.4)},
    7: {"lp": (-61.79, 196.1, -210.3, 79.55), "hp": (-28.58, 76.6, -70.26, 24.69)},
}
DELAY_FLOOR_V = 0.5  # the delay fits are not used below this supply (near-threshold is outside their range)
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


def _delay(node: float, flavor: str, vdd: float) -> float:
    """The delay fit made non-increasing in the supply: its lowest value at any supply up to ``vdd`` (some HP fits,
    45 and 32 nm, turn up again above about 0.95 V; a higher supply is never taken to slow a circuit down)."""
    a3, a2, a1, a0 = STILLMAKER_DELAY[node][flavor]
    v = np.linspace(DELAY_FLOOR_V, vdd, 256)
    return float(np.min(((a3 * v + a2) * v + a1) * v + a0))


def delay_scale(node_nm: float, vdd: float, flavor: str = "hp") -> float:
    """Gate delay at ``vdd`` relative to the node's nominal supply (1: nominal; > 1: slower), Stillmaker & Baas's
    fits at the nearest tabulated node (delay ratios change little between neighbouring nodes)."""
    if vdd < DELAY_FLOOR_V:
        raise EmpfError(f"chip.vdd_V={vdd} is below the {DELAY_FLOOR_V} V the delay model covers; allowed: "
                        f">= {DELAY_FLOOR_V}")
    node = min(STILLMAKER_DELAY, key=lambda n: abs(math.log(n / node_nm)))
    return _delay(node, flavor, vdd) / _delay(node, flavor, nominal_vdd(node_nm))


def nominal_vdd(node_nm: float) -> float:
    """The nominal supply at a node (interpolated log-linearly between tabulated nodes)."""
    nodes = sorted(NOMINAL_VDD)
    if node_nm in NOMINAL_VDD:
        return NOMINAL_VDD[node_nm]
    hi = min(n for n in nodes if n > node_nm)
    lo = max(n for n in nodes if n < node_nm)
    w = math.log(node_nm / lo) / math.log(hi / lo)
    return (1 - w) * NOMINAL_VDD[lo] + w * NOMINAL_VDD[hi]

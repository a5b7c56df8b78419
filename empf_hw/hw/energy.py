"""Energy reference table (ERT): picojoules per action, each entry with a range and its source.

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

The cores template's vocabulary follows a neuromorphic core's pipeline (as SANA-FE's does): the synapse stage
(``syn_dense|sparse|conv``, ``syn_mult``), the dendrite (``dendrite_acc``, ``psum_add``), the soma
(``neuron_access`` for every neuron visited, ``neuron_update`` for those with input or potential, ``spike_gen``,
``aux_op``), the network (``message_send`` per packet and ``message_bit`` per bit beyond ``message_base_bits``,
``message_receive``, ``hop_ew`` / ``hop_ns`` per packet-hop by direction, ``hop_bit`` per bit-hop,
``chip_link_bit`` per bit crossing chips, ``barrier`` per step), memories (bits read or written) and leakage.
Per-message and per-bit prices are separate entries: nothing per message is turned into a per-bit rate. Spec
``energy`` overrides replace an entry (taken as already at the spec's node) with its own source and range.
"""

import math
from dataclasses import dataclass

import numpy as np

from ..errors import EmpfError, check_keys, check_range
from .acc_width import UNMAPPED_ACC_BITS, acc_width
from .area import DFF_GE, FA_GE, PORTS, core_logic_ge, router_ge, router_pitch_mm, track_pitch_um

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
LITERATURE_AC_PJ, LITERATURE_MAC_PJ = 0.9, 4.6  # SNN-paper convention: fp32 add; fp32 mult + add

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

CORES_ENTRIES = ("syn_dense", "syn_sparse", "syn_conv", "syn_mult", "dendrite_acc", "psum_add", "neuron_access",
                 "neuron_update", "neuron_affine", "spike_gen", "spike_quantize", "aux_op", "message_send",
                 "message_bit", "message_receive", "hop_ew", "hop_ns", "hop_bit", "router_buffer_bit",
                 "router_xbar_bit", "router_arb", "chip_link_bit", "barrier",
                 "synapse_read_word", "acc_access", "acc_read_bit", "acc_write_bit", "acc_reg_bit",
                 "membrane_read_bit", "membrane_write_bit",
                 "param_read_bit", "buffer_read_bit", "buffer_write_bit", "dram_bit", "leakage_core_cycle",
                 "leakage_router_cycle", "wakeup_core")
SYSTOLIC_ENTRIES = ("pe_op", "syn_mult", "neuron_update", "aux_op", "synapse_read_bit", "membrane_read_bit",
                    "membrane_write_bit", "buffer_read_bit", "buffer_write_bit", "dram_bit", "leakage_core_cycle")
ENTRIES = {"cores": CORES_ENTRIES, "systolic": SYSTOLIC_ENTRIES}
ACC_STORAGE_SRAM = "sram"


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


@dataclass(frozen=True)
class Entry:
    pJ: float
    formula: str
    source: str
    low: float  # range of the entry (pJ), for the uncertainty analysis
    high: float


def check_overrides(d, where: str, template: str = "cores") -> dict:
    """Validate ``energy:`` overrides: entry → number or {pJ, source, low, high}."""
    if not isinstance(d, dict):
        raise EmpfError(f"{where}: 'energy' must be a mapping of entry: pJ")
    out = {}
    for k, v in d.items():
        if k not in ENTRIES[template]:
            raise EmpfError(f"{where}: unknown energy entry {k!r}; allowed: {', '.join(ENTRIES[template])}")
        if isinstance(v, dict):
            check_keys(f"{where}: energy.{k}", v, ("pJ", "source", "low", "high"), "an energy entry")
            if "pJ" not in v:
                raise EmpfError(f"{where}: energy.{k} needs pJ: a number or {{pJ: number, source: text}}")
            value, source = v["pJ"], str(v.get("source", f"override in {where}"))
        else:
            value, source = v, f"override in {where}"
        check_range(f"{where}: energy.{k} (pJ)", value, 0)
        low, high = (v.get("low", value), v.get("high", value)) if isinstance(v, dict) else (value, value)
        check_range(f"{where}: energy.{k}.low (pJ)", low, 0, value)
        check_range(f"{where}: energy.{k}.high (pJ)", high, value)
        out[k] = {"pJ": float(value), "source": source, "low": float(low), "high": float(high)}
    return out


def _e(pJ: float, formula: str, source: str, rel: tuple[float, float] = (1.0, 1.0)) -> Entry:
    return Entry(pJ, formula, source, pJ * rel[0], pJ * rel[1])


def _zero(why: str) -> Entry:
    return Entry(0.0, why, "no separate figure in the base data", 0.0, 0.0)


def reference_table(arch) -> dict[str, Entry]:
    """The ERT of ``arch``: entry → Entry(pJ per action at the arch's node and widths, formula, source, range)."""
    c, ch = arch.core, arch.chip
    flavor = ch["tech_flavor"]
    s = node_scale(ch["tech_node_nm"], ch["vdd_V"], flavor)
    node = f"× {s:.3f} ({STILLMAKER}, {flavor.upper()}, {ch['tech_node_nm']:g} nm)"
    # range: Horowitz's spread (HOROWITZ_SPREAD) times the other flavor's scaling factor
    other = node_scale(ch["tech_node_nm"], ch["vdd_V"], "lp" if flavor == "hp" else "hp")
    rel = (min(1.0, other / s) / HOROWITZ_SPREAD, max(1.0, other / s) * HOROWITZ_SPREAD)
    acc, mem = acc_width(c), c["membrane_bits"]
    bits = {m: arch.kib_bits(m) for m in ("synapse", "membrane", "buffer")}
    mult_bits = max(c["weight_bits"], 8)
    leak_pw = SRAM_LEAK_PW_PER_BIT * sum(bits.values()) * s
    t = {
        "syn_mult": _e(int_mult(mult_bits) * s, f"int mult {mult_bits} b (multi-bit value × multi-bit weight "
                       f"slice) {node}", HOROWITZ, rel),
        "neuron_update": _e((int_mult(mem) + 3 * int_add(mem)) * s, f"leak mult + integrate, threshold compare, "
                            f"reset subtract: int mult {mem} b + 3 int add {mem} b {node}", HOROWITZ, rel),
        "aux_op": _e(int_add(acc) * s, f"pooling / residual / attention op as int add {acc} b {node}", HOROWITZ,
                     rel),
        "dram_bit": Entry(DRAM_PJ_PER_BIT, "midpoint of 1.3–2.6 nJ per 64 bits (off-chip, not node-scaled)",
                          HOROWITZ_PAPER, *DRAM_RANGE),
        "leakage_core_cycle": Entry(leak_pw / ch["clock_MHz"] * 1e-6, f"{SRAM_LEAK_PW_PER_BIT} pW/bit × "
                                    f"{sum(bits.values())} SRAM bits per core {node} ÷ clock",
                                    "assumption (no 45 nm leakage figure in the base data); override in YAML",
                                    leak_pw / ch["clock_MHz"] * 1e-6 * 0.1, leak_pw / ch["clock_MHz"] * 1e-6 * 10),
    }
    for m in ("synapse", "membrane", "buffer"):
        kib = bits[m] / 8192
        for op in ("read", "write"):
            if op == "write" and m == "synapse":
                continue
            t[f"{m}_{op}_bit"] = _e(sram_bit(kib) * s, f"64-bit SRAM access at {kib:g} KiB ÷ 64 {node}",
                                    sram_source(kib), rel)
    if arch.template == "systolic":
        t["pe_op"] = _e(int_add(acc) * s, f"PE accumulate: int add {acc} b {node}", HOROWITZ, rel)
    else:
        _cores_entries(arch, t, s, node, rel)
    for k, v in arch.energy.items():
        t[k] = Entry(v["pJ"], "override", v["source"], v["low"], v["high"])
    return {k: t[k] for k in ENTRIES[arch.template]}


def _cores_entries(arch, t: dict, s: float, node: str, rel) -> None:
    c, ch = arch.core, arch.chip
    acc = acc_width(c)
    for kind in ("dense", "sparse", "conv"):
        t[f"syn_{kind}"] = _zero("the synapse stage is its weight read (synapse_read_word) and, for a multi-bit "
                                 "value on a multi-bit cell, a multiply (syn_mult)")
    t["dendrite_acc"] = _e(int_add(acc) * s, f"accumulate into the input current: int add {acc} b {node}", HOROWITZ,
                           rel)
    t["psum_add"] = _e(int_add(acc) * s, f"int add {acc} b, merging partial sums of split rows {node}", HOROWITZ,
                       rel)
    t["neuron_access"] = _zero("visiting a neuron is its state read (membrane_read_bit)")
    t["spike_gen"] = _zero("the threshold compare is in neuron_update; the packet is written at the receiver")
    mem = c["membrane_bits"]
    t["neuron_affine"] = _e((int_mult(mem) + int_add(mem)) * s, f"membrane affine γ·m + β (Mem-BN): int mult {mem} b "
                            f"+ int add {mem} b {node}", HOROWITZ, rel)
    t["spike_quantize"] = _e((int_mult(mem) + 2 * int_add(mem)) * s, f"multi-bit spike code: (m − θ) × 1/(α·step) "
                             f"(int mult {mem} b) and clip to the code range (2 compares) {node}", HOROWITZ, rel)
    for k in ("message_send", "message_bit", "message_receive", "hop_ew", "hop_ns"):
        t[k] = _zero("per-message network energy is carried per bit (hop_bit, router_*, buffer_*_bit)")
    vdd = ch["vdd_V"] or nominal_vdd(ch["tech_node_nm"])
    v2 = (vdd / HOROWITZ_VDD) ** 2
    pitch = router_pitch_mm(arch)
    how = "given" if ch["router_pitch_mm"] is not None else "the side of a router tile's area, empf_hw.hw.area"
    wire = WIRE_PJ_PER_BIT_MM * pitch * v2
    t["hop_bit"] = Entry(wire, f"{WIRE_PJ_PER_BIT_MM:.4g} pJ/bit/mm × {pitch:.4g} mm router pitch ({how}) × "
                         f"(Vdd/0.9 V)² (wires scale with the supply, not the node)", KECKLER,
                         WIRE_RANGE[0] / WIRE_PJ_PER_BIT_MM * wire, WIRE_RANGE[1] / WIRE_PJ_PER_BIT_MM * wire)
    rf = (int_mult(16) + int_add(16)) / 16 * s  # register file, per bit of a 16-bit word
    t["router_buffer_bit"] = Entry(2 * rf, f"router input buffer, per flit bit: write + read, 2 × register file "
                                   f"(int mult 16 b + int add 16 b) ÷ 16 bits {node}", f"{EYERISS}; {ORION}", rf,
                                   4 * rf)
    link, track = ch["noc_link_bits"], track_pitch_um(ch["tech_node_nm"])
    span = 2 * PORTS * link * track * 1e-3
    xbar = WIRE_PJ_PER_BIT_MM * span * v2
    t["router_xbar_bit"] = Entry(xbar, f"crossbar traversal, per flit bit: an input and an output line across "
                                 f"{PORTS} ports × {link} bits at a {track:.3g} µm track pitch ({span:.3g} mm) × "
                                 f"{WIRE_PJ_PER_BIT_MM:.4g} pJ/bit/mm × (Vdd/0.9 V)²", f"{KECKLER}; {ORION}",
                                 WIRE_RANGE[0] / WIRE_PJ_PER_BIT_MM * xbar, WIRE_RANGE[1] / WIRE_PJ_PER_BIT_MM * xbar)
    arb = PORTS * int_add(8) * s
    t["router_arb"] = Entry(arb, f"switch allocation, per packet and router traversed: {PORTS} round-robin "
                            f"request / grant steps as int add 8 b each {node}", f"assumption priced from "
                            f"{HOROWITZ_PAPER}; {ORION}", arb / 3, arb * 3)
    t["chip_link_bit"] = Entry(5.0, "chip-to-chip SerDes link, per bit", "assumption: mid-range of 1–10 pJ/bit for "
                               "short-reach SerDes links (override in YAML)", 1.0, 10.0)
    t["barrier"] = _zero("a timestep barrier is a handful of wires; its time is in chip.barrier_cycles")
    word, skib = c["synapse_word_bits"], arch.kib_bits("synapse") / 8192
    t["synapse_read_word"] = _e(sram_bit(skib) * word * s, f"{word}-bit word read: 64-bit SRAM access at {skib:g} "
                                f"KiB × {word}/64 {node}", sram_source(skib), rel)
    kib = arch.kib_bits("membrane") / 8192
    ge = int_add(8) / (8 * FA_GE) * s  # switching energy of one gate equivalent
    reg = DFF_GE * ge
    t["acc_reg_bit"] = Entry(reg, f"lane register (output-stationary accumulation), per bit written: a flip-flop of "
                             f"{DFF_GE:g} GE × (int add 8 b ÷ 8 bits ÷ {FA_GE:g} GE per full adder) {node}",
                             f"assumption priced from {HOROWITZ_PAPER} and Nangate 45 nm cell sizes "
                             "(empf_hw.hw.area); range ÷/× 3", reg / 3, reg * 3)
    if c["accumulator_storage"] == ACC_STORAGE_SRAM:
        access = sram_access(kib) * s
        lo, hi = (access * f for f in SRAM_ACCESS_RANGE)
        t["acc_access"] = Entry(access * SRAM_ACCESS_SHARE, f"{SRAM_ACCESS_SHARE:g} × 64-bit SRAM access at {kib:g} "
                                f"KiB (per word accessed, any width) {node}", CACTI_SPLIT, lo / 1.5, hi * 1.5)
        for op in ("read", "write"):
            m = t[f"membrane_{op}_bit"]
            t[f"acc_{op}_bit"] = Entry(m.pJ * (1 - SRAM_ACCESS_SHARE), f"{1 - SRAM_ACCESS_SHARE:g} × {m.formula}",
                                       CACTI_SPLIT, m.low * (1 - SRAM_ACCESS_RANGE[1]),
                                       m.high * (1 - SRAM_ACCESS_RANGE[0]))
    else:
        t["acc_access"] = _zero("register and latch arrays are priced per bit read or written")
        latch = c["accumulator_storage"] == "latch"
        for op in ("read", "write"):
            t[f"acc_{op}_bit"] = (
                Entry(rf / 2, f"latch array: ½ × register file ({rf:.4g} pJ/bit) {node}", TEMAN, rf / 4, rf) if latch
                else Entry(rf, f"register file: (int mult 16 b + int add 16 b) ÷ 16 bits {node}", EYERISS, rf / 2,
                           2 * rf))
    t["param_read_bit"] = _e(sram_bit(kib) * s, f"per-timestep neuron parameters read from the membrane SRAM "
                             f"({kib:g} KiB) {node}", sram_source(kib), rel)
    _static_entries(arch, t, s, node)


def _static_entries(arch, t: dict, s: float, node: str) -> None:
    """Leakage per powered core and router per cycle, and a gated core's wake-up."""
    bits = sum(arch.kib_bits(m) for m in ("synapse", "membrane", "buffer"))
    ge, rge = core_logic_ge(arch), router_ge(arch)
    per_cycle = 1e-6 / arch.chip["clock_MHz"]  # pW × this = pJ per cycle
    core_pw = (SRAM_LEAK_PW_PER_BIT * bits + LOGIC_LEAK_PW_PER_GE * ge) * s
    t["leakage_core_cycle"] = Entry(core_pw * per_cycle, f"({SRAM_LEAK_PW_PER_BIT:g} pW/bit × {bits} SRAM bits + "
                                    f"{LOGIC_LEAK_PW_PER_GE:g} pW/GE × {ge:.0f} logic GE, empf_hw.hw.area) per core "
                                    f"{node} ÷ clock", LEAK_SOURCE, core_pw * per_cycle * 0.1, core_pw * per_cycle * 10)
    router_pw = LOGIC_LEAK_PW_PER_GE * rge * s
    t["leakage_router_cycle"] = Entry(router_pw * per_cycle, f"{LOGIC_LEAK_PW_PER_GE:g} pW/GE × {rge:.0f} router GE "
                                      f"{node} ÷ clock", LEAK_SOURCE, router_pw * per_cycle * 0.1,
                                      router_pw * per_cycle * 10)
    wake = core_pw * per_cycle * BREAK_EVEN_CYCLES
    t["wakeup_core"] = Entry(wake, f"a gated core's leakage over a {BREAK_EVEN_CYCLES}-cycle break-even time",
                             "Hu et al., ISLPED 2004 (power-gating break-even 10–100 cycles); leakage: " + LEAK_SOURCE,
                             wake / BREAK_EVEN_CYCLES * BREAK_EVEN_RANGE[0] * 0.1,
                             wake / BREAK_EVEN_CYCLES * BREAK_EVEN_RANGE[1] * 10)


def format_table(arch) -> str:
    """The ERT as aligned text with a range and a source for every entry."""
    t = reference_table(arch)
    auto = arch.template == "cores" and arch.core["accumulator_bits"] == "auto"
    lines = [f"Energy reference table for {arch.name} ({arch.chip['tech_node_nm']:g} nm, "
             f"{arch.chip['tech_flavor'].upper()}, {arch.chip['clock_MHz']:g} MHz"
             + (f"; accumulator_bits auto, priced at {UNMAPPED_ACC_BITS} b until a model is mapped)" if auto else ")"),
             f"{'entry':<20} {'energy_pJ':>12} {'range_pJ':>21}  formula | source"]
    lines += [f"{k:<20} {e.pJ:>12.5g} {f'{e.low:.4g}–{e.high:.4g}':>21}  {e.formula} | {e.source}"
              for k, e in t.items()]
    lines.append(f"literature convention: AC {LITERATURE_AC_PJ} pJ, MAC {LITERATURE_MAC_PJ} pJ "
                 f"(fp32 add; fp32 mult + add, {HOROWITZ_PAPER})")
    return "\n".join(lines)

"""Energy reference table (ERT): picojoules per action, each entry with a range and its source, assembled per
architecture from the technology physics of ``empf_hw.hw.tech`` and the area model of ``empf_hw.hw.area``.

The cores template's vocabulary follows a neuromorphic core's pipeline (as SANA-FE's does): the synapse stage
(``syn_dense|sparse|conv``, ``syn_mult``, ``popcount_bit`` in the popcount compute mode), the dendrite
(``dendrite_acc``, ``psum_add``), the soma (``neuron_access`` for every neuron visited, ``neuron_update`` for those
with input or potential, ``spike_gen``, ``aux_op``), the network (``message_send`` per packet and ``message_bit``
per bit beyond its address, ``message_receive``, ``hop_ew`` / ``hop_ns`` per packet-hop by direction, ``hop_bit``
per bit-hop, ``router_*`` per flit bit or packet and router, ``pack_bit`` per multi-spike packet bit,
``chip_link_bit`` per bit crossing chips, ``barrier`` per step), memories (bits read or written) and static power
(``leakage_*_cycle`` per powered core, router and chip-to-chip link, ``wakeup_core``).
Per-message and per-bit prices are separate entries: nothing per message is turned into a per-bit rate. Spec
``energy`` overrides replace an entry (taken as already at the spec's node) with its own source and range.
"""

from dataclasses import dataclass

from ..errors import EmpfError, check_keys, check_range
from .acc_width import UNMAPPED_ACC_BITS, acc_width
from .area import AND_GE, DFF_GE, FA_GE, PORTS, core_logic_ge, router_ge, router_pitch_mm, track_pitch_um
from .tech import (
    BREAK_EVEN_CYCLES,
    BREAK_EVEN_RANGE,
    CACTI_SPLIT,
    DRAM_PJ_PER_BIT,
    DRAM_RANGE,
    EYERISS,
    FINN,
    HOROWITZ,
    HOROWITZ_PAPER,
    HOROWITZ_SPREAD,
    HOROWITZ_VDD,
    KECKLER,
    LEAK_SOURCE,
    LOGIC_LEAK_PW_PER_GE,
    ORION,
    SERDES,
    SERDES_IDLE_PJ_PER_BIT,
    SERDES_IDLE_RANGE,
    SRAM_ACCESS_RANGE,
    SRAM_ACCESS_SHARE,
    SRAM_LEAK_PW_PER_BIT,
    STILLMAKER,
    TEMAN,
    WIRE_PJ_PER_BIT_MM,
    WIRE_RANGE,
    int_add,
    int_mult,
    node_scale,
    nominal_vdd,
    sram_access,
    sram_bit,
    sram_source,
)

LITERATURE_AC_PJ, LITERATURE_MAC_PJ = 0.9, 4.6  # SNN-paper convention: fp32 add; fp32 mult + add

CORES_ENTRIES = ("syn_dense", "syn_sparse", "syn_conv", "syn_mult", "popcount_bit", "dendrite_acc", "psum_add",
                 "neuron_access", "neuron_update", "neuron_affine", "spike_gen", "spike_quantize", "aux_op",
                 "message_send", "message_bit", "message_receive", "hop_ew", "hop_ns", "hop_bit", "router_buffer_bit",
                 "router_xbar_bit", "router_arb", "pack_bit", "chip_link_bit", "barrier",
                 "synapse_read_word", "acc_access", "acc_read_bit", "acc_write_bit", "acc_reg_bit",
                 "membrane_read_bit", "membrane_write_bit",
                 "param_read_bit", "buffer_read_bit", "buffer_write_bit", "dram_bit", "leakage_core_cycle",
                 "leakage_router_cycle", "leakage_chip_link_cycle", "wakeup_core")
SYSTOLIC_ENTRIES = ("pe_op", "syn_mult", "neuron_update", "aux_op", "synapse_read_bit", "membrane_read_bit",
                    "membrane_write_bit", "buffer_read_bit", "buffer_write_bit", "dram_bit", "leakage_core_cycle")
ENTRIES = {"cores": CORES_ENTRIES, "systolic": SYSTOLIC_ENTRIES}
ACC_STORAGE_SRAM = "sram"


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
    t["pack_bit"] = Entry(2 * rf, f"multi-spike packet assembly at the sender, per packet bit: written into and read "
                          f"out of a packing register, 2 × register file ÷ 16 bits {node}", EYERISS, rf, 4 * rf)
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
    pop = (AND_GE + FA_GE) * ge
    t["popcount_bit"] = Entry(pop, f"popcount array, per weight × input bit pair: an AND2 ({AND_GE:g} GE) and one "
                              f"full adder of the carry-save counter tree ({FA_GE:g} GE; an N-bit popcount takes about "
                              f"N full adders) × (int add 8 b ÷ 8 bits ÷ {FA_GE:g} GE) {node}",
                              f"assumption priced from {HOROWITZ_PAPER} and Nangate 45 nm cell sizes; datapath after "
                              f"{FINN}; range ÷ 2 / × 3", pop / 2, pop * 3)
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
    """Leakage per powered core, router and chip-to-chip link per cycle, and a gated core's wake-up."""
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
    bits = arch.system["chip_link_bits"]
    t["leakage_chip_link_cycle"] = Entry(SERDES_IDLE_PJ_PER_BIT * bits, f"an always-on chip-to-chip link, per "
                                         f"cycle: {SERDES_IDLE_PJ_PER_BIT:g} pJ per bit of its {bits} bits/cycle "
                                         "(SerDes, not node-scaled)", SERDES, SERDES_IDLE_RANGE[0] * bits,
                                         SERDES_IDLE_RANGE[1] * bits)
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

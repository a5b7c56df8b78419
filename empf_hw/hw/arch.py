"""Architecture spec, loaded from YAML and validated.

A spec file has ``name``, ``description``, ``template`` and sections of fields, each with its unit:

- ``cores`` template: ``system`` (optional: chips on a board joined by chip-to-chip links), ``chip`` (a 2-D
  mesh of routers, each serving ``cores_per_router`` neuromorphic cores) and ``core``;
- ``systolic`` template: ``chip`` and ``array`` (a PE array);

plus an optional ``energy`` section overriding entries of the energy reference table (``empf_hw.hw.energy``)
and, for the cores template, an optional ``latency`` section giving per-event latencies in cycles (as
SANA-FE's architecture files do). Fields with a default may be left out. Preset names resolve to
``sims/hw/<name>.yaml`` (see ``empf_hw.resources``); ``empf_hw.hw.formats.load_arch`` also reads SCALE-Sim
``.cfg`` files and SANA-FE architecture YAML.
"""

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import yaml

from ..errors import EmpfError, check_choice, check_keys, check_range
from ..resources import find, shipped
from .acc_width import ACC_AUTO


class Field(NamedTuple):
    lo: float | None
    hi: float | None
    unit: str  # "bool", "choice", "table", "width" (bits or auto) or a physical unit; ints unless in FLOAT_FIELDS
    doc: str
    default: object = ...  # ... = required


SYSTEM_FIELDS = {
    "chips_rows": Field(1, 64, "chips", "rows of chips on the board", 1),
    "chips_cols": Field(1, 64, "chips", "columns of chips on the board", 1),
    "chip_link_bits": Field(1, 4096, "bits/cycle", "width of a chip-to-chip link (one per mesh edge crossing)", 8),
    "chip_link_cycles": Field(0, 100000, "cycles", "latency of one chip-to-chip crossing", 100),
    "dram": Field(None, None, "choice", "per_chip (each chip its own DRAM channel) | shared (one for the board)",
                  "per_chip"),
}
CHIP_FIELDS = {
    "mesh_rows": Field(1, 1024, "routers", "rows of the 2-D mesh of routers"),
    "mesh_cols": Field(1, 1024, "routers", "columns of the 2-D mesh of routers"),
    "cores_per_router": Field(1, 64, "cores", "cores sharing one router (0 hops between them; Loihi: 4)", 1),
    "clock_MHz": Field(1e-3, 1e6, "MHz", "core and NoC clock (sets the length of a cycle)"),
    "tech_node_nm": Field(7, 130, "nm", "technology node; logic and SRAM energies scale from 45 nm (the nodes "
                          "empf_hw.hw.tech tabulates)"),
    "tech_flavor": Field(None, None, "choice", "lp | hp: Stillmaker & Baas coefficient set used for node "
                         "scaling (one flavor for every node)", "hp"),
    "vdd_V": Field(0.3, 2.0, "V", "supply voltage (null: the node's nominal voltage)", None),
    "nominal_clock_MHz": Field(1e-3, 1e6, "MHz", "the clock the design closes timing at on the node's nominal "
                               "supply; with vdd_V, clock_MHz may not exceed it × the Stillmaker & Baas delay ratio "
                               "(null: no limit checked)", None),
    "noc_link_bits": Field(1, 4096, "bits/cycle", "NoC link width; a packet is ⌈packet bits / link bits⌉ flits"),
    "noc_hop_cycles": Field(0, 1000, "cycles", "router pipeline + link latency per hop"),
    "noc_buffer_flits": Field(1, 1 << 16, "flits", "router input buffer depth per port (credit flow control)", 8),
    "router_pitch_mm": Field(1e-3, 100, "mm", "distance between neighbouring routers, the wire length of a hop "
                             "(null: the side of a square tile of a router and its cores, see empf_hw.hw.area)", None),
    "stem_once": Field(None, None, "bool", "with a static input, compute the stem's input current at the first "
                       "timestep only and re-integrate it afterwards", False),
    "io_row": Field(0, 1 << 16, "router", "mesh row of the chip I/O port (inputs enter, outputs leave)", 0),
    "io_col": Field(0, 1 << 16, "router", "mesh column of the chip I/O port", 0),
    "host_link_bits": Field(0, 1 << 16, "bits/cycle", "host link of the I/O port, each way: the network's input "
                            "packets arrive, and with readout: host its outputs leave, at most this many bits per "
                            "cycle (0: the host keeps up with the port)", 0),
    "readout": Field(None, None, "choice", "none (the outputs stay on chip, as SANA-FE models it) | host (after the "
                     "last timestep every output neuron's value leaves its tile as one packet of address_bits + "
                     "membrane_bits for the I/O port and crosses the host link; the inference ends when the last "
                     "has reached the host)", "none"),
    "timestep_mode": Field(None, None, "choice", "pipelined (a layer starts timestep t when its inputs of t "
                           "arrived) | lockstep (a global barrier ends every step; T + depth steps)", "pipelined"),
    "barrier_cycles": Field(0, 1 << 30, "table", "barrier latency per step (lockstep): cycles, or a table "
                            "{routers in use: cycles} read at the largest key <= routers in use", 0),
    "dram_bits_per_cycle": Field(1, 65536, "bits/cycle", "off-chip DRAM bandwidth per DRAM channel"),
    "power_gating": Field(None, None, "choice", "idle (cores without tiles and chips without used cores are off; "
                          "each used core wakes once per inference) | none (every core and router of the board leaks "
                          "for the whole inference)", "idle"),
    "dram_spill": Field(None, None, "bool", "map more tiles than cores by reloading weights from DRAM"),
}
CORE_FIELDS = {
    "crossbar_rows": Field(1, 1 << 20, "synapses", "crossbar inputs (axons) per core; conv: C_in·k² of a tile"),
    "crossbar_cols": Field(1, 1 << 20, "synapses", "crossbar outputs per core; conv: output channels of a tile"),
    "weight_bits": Field(1, 16, "bits", "bits per synapse cell; wider model weights are bit-sliced over columns"),
    "synapse_sram_KiB": Field(1e-3, 1 << 20, "KiB", "synapse memory per core (holds the crossbar)"),
    "membrane_sram_KiB": Field(1e-3, 1 << 20, "KiB", "neuron state memory: membrane + current accumulator"),
    "buffer_sram_KiB": Field(1e-3, 1 << 20, "KiB", "input spike buffer: one timestep of the core's input window"),
    "spike_bus_bits": Field(1, 4096, "bits/cycle", "input spike bus; carries (address, value) packets"),
    "address_bits": Field(1, 64, "bits", "address field of a spike packet"),
    "spike_payload_bits": Field(0, 32, "bits", "widest spike value a packet carries (0: binary spikes only)", 32),
    "spikes_per_packet": Field(1, 1024, "spikes", "spikes a packet carries from one source to one destination "
                               "core in a timestep (1: one address-event per spike; k > 1: fixed-size packets of "
                               "an address and k slots of spike index + value, unfilled slots empty)", 1),
    "spike_index_bits": Field(1, 32, "bits", "index of a spike within its source group, per slot of a "
                              "multi-spike packet", 8),
    "accumulator_lanes": Field(1, 65536, "lanes", "synaptic accumulations per cycle (one event at a time)"),
    "synapse_word_bits": Field(1, 4096, "bits", "synapse SRAM access word: a weight read fetches whole words "
                               "(no free sub-word reads)", 64),
    "synapse_banks": Field(1, 1024, "banks", "synapse SRAM banks; a weight row read occupies its bank", 1),
    "synapse_bank_cycles": Field(1, 64, "cycles", "cycles a bank is busy per row read", 1),
    "input_fifo_packets": Field(0, 1 << 24, "packets", "input FIFO between the router and the spike bus (0: none "
                                "needed, the spike buffer holds a timestep's input window)", 0),
    "output_queue_packets": Field(0, 1 << 24, "packets", "output queue between the spike encoder and the router's "
                                  "injection port; full → the encoder and the neuron units stall (0: unbounded)", 0),
    "neuron_units": Field(1, 65536, "units", "neuron update units"),
    "neuron_update_cycles": Field(1, 1000, "cycles", "cycles per neuron update per unit"),
    "neuron_update_mode": Field(None, None, "choice", "clock (every neuron at every timestep's end) | event "
                                "(only neurons with input or non-zero potential take a unit's time)", "clock"),
    "max_neurons": Field(0, 1 << 24, "neurons", "compartments per core (0: as many as the membrane SRAM holds; "
                         "Loihi: 1024)", 0),
    "accumulator_bits": Field(2, 64, "width", "synaptic accumulator (input current) width in bits, or auto: the "
                              "widest any layer of the mapped model needs (fan-in × weight × spike codes, no sum can "
                              "overflow); a narrower width saturates, counted per layer", ACC_AUTO),
    "accumulator_storage": Field(None, None, "choice", "sram (read-modify-write in the membrane SRAM per "
                                 "synaptic op) | regfile | latch", "sram"),
    "accumulation": Field(None, None, "choice", "event (every synaptic event read-modify-writes its neuron's "
                          "accumulator in core.accumulator_storage) | output_stationary (events are summed in lane "
                          "registers, one write-back per updated neuron per timestep; a core holds at most "
                          "core.accumulator_registers neurons)", "event"),
    "accumulator_registers": Field(1, 1 << 20, "accumulators", "lane registers for output-stationary "
                                   "accumulation (bounds a core's neurons)", 1024),
    "synapse_compute": Field(None, None, "choice", "event (every input event reads its weight rows and adds into "
                             "its neurons' accumulators) | popcount (binary-weight layers: a dense bit-plane AND / "
                             "popcount array over each output's whole input window, one pass per spike bit, "
                             "shift-added; other layers stay event-driven) | auto (per layer the cheaper in energy)",
                             "event"),
    "popcount_bits": Field(1, 1 << 20, "bits/cycle", "weight × input bit pairs the popcount array combines per "
                           "cycle (FINN's PE × SIMD)", 1024),
    "membrane_bits": Field(2, 64, "bits", "membrane potential width"),
    "time_batched": Field(None, None, "bool", "layers feeding stateless neurons (EM-PF parallel, leak ≡ 0) fetch "
                          "each weight word once per input position for all T timesteps, holding T accumulators per "
                          "neuron in the membrane SRAM", False),
    "param_bits": Field(1, 32, "bits", "per-channel scale / bias / leak / threshold storage"),
}
SYSTOLIC_CHIP_FIELDS = {k: CHIP_FIELDS[k] for k in ("clock_MHz", "tech_node_nm", "tech_flavor", "vdd_V",
                                                    "nominal_clock_MHz", "dram_bits_per_cycle")}
ARRAY_FIELDS = {
    "rows": Field(1, 4096, "PEs", "PE array rows (WS: reduction dimension; OS: output positions)"),
    "cols": Field(1, 4096, "PEs", "PE array columns (output channels)"),
    "dataflow": Field(None, None, "choice", "ws (weight stationary) | os (output stationary)"),
    "mode": Field(None, None, "choice", "dense (every operand streamed) | event (all-zero spike vectors skipped)"),
    "weight_bits": Field(1, 16, "bits", "weight bits per PE; wider model weights are bit-sliced over rows"),
    "accumulator_bits": Field(2, 64, "bits", "partial-sum width"),
    "membrane_bits": Field(2, 64, "bits", "membrane width of the neuron units after the array"),
    "param_bits": Field(1, 32, "bits", "per-channel scale / bias / leak / threshold storage"),
    "neuron_units": Field(1, 65536, "units", "neuron update units after the array"),
    "neuron_update_cycles": Field(1, 1000, "cycles", "cycles per neuron update per unit"),
    "ifmap_sram_KiB": Field(1e-3, 1 << 24, "KiB", "input (spike) buffer"),
    "filter_sram_KiB": Field(1e-3, 1 << 24, "KiB", "weight buffer"),
    "ofmap_sram_KiB": Field(1e-3, 1 << 24, "KiB", "partial sums, membranes and outputs"),
    "ifmap_bits_per_cycle": Field(1, 1 << 24, "bits/cycle", "ifmap SRAM bandwidth"),
    "filter_bits_per_cycle": Field(1, 1 << 24, "bits/cycle", "filter SRAM bandwidth"),
    "ofmap_bits_per_cycle": Field(1, 1 << 24, "bits/cycle", "ofmap SRAM bandwidth"),
}
# per-event latencies (cycles) of the cores template; defaults follow from the structural fields
LATENCY_KEYS = ("message_receive", "syn_dense", "syn_sparse", "syn_conv", "neuron_access", "spike_gen",
                "message_send", "hop_ew", "hop_ns")
CHOICES = {"dataflow": ("ws", "os"), "mode": ("dense", "event"), "timestep_mode": ("pipelined", "lockstep"),
           "neuron_update_mode": ("clock", "event"), "accumulator_storage": ("sram", "regfile", "latch"),
           "accumulation": ("event", "output_stationary"), "synapse_compute": ("event", "popcount", "auto"),
           "tech_flavor": ("lp", "hp"), "dram": ("per_chip", "shared"), "power_gating": ("idle", "none"),
           "readout": ("none", "host")}
FLOAT_FIELDS = {"clock_MHz", "vdd_V", "nominal_clock_MHz", "synapse_sram_KiB", "membrane_sram_KiB", "buffer_sram_KiB",
                "tech_node_nm", "ifmap_sram_KiB", "filter_sram_KiB", "ofmap_sram_KiB", "router_pitch_mm"}
# template → {section: fields}; the unit section is the last one
TEMPLATES = {"cores": {"system": SYSTEM_FIELDS, "chip": CHIP_FIELDS, "core": CORE_FIELDS},
             "systolic": {"chip": SYSTOLIC_CHIP_FIELDS, "array": ARRAY_FIELDS}}
# the systolic buffers play the roles of the core memories in the energy table and the counts
SYSTOLIC_MEMORY = {"synapse": "filter", "membrane": "ofmap", "buffer": "ifmap"}
TOP_KEYS = ("name", "description", "template", "system", "chip", "core", "array", "energy", "latency")


@dataclass(frozen=True)
class Arch:
    name: str
    description: str
    template: str
    chip: dict
    core: dict  # the unit section: ``core`` (cores template) or ``array`` (systolic template)
    energy: dict  # ERT overrides: entry → {"pJ": value, "source": text}
    system: dict | None = None  # cores template only
    latency: dict | None = None  # cores template only: action → cycles (overrides of the defaults)

    @property
    def section(self) -> str:
        return list(TEMPLATES[self.template])[-1]

    @property
    def chips(self) -> int:
        return self.system["chips_rows"] * self.system["chips_cols"] if self.template == "cores" else 1

    @property
    def cores(self) -> int:
        if self.template != "cores":
            return 1
        return self.chips * self.chip["mesh_rows"] * self.chip["mesh_cols"] * self.chip["cores_per_router"]

    def kib_bits(self, memory: str) -> int:
        """Capacity of a unit memory (``synapse``/``membrane``/``buffer``; systolic: filter/ofmap/ifmap) in bits."""
        name = SYSTOLIC_MEMORY[memory] if self.template == "systolic" else memory
        return int(self.core[f"{name}_sram_KiB"] * 8192)

    def to_dict(self) -> dict:
        d = {"name": self.name, "description": self.description, "template": self.template}
        for sec in TEMPLATES[self.template]:
            d[sec] = copy.deepcopy(self.system if sec == "system" else self.chip if sec == "chip" else self.core)
        d["energy"] = copy.deepcopy(self.energy)
        if self.template == "cores":
            d["latency"] = dict(self.latency)
        return d

    def with_overrides(self, overrides: dict) -> "Arch":
        """A copy with ``{"core.spike_bus_bits": 64, "chip.clock_MHz": 400, ...}`` applied and validated."""
        d = self.to_dict()
        for key, value in overrides.items():
            section, _, field = key.partition(".")
            if section not in TEMPLATES[self.template] or not field:
                raise EmpfError(f"parameter {key!r} does not apply to {self.name} ({self.template} template); "
                                f"allowed: " + ", ".join(f"{s}.<field>" for s in TEMPLATES[self.template]))
            d[section][field] = value
        return from_dict(d, self.name)


def check_field(section: str, f: str, v, fields: dict, where: str) -> None:
    """One field's type and range; EmpfError naming ``section.f`` and what is allowed."""
    spec = fields[f]
    name = f"{where}: {section}.{f}"
    if v is None and spec.default is None:
        return
    if spec.unit == "choice":
        check_choice(name, v, CHOICES[f])
    elif spec.unit == "bool":
        if not isinstance(v, bool):
            raise EmpfError(f"{name}={v!r} is not valid; allowed: true, false")
    elif spec.unit == "width" and (v == ACC_AUTO or isinstance(v, str) or isinstance(v, bool)):
        if v != ACC_AUTO:
            raise EmpfError(f"{name}={v!r} is not valid; allowed: an integer {spec.lo:g}..{spec.hi:g}, or {ACC_AUTO}")
    elif spec.unit == "table" and isinstance(v, dict):
        if not v:
            raise EmpfError(f"{name}: an empty table; allowed: cycles, or {{routers in use: cycles}}")
        for k, x in v.items():
            check_range(f"{name} key", k, 1, integer=True)
            check_range(f"{name}[{k}]", x, spec.lo, spec.hi, integer=True)
    else:
        check_range(name, v, spec.lo, spec.hi, integer=f not in FLOAT_FIELDS)


def _check_section(section: str, d, fields: dict, where: str) -> dict:
    if d is None and all(f.default is not ... for f in fields.values()):
        d = {}
    if not isinstance(d, dict):
        raise EmpfError(f"{where}: '{section}' must be a mapping of fields")
    unknown = sorted(set(map(str, d)) - set(fields))
    if unknown:
        raise EmpfError(f"{where}: unknown key {section}.{unknown[0]}; allowed: {', '.join(fields)}")
    out = {}
    for f, spec in fields.items():
        if f not in d and spec.default is ...:
            raise EmpfError(f"{where}: missing {section}.{f} ({spec.unit}: {spec.doc})")
        out[f] = d.get(f, spec.default)
        if out[f] is None and spec.default is not None:
            raise EmpfError(f"{where}: missing {section}.{f} ({spec.unit}: {spec.doc})")
        check_field(section, f, out[f], fields, where)
    return out


def _check_latency(d, where: str) -> dict:
    if d is None:
        return {}
    check_keys(where, d, LATENCY_KEYS, "the latency section (action: cycles)")
    for k, v in d.items():
        check_range(f"{where}: latency.{k} (cycles)", v, 0, 1 << 30, integer=True)
    return dict(d)


def from_dict(d: dict, where: str = "arch") -> Arch:
    """Validate a parsed spec; one EmpfError naming the field, its value and the allowed values."""
    check_keys(where, d, TOP_KEYS, "an architecture spec")
    template = d.get("template", "cores")
    check_choice(f"{where}: template", template, tuple(TEMPLATES))
    sections = TEMPLATES[template]
    foreign = [k for k in ("system", "core", "array", "latency") if k in d and k not in sections
               and not (k == "latency" and template == "cores")]
    if foreign:
        raise EmpfError(f"{where}: key {foreign[0]!r} does not belong to the {template} template; allowed: "
                        f"{', '.join(sections)}, energy")
    vals = {sec: _check_section(sec, d.get(sec), fields, where) for sec, fields in sections.items()}
    from .energy import check_overrides

    energy = check_overrides(d.get("energy") or {}, where, template)
    unit = vals[list(sections)[-1]]
    _check_clock(vals["chip"], where)
    if template == "systolic":
        return Arch(str(d.get("name", where)), str(d.get("description", "")), template, vals["chip"], unit, energy)
    arch = Arch(str(d.get("name", where)), str(d.get("description", "")), template, vals["chip"], unit, energy,
                vals["system"], _check_latency(d.get("latency"), where))
    _check_cores(arch, where)
    return arch


def max_clock_MHz(chip: dict) -> float | None:
    """The fastest clock the chip's supply allows: ``nominal_clock_MHz`` ÷ the delay ratio at ``vdd_V`` (None: no
    nominal clock given)."""
    from .tech import delay_scale, nominal_vdd

    f = chip["nominal_clock_MHz"]
    if f is None:
        return None
    vdd = chip["vdd_V"] or nominal_vdd(chip["tech_node_nm"])
    return f / delay_scale(chip["tech_node_nm"], vdd, chip["tech_flavor"])


def _check_clock(chip: dict, where: str) -> None:
    limit = max_clock_MHz(chip)
    if limit is not None and chip["clock_MHz"] > limit * (1 + 1e-9):
        vdd = "null (nominal)" if chip["vdd_V"] is None else chip["vdd_V"]
        raise EmpfError(f"{where}: chip.clock_MHz={chip['clock_MHz']:g} exceeds the {limit:.4g} MHz that "
                        f"chip.vdd_V={vdd} allows (nominal_clock_MHz={chip['nominal_clock_MHz']:g} × "
                        f"Stillmaker & Baas delay ratio); allowed: clock_MHz <= {limit:.4g}, or a higher vdd_V")


def _check_cores(arch: Arch, where: str) -> None:
    core, chip = arch.core, arch.chip
    bits = core["crossbar_rows"] * core["crossbar_cols"] * core["weight_bits"]
    if core["synapse_sram_KiB"] * 8192 < bits:
        raise EmpfError(f"{where}: core.synapse_sram_KiB={core['synapse_sram_KiB']} cannot hold the "
                        f"{core['crossbar_rows']}×{core['crossbar_cols']}×{core['weight_bits']}-bit crossbar; "
                        f"allowed: >= {bits / 8192:g}")
    if core["spike_bus_bits"] < core["address_bits"]:
        raise EmpfError(f"{where}: core.spike_bus_bits={core['spike_bus_bits']} is narrower than one packet "
                        f"(address_bits={core['address_bits']}); allowed: >= {core['address_bits']}")
    for f, n in (("io_row", "mesh_rows"), ("io_col", "mesh_cols")):
        if chip[f] >= chip[n]:
            raise EmpfError(f"{where}: chip.{f}={chip[f]} lies outside the {chip[n]}-router mesh; allowed: "
                            f"0..{chip[n] - 1}")


def presets() -> list[str]:
    return sorted({p.stem for d in shipped("presets") for p in d.glob("*.yaml")})


def preset(name: str) -> Arch:
    """A shipped (or ``$EMPF_HW_HOME``) preset by name."""
    path = find(f"{name}.yaml", "presets", Path.is_file)
    if path is None:
        raise EmpfError(f"arch={name!r}: no such preset; presets: {', '.join(presets()) or 'none'}")
    return from_dict(read_yaml(path, "arch"), str(path))


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a mapping key given twice (plain YAML keeps the last one silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (line {key_node.start_mark.line + 1}); allowed: each key once",
                    key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def read_yaml(path: Path, what: str):
    """Parsed YAML of a user file; one EmpfError for a missing, unreadable, non-UTF-8 or malformed file, or a key
    given twice in one mapping."""
    if not path.is_file():
        raise EmpfError(f"{what} {path}: not a file")
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except UnicodeDecodeError as e:
        raise EmpfError(f"{what} {path}: not UTF-8 text (byte {e.start}); allowed: a UTF-8 YAML file") from None
    except OSError as e:
        raise EmpfError(f"{what} {path}: cannot read ({e.strerror})") from None
    except yaml.YAMLError as e:
        raise EmpfError(f"{what} {path}: malformed YAML ({str(e).splitlines()[0]})") from None

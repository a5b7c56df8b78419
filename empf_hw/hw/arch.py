"""Architecture spec: a grid of neuromorphic cores on a 2-D mesh NoC, loaded from YAML and validated.

A spec file has ``name``, ``description``, ``template`` — ``cores`` (a mesh of neuromorphic cores: ``chip`` and
``core`` sections) or ``systolic`` (a PE array: ``chip`` and ``array`` sections) — with the fields below, each
with its unit, and an optional ``energy`` section that overrides entries of the energy reference
table (see ``empf_hw.hw.energy``). Names without a path resolve to ``sims/hw/<name>.yaml`` (see
``empf_hw.resources``).
"""

import copy
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..errors import EmpfError, check_choice, check_keys, check_range
from ..resources import find, shipped

# field → (lo, hi, unit, description); ints unless the unit says otherwise
CHIP_FIELDS = {
    "mesh_rows": (1, 1024, "cores", "rows of cores on the 2-D mesh"),
    "mesh_cols": (1, 1024, "cores", "columns of cores on the 2-D mesh"),
    "clock_MHz": (1e-3, 1e5, "MHz", "core and NoC clock"),
    "tech_node_nm": (7, 180, "nm", "technology node; energies are scaled from 45 nm (Stillmaker & Baas 2017)"),
    "vdd_V": (0.3, 2.0, "V", "supply voltage (null: the node's nominal voltage)"),
    "noc_link_bits": (1, 4096, "bits/cycle", "NoC link width; a packet is ⌈packet bits / link bits⌉ flits"),
    "noc_hop_cycles": (0, 1000, "cycles", "router + link latency per hop"),
    "dram_bits_per_cycle": (1, 65536, "bits/cycle", "off-chip DRAM bandwidth"),
    "dram_spill": (0, 1, "bool", "map more tiles than cores by reloading weights from DRAM every timestep"),
}
CORE_FIELDS = {
    "crossbar_rows": (1, 1 << 20, "synapses", "crossbar inputs (axons) per core; conv: C_in·k² of a tile"),
    "crossbar_cols": (1, 1 << 20, "synapses", "crossbar outputs per core; conv: output channels of a tile"),
    "weight_bits": (1, 16, "bits", "bits per synapse cell; wider model weights are bit-sliced over columns"),
    "synapse_sram_KiB": (1e-3, 1 << 20, "KiB", "synapse memory per core (holds the crossbar)"),
    "membrane_sram_KiB": (1e-3, 1 << 20, "KiB", "neuron state memory: membrane + current accumulator"),
    "buffer_sram_KiB": (1e-3, 1 << 20, "KiB", "input spike buffer: one timestep of the core's input window"),
    "spike_bus_bits": (1, 4096, "bits/cycle", "input spike bus; carries (address, value) packets"),
    "address_bits": (1, 64, "bits", "address field of a spike packet"),
    "accumulator_lanes": (1, 65536, "lanes", "synaptic accumulations per cycle (one event at a time)"),
    "neuron_units": (1, 65536, "units", "neuron update units"),
    "neuron_update_cycles": (1, 1000, "cycles", "cycles per neuron update per unit"),
    "accumulator_bits": (2, 64, "bits", "synaptic accumulator (input current) width"),
    "membrane_bits": (2, 64, "bits", "membrane potential width"),
    "param_bits": (1, 32, "bits", "per-channel scale / bias / leak / threshold storage"),
}
SYSTOLIC_CHIP_FIELDS = {k: CHIP_FIELDS[k] for k in ("clock_MHz", "tech_node_nm", "vdd_V", "dram_bits_per_cycle")}
ARRAY_FIELDS = {
    "rows": (1, 4096, "PEs", "PE array rows (WS: reduction dimension; OS: output positions)"),
    "cols": (1, 4096, "PEs", "PE array columns (output channels)"),
    "dataflow": (None, None, "choice", "ws (weight stationary) | os (output stationary)"),
    "mode": (None, None, "choice", "dense (every operand streamed) | event (all-zero spike vectors skipped)"),
    "weight_bits": (1, 16, "bits", "weight bits per PE; wider model weights are bit-sliced over rows"),
    "accumulator_bits": (2, 64, "bits", "partial-sum width"),
    "membrane_bits": (2, 64, "bits", "membrane width of the neuron units after the array"),
    "param_bits": (1, 32, "bits", "per-channel scale / bias / leak / threshold storage"),
    "neuron_units": (1, 65536, "units", "neuron update units after the array"),
    "neuron_update_cycles": (1, 1000, "cycles", "cycles per neuron update per unit"),
    "ifmap_sram_KiB": (1e-3, 1 << 24, "KiB", "input (spike) buffer"),
    "filter_sram_KiB": (1e-3, 1 << 24, "KiB", "weight buffer"),
    "ofmap_sram_KiB": (1e-3, 1 << 24, "KiB", "partial sums, membranes and outputs"),
    "ifmap_bits_per_cycle": (1, 1 << 24, "bits/cycle", "ifmap SRAM bandwidth"),
    "filter_bits_per_cycle": (1, 1 << 24, "bits/cycle", "filter SRAM bandwidth"),
    "ofmap_bits_per_cycle": (1, 1 << 24, "bits/cycle", "ofmap SRAM bandwidth"),
}
CHOICES = {"dataflow": ("ws", "os"), "mode": ("dense", "event")}
FLOAT_FIELDS = {"clock_MHz", "vdd_V", "synapse_sram_KiB", "membrane_sram_KiB", "buffer_sram_KiB", "tech_node_nm",
                "ifmap_sram_KiB", "filter_sram_KiB", "ofmap_sram_KiB"}
# template → (chip fields, name of the unit section, its fields)
TEMPLATES = {"cores": (CHIP_FIELDS, "core", CORE_FIELDS), "systolic": (SYSTOLIC_CHIP_FIELDS, "array", ARRAY_FIELDS)}
# the systolic buffers play the roles of the core memories in the energy table and the counts
SYSTOLIC_MEMORY = {"synapse": "filter", "membrane": "ofmap", "buffer": "ifmap"}
TOP_KEYS = ("name", "description", "template", "chip", "core", "array", "energy")


@dataclass(frozen=True)
class Arch:
    name: str
    description: str
    template: str
    chip: dict
    core: dict  # the unit section: ``core`` (cores template) or ``array`` (systolic template)
    energy: dict  # ERT overrides: entry → {"pJ": value, "source": text}

    @property
    def section(self) -> str:
        return TEMPLATES[self.template][1]

    @property
    def cores(self) -> int:
        return self.chip["mesh_rows"] * self.chip["mesh_cols"] if self.template == "cores" else 1

    def kib_bits(self, memory: str) -> int:
        """Capacity of a unit memory (``synapse``/``membrane``/``buffer``; systolic: filter/ofmap/ifmap) in bits."""
        name = SYSTOLIC_MEMORY[memory] if self.template == "systolic" else memory
        return int(self.core[f"{name}_sram_KiB"] * 8192)

    def to_dict(self) -> dict:
        return {"name": self.name, "description": self.description, "template": self.template,
                "chip": dict(self.chip), self.section: dict(self.core), "energy": copy.deepcopy(self.energy)}

    def with_overrides(self, overrides: dict) -> "Arch":
        """A copy with ``{"core.spike_bus_bits": 64, "chip.clock_MHz": 400, ...}`` applied and validated."""
        d = self.to_dict()
        for key, value in overrides.items():
            section, _, field = key.partition(".")
            if section not in ("chip", self.section) or not field:
                raise EmpfError(f"parameter {key!r} does not apply to {self.name} ({self.template} template); "
                                f"allowed: chip.<field> or {self.section}.<field>")
            d[section][field] = value
        return from_dict(d, self.name)


def check_field(section: str, f: str, v, fields: dict, where: str) -> None:
    """One field's type and range; EmpfError naming ``section.f`` and what is allowed."""
    lo, hi, unit, _ = fields[f]
    name = f"{where}: {section}.{f}"
    if f == "vdd_V" and v is None:
        return
    if unit == "choice":
        check_choice(name, v, CHOICES[f])
    elif unit == "bool":
        if not isinstance(v, bool):
            raise EmpfError(f"{name}={v!r} is not valid; allowed: true, false")
    else:
        check_range(name, v, lo, hi, integer=f not in FLOAT_FIELDS)


def _check_section(section: str, d, fields: dict, where: str) -> dict:
    if not isinstance(d, dict):
        raise EmpfError(f"{where}: '{section}' must be a mapping of fields")
    unknown = sorted(set(map(str, d)) - set(fields))
    if unknown:
        raise EmpfError(f"{where}: unknown key {section}.{unknown[0]}; allowed: {', '.join(fields)}")
    for f, (_, _, unit, _) in fields.items():
        if d.get(f) is None and f != "vdd_V":
            raise EmpfError(f"{where}: missing {section}.{f} ({unit})")
        check_field(section, f, d.get(f), fields, where)
    return {f: d.get(f) for f in fields}


def from_dict(d: dict, where: str = "arch") -> Arch:
    """Validate a parsed spec; one EmpfError naming the field, its value and the allowed values."""
    check_keys(where, d, TOP_KEYS, "an architecture spec")
    template = d.get("template", "cores")
    check_choice(f"{where}: template", template, tuple(TEMPLATES))
    chip_fields, section, unit_fields = TEMPLATES[template]
    other = next(s for t, (_, s, _) in TEMPLATES.items() if t != template)
    if other in d:
        raise EmpfError(f"{where}: key {other!r} does not belong to the {template} template; allowed: {section}")
    chip = _check_section("chip", d.get("chip"), chip_fields, where)
    unit = _check_section(section, d.get(section), unit_fields, where)
    from .energy import check_overrides

    energy = check_overrides(d.get("energy") or {}, where)
    arch = Arch(str(d.get("name", where)), str(d.get("description", "")), template, chip, unit, energy)
    if template == "cores":
        _check_cores(unit, where)
    return arch


def _check_cores(core: dict, where: str) -> None:
    bits = core["crossbar_rows"] * core["crossbar_cols"] * core["weight_bits"]
    if core["synapse_sram_KiB"] * 8192 < bits:
        raise EmpfError(f"{where}: core.synapse_sram_KiB={core['synapse_sram_KiB']} cannot hold the "
                        f"{core['crossbar_rows']}×{core['crossbar_cols']}×{core['weight_bits']}-bit crossbar; "
                        f"allowed: >= {bits / 8192:g}")
    if core["spike_bus_bits"] < core["address_bits"]:
        raise EmpfError(f"{where}: core.spike_bus_bits={core['spike_bus_bits']} is narrower than one packet "
                        f"(address_bits={core['address_bits']}); allowed: >= {core['address_bits']}")


def presets() -> list[str]:
    return sorted({p.stem for d in shipped("presets") for p in d.glob("*.yaml")})


def read_yaml(path: Path, what: str):
    """Parsed YAML of a user file; one EmpfError for a missing, unreadable, non-UTF-8 or malformed file."""
    if not path.is_file():
        raise EmpfError(f"{what} {path}: not a file")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise EmpfError(f"{what} {path}: not UTF-8 text (byte {e.start}); allowed: a UTF-8 YAML file") from None
    except OSError as e:
        raise EmpfError(f"{what} {path}: cannot read ({e.strerror})") from None
    except yaml.YAMLError as e:
        raise EmpfError(f"{what} {path}: malformed YAML ({str(e).splitlines()[0]})") from None


def load_arch(spec: "str | Path | Arch") -> Arch:
    """An Arch from a preset name, a YAML path, a SCALE-Sim ``.cfg`` or an Arch (returned as is)."""
    if isinstance(spec, Arch):
        return spec
    s = str(spec)
    is_path = s.endswith((".yaml", ".yml", ".cfg")) or "/" in s
    path = find(s if is_path else f"{s}.yaml", "presets", Path.exists)
    if path is None:
        raise EmpfError(f"arch={s!r}: no such file or preset; presets: {', '.join(presets()) or 'none'}")
    if path.suffix == ".cfg" and path.is_file():  # a SCALE-Sim architecture file
        from .scalesim_io import read_config

        return read_config(path)
    return from_dict(read_yaml(path, "arch"), str(path))

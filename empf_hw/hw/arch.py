"""Architecture spec: a grid of neuromorphic cores on a 2-D mesh NoC, loaded from YAML and validated.

A spec file has ``name``, ``description``, ``template`` (``cores``), a ``chip`` and a ``core`` section (fields
below, each with its unit) and an optional ``energy`` section that overrides entries of the energy reference
table (see ``empf_hw.hw.energy``). Names without a path resolve to ``sims/hw/<name>.yaml``.
"""

import copy
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..errors import EmpfError, check_choice, check_range

TEMPLATES = ("cores",)
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
FLOAT_FIELDS = {"clock_MHz", "vdd_V", "synapse_sram_KiB", "membrane_sram_KiB", "buffer_sram_KiB", "tech_node_nm"}
TOP_KEYS = ("name", "description", "template", "chip", "core", "energy")
PRESET_DIR = Path("sims") / "hw"


@dataclass(frozen=True)
class Arch:
    name: str
    description: str
    template: str
    chip: dict
    core: dict
    energy: dict  # ERT overrides: entry → {"pJ": value, "source": text}

    @property
    def cores(self) -> int:
        return self.chip["mesh_rows"] * self.chip["mesh_cols"]

    def kib_bits(self, memory: str) -> int:
        """Capacity of a core memory (``synapse``/``membrane``/``buffer``) in bits."""
        return int(self.core[f"{memory}_sram_KiB"] * 8192)

    def to_dict(self) -> dict:
        return {"name": self.name, "description": self.description, "template": self.template,
                "chip": dict(self.chip), "core": dict(self.core), "energy": copy.deepcopy(self.energy)}

    def with_overrides(self, overrides: dict) -> "Arch":
        """A copy with ``{"core.spike_bus_bits": 64, "chip.clock_MHz": 400, ...}`` applied and validated."""
        d = self.to_dict()
        for key, value in overrides.items():
            section, _, field = key.partition(".")
            if section not in ("chip", "core") or not field:
                raise EmpfError(f"parameter {key!r}: allowed: chip.<field> or core.<field>")
            d[section][field] = value
        return from_dict(d, self.name)


def _check_section(section: str, d, fields: dict, where: str) -> dict:
    if not isinstance(d, dict):
        raise EmpfError(f"{where}: '{section}' must be a mapping of fields")
    unknown = sorted(set(d) - set(fields))
    if unknown:
        raise EmpfError(f"{where}: unknown key {section}.{unknown[0]}; allowed: {', '.join(fields)}")
    out = {}
    for f, (lo, hi, unit, _) in fields.items():
        v = d.get(f)
        if f == "vdd_V" and v is None:
            out[f] = None
            continue
        if v is None:
            raise EmpfError(f"{where}: missing {section}.{f} ({unit})")
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) if f in FLOAT_FIELDS else (
            isinstance(v, bool) if unit == "bool" else isinstance(v, int) and not isinstance(v, bool))
        if not ok:
            kind = "true/false" if unit == "bool" else "a number" if f in FLOAT_FIELDS else "an integer"
            raise EmpfError(f"{where}: {section}.{f}={v!r} must be {kind}")
        if unit != "bool":
            check_range(f"{where}: {section}.{f}", v, lo, hi)
        out[f] = v
    return out


def from_dict(d: dict, where: str = "arch") -> Arch:
    """Validate a parsed spec; one EmpfError naming the field, its value and the allowed values."""
    if not isinstance(d, dict):
        raise EmpfError(f"{where}: an architecture spec must be a YAML mapping with keys {', '.join(TOP_KEYS)}")
    unknown = sorted(set(d) - set(TOP_KEYS))
    if unknown:
        raise EmpfError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(TOP_KEYS)}")
    template = d.get("template", "cores")
    check_choice(f"{where}: template", template, TEMPLATES)
    chip = _check_section("chip", d.get("chip"), CHIP_FIELDS, where)
    core = _check_section("core", d.get("core"), CORE_FIELDS, where)
    bits = core["crossbar_rows"] * core["crossbar_cols"] * core["weight_bits"]
    if core["synapse_sram_KiB"] * 8192 < bits:
        raise EmpfError(f"{where}: core.synapse_sram_KiB={core['synapse_sram_KiB']} cannot hold the "
                        f"{core['crossbar_rows']}×{core['crossbar_cols']}×{core['weight_bits']}-bit crossbar; "
                        f"allowed: >= {bits / 8192:g}")
    if core["spike_bus_bits"] < core["address_bits"]:
        raise EmpfError(f"{where}: core.spike_bus_bits={core['spike_bus_bits']} is narrower than one packet "
                        f"(address_bits={core['address_bits']}); allowed: >= {core['address_bits']}")
    from .energy import check_overrides

    energy = check_overrides(d.get("energy") or {}, where)
    return Arch(str(d.get("name", where)), str(d.get("description", "")), template, chip, core, energy)


def preset_path(name: str) -> Path:
    """``sims/hw/<name>.yaml`` in the working directory or in the source tree this package sits in."""
    for root in (Path.cwd(), Path(__file__).resolve().parents[2]):
        p = root / PRESET_DIR / f"{name}.yaml"
        if p.exists():
            return p
    return Path.cwd() / PRESET_DIR / f"{name}.yaml"


def presets() -> list[str]:
    roots = [Path.cwd() / PRESET_DIR, Path(__file__).resolve().parents[2] / PRESET_DIR]
    return sorted({p.stem for r in roots if r.is_dir() for p in r.glob("*.yaml")})


def load_arch(spec: "str | Path | Arch") -> Arch:
    """An Arch from a preset name, a YAML path or an Arch (returned as is)."""
    if isinstance(spec, Arch):
        return spec
    s = str(spec)
    path = Path(s) if s.endswith((".yaml", ".yml")) or "/" in s else preset_path(s)
    if not path.exists():
        raise EmpfError(f"arch={s!r}: no such file or preset; presets: {', '.join(presets()) or 'none'}")
    try:
        d = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise EmpfError(f"arch {path}: malformed YAML ({str(e).splitlines()[0]})") from None
    return from_dict(d, str(path))

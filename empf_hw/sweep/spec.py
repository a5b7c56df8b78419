"""Sweep specs (YAML): models × parameters (lists or ranges), grid or seeded random sampling, constraints.

```yaml
name: bus-x-spike-bits
models: [models/digits_cnn-empf-online-T4]      # or {path: ..., arch: stbp-core-45nm}
arch: empf-core-45nm                            # base architecture of models without their own
lowering: parallel                              # optional: spikes wider than a chip's packets (parallel | serial)
timing: fast                                    # fast (estimate) | cycle (cores: latency simulated cycle by cycle)
cycle_samples: 3                                # timing: cycle only: inferences simulated per point (mean, p99)
samples: 120                                    # test samples per trace (default: all)
seed: 0                                         # subset selection (0: the first samples) and random sampling
sampling: grid                                  # grid | random
points: 20                                      # random sampling only
parameters:
  core.spike_bus_bits: [16, 24, 32, 64]
  spike_bits: {range: [2, 8], step: 2}          # also {range: [lo, hi], num: n} or {values: [...]}
constraints:
  - core.spike_bus_bits >= core.address_bits + spike_bits
```

Parameters are ``spike_bits`` and ``timesteps`` (they change the arithmetic, so they need their own activity
trace), any ``chip.<field>`` / ``core.<field>`` (``array.<field>`` for systolic architectures) of the
architecture spec, and ``mapping.policy`` (a placement policy of the cores template: serpentine, greedy,
layer-sequential; see ``empf_hw.hw.cores.placement``); these reuse a cached trace.
Constraints are Python-like comparisons over parameters and architecture fields (``and``/``or``/``not``,
arithmetic; at most 500 characters, powers with |exponent| <= 64 and |base| <= 2^64); a point is kept when all
hold. A spec of more than ``max_points`` points (default 100,000) is refused before it is enumerated. Every
problem is reported before any work starts.
"""

import ast
import hashlib
import itertools
import json
import math
import operator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..deploy.graph import DEFAULT_FORMATS
from ..errors import EmpfError, check_choice, check_keys, check_range
from ..hw.arch import ARRAY_FIELDS, CHIP_FIELDS, CORE_FIELDS, SYSTEM_FIELDS, check_field, read_yaml
from ..hw.cores.placement import POLICIES
from ..hw.formats import load_arch
from ..resources import find
from ..sim.executor import max_spike_bits

TRACE_PARAMS = ("spike_bits", "timesteps")
MAPPING_PARAM = "mapping.policy"
ARCH_PREFIXES = ("system.", "chip.", "core.", "array.")
FIELDS = {"system": SYSTEM_FIELDS, "chip": CHIP_FIELDS, "core": CORE_FIELDS, "array": ARRAY_FIELDS}
TOP_KEYS = ("name", "description", "models", "arch", "samples", "seed", "sampling", "points", "parameters",
            "constraints", "data_dir", "lowering", "timing", "cycle_samples")
SAMPLING = ("grid", "random")
MAX_POINTS = 100_000
MAX_CONSTRAINT_CHARS = 500
MAX_EXPONENT, MAX_BASE = 64, 2**64


def allowed_parameters() -> list[str]:
    return list(TRACE_PARAMS) + [f"{sec}.{f}" for sec, fields in FIELDS.items() for f in fields] + [MAPPING_PARAM]


def _count(name: str, v, max_points: int) -> int:
    """Number of values of a parameter, computed before any list is built."""
    if isinstance(v, list):
        n = len(v)
    elif isinstance(v, dict) and set(v) == {"values"} and isinstance(v["values"], list):
        n = len(v["values"])
    elif isinstance(v, dict) and "range" in v and set(v) - {"range"} <= {"step", "num"} and len(v) == 2:
        r = v["range"]
        if not (isinstance(r, list) and len(r) == 2):
            raise EmpfError(f"parameter {name}: range must be [low, high]")
        for x in r:
            check_range(f"parameter {name}: range", x, -1e300, 1e300)
        lo, hi = r
        if "step" in v:
            check_range(f"parameter {name}: step", v["step"], 1e-300, 1e300)
            n = int(math.floor((hi - lo) / v["step"] + 1e-9)) + 1 if hi >= lo else 0
        else:
            check_range(f"parameter {name}: num", v["num"], 1, max_points, integer=True)
            n = v["num"] if hi >= lo else 0
    else:
        raise EmpfError(f"parameter {name}: give a list, {{values: [...]}}, {{range: [lo, hi], step: s}} or "
                        "{range: [lo, hi], num: n}")
    if n == 0:
        raise EmpfError(f"parameter {name}: empty list or range; give at least one value")
    return n


def _values(name: str, v) -> list:
    if isinstance(v, list):
        return v
    if "values" in v:
        return v["values"]
    lo, hi = v["range"]
    if "step" in v:
        values = [lo + i * v["step"] for i in range(int(math.floor((hi - lo) / v["step"] + 1e-9)) + 1)]
        return [int(x) for x in values] if all(isinstance(x, int) for x in (lo, hi, v["step"])) else values
    return np.linspace(lo, hi, v["num"]).tolist()


def _check_value(name: str, x, where: str) -> None:
    if name in TRACE_PARAMS:
        check_range(f"{where}: parameter {name}", x, 1,
                    max_spike_bits(DEFAULT_FORMATS) if name == "spike_bits" else 1024, integer=True)
    elif name == MAPPING_PARAM:
        check_choice(f"{where}: parameter {name}", x, POLICIES)
    else:
        section, _, field = name.partition(".")
        check_field(section, field, x, FIELDS[section], f"{where}: parameter")


def _pow(base, exp):
    if abs(exp) > MAX_EXPONENT or abs(base) > MAX_BASE:
        raise EmpfError(f"power {base!r} ** {exp!r} is too large; allowed: |exponent| <= {MAX_EXPONENT}, "
                        f"|base| <= 2^64")
    return operator.pow(base, exp)


_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: _pow, ast.Lt: operator.lt,
        ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Eq: operator.eq,
        ast.NotEq: operator.ne}


def _eval(node, env: dict):
    if isinstance(node, ast.Expression):
        return _eval(node.body, env)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, bool)):
        return node.value
    if isinstance(node, ast.Name):
        return env[node.id]
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return env[f"{node.value.id}.{node.attr}"]
    if isinstance(node, ast.BoolOp):
        vals = [_eval(v, env) for v in node.values]
        return all(vals) if isinstance(node.op, ast.And) else any(vals)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
        v = _eval(node.operand, env)
        return (not v) if isinstance(node.op, ast.Not) else -v
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_eval(node.left, env), _eval(node.right, env))
    if isinstance(node, ast.Compare) and all(type(o) in _OPS for o in node.ops):
        left = _eval(node.left, env)
        for op, right in zip(node.ops, node.comparators):
            r = _eval(right, env)
            if not _OPS[type(op)](left, r):
                return False
            left = r
        return True
    raise EmpfError(f"unsupported expression {ast.unparse(node)!r}; allowed: numbers, parameters, arithmetic, "
                    "comparisons, and/or/not")


def holds(constraint: str, tree, env: dict) -> bool:
    """Evaluate one parsed constraint; EmpfError naming it when it cannot be evaluated."""
    try:
        return bool(_eval(tree, env))
    except EmpfError as e:
        raise EmpfError(f"constraint {constraint!r}: {e}") from None
    except KeyError as e:
        raise EmpfError(f"constraint {constraint!r}: {e.args[0]!r} is not a field of this architecture") from None
    except (ArithmeticError, TypeError, ValueError) as e:
        raise EmpfError(f"constraint {constraint!r} cannot be evaluated ({e})") from None


def _names(tree) -> list[str]:
    out = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name):
            out.append(f"{n.value.id}.{n.attr}")
        elif isinstance(n, ast.Name) and not any(isinstance(p, ast.Attribute) and p.value is n
                                                 for p in ast.walk(tree)):
            out.append(n.id)
    return out


@dataclass(frozen=True)
class SweepSpec:
    name: str
    models: tuple[tuple[str, str], ...]  # (checkpoint, base arch)
    samples: int | None
    seed: int
    sampling: str
    n_points: int | None
    parameters: dict
    constraints: tuple[str, ...]
    data_dir: str | None
    source: dict  # the validated spec, for the store
    lowering: str | None = None  # spikes wider than a chip's packets: parallel | serial (default: refuse)
    timing: str = "fast"  # fast | cycle: how each point's latency is found
    cycle_samples: int = 3  # timing: cycle: inferences simulated per point

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.source, sort_keys=True).encode()).hexdigest()[:16]

    def points(self) -> list[dict]:
        """Every point to run, in a fixed order: {"model", "arch", parameters...}."""
        names = list(self.parameters)
        trees = [ast.parse(c, mode="eval") for c in self.constraints]
        out = []
        for model, arch in self.models:
            base = load_arch(arch)
            env0 = {**{f"chip.{k}": v for k, v in base.chip.items()},
                    **{f"{base.section}.{k}": v for k, v in base.core.items()},
                    **{f"system.{k}": v for k, v in (base.system or {}).items()}}
            for combo in itertools.product(*(self.parameters[n] for n in names)):
                p = dict(zip(names, combo))
                env = {**env0, **p}
                if all(holds(c, t, env) for c, t in zip(self.constraints, trees)):
                    out.append({"model": model, "arch": arch, **p})
        if not out:
            raise EmpfError(f"sweep {self.name!r}: the constraints exclude every point; constraints: "
                            f"{list(self.constraints)}")
        if self.sampling == "random" and self.n_points < len(out):
            keep = np.sort(np.random.default_rng(self.seed).choice(len(out), self.n_points, replace=False))
            out = [out[i] for i in keep]
        return out


def point_key(point: dict) -> str:
    return json.dumps(point, sort_keys=True)


def _models(d: dict, where: str) -> list[tuple[str, str]]:
    base = d.get("arch", "empf-core-45nm")
    if not isinstance(base, str):
        raise EmpfError(f"{where}: arch={base!r} is not valid; allowed: a preset name or YAML path")
    raw = d.get("models")
    models = []
    for m in raw if isinstance(raw, list) else [None]:
        if isinstance(m, str):
            models.append((m, base))
        elif isinstance(m, dict) and set(m) <= {"path", "arch"} and isinstance(m.get("path"), str) and \
                isinstance(m.get("arch", base), str):
            models.append((m["path"], m.get("arch", base)))
        else:
            raise EmpfError(f"{where}: models: give a list whose entries are checkpoint paths or "
                            "{path: ..., arch: ...}")
    if not models:
        raise EmpfError(f"{where}: models: give at least one checkpoint")
    from ..nn.checkpoint import load_card

    for path, arch in models:
        load_card(path)
        load_arch(arch)
    return models


def parse_spec(d, where: str = "sweep spec", max_points: int = MAX_POINTS) -> SweepSpec:
    """Validate a parsed spec; one EmpfError naming the field and what is allowed."""
    check_keys(where, d, TOP_KEYS, "a sweep spec")
    for k in ("name", "description", "data_dir"):
        if d.get(k) is not None and not isinstance(d[k], str):
            raise EmpfError(f"{where}: {k}={d[k]!r} is not valid; allowed: text")
    models = _models(d, where)
    sampling = d.get("sampling", "grid")
    check_choice(f"{where}: sampling", sampling, SAMPLING)
    n_points = d.get("points")
    if sampling == "random":
        check_range(f"{where}: points", n_points, 1, integer=True)
    elif n_points is not None:
        raise EmpfError(f"{where}: points is only used with sampling: random")
    lowering = d.get("lowering")
    if lowering is not None:
        check_choice(f"{where}: lowering", lowering, ("parallel", "serial"))
    timing = d.get("timing", "fast")
    check_choice(f"{where}: timing", timing, ("fast", "cycle"))
    cycle_samples = d.get("cycle_samples", 3)
    check_range(f"{where}: cycle_samples", cycle_samples, 1, 1000, integer=True)
    if "cycle_samples" in d and timing != "cycle":
        raise EmpfError(f"{where}: cycle_samples applies to timing: cycle; allowed: timing: cycle, or no "
                        "cycle_samples")
    samples, seed = d.get("samples"), d.get("seed", 0)
    if samples is not None:
        check_range(f"{where}: samples", samples, 1, integer=True)
    check_range(f"{where}: seed", seed, 0, 2**32 - 1, integer=True)
    raw = d.get("parameters") or {}
    if not isinstance(raw, dict) or not raw:
        raise EmpfError(f"{where}: parameters: give at least one parameter; allowed: "
                        f"{', '.join(allowed_parameters())}")
    total = len(models)
    for name, v in raw.items():
        if name not in allowed_parameters():
            raise EmpfError(f"{where}: unknown parameter {name!r}; allowed: {', '.join(allowed_parameters())}")
        total *= _count(name, v, max_points)
        if total > max_points:
            raise EmpfError(f"{where}: the spec has more than {max_points} points (models × parameter values); "
                            "allowed: at most --max-points points")
    params = {}
    for name, v in raw.items():
        values = _values(name, v)
        for x in values:
            _check_value(name, x, where)
        seen = [json.dumps(x, sort_keys=True) for x in values]
        if len(set(seen)) < len(seen):
            twice = next(x for x in seen if seen.count(x) > 1)
            raise EmpfError(f"{where}: parameter {name} lists {twice} more than once; allowed: distinct values")
        params[name] = values
    constraints = d.get("constraints") or []
    if not isinstance(constraints, list) or not all(isinstance(c, str) for c in constraints):
        raise EmpfError(f"{where}: constraints must be a list of expressions")
    known = set(params) | {p for p in allowed_parameters() if p not in TRACE_PARAMS}
    for c in constraints:
        if len(c) > MAX_CONSTRAINT_CHARS:
            raise EmpfError(f"{where}: constraint {c[:40]!r}... is {len(c)} characters long; allowed: at most "
                            f"{MAX_CONSTRAINT_CHARS}")
        try:
            tree = ast.parse(c, mode="eval")
        except SyntaxError:
            raise EmpfError(f"{where}: constraint {c!r} is not a valid expression") from None
        for n in _names(tree):
            if n not in known:
                raise EmpfError(f"{where}: constraint {c!r} uses {n!r}; allowed: swept parameters and chip./core./"
                                "array. fields")
    source = {"name": d.get("name", where), "models": [list(m) for m in models], "samples": samples, "seed": seed,
              "sampling": sampling, "points": n_points, "parameters": params, "constraints": constraints,
              "data_dir": d.get("data_dir"), **({"lowering": lowering} if lowering else {}),
              **({"timing": timing, "cycle_samples": cycle_samples} if timing == "cycle" else {})}
    spec = SweepSpec(str(source["name"]), tuple(models), samples, seed, sampling, n_points, params,
                     tuple(constraints), d.get("data_dir"), source, lowering, timing, cycle_samples)
    for p in spec.points():  # contradictory constraints and invalid architectures fail here, before any work
        try:
            load_arch(p["arch"]).with_overrides({k: v for k, v in p.items() if k.startswith(ARCH_PREFIXES)})
        except EmpfError as e:
            raise EmpfError(f"{where}: point {point_key(p)}: {e}; exclude it with a constraint") from None
    return spec


def load_spec(path: str | Path, max_points: int = MAX_POINTS) -> SweepSpec:
    """A spec from a YAML path, or a shipped spec by name (``bus-x-spike-bits``; see ``empf_hw.resources``)."""
    s = str(path)
    found = find(s if s.endswith((".yaml", ".yml")) or "/" in s else f"{s}.yaml", "sweeps", Path.exists)
    if found is None:
        raise EmpfError(f"sweep spec {s}: no such file or shipped spec")
    return parse_spec(read_yaml(found, "sweep spec"), str(path), max_points)

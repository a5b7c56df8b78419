"""Sweep specs (YAML): models × parameters (lists or ranges), grid or seeded random sampling, constraints.

```yaml
name: bus-x-spike-bits
models: [models/digits_cnn-empf-online-T4]      # or {path: ..., arch: stbp-core-45nm}
arch: empf-core-45nm                            # base architecture of models without their own
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
trace) and any ``chip.<field>`` / ``core.<field>`` (``array.<field>`` for systolic architectures) of the
architecture spec (these reuse a cached trace).
Constraints are Python-like comparisons over parameters and architecture fields (``and``/``or``/``not``,
arithmetic); a point is kept when all hold. Every problem is reported before any work starts.
"""

import ast
import hashlib
import itertools
import json
import operator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from ..errors import EmpfError, check_choice, check_keys, check_range
from ..hw.arch import ARRAY_FIELDS, CHIP_FIELDS, CORE_FIELDS, load_arch

TRACE_PARAMS = ("spike_bits", "timesteps")
ARCH_PREFIXES = ("chip.", "core.", "array.")
TOP_KEYS = ("name", "description", "models", "arch", "samples", "seed", "sampling", "points", "parameters",
            "constraints", "data_dir")
SAMPLING = ("grid", "random")


def allowed_parameters() -> list[str]:
    return (list(TRACE_PARAMS) + [f"chip.{f}" for f in CHIP_FIELDS] + [f"core.{f}" for f in CORE_FIELDS]
            + [f"array.{f}" for f in ARRAY_FIELDS])


def _values(name: str, v) -> list:
    if isinstance(v, list):
        values = v
    elif isinstance(v, dict) and set(v) == {"values"}:
        values = v["values"]
    elif isinstance(v, dict) and "range" in v and set(v) - {"range"} <= {"step", "num"} and len(v) == 2:
        r = v["range"]
        if not (isinstance(r, list) and len(r) == 2 and all(isinstance(x, (int, float)) for x in r)):
            raise EmpfError(f"parameter {name}: range must be [low, high]")
        lo, hi = r
        if "step" in v:
            step = v["step"]
            if not isinstance(step, (int, float)) or step <= 0:
                raise EmpfError(f"parameter {name}: step={step!r} is out of range; allowed: a number > 0")
            n = int(np.floor((hi - lo) / step + 1e-9)) + 1 if hi >= lo else 0
            values = [lo + i * step for i in range(n)]
        else:
            num = v["num"]
            check_range(f"parameter {name}: num", num, 1)
            values = np.linspace(lo, hi, num).tolist() if hi >= lo else []
        if all(isinstance(x, int) for x in (lo, hi, v.get("step", 1))) and "num" not in v:
            values = [int(x) for x in values]
    else:
        raise EmpfError(f"parameter {name}: give a list, {{values: [...]}}, {{range: [lo, hi], step: s}} or "
                        "{range: [lo, hi], num: n}")
    if not values:
        raise EmpfError(f"parameter {name}: empty list or range; give at least one value")
    return values


_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow, ast.Lt: operator.lt,
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
    raise EmpfError(f"constraint: unsupported expression {ast.unparse(node)!r}")


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
                    **{f"{base.section}.{k}": v for k, v in base.core.items()}}
            for combo in itertools.product(*(self.parameters[n] for n in names)):
                p = dict(zip(names, combo))
                env = {**env0, **p}
                if all(_eval(t, env) for t in trees):
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


def parse_spec(d, where: str = "sweep spec") -> SweepSpec:
    """Validate a parsed spec; one EmpfError naming the field and what is allowed."""
    check_keys(where, d, TOP_KEYS, "a sweep spec")
    base = d.get("arch", "empf-core-45nm")
    models = []
    for m in d.get("models") or []:
        if isinstance(m, str):
            models.append((m, base))
        elif isinstance(m, dict) and set(m) <= {"path", "arch"} and "path" in m:
            models.append((m["path"], m.get("arch", base)))
        else:
            raise EmpfError(f"{where}: models: each entry is a checkpoint path or {{path: ..., arch: ...}}")
    if not models:
        raise EmpfError(f"{where}: models: give at least one checkpoint")
    from ..nn.checkpoint import load_card

    for path, arch in models:
        load_card(path)
        load_arch(arch)
    sampling = d.get("sampling", "grid")
    check_choice(f"{where}: sampling", sampling, SAMPLING)
    n_points = d.get("points")
    if sampling == "random":
        check_range(f"{where}: points", n_points, 1)
    elif n_points is not None:
        raise EmpfError(f"{where}: points is only used with sampling: random")
    samples, seed = d.get("samples"), d.get("seed", 0)
    if samples is not None:
        check_range(f"{where}: samples", samples, 1)
    check_range(f"{where}: seed", seed, 0)
    raw = d.get("parameters") or {}
    if not isinstance(raw, dict) or not raw:
        raise EmpfError(f"{where}: parameters: give at least one parameter; allowed: "
                        f"{', '.join(allowed_parameters())}")
    params = {}
    for name, v in raw.items():
        if name not in allowed_parameters():
            raise EmpfError(f"{where}: unknown parameter {name!r}; allowed: {', '.join(allowed_parameters())}")
        values = _values(name, v)
        for x in values if name in TRACE_PARAMS else ():
            check_range(f"{where}: parameter {name}", x, 1, 32 if name == "spike_bits" else 1024)
            if not isinstance(x, int):
                raise EmpfError(f"{where}: parameter {name}={x!r} must be an integer")
        params[name] = values
    constraints = d.get("constraints") or []
    if not isinstance(constraints, list) or not all(isinstance(c, str) for c in constraints):
        raise EmpfError(f"{where}: constraints must be a list of expressions")
    known = set(params) | {p for p in allowed_parameters() if p not in TRACE_PARAMS}
    for c in constraints:
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
              "data_dir": d.get("data_dir")}
    spec = SweepSpec(str(source["name"]), tuple(models), samples, seed, sampling, n_points, params,
                     tuple(constraints), d.get("data_dir"), source)
    for p in spec.points():  # contradictory constraints and invalid architectures fail here, before any work
        try:
            load_arch(p["arch"]).with_overrides({k: v for k, v in p.items() if k.startswith(ARCH_PREFIXES)})
        except EmpfError as e:
            raise EmpfError(f"{where}: point {point_key(p)}: {e}; exclude it with a constraint") from None
    return spec


def load_spec(path: str | Path) -> SweepSpec:
    p = Path(path)
    if not p.exists():
        raise EmpfError(f"sweep spec {p}: no such file")
    try:
        d = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise EmpfError(f"sweep spec {p}: malformed YAML ({str(e).splitlines()[0]})") from None
    return parse_spec(d, str(p))

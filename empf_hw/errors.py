"""The one exception type for bad user input; the CLI turns it into a one-line message and exit code 2."""

import math
from numbers import Integral, Real


class EmpfError(ValueError):
    """Invalid input: the message names the offending field and what is allowed."""


def check_choice(field: str, value, allowed) -> None:
    """Raise EmpfError unless ``value`` is one of ``allowed``."""
    try:
        ok = value in allowed
    except TypeError:  # an unhashable value (a YAML list or mapping)
        ok = False
    if not ok:
        raise EmpfError(f"{field}={value!r} is not valid; allowed: {', '.join(map(str, allowed))}")


def check_range(field: str, value, lo, hi=None, integer: bool = False) -> None:
    """Raise EmpfError unless ``value`` is a finite number (an integer if ``integer``) with ``lo <= value <= hi``
    (``hi=None``: no upper bound)."""
    bound = f"{lo}..{hi}" if hi is not None else f">= {lo}"
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, Integral if integer else Real):
        raise EmpfError(f"{field}={value!r} is not valid; allowed: {kind} {bound}")
    if not math.isfinite(value) or value < lo or (hi is not None and value > hi):
        raise EmpfError(f"{field}={value!r} is out of range; allowed: {kind} {bound}")


def check_bool(field: str, value) -> None:
    if not isinstance(value, bool):
        raise EmpfError(f"{field}={value!r} is not valid; allowed: true, false")


def check_keys(where: str, d, allowed, what: str) -> None:
    """Raise EmpfError unless ``d`` is a mapping whose keys are all in ``allowed``."""
    if not isinstance(d, dict):
        raise EmpfError(f"{where}: {what} must be a YAML mapping with keys {', '.join(allowed)}")
    unknown = sorted(set(map(str, d)) - set(allowed))
    if unknown:
        raise EmpfError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(allowed)}")

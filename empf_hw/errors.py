"""The one exception type for bad user input; the CLI turns it into a one-line message and exit code 2."""


class EmpfError(ValueError):
    """Invalid input: the message names the offending field and what is allowed."""


def check_choice(field: str, value, allowed) -> None:
    """Raise EmpfError unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise EmpfError(f"{field}={value!r} is not valid; allowed: {', '.join(map(str, allowed))}")


def check_range(field: str, value, lo, hi=None) -> None:
    """Raise EmpfError unless ``lo <= value <= hi`` (``hi=None``: no upper bound)."""
    if value is None or value < lo or (hi is not None and value > hi):
        bound = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise EmpfError(f"{field}={value!r} is out of range; allowed: {bound}")


def check_keys(where: str, d, allowed, what: str) -> None:
    """Raise EmpfError unless ``d`` is a mapping whose keys are all in ``allowed``."""
    if not isinstance(d, dict):
        raise EmpfError(f"{where}: {what} must be a YAML mapping with keys {', '.join(allowed)}")
    unknown = sorted(set(d) - set(allowed))
    if unknown:
        raise EmpfError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(allowed)}")

"""Engineering units for people: a table's raw SI columns (energy in pJ, time in µs, memory in bits or bytes,
counts, accuracy and utilization as fractions) shown with one SI prefix per column (µJ, nJ, µs, KiB, MiB, k, M)
and accuracy in %. CLI, Markdown and HTML all show ``human(df)``; CSV and JSON keep the raw values, whose column
names carry the unit."""

import math
import re

import pandas as pd

# (unit, factor in the raw unit), smallest first
ENERGY_PJ = [("pJ", 1.0), ("nJ", 1e3), ("µJ", 1e6), ("mJ", 1e9), ("J", 1e12)]
TIME_US = [("ns", 1e-3), ("µs", 1.0), ("ms", 1e3), ("s", 1e6)]
MEMORY_BITS = [("B", 8.0), ("KiB", 8 * 1024.0), ("MiB", 8 * 1024.0**2), ("GiB", 8 * 1024.0**3)]
COUNT = [("", 1.0), ("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12)]
COUNTS = {"sops", "macs", "neuron_updates", "syn_ops_hw", "input_events", "effective_macs", "effective_acs",
          "dense", "empf_hw_sops", "empf_hw_macs", "dense_synops", "packets", "flits"}
# name pattern → (kind, label of the stem); tried in order
RULES = [(r"(.*)_pJ_per_inference", "energy", r"\1 per inference"), (r"(.*)_pJ", "energy", r"\1"),
         (r"(.*)_pJ_(.*)", "energy", r"\1 \2"),
         (r"(.*)_us", "time", r"\1"), (r"(.*memory)_bits", "memory", r"\1"),
         (r"(.*)_bytes", "bytes", r"\1"), (r"(.*)_cycles(.*)", "cycles", r"\1\2"),
         (r"(.*)_percent", "percent_raw", r"\1"), (r"(.*)_pct(.*)", "percent_raw", r"\1\2"),
         (r"(.*)_(bits|MHz|nm|V|flits|W)", "as_is", r"\1 (\2)"), (r"(.*)_mm2", "as_is", r"\1 (mm²)")]


def column_kind(name: str) -> tuple[str, str]:
    """(kind, stem) of a raw column name; kind "" for a column shown as is."""
    low = name.lower()
    if low == "accuracy" or low.endswith("_accuracy") or low.endswith("utilization"):
        return "fraction", name
    for pattern, kind, stem in RULES:
        if re.fullmatch(pattern, name):
            return kind, re.sub(pattern, stem, name)
    if low in COUNTS or low.startswith("nb_effective") or low == "nb_dense_synops":
        return "count", name
    return "", name


def _prefix(values: pd.Series, scale: list[tuple[str, float]]) -> tuple[str, float]:
    """The largest unit in which the column's largest magnitude is at least 1."""
    big = values.abs().max() if len(values) else 0.0
    unit = scale[0]
    for u in scale:
        if big >= u[1]:
            unit = u
    return unit


def _decimals(values: pd.Series) -> int:
    """Decimals giving 4 significant digits on the column's largest magnitude (0 to 3)."""
    big = values.abs().max() if len(values) else 0.0
    if not big or not math.isfinite(big):
        return 0
    return min(3, max(0, 3 - math.floor(math.log10(big))))


def _format(values: pd.Series, decimals: int) -> list[str]:
    return ["–" if pd.isna(v) else f"{v:,.{decimals}f}" for v in values]


def _label(stem: str, unit: str) -> str:
    stem = stem.replace("_", " ").strip()
    return f"{stem} ({unit})" if unit else stem


def human_column(name: str, values: pd.Series) -> tuple[str, list[str]]:
    """The column's label and its values as text in engineering units."""
    kind, stem = column_kind(name)
    if pd.api.types.is_bool_dtype(values) or any(isinstance(v, (str, bool)) for v in values):  # text, choices
        return _label(name, ""), ["–" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
                                  for v in values]
    num = pd.to_numeric(values, errors="coerce")
    finite = num[num.map(lambda v: math.isfinite(v) if pd.notna(v) else False)]
    if kind in ("fraction", "percent_raw"):
        pct = num * (100.0 if kind == "fraction" else 1.0)
        return _label(stem, "%"), _format(pct, 2)
    scales = {"energy": ENERGY_PJ, "time": TIME_US, "memory": MEMORY_BITS, "count": COUNT, "cycles": COUNT,
              "bytes": [(u, f / 8) for u, f in MEMORY_BITS]}
    if kind in scales:
        unit, factor = _prefix(finite, scales[kind])
        scaled = num / factor
        if kind == "cycles":
            unit = f"{unit} cycles".strip()
        dec = 0 if kind in ("count", "cycles") and factor == 1 and (finite % 1 == 0).all() else \
            _decimals(finite / factor)
        return _label(stem, unit), _format(scaled, dec)
    label = stem if kind == "as_is" else name
    if (finite % 1 == 0).all():
        return _label(label, ""), _format(num, 0)
    return _label(label, ""), _format(num, _decimals(finite))


def human(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with every column in engineering units, as text, its label naming the unit."""
    cols = {}
    for name in df.columns:
        label, values = human_column(str(name), df[name])
        cols[label] = values
    return pd.DataFrame(cols, index=df.index)


def human_rows(df: pd.DataFrame, name_col: str, value_cols: list[str]) -> pd.DataFrame:
    """A table with one quantity per row (``name_col`` holds its raw column name): each row's values in that
    quantity's unit, the unit moved into the name."""
    out = df.copy().astype(object)
    for i, row in df.iterrows():
        raw = [row[c] for c in value_cols]
        if any(isinstance(v, str) or v is None for v in raw):  # a text quantity (a name, a choice)
            out.at[i, name_col] = _label(str(row[name_col]), "")
            continue
        label, values = human_column(str(row[name_col]), pd.Series(raw, dtype=float))
        out.at[i, name_col] = label
        for c, v in zip(value_cols, values):
            out.at[i, c] = v
    rest = [c for c in df.columns if c not in value_cols and c != name_col]
    return pd.concat([out[[name_col, *value_cols]], human(df[rest])], axis=1) if rest else out[[name_col, *value_cols]]


def text(df: pd.DataFrame) -> str:
    """A table for the terminal, in engineering units."""
    return human(df).to_string(index=False)


def quantity(name: str, value: float) -> str:
    """One value with its unit, e.g. ``quantity("energy_pJ", 2.2e7)`` → ``22.00 µJ``."""
    label, (v,) = human_column(name, pd.Series([value], dtype=float))
    unit = label[label.rfind("(") + 1:-1] if label.endswith(")") else ""
    return f"{v} {unit}".strip()

"""Mapping command: ``map`` — placement policies and a seeded search of the tile → core placement."""

import textwrap

from ..errors import EmpfError
from .args import add_out, integer
from .workload import add_lowering, add_workload, default_arch, deploy_for

OBJECTIVE_TEXT = {"energy": "energy per inference", "latency": "latency per inference",
                  "edp": "energy × latency"}  # empf_hw.hw.cores.search.OBJECTIVES, kept here so --help stays fast
ITERATIONS = 1000  # empf_hw.hw.cores.search.ITERATIONS
SHOWN_TILES = 24  # tiles printed per layer


def _row(name: str, costs, base, objective: str, note: str = "") -> dict:
    from ..hw.cores.search import score

    energy, latency = costs.energy_pJ(), int(costs.timing.cycles)
    gain = (1 - score(costs, objective) / score(base, objective)) * 100
    return {"placement": name, "energy_pJ": energy, "latency_cycles": latency, "edp_pJ_cycles": energy * latency,
            "cores_used": costs.cores_used, "gain_percent": gain, "note": note}


def _tiles(costs) -> list[dict]:
    labels = dict(zip(costs.layer_info["layer"], costs.layer_info["label"]))
    return [{"layer": t.layer, "label": labels[t.layer], "tile": t.index, "core": t.core, "mesh_row": t.xy[0],
             "mesh_col": t.xy[1], "neurons": t.neurons, "synapse_bits": t.synapse_bits, "weights_resident": t.resident}
            for t in costs.mapping.tiles]


def cmd_map(a) -> int:
    import json

    import pandas as pd

    from ..hw import load_arch
    from ..hw.cores.search import best_policy, policies, search
    from ..report.files import check_output_dir, write_outputs
    from ..report.units import text

    arch = load_arch(a.arch or default_arch(a))
    if arch.template != "cores":
        raise EmpfError(f"--arch {a.arch}: map places tiles on the cores of a cores architecture; {arch.name} is a "
                        f"{arch.template} architecture; allowed: a cores preset or YAML (e.g. empf-core-45nm)")
    if a.out:
        check_output_dir(a.out, a.force)
    d = deploy_for(a, arch)
    kw = {"model": d.name, "accuracy": d.accuracy, "lowering": a.lowering}
    each = policies(d.trace, arch, **kw)
    base = each["serpentine"]  # the default, which the gains are measured against
    if isinstance(base, EmpfError):
        raise base
    start = best_policy(each, a.objective)
    ok = {p: c for p, c in each.items() if not isinstance(c, EmpfError)}
    rows = [_row(p, c, base, a.objective) for p, c in ok.items()]
    found = search(d.trace, arch, a.objective, a.iterations, a.seed, start=start, **kw)
    rows.append(_row("search", found.costs, base, a.objective,
                     f"from {start}, {a.iterations} iterations, seed {a.seed}"))
    rows += [{**dict.fromkeys(rows[0]), "placement": p, "note": f"n/a: {e}"} for p, e in each.items()
             if isinstance(e, EmpfError)]
    tiles = _tiles(found.costs)
    summary = {"model": d.name, "arch": arch.name, "objective": a.objective, "iterations": a.iterations,
               "seed": a.seed, "samples": d.trace.batch, "best_gain_percent": rows[len(ok)]["gain_percent"],
               "placements": rows, "mapping": tiles}
    table = pd.DataFrame(rows)
    if a.out:
        write_outputs(a.out, {"placements.csv": table, "mapping.csv": pd.DataFrame(tiles),
                              "mapping.json": json.dumps(summary, indent=1, sort_keys=True) + "\n"}, force=a.force)
    if a.json:
        print(json.dumps(summary, sort_keys=True))
        return 0
    print(f"placements of {d.name} on {arch.name} ({d.trace.batch} samples), objective {a.objective} "
          f"({OBJECTIVE_TEXT[a.objective]}); gain over serpentine (the default)")
    done = table[table["energy_pJ"].notna()].drop(columns="note")
    print(text(done))
    for r in table.itertuples():
        if r.note:
            print(f"{r.placement}: {r.note}")
    print(f"\nbest mapping (search, gain {summary['best_gain_percent']:.3g} %): layer: tile → core (mesh row, col)")
    for lay in found.costs.mapping.layers:
        cells = "  ".join(f"{t.index}→{t.core} ({t.xy[0]}, {t.xy[1]})" for t in lay.tiles[:SHOWN_TILES])
        if len(lay.tiles) > SHOWN_TILES:
            cells += f"  … {len(lay.tiles) - SHOWN_TILES} more" + (" (mapping.csv)" if a.out else " (--out)")
        label = tiles[lay.tiles[0].index]["label"]
        print(textwrap.fill(cells, 120, initial_indent=f"  {label}: ", subsequent_indent="    "))
    return 0


def add_parsers(sub) -> None:
    m = sub.add_parser("map", help="placement policies and a seeded search of the tile → core mapping of one model "
                       "on one cores architecture")
    add_workload(m)
    m.add_argument("--arch", help="cores preset name or YAML path (default: stbp-core-45nm for LIF, else "
                   "empf-core-45nm)")
    m.add_argument("--objective", choices=tuple(OBJECTIVE_TEXT), default="edp", help="what the search minimises: "
                   "energy (pJ per inference), latency (cycles) or edp (energy × latency) (default edp)")
    m.add_argument("--iterations", type=integer(0, 100_000), default=ITERATIONS, help="moves the search proposes "
                   f"(default {ITERATIONS})")
    m.add_argument("--seed", type=integer(0, 2**32 - 1), default=0, help="seed of the search (default 0)")
    add_lowering(m)
    m.add_argument("--json", action="store_true", help="print the placements and the best mapping as one JSON "
                   "object")
    add_out(m, "also write placements.csv, mapping.csv and mapping.json into this directory")
    m.set_defaults(func=cmd_map)

"""Mapping command: ``map`` — placement policies and a seeded search of the tile → core placement."""

import textwrap

from ..errors import EmpfError
from .args import add_data_dir, add_model, add_out, add_samples, add_spike_bits, integer
from .hardware import _add_hw_options, _deploy_for, default_arch

OBJECTIVE_TEXT = {"energy": "energy per inference", "latency": "latency per inference",
                  "edp": "energy × latency"}  # empf_hw.hw.cores.search.OBJECTIVES, kept here so --help stays fast
ITERATIONS = 1000  # empf_hw.hw.cores.search.ITERATIONS


def _row(name: str, costs, base, objective: str, note: str = "") -> dict:
    from ..hw.cores.search import score

    energy, latency = costs.energy_pJ(), int(costs.timing.cycles)
    return {"placement": name, "energy_pJ": energy, "latency_cycles": latency, "edp_pJ_cycles": energy * latency,
            "cores_used": costs.cores_used, "gain_percent": (1 - score(costs, objective) / score(base, objective)) * 100,
            "note": note}


def _tiles(costs):
    import pandas as pd

    labels = dict(zip(costs.layer_info["layer"], costs.layer_info["label"]))
    return pd.DataFrame([{"layer": t.layer, "label": labels[t.layer], "tile": t.index, "core": t.core,
                          "mesh_row": t.xy[0], "mesh_col": t.xy[1], "neurons": t.neurons,
                          "synapse_bits": t.synapse_bits, "weights_resident": t.resident}
                         for t in costs.mapping.tiles])


def cmd_map(a) -> int:
    import json

    import pandas as pd

    from ..hw import load_arch
    from ..hw.cores.search import policies, search
    from ..nn.checkpoint import load_card
    from ..report.files import check_output_dir, write_outputs

    card = load_card(a.model)
    arch = load_arch(a.arch or default_arch(card))
    if arch.template != "cores":
        raise EmpfError(f"--arch {a.arch}: map places tiles on the cores of a cores architecture; {arch.name} is a "
                        f"{arch.template} architecture; allowed: a cores preset or YAML (e.g. empf-core-45nm)")
    if a.out:
        check_output_dir(a.out, a.force)
    d = _deploy_for(a, arch, card)
    kw = {"model": d.name, "accuracy": d.accuracy, "lowering": a.lowering}
    each = policies(d.trace, arch, **kw)
    base = each["serpentine"]
    if isinstance(base, EmpfError):
        raise base
    ok = {p: c for p, c in each.items() if not isinstance(c, EmpfError)}
    rows = [_row(p, c, base, a.objective) for p, c in ok.items()]
    start = min(rows, key=lambda r: -r["gain_percent"])["placement"]
    found = search(d.trace, arch, a.objective, a.iterations, a.seed, start=start, **kw)
    rows.append(_row("search", found.costs, base, a.objective,
                     f"from {start}, {a.iterations} iterations, seed {a.seed}"))
    rows += [{"placement": p, "note": f"n/a: {e}"} for p, e in each.items() if isinstance(e, EmpfError)]
    table = pd.DataFrame(rows, columns=list(rows[0]))
    tiles = _tiles(found.costs)
    summary = {"model": d.name, "arch": arch.name, "objective": a.objective, "iterations": a.iterations,
               "seed": a.seed, "samples": d.trace.batch, "best_gain_percent": rows[len(ok)]["gain_percent"],
               "placements": json.loads(table.to_json(orient="records")),
               "mapping": json.loads(tiles.to_json(orient="records"))}
    if a.out:
        write_outputs(a.out, {"placements.csv": table, "mapping.csv": tiles,
                              "mapping.json": json.dumps(summary, indent=1, sort_keys=True) + "\n"}, force=a.force)
    if a.json:
        print(json.dumps(summary, sort_keys=True))
        return 0
    print(f"placements of {d.name} on {arch.name} ({d.trace.batch} samples), objective {a.objective} "
          f"({OBJECTIVE_TEXT[a.objective]}); gain over serpentine (the default)")
    cols = ["placement", "energy_pJ", "latency_cycles", "edp_pJ_cycles", "cores_used", "gain_percent", "note"]
    print(table[cols].fillna("").to_string(index=False, float_format=lambda v: f"{v:.6g}"))
    print(f"\nbest mapping (search, gain {summary['best_gain_percent']:.3g} %): layer: tile → core (mesh row, col)")
    for layer, g in tiles.groupby("layer", sort=False):
        cells = "  ".join(f"{r.tile}→{r.core} ({r.mesh_row}, {r.mesh_col})" for r in g.itertuples())
        print(textwrap.fill(cells, 120, initial_indent=f"  {g['label'].iloc[0]}: ", subsequent_indent="    "))
    return 0


def add_parsers(sub) -> None:
    m = sub.add_parser("map", help="placement policies and a seeded search of the tile → core mapping of one model "
                       "on one cores architecture")
    add_model(m)
    m.add_argument("--arch", help="cores preset name or YAML path (default: stbp-core-45nm for LIF, else "
                   "empf-core-45nm)")
    m.add_argument("--objective", choices=tuple(OBJECTIVE_TEXT), default="edp", help="what the search minimises: energy (pJ "
                   "per inference), latency (cycles) or edp (energy × latency) (default edp)")
    m.add_argument("--iterations", type=integer(0, 100_000), default=ITERATIONS, help="moves the search proposes "
                   f"(default {ITERATIONS})")
    m.add_argument("--seed", type=integer(0, 2**32 - 1), default=0, help="seed of the search (default 0)")
    add_spike_bits(m, "spike width of EM-PF models (default: the model's own width; 4 for floating-point spikes)")
    add_samples(m)
    _add_hw_options(m)
    m.add_argument("--json", action="store_true", help="print the placements and the best mapping as one JSON "
                   "object")
    add_out(m, "also write placements.csv, mapping.csv and mapping.json into this directory")
    add_data_dir(m)
    m.set_defaults(func=cmd_map)

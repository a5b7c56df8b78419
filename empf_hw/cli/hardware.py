"""Hardware commands: ``cost``, ``explore``, ``ert``, ``scalesim``, ``sanafe export``."""

from ..errors import EmpfError
from .args import add_out, add_timing, integer
from .workload import add_lowering, add_workload, default_arch, deploy_for


def cmd_explore(a) -> int:
    import argparse
    import json

    from ..hw import load_arch
    from ..hw.cores.rightsize import right_size
    from ..hw.explore import SHOWN
    from ..report.compare import best_designs
    from ..report.units import text

    if a.workers and a.scheduler:
        raise EmpfError("give --workers (local Dask cluster) or --scheduler (existing cluster), not both")
    sides = [("model", a)] + ([("baseline", argparse.Namespace(**{**vars(a), "model": a.baseline,
                                                                   "random_init": None}))] if a.baseline else [])
    deployed, archs = {}, {}
    for role, ns in sides:
        arch = load_arch((a.baseline_arch if role == "baseline" else a.arch) or default_arch(ns))
        if arch.template != "cores":
            raise EmpfError(f"explore searches cores architectures; {arch.name} is {arch.template}")
        deployed[role] = deploy_for(ns, arch)
        archs[role] = arch if a.as_given else right_size(deployed[role].graph, arch)
    client = cluster = None
    if a.workers or a.scheduler:
        from ..sweep.runner import connect

        client, cluster = connect(a.workers, a.scheduler)
    mapper = map if client is None else (lambda f, jobs: client.gather(client.map(f, jobs, pure=False)))
    try:
        if a.baseline:
            tables, pair = best_designs(deployed["model"], deployed["baseline"], archs["model"], archs["baseline"],
                                        a.budget, a.seed, mapper=mapper, lowering=a.lowering)
        else:
            from ..hw.explore import explore

            tables, pair = {"model": explore(deployed["model"].trace, archs["model"], a.budget, a.seed, mapper,
                                             a.lowering)}, None
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    if a.json:
        out = {role: df.to_dict(orient="records") for role, df in tables.items()}
        if pair:
            out["pairing"] = {k: v for k, v in pair.items() if k not in ("costs", "variants")}
            out["variants"] = pair["variants"].to_dict(orient="records")
        print(json.dumps(out, sort_keys=True, default=float))
        return 0
    for role, df in tables.items():
        name = deployed[role].name
        ok = df[df["status"] == "ok"]
        print(f"{role} {name} on {archs[role].name}: {len(ok)} of {len(df)} designs fit; design 0 (the chip as "
              f"given) and the Pareto front (energy × latency × area); best = lowest energy no slower than design 0:")
        print(text(df[df["pareto"] | df["best"] | (df["design"] == 0)][list(SHOWN)]))
        print()
    if pair:
        print(f"best vs best: energy {pair['energy_ratio']:.3g}× (90 % interval {pair['energy_ratio_p5']:.3g}–"
              f"{pair['energy_ratio_p95']:.3g}×), latency {pair['latency_ratio']:.3g}×, area "
              f"{pair['area_ratio']:.3g}× (same technology and mesh; {a.budget} designs each, seed {a.seed})")
        print("\nboth best designs with one compute or transport choice changed:")
        print(text(pair["variants"]))
    return 0


def cmd_ert(a) -> int:
    from ..hw import format_table, load_arch

    print(format_table(load_arch(a.arch)))
    return 0


def cmd_cost(a) -> int:
    import json

    import pandas as pd

    from ..hw import evaluate, load_arch
    from ..report.files import check_output_dir, write_outputs
    from ..report.units import human_rows, text

    arch = load_arch(a.arch or default_arch(a))
    if a.timing == "cycle" and arch.template != "cores":
        raise EmpfError(f"--timing cycle simulates the cores template; {arch.name} is a {arch.template} "
                        "architecture; allowed: --timing fast")
    if a.out:
        check_output_dir(a.out, a.force)
    d = deploy_for(a, arch)
    costs = evaluate(d.trace, arch, model=d.name, accuracy=d.accuracy, lowering=a.lowering)
    summary, layers = costs.summary(), costs.by_layer()
    files = {"summary.csv": summary, "layers.csv": layers}
    cyc = None
    if a.timing == "cycle":
        from ..hw.cycle_report import cycle_runs

        cyc = cycle_runs(d, arch, a.cycle_samples, a.lowering)
        files.update({"cycle_latency.csv": cyc["latency"], "cycle_stalls.csv": cyc["stalls"],
                      "cycle_links.csv": cyc["links"], "cycle_cores.csv": cyc["cores"],
                      "cycle_timesteps.csv": cyc["timesteps"]})
        for k, v in cyc["summary"].items():
            summary[k] = v
        # the headline latency is the simulated one; the fast estimate's stays beside it, named
        summary["fast_latency_cycles"] = summary["latency_cycles"]
        summary["latency_us"] = summary["latency_us"] * cyc["summary"]["cycle_latency_cycles_mean"] / max(
            float(summary["latency_cycles"].iloc[0]), 1.0)
        summary["latency_cycles"] = cyc["summary"]["cycle_latency_cycles_mean"]
        summary["timing"] = "cycle"
    if a.out:
        write_outputs(a.out, files, force=a.force)
    if a.json:
        out = summary.iloc[0].to_dict()
        if cyc is not None:  # everything the text prints
            out["cycle"] = {name: cyc[name].to_dict(orient="records")
                            for name in ("latency", "stalls", "timesteps", "links", "cores")}
        print(json.dumps(out, sort_keys=True, default=float))
        return 0
    cols = [c for c in ("label", "layer", "tiles", "synapse_compute", "value_width_bits", "accumulator_need_bits",
                        "acc_saturations_per_inference", "sops", "syn_ops_hw", "neuron_updates", "busy_cycles",
                        "energy_pJ") if c in layers]
    print(text(layers[cols]))
    row = summary.iloc[0]
    print(human_rows(pd.DataFrame({"quantity": row.index, "value": row.to_numpy()}), "quantity", ["value"])
          .to_string(index=False, header=False))
    if cyc is not None:
        print(f"\ncycle-level simulation of {len(cyc['latency'])} inference(s), one sample each:")
        print(text(cyc["latency"]))
        print("\nstall causes (cycles per inference, summed over cores / router ports):")
        print(text(cyc["stalls"]))
        print("\nlatency per timestep window across the simulated inferences (cycles):")
        print(text(cyc["timesteps"]))
        print("\nbusiest links (flits per inference):")
        print(text(cyc["links"].head(10)))
    return 0


def cmd_sanafe_export(a) -> int:
    from ..hw import evaluate, load_arch
    from ..hw.sanafe_io import export_sanafe
    from ..report.files import check_output_dir, write_outputs
    from ..sim.executor import execute

    arch = load_arch(a.arch)
    if arch.template != "cores" or arch.chips != 1:
        raise EmpfError(f"arch={a.arch!r}: SANA-FE models a single chip of neuromorphic cores; allowed: a cores "
                        "preset of one chip, e.g. loihi-sanafe")
    check_output_dir(a.out, a.force)
    d = deploy_for(a, arch)
    traces = [execute(d.graph, d.inputs[i:i + 1], "fixed", schedule=d.schedule) for i in range(len(d.labels))]
    first = evaluate(traces[0], arch, model=d.name, lowering=a.lowering)
    from ..hw.cores.lowering import lower

    lowered = [lower(d.graph, tr, arch, a.lowering)[1] for tr in traces]
    files = export_sanafe(first.graph, first.mapping, lowered)
    path = write_outputs(a.out, files, force=a.force)
    steps, T = len(traces[0].logits), d.graph.timesteps
    print(f"SANA-FE workload of {d.name} on {arch.name} written to {path}: arch.yaml, network.yaml.gz (gunzip -k "
          f"it for sanafe.load_net), inputs.json; {len(traces)} sample(s) of {steps} lock-step steps = T {T} + "
          f"depth {steps - T} (SANA-FE delivers a spike one step after it is sent, so the last layer's last input "
          "arrives D steps after the last timestep)")
    return 0


def cmd_scalesim(a) -> int:
    import json

    from ..hw import load_arch
    from ..hw.systolic.scalesim_io import dense_cycles, read_topology

    arch = load_arch(a.arch)
    if arch.template != "systolic":
        raise EmpfError(f"arch={a.arch!r} uses the {arch.template} template; allowed: a systolic preset, YAML or "
                        "SCALE-Sim .cfg")
    layers = read_topology(a.topology, True if a.gemm else None)
    cycles = dense_cycles(layers, arch)
    rows = [{"layer": g.name, "M": g.M, "N": g.N, "K": g.K, "compute_cycles": c} for g, c in zip(layers, cycles)]
    if a.json:
        print(json.dumps(rows))
        return 0
    c = arch.core
    print(f"{arch.name}: {c['rows']}x{c['cols']} {c['dataflow'].upper()} array, dense compute cycles per layer")
    print(f"{'layer':<24} {'M':>8} {'N':>8} {'K':>8} {'compute_cycles':>15}")
    for r in rows:
        print(f"{r['layer']:<24} {r['M']:>8} {r['N']:>8} {r['K']:>8} {r['compute_cycles']:>15}")
    print(f"total compute cycles: {sum(cycles)}")
    return 0


def add_parsers(sub) -> None:
    c = sub.add_parser("cost", help="energy, latency, operations and memory of one model on one architecture")
    add_workload(c)
    c.add_argument("--arch", help="preset name, YAML path, SCALE-Sim .cfg or SANA-FE architecture YAML (default: "
                   "stbp-core-45nm for LIF, else empf-core-45nm)")
    add_timing(c, "fast")
    add_lowering(c)
    c.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    add_out(c, "also write summary.csv and layers.csv (and the cycle-level tables) into this directory")
    c.set_defaults(func=cmd_cost)

    x = sub.add_parser("explore", help="seeded search over microarchitecture options: Pareto front (energy × "
                       "latency × area) and best design, of a model and optionally a baseline")
    add_workload(x)
    x.add_argument("--baseline", help="also search for this checkpoint and compare best design with best design")
    x.add_argument("--arch", help="model's chip (default: empf-core-45nm; stbp-core-45nm for LIF)")
    x.add_argument("--baseline-arch", help="baseline's chip (same default rule)")
    x.add_argument("--as-given", action="store_true", help="search on the chips as given, not right-sized")
    x.add_argument("--budget", type=integer(1, 100_000), default=32, help="designs per model, the chip as given "
                   "included (default 32)")
    x.add_argument("--seed", type=integer(0, 2**32 - 1), default=0, help="seed of the design sample (default 0)")
    x.add_argument("--workers", type=integer(0, 1024), default=0, help="evaluate on a Dask LocalCluster of N "
                   "processes")
    x.add_argument("--scheduler", help="evaluate on an existing Dask cluster (tcp://HOST:PORT)")
    add_lowering(x)
    x.add_argument("--json", action="store_true", help="print every design and the pairing as JSON")
    x.set_defaults(func=cmd_explore)

    h = sub.add_parser("ert", help="print an architecture's energy reference table with sources")
    h.add_argument("--arch", default="empf-core-45nm", help="preset name or YAML path (default empf-core-45nm)")
    h.set_defaults(func=cmd_ert)

    sc = sub.add_parser("scalesim", help="dense-mode cycles of a SCALE-Sim topology CSV on a systolic array")
    sc.add_argument("--topology", required=True, help="SCALE-Sim topology CSV (conv or GEMM)")
    sc.add_argument("--arch", default="systolic-32x32-45nm", help="systolic preset, YAML or SCALE-Sim .cfg "
                    "(default systolic-32x32-45nm)")
    sc.add_argument("--gemm", action="store_true", help="require a GEMM topology (header Layer, M, N, K); by "
                    "default the header decides")
    sc.add_argument("--json", action="store_true", help="print the rows as JSON")
    sc.set_defaults(func=cmd_scalesim)

    sf = sub.add_parser("sanafe", help="SANA-FE interop: export a deployed LIF network for SANA-FE")
    sfs = sf.add_subparsers(dest="action", required=True, metavar="ACTION")
    ex = sfs.add_parser("export", help="write the network, its mapping and the architecture in SANA-FE's formats")
    add_workload(ex, samples_default=1)
    ex.add_argument("--arch", default="loihi-sanafe", help="a lockstep cores architecture (default loihi-sanafe)")
    ex.add_argument("--lowering", choices=("parallel",), default="parallel", help="how the multi-bit input and "
                    "pooling are lowered to binary spikes (default parallel)")
    add_out(ex, "export directory", required=True)
    ex.set_defaults(func=cmd_sanafe_export)

"""Report commands: ``simulate`` (the main job), ``sweep``, ``sweep-report``."""

from pathlib import Path

from .args import add_data_dir, add_out, add_samples, add_spike_bits, add_timing, integer


def cmd_simulate(a) -> int:
    import json

    from ..report.simulate import DEFAULT_BASELINE, DEFAULT_MODEL, SimulateConfig, simulate

    cfg = SimulateConfig(a.model or DEFAULT_MODEL, a.baseline or DEFAULT_BASELINE, a.arch, a.baseline_arch,
                         a.timesteps, a.spike_bits, a.samples, a.seed, a.data_dir, a.timing, a.cycle_samples,
                         right_size=not a.as_given, allow_mixed=a.allow_mixed)
    path, machine = simulate(cfg, a.out, a.force)
    if a.json:
        print(json.dumps({**machine, "report": str(path)}, sort_keys=True, default=float))
        return 0
    import pandas as pd

    from ..report.tables import display_summary
    from ..report.units import text

    print(text(display_summary(pd.DataFrame(machine["summary"]))))
    ratio = {r["metric"]: r["ratio_model_over_baseline"] for r in machine["ratios"]}
    print(f"model / baseline: energy {ratio['energy_pJ_per_inference']:.3f}×, latency "
          f"{ratio['latency_cycles']:.3f}×, memory {ratio['total_memory_bits']:.3f}× (right-sized chips)")
    best = machine["best_designs"]
    if best:
        print(f"each on its best design: energy {best['energy_ratio']:.3f}× (90 % interval "
              f"{best['energy_ratio_p5']:.3f}–{best['energy_ratio_p95']:.3f}×), latency {best['latency_ratio']:.3f}×, "
              f"area {best['area_ratio']:.3f}×")
    print(f"report: {path / 'report.html'} (also report.md, summary.csv, layers.csv, config.json)")
    return 0


def cmd_sensitivity(a) -> int:
    import json

    from ..report.files import check_output_dir, write_outputs
    from ..report.simulate import DEFAULT_BASELINE, DEFAULT_MODEL, SimulateConfig, fair_section, run

    cfg = SimulateConfig(a.model or DEFAULT_MODEL, a.baseline or DEFAULT_BASELINE, a.arch, a.baseline_arch,
                         samples=a.samples, seed=a.seed, data_dir=a.data_dir, timing="fast",
                         right_size=not a.as_given, draws=a.draws)
    if a.out:
        check_output_dir(a.out, a.force)
    sides, _ = run(cfg)
    fair = fair_section(sides, cfg)
    pairs, tor = fair["files"]["fair_pairings.csv"], fair["files"]["tornado.csv"]
    if a.out:
        files = {**fair["files"], "tornado.png": fair["figs"]["tornado"]}
        write_outputs(a.out, files, force=a.force)
    if a.json:
        print(json.dumps({"pairings": pairs.to_dict(orient="records"), "tornado": tor.to_dict(orient="records")},
                         sort_keys=True, default=float))
        return 0
    from ..report.units import text

    m, b = (s.costs for s in sides)
    lo, hi = fair["interval"]
    print(f"{m.model} on {m.arch.name} / {b.model} on {b.arch.name}: energy {m.energy_pJ() / b.energy_pJ():.4g}× "
          f"(90 % interval {lo:.4g}–{hi:.4g}×, {a.draws} draws over the energy table's ranges)\n")
    print(text(pairs))
    print("\nassumptions by how far they move the energy ratio (flips: crosses 1.0):")
    print(text(tor))
    return 0


def cmd_sweep(a) -> int:
    from ..errors import EmpfError
    from ..paths import check_parent
    from ..sweep.runner import run_sweep
    from ..sweep.spec import load_spec
    from ..sweep.store import Store

    if a.workers and a.scheduler:
        raise EmpfError("give --workers (local Dask cluster) or --scheduler (existing cluster), not both")
    check_parent(a.store, "--store")
    spec = load_spec(a.spec, a.max_points)
    n = len(spec.points())
    before = 0
    if Path(a.store).is_file():
        old = Store(a.store)
        before = len(old.rows())
        old.close()
    store = run_sweep(spec, a.store, workers=a.workers, scheduler=a.scheduler, progress=not a.quiet)
    rows = store.rows()
    store.close()
    ok = sum(r["status"] == "ok" for r in rows)
    print(f"{spec.name}: {len(rows)}/{n} points in {a.store} ({len(rows) - before} run now, {before} already "
          f"stored; {ok} evaluated, {len(rows) - ok} did not fit)")
    return 0


def cmd_sweep_report(a) -> int:
    from ..sweep.report import sweep_report

    out = sweep_report(a.store, a.out, a.force)
    print(f"sweep report written to {out}")
    return 0


def add_parsers(sub) -> None:
    m = sub.add_parser("simulate", help="the main job: EM-PF model vs STBP baseline on their chips → report")
    m.add_argument("--model", help="checkpoint of the model (default: the zoo's EM-PF digits model)")
    m.add_argument("--baseline", help="checkpoint of the baseline (default: the zoo's STBP LIF digits model)")
    m.add_argument("--arch", help="model's architecture (default: empf-core-45nm; stbp-core-45nm for LIF)")
    m.add_argument("--baseline-arch", help="baseline's architecture (same default rule)")
    m.add_argument("--as-given", action="store_true", help="each side on its chip as given, not right-sized")
    m.add_argument("--allow-mixed", action="store_true", help="compare a model and a baseline trained on "
                   "different datasets (warned, and stated in config.json)")
    m.add_argument("--timesteps", type=integer(1, 1024), help="run both for T timesteps (default: as trained)")
    add_spike_bits(m, "spike width of EM-PF models (default: the model's own width; 4 for floating-point spikes)")
    add_samples(m)
    m.add_argument("--seed", type=integer(0, 2**32 - 1), default=0, help="0: the first samples; else a seeded "
                   "random subset (default 0)")
    add_out(m, "report directory (default reports/<model>_vs_<baseline>, whose earlier report is replaced)")
    m.add_argument("--json", action="store_true", help="print the machine-readable summary on stdout")
    add_data_dir(m)
    add_timing(m, "cycle")
    m.set_defaults(func=cmd_simulate)

    se = sub.add_parser("sensitivity", help="model / baseline energy ratio on every chip pairing with 90 %% "
                        "intervals, and the tornado of the assumptions behind it")
    se.add_argument("--model", help="checkpoint of the model (default: the zoo's EM-PF digits model)")
    se.add_argument("--baseline", help="checkpoint of the baseline (default: the zoo's STBP LIF digits model)")
    se.add_argument("--arch", help="model's chip (default: empf-core-45nm; stbp-core-45nm for LIF)")
    se.add_argument("--baseline-arch", help="baseline's chip (same default rule)")
    se.add_argument("--as-given", action="store_true", help="headline on the chips as given, not right-sized")
    se.add_argument("--draws", type=integer(10, 1_000_000), default=2000, help="Monte Carlo draws (default 2000)")
    add_samples(se)
    se.add_argument("--seed", type=integer(0, 2**32 - 1), default=0, help="sample subset and draws (default 0)")
    add_out(se, "also write fair_grid.csv, fair_pairings.csv, tornado.csv and tornado.png into this directory")
    se.add_argument("--json", action="store_true", help="print the pairings and the tornado as JSON")
    add_data_dir(se)
    se.set_defaults(func=cmd_sensitivity)

    w = sub.add_parser("sweep", help="sweep hardware / format parameters; results go to SQLite, resumable")
    w.add_argument("spec", help="sweep spec YAML, or a shipped spec's name (see sims/sweeps/)")
    w.add_argument("--store", required=True, help="SQLite file: a new file, or the store of an interrupted run of "
                   "the same spec (it resumes)")
    w.add_argument("--workers", type=integer(0, 1024), default=0, help="run on a Dask LocalCluster with N worker "
                   "processes (default 0: in this process)")
    w.add_argument("--scheduler", help="run on an existing Dask cluster (tcp://HOST:PORT)")
    w.add_argument("--max-points", type=integer(1), default=100_000, help="refuse specs with more points "
                   "(default 100000)")
    w.add_argument("--quiet", action="store_true", help="no progress bar")
    w.set_defaults(func=cmd_sweep)

    wr = sub.add_parser("sweep-report", help="CSV and plots (Pareto front, spike bits, node) of a sweep store")
    wr.add_argument("store", help="SQLite file written by empf-hw sweep (opened read-only)")
    add_out(wr, "output directory", required=True)
    wr.set_defaults(func=cmd_sweep_report)

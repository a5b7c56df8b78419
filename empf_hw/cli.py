"""Command line: ``empf-hw simulate | sweep | sweep-report | train | evaluate | run | cost | ert | scalesim | zoo``.

Bad input → one ``error:`` line and exit code 2."""

import argparse
import sys
from pathlib import Path

from .errors import EmpfError

DEFAULT_MODELS_DIR = "models"


def _device(name: str) -> str:
    import torch

    if name == "cuda" and not torch.cuda.is_available():
        raise EmpfError("device=cuda requested but no CUDA device is available; allowed here: cpu")
    return name


def _dataset_for(cfg, name: str, data_dir: str | None, seed: int):
    from .nn.data import load_dataset

    train_set, test_set = load_dataset(name, data_dir, cfg.input_shape, cfg.num_classes, seed)
    if tuple(train_set[0].shape[1:]) != cfg.input_shape:
        raise EmpfError(f"dataset {name} has inputs of shape {tuple(train_set[0].shape[1:])} but arch {cfg.arch} "
                        f"expects {cfg.input_shape}")
    return train_set, test_set


def cmd_train(a) -> int:
    from .nn import ModelConfig, build_model, save_checkpoint, train

    cfg = ModelConfig(arch=a.arch, neuron=a.neuron, timesteps=a.timesteps, weights=a.weights or "",
                      spike_bits=a.spike_bits, mem_bn=a.mem_bn, parallel=a.parallel, attention=a.attention,
                      learnable=not a.fixed_neuron, lif_reset=a.lif_reset)
    method = a.method or ("online" if cfg.neuron == "empf" else "stbp")
    device = _device(a.device)
    train_set, test_set = _dataset_for(cfg, a.dataset, a.data_dir, a.seed)
    from .nn.training import seed_everything

    seed_everything(a.seed)
    model = build_model(cfg)
    history = train(model, train_set, test_set, method=method, epochs=a.epochs, lr=a.lr,
                    batch_size=a.batch_size, seed=a.seed, device=device, progress=not a.quiet)
    out = a.out or f"runs/{cfg.arch}-{cfg.neuron}-{method}-T{cfg.timesteps}"
    card = {"dataset": a.dataset, "seed": a.seed, "test_accuracy": history[-1]["test_acc"],
            "training": {"method": method, "epochs": a.epochs, "lr": a.lr, "batch_size": a.batch_size,
                         "optimizer": "Adam, cosine LR decay per optimizer step", "history": history}}
    wpath, cpath = save_checkpoint(model, out, card)
    print(f"test accuracy {history[-1]['test_acc']:.4f}; saved {wpath} and {cpath}")
    return 0


def _evaluate_checkpoint(path, device: str, data_dir: str | None):
    from .nn import evaluate, load_checkpoint

    model, card = load_checkpoint(path, device)
    _, test_set = _dataset_for(model.cfg, card["dataset"], data_dir, card.get("seed", 0))
    return card, evaluate(model, *test_set, device=device)


def cmd_evaluate(a) -> int:
    card, acc = _evaluate_checkpoint(a.model, _device(a.device), a.data_dir)
    print(f"{a.model}: test accuracy {acc:.4f} (recorded {card['test_accuracy']:.4f})")
    return 0


def _spike_format(config: dict) -> str:
    if config["neuron"] == "lif":
        return "binary"
    return f"{config['spike_bits']}-bit" if config["spike_bits"] else "float"


def cmd_zoo(a) -> int:
    root = Path(a.models_dir)
    cards = sorted(root.glob("*.json"))
    if not cards:
        raise EmpfError(f"models-dir={root}: no model cards (*.json) found")
    device = _device(a.device)
    print(f"{'model':<34} {'neuron':<6} {'weights':<7} {'spikes':>10} {'method':<14} "
          f"{'accuracy':>8} {'recorded':>8}")
    worst = 0.0
    for cpath in cards:
        card, acc = _evaluate_checkpoint(cpath, device, a.data_dir)
        c = card["config"]
        worst = max(worst, abs(acc - card["test_accuracy"]))
        print(f"{cpath.stem:<34} {c['neuron']:<6} {c['weights']:<7} {_spike_format(c):>10} "
              f"{card['training']['method']:<14} {acc:>8.4f} {card['test_accuracy']:>8.4f}")
    if worst > 1e-9:
        print(f"warning: accuracies differ from the recorded ones by up to {worst:.4f}", file=sys.stderr)
    return 0


def cmd_run(a) -> int:
    import json

    import numpy as np

    from .nn.checkpoint import atomic_write, checkpoint_paths
    from .sim.pipeline import deploy

    d = deploy(a.model, spike_bits=a.spike_bits, samples=a.samples, data_dir=a.data_dir, mode=a.mode,
               batch_size=a.batch_size)
    card, graph, trace, y, mode = d.card, d.graph, d.trace, d.labels, d.mode
    acc = float(np.mean(trace.predictions == y))
    bits = sorted({n.attrs["spike_bits"] for n in graph.nodes if n.op == "neuron"})
    print(f"{a.model}: mode={mode} spike_bits={bits} samples={len(y)} accuracy={acc:.4f}")
    print(f"{'layer':<28} {'op':<7} {'input_events':>13} {'sops':>13} {'macs':>11} {'neuron_updates':>15} "
          f"{'output_events':>14} {'saturations':>11}")
    for lt in trace.layers:
        c = {k: v.sum() / trace.batch for k, v in lt.counts.items()}
        if lt.op in ("conv", "linear", "neuron"):
            sat = c["acc_saturations"] + c["membrane_saturations"] + c["spike_clips"]
            print(f"{lt.name:<28} {lt.op:<7} {c['input_events']:>13.1f} {c['sops']:>13.1f} {c['macs']:>11.0f} "
                  f"{c['neuron_updates']:>15.0f} {c['output_events']:>14.1f} {sat:>11.2f}")
    s = trace.summary()
    print("per inference: " + ", ".join(f"{k}={v:.1f}" for k, v in s.items()))
    if a.trace_out:
        trace.save(a.trace_out)
        print(f"trace written to {a.trace_out}.npz/.json")
    if a.record:
        if mode != "fixed" or a.spike_bits is None or a.samples:
            raise EmpfError("--record needs --spike-bits, fixed mode and the whole test split (no --samples)")
        _, cpath = checkpoint_paths(a.model)
        card.setdefault("fixed_point_accuracy", {})[str(a.spike_bits)] = acc
        atomic_write(cpath, lambda tmp: Path(tmp).write_text(json.dumps(card, indent=2, sort_keys=True) + "\n"))
        print(f"recorded accuracy at {a.spike_bits}-bit spikes in {cpath}")
    return 0


def default_arch(card: dict) -> str:
    return "stbp-core-45nm" if card["config"]["neuron"] == "lif" else "empf-core-45nm"


def cmd_ert(a) -> int:
    from .hw import format_table, load_arch

    print(format_table(load_arch(a.arch)))
    return 0


def cmd_cost(a) -> int:
    import json

    from .hw import evaluate, load_arch
    from .nn.checkpoint import load_card
    from .sim.pipeline import deploy, hardware_spike_bits

    card = load_card(a.model)
    arch = load_arch(a.arch or default_arch(card))
    d = deploy(a.model, spike_bits=hardware_spike_bits(card, a.spike_bits), samples=a.samples,
               data_dir=a.data_dir, mode="fixed")
    costs = evaluate(d.trace, arch, model=d.name, accuracy=d.accuracy)
    summary, layers = costs.summary(), costs.by_layer()
    if a.out:
        from .report.files import write_outputs

        write_outputs(a.out, {"summary.csv": summary, "layers.csv": layers})
    if a.json:
        print(json.dumps(summary.iloc[0].to_dict(), sort_keys=True, default=float))
        return 0
    cols = ["layer", "op", "tiles", "value_width_bits", "sops", "syn_ops_hw", "neuron_updates", "busy_cycles",
            "energy_pJ"]
    print(layers[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(summary.T.to_string(header=False, float_format=lambda v: f"{v:.6g}"))
    return 0


def cmd_simulate(a) -> int:
    import json

    from .report.simulate import SimulateConfig, simulate

    cfg = SimulateConfig(a.model, a.baseline, a.arch, a.baseline_arch, a.timesteps, a.spike_bits, a.samples,
                         a.seed, a.data_dir)
    path, machine = simulate(cfg, a.out)
    if a.json:
        print(json.dumps({**machine, "report": str(path)}, sort_keys=True, default=float))
        return 0
    print(f"{'model':<30} {'method':<7} {'arch':<16} {'accuracy':>8} {'energy_uJ':>10} {'literature_uJ':>13} "
          f"{'latency_cycles':>14} {'latency_us':>10} {'memory_KiB':>10}")
    for r in machine["summary"]:
        print(f"{r['model']:<30} {r['method']:<7} {r['arch']:<16} {r['accuracy']:>8.4f} "
              f"{r['energy_pJ_per_inference'] / 1e6:>10.3f} {r['literature_energy_pJ_per_inference'] / 1e6:>13.3f} "
              f"{r['latency_cycles']:>14} {r['latency_us']:>10.1f} {r['total_memory_bits'] / 8192:>10.1f}")
    ratio = {r["metric"]: r["ratio_model_over_baseline"] for r in machine["ratios"]}
    print(f"model / baseline: energy {ratio['energy_pJ_per_inference']:.3f}×, latency "
          f"{ratio['latency_cycles']:.3f}×, memory {ratio['total_memory_bits']:.3f}×")
    print(f"report: {path / 'report.html'} (also report.md, summary.csv, layers.csv, config.json)")
    return 0


def cmd_sweep(a) -> int:
    from .sweep.runner import run_sweep
    from .sweep.spec import load_spec

    if a.workers and a.scheduler:
        raise EmpfError("give --workers (local Dask cluster) or --scheduler (existing cluster), not both")
    if a.workers < 0:
        raise EmpfError(f"workers={a.workers} is out of range; allowed: >= 0")
    spec = load_spec(a.spec)
    n = len(spec.points())
    store = run_sweep(spec, a.store, workers=a.workers, scheduler=a.scheduler, progress=not a.quiet)
    rows = store.rows()
    store.close()
    ok = sum(r["status"] == "ok" for r in rows)
    print(f"{spec.name}: {len(rows)}/{n} points in {a.store} ({ok} evaluated, {len(rows) - ok} did not fit)")
    return 0


def cmd_sweep_report(a) -> int:
    from .sweep.report import sweep_report

    out = sweep_report(a.store, a.out)
    print(f"sweep report written to {out}")
    return 0


def cmd_scalesim(a) -> int:
    import json

    from .hw import load_arch
    from .hw.scalesim_io import dense_cycles, read_topology

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


def build_parser() -> argparse.ArgumentParser:
    from .nn.architectures import ARCHITECTURES, NEURONS
    from .nn.data import DATASETS
    from .nn.layers import WEIGHT_MODES
    from .nn.training import METHODS

    p = argparse.ArgumentParser(prog="empf-hw", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", help="train an EM-PF or LIF network and save a checkpoint")
    t.add_argument("--arch", default="digits_cnn", choices=sorted(ARCHITECTURES))
    t.add_argument("--neuron", default="empf", choices=NEURONS)
    t.add_argument("--method", choices=METHODS, help="default: online for empf, stbp for lif")
    t.add_argument("--timesteps", type=int, default=4)
    t.add_argument("--weights", choices=WEIGHT_MODES, help="default: binary for empf, full for lif")
    t.add_argument("--spike-bits", type=int, default=0, help="n-bit quantized spikes (0: floating point)")
    t.add_argument("--mem-bn", action="store_true", help="membrane-potential BatchNorm (folded after training)")
    t.add_argument("--parallel", action="store_true", help="stateless parallel EM-PF neuron")
    t.add_argument("--attention", action="store_true", help="ECA channel attention in conv blocks")
    t.add_argument("--fixed-neuron", action="store_true", help="fixed (not learnable) leak and threshold")
    t.add_argument("--lif-reset", default="subtract", choices=("subtract", "zero"))
    t.add_argument("--dataset", default="digits", choices=DATASETS)
    t.add_argument("--data-dir", help="directory with the MNIST IDX or CIFAR-10 binary files")
    t.add_argument("--epochs", type=int, default=40)
    t.add_argument("--lr", type=float, default=5e-3)
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    t.add_argument("--out", help="checkpoint path stem (default runs/<arch>-<neuron>-<method>-T<T>)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="evaluate a checkpoint on its dataset's test split")
    e.add_argument("--model", required=True, help="checkpoint path stem, .json or .safetensors")
    e.add_argument("--data-dir")
    e.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    e.set_defaults(func=cmd_evaluate)

    r = sub.add_parser("run", help="deploy a checkpoint and execute it with the NumPy core (accuracy + activity)")
    r.add_argument("--model", required=True, help="checkpoint path stem, .json or .safetensors")
    r.add_argument("--spike-bits", type=int, help="B-bit spikes (fixed mode; scales calibrated on training data)")
    r.add_argument("--mode", choices=("float", "fixed"), help="default: fixed when every neuron has a spike format")
    r.add_argument("--samples", type=int, help="only the first N test samples")
    r.add_argument("--batch-size", type=int, default=128)
    r.add_argument("--trace-out", help="write the ActivityTrace to this path stem (.npz + .json)")
    r.add_argument("--record", action="store_true", help="store the accuracy in the model card")
    r.add_argument("--data-dir")
    r.set_defaults(func=cmd_run)

    m = sub.add_parser("simulate", help="the main job: EM-PF model vs STBP baseline on their chips → report")
    m.add_argument("--model", default="models/digits_cnn-empf-online-T4", help="checkpoint of the model")
    m.add_argument("--baseline", default="models/digits_cnn-lif-stbp-T4", help="checkpoint of the baseline")
    m.add_argument("--arch", help="model's architecture (default: empf-core-45nm; stbp-core-45nm for LIF)")
    m.add_argument("--baseline-arch", help="baseline's architecture (same default rule)")
    m.add_argument("--timesteps", type=int, help="run both for T timesteps (default: as trained)")
    m.add_argument("--spike-bits", type=int, help="spike width of EM-PF models (default: trained, or 4)")
    m.add_argument("--samples", type=int, help="test samples (default: the whole test split)")
    m.add_argument("--seed", type=int, default=0, help="0: the first samples; else a seeded random subset")
    m.add_argument("--out", help="report directory (default reports/<model>_vs_<baseline>)")
    m.add_argument("--json", action="store_true", help="print the machine-readable summary on stdout")
    m.add_argument("--data-dir")
    m.set_defaults(func=cmd_simulate)

    w = sub.add_parser("sweep", help="sweep hardware / format parameters; results go to SQLite, resumable")
    w.add_argument("spec", help="sweep spec YAML (see sims/sweeps/)")
    w.add_argument("--store", required=True, help="SQLite file; an interrupted sweep resumes from it")
    w.add_argument("--workers", type=int, default=0, help="run on a Dask LocalCluster with N worker processes")
    w.add_argument("--scheduler", help="run on an existing Dask cluster (tcp://HOST:PORT)")
    w.add_argument("--quiet", action="store_true", help="no progress bar")
    w.set_defaults(func=cmd_sweep)

    wr = sub.add_parser("sweep-report", help="CSV and plots (Pareto front, spike bits, node) of a sweep store")
    wr.add_argument("store", help="SQLite file written by empf-hw sweep")
    wr.add_argument("--out", required=True, help="output directory")
    wr.set_defaults(func=cmd_sweep_report)

    sc = sub.add_parser("scalesim", help="dense-mode cycles of a SCALE-Sim topology CSV on a systolic array")
    sc.add_argument("--topology", required=True, help="SCALE-Sim topology CSV (conv, or M,N,K with --gemm)")
    sc.add_argument("--arch", default="systolic-32x32-45nm", help="systolic preset, YAML or SCALE-Sim .cfg")
    sc.add_argument("--gemm", action="store_true", help="the topology lists GEMMs (M, N, K)")
    sc.add_argument("--json", action="store_true")
    sc.set_defaults(func=cmd_scalesim)

    h = sub.add_parser("ert", help="print an architecture's energy reference table with sources")
    h.add_argument("--arch", default="empf-core-45nm", help="preset name or YAML path")
    h.set_defaults(func=cmd_ert)

    c = sub.add_parser("cost", help="energy, latency, operations and memory of one model on one architecture")
    c.add_argument("--model", required=True, help="checkpoint path stem, .json or .safetensors")
    c.add_argument("--arch", help="preset name or YAML path (default: stbp-core-45nm for LIF, else empf-core-45nm)")
    c.add_argument("--spike-bits", type=int, help="spike width for EM-PF float-spike models (default 4)")
    c.add_argument("--samples", type=int, help="only the first N test samples")
    c.add_argument("--json", action="store_true", help="print the summary as JSON")
    c.add_argument("--out", help="also write summary.csv and layers.csv into this directory")
    c.add_argument("--data-dir")
    c.set_defaults(func=cmd_cost)

    z = sub.add_parser("zoo", help="evaluate every model in the zoo and compare with the recorded accuracy")
    z.add_argument("--models-dir", default=DEFAULT_MODELS_DIR)
    z.add_argument("--data-dir")
    z.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    z.set_defaults(func=cmd_zoo)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except EmpfError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""Model commands: ``train``, ``evaluate``, ``run``, ``zoo``, ``memory``."""

import sys
from pathlib import Path

from ..errors import EmpfError
from ..nn.catalog import ARCHS, DATASETS, METHODS, NEURONS, WEIGHT_MODES
from .args import add_data_dir, add_device, add_model, add_num_classes, add_samples, add_spike_bits, integer, number
from .workload import check_spike_bits

DEFAULT_EPOCHS = 30  # as the zoo models were trained


def _device(name: str) -> str:
    import torch

    if name == "cuda" and not torch.cuda.is_available():
        raise EmpfError("device=cuda requested but no CUDA device is available; allowed here: cpu")
    return name


def _dataset_for(cfg, name: str, data_dir: str | None, seed: int):
    from ..nn.data import load_dataset

    train_set, test_set = load_dataset(name, data_dir, cfg.input_shape, cfg.num_classes, seed)
    if tuple(train_set[0].shape[1:]) != cfg.input_shape:
        raise EmpfError(f"dataset {name} has inputs of shape {tuple(train_set[0].shape[1:])} but arch {cfg.arch} "
                        f"expects {cfg.input_shape}")
    classes = 1 + int(max(train_set[1].max(), test_set[1].max()))
    if classes > cfg.num_classes:
        raise EmpfError(f"dataset {name} has labels up to {classes - 1} but the model has {cfg.num_classes} "
                        f"classes; allowed: --num-classes {classes} or more")
    return train_set, test_set


def cmd_train(a) -> int:
    from ..nn import ModelConfig, build_model, save_checkpoint, train
    from ..nn.checkpoint import check_writable_checkpoint
    from ..nn.training import seed_everything
    from ..paths import check_parent

    cfg = ModelConfig(arch=a.arch, neuron=a.neuron, timesteps=a.timesteps, weights=a.weights or "",
                      spike_bits=a.spike_bits, mem_bn=a.mem_bn, parallel=a.parallel, attention=a.attention,
                      learnable=not a.fixed_neuron, lif_reset=a.lif_reset, num_classes=a.num_classes or 0,
                      time_axis=a.time_axis, input_mean=tuple(a.input_mean or ()),
                      input_std=tuple(a.input_std or ()))
    method = a.method or ("online" if cfg.neuron == "empf" else "stbp")
    out = a.out or f"runs/{cfg.arch}-{cfg.neuron}-{method}-T{cfg.timesteps}"
    check_parent(out)
    check_writable_checkpoint(out, a.force)
    device = _device(a.device)
    train_set, test_set = _dataset_for(cfg, a.dataset, a.data_dir, a.seed)
    seed_everything(a.seed)
    model = build_model(cfg)
    history = train(model, train_set, test_set, method=method, epochs=a.epochs, lr=a.lr,
                    batch_size=a.batch_size, seed=a.seed, device=device, progress=not a.quiet)
    card = {"dataset": a.dataset, "seed": a.seed, "test_accuracy": history[-1]["test_acc"],
            "training": {"method": method, "epochs": a.epochs, "lr": a.lr, "batch_size": a.batch_size,
                         "optimizer": "Adam, cosine LR decay per optimizer step", "history": history}}
    wpath, cpath = save_checkpoint(model, out, card)
    print(f"test accuracy {history[-1]['test_acc'] * 100:.2f} %; saved {wpath} and {cpath}")
    return 0


def _evaluate_checkpoint(path, device: str, data_dir: str | None):
    from ..nn import evaluate, load_checkpoint

    model, card = load_checkpoint(path, device)
    _, test_set = _dataset_for(model.cfg, card["dataset"], data_dir, card.get("seed", 0))
    return card, evaluate(model, *test_set, device=device)


def cmd_evaluate(a) -> int:
    card, acc = _evaluate_checkpoint(a.model, _device(a.device), a.data_dir)
    print(f"{a.model}: test accuracy {acc * 100:.2f} % (recorded {card['test_accuracy'] * 100:.2f} %)")
    return 0


def _spike_format(config: dict) -> str:
    if config["neuron"] == "lif":
        return "binary"
    return f"{config['spike_bits']}-bit" if config["spike_bits"] else "float"


def cmd_zoo(a) -> int:
    from ..resources import find

    root = find(a.models_dir, "models", Path.is_dir) if a.models_dir else None
    cards = sorted(root.glob("*.json")) if root else []
    if not cards:
        raise EmpfError(f"models-dir={a.models_dir}: no model cards (*.json) found")
    device = _device(a.device)
    print(f"{'model':<34} {'neuron':<6} {'weights':<7} {'spikes':>10} {'method':<14} "
          f"{'accuracy (%)':>12} {'recorded (%)':>12}")
    worst = 0.0
    for cpath in cards:
        card, acc = _evaluate_checkpoint(cpath, device, a.data_dir)
        c = card["config"]
        worst = max(worst, abs(acc - card["test_accuracy"]))
        print(f"{cpath.stem:<34} {c['neuron']:<6} {c['weights']:<7} {_spike_format(c):>10} "
              f"{card['training']['method']:<14} {acc * 100:>12.2f} {card['test_accuracy'] * 100:>12.2f}")
    if worst > 1e-9:
        print(f"warning: accuracies differ from the recorded ones by up to {worst * 100:.2f} %", file=sys.stderr)
    return 0


def cmd_run(a) -> int:
    import json

    import numpy as np

    from ..nn.checkpoint import atomic_write, check_not_shipped, checkpoint_paths, load_card, resolve_checkpoint
    from ..sim.pipeline import deploy, hardware_spike_bits
    from ..sim.trace import check_trace_target

    card = load_card(a.model)
    c = card["config"]
    formatted = c["neuron"] == "lif" or c["spike_bits"] or a.spike_bits is not None
    mode = a.mode or ("fixed" if formatted else "float")
    check_spike_bits(card, a.spike_bits, mode)
    bits = hardware_spike_bits(card, a.spike_bits) if mode == "fixed" else None
    if a.record and (mode == "float" or a.samples):
        raise EmpfError("--record stores the fixed-point accuracy on the whole test split; allowed: --record "
                        "with fixed mode (--mode fixed or --spike-bits) and without --samples")
    if a.record:
        check_not_shipped(checkpoint_paths(resolve_checkpoint(a.model))[1])
    if a.trace_out:
        check_trace_target(a.trace_out, a.force)
    d = deploy(a.model, spike_bits=bits, samples=a.samples, data_dir=a.data_dir, mode=mode,
               batch_size=a.batch_size)
    graph, trace, y = d.graph, d.trace, d.labels
    acc = float(np.mean(trace.predictions == y))
    widths = sorted({n.attrs["spike_bits"] for n in graph.nodes if n.op == "neuron"})
    print(f"{d.name}: mode={mode} spike_bits={widths} samples={len(y)} accuracy={acc * 100:.2f} %")
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
        _, cpath = checkpoint_paths(resolve_checkpoint(a.model))
        key = str(max(widths))
        d.card.setdefault("fixed_point_accuracy", {})[key] = acc
        atomic_write(cpath, lambda tmp: Path(tmp).write_text(json.dumps(d.card, indent=2, sort_keys=True) + "\n"))
        print(f"recorded accuracy at {key}-bit spikes in {cpath}")
    return 0


def cmd_memory(a) -> int:
    import json

    from ..nn.memory import PAPER_ROWS, format_table, memory_row

    if a.arch:
        rows = [(a.arch, a.num_classes or 0)]
    elif a.num_classes:
        rows = [(arch, a.num_classes) for arch in dict.fromkeys(arch for arch, _ in PAPER_ROWS)]
    else:
        rows = PAPER_ROWS
    table = [memory_row(arch, n) for arch, n in rows]
    print(json.dumps(table) if a.json else format_table(table))
    return 0


def add_parsers(sub) -> None:
    t = sub.add_parser("train", help="train an EM-PF or LIF network and save a checkpoint")
    t.add_argument("--arch", default="digits_cnn", choices=sorted(ARCHS), help="network (default digits_cnn)")
    t.add_argument("--neuron", default="empf", choices=NEURONS, help="EM-PF or LIF neurons (default empf)")
    t.add_argument("--method", choices=METHODS, help="training method (default: online for empf, stbp for lif)")
    t.add_argument("--timesteps", type=integer(1, 1024), default=4, help="timesteps T (default 4)")
    t.add_argument("--weights", choices=WEIGHT_MODES, help="synaptic weights (default: binary for empf, full for "
                   "lif; the stem and the classifier stay full precision)")
    t.add_argument("--spike-bits", type=integer(0, 16), default=0, help="n-bit quantized spikes (0: floating "
                   "point, default)")
    t.add_argument("--mem-bn", action="store_true", help="membrane-potential BatchNorm (folded after training)")
    t.add_argument("--parallel", action="store_true", help="stateless parallel EM-PF neuron")
    t.add_argument("--attention", action="store_true", help="ECA channel attention in conv blocks")
    t.add_argument("--fixed-neuron", action="store_true", help="fixed (not learnable) leak and threshold")
    t.add_argument("--time-axis", action="store_true", help="samples are T frames (T, C, H, W), frame t feeds "
                   "timestep t (event-camera data, e.g. --dataset dvs_synthetic)")
    t.add_argument("--input-mean", type=number(-1e6, 1e6), nargs="+", help="per-channel input normalisation mean")
    t.add_argument("--input-std", type=number(0, 1e6, above=True), nargs="+", help="per-channel input "
                   "normalisation std (> 0)")
    t.add_argument("--lif-reset", default="subtract", choices=("subtract", "zero"), help="LIF reset (default "
                   "subtract)")
    add_num_classes(t)
    t.add_argument("--dataset", default="digits", choices=DATASETS, help="training data (default digits)")
    add_data_dir(t)
    t.add_argument("--epochs", type=integer(1, 100000), default=DEFAULT_EPOCHS,
                   help=f"training epochs (default {DEFAULT_EPOCHS}, as the zoo models)")
    t.add_argument("--lr", type=number(0, above=True), default=5e-3, help="Adam learning rate, cosine decay "
                   "(default 0.005)")
    t.add_argument("--batch-size", type=integer(1, 1 << 20), default=64, help="mini-batch size (default 64)")
    t.add_argument("--seed", type=integer(0, 2**32 - 1), default=0, help="random seed (default 0)")
    add_device(t)
    t.add_argument("--out", help="checkpoint path stem (default runs/<arch>-<neuron>-<method>-T<T>)")
    t.add_argument("--force", action="store_true", help="replace an existing empf-hw checkpoint at --out")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="evaluate a checkpoint on its dataset's test split")
    add_model(e)
    add_data_dir(e)
    add_device(e)
    e.set_defaults(func=cmd_evaluate)

    r = sub.add_parser("run", help="deploy a checkpoint and execute it with the NumPy core (accuracy + activity)")
    add_model(r)
    add_spike_bits(r, "B-bit spikes for EM-PF neurons, scales calibrated on training data (default: the model's "
                      "own width; 4 for floating-point spikes in fixed mode)")
    r.add_argument("--mode", choices=("float", "fixed"), help="arithmetic (default: fixed when every neuron has "
                   "a spike format or --spike-bits is given, else float)")
    add_samples(r)
    r.add_argument("--batch-size", type=integer(1, 1 << 20), default=128, help="samples executed at once "
                   "(default 128)")
    r.add_argument("--trace-out", help="write the ActivityTrace to this path stem (.npz + .json)")
    r.add_argument("--force", action="store_true", help="replace an existing empf-hw trace at --trace-out")
    r.add_argument("--record", action="store_true", help="store the fixed-point accuracy in the model card")
    add_data_dir(r)
    r.set_defaults(func=cmd_run)

    z = sub.add_parser("zoo", help="evaluate every model in the zoo and compare with the recorded accuracy")
    z.add_argument("--models-dir", default="models", help="directory of checkpoints (default: the shipped zoo)")
    add_data_dir(z)
    add_device(z)
    z.set_defaults(func=cmd_zoo)

    m = sub.add_parser("memory", help="the paper's model-memory table: parameters, FP32 and binary weight storage "
                       "in MB (10^6 bytes)")
    m.add_argument("--arch", choices=sorted(ARCHS), help="one architecture (default: the paper's ResNet-18 and "
                   "ResNet-19 for CIFAR-10/100, ResNet-34 for ImageNet, VGG-SNN for CIFAR10-DVS)")
    add_num_classes(m)
    m.add_argument("--json", action="store_true", help="print the rows as JSON")
    m.set_defaults(func=cmd_memory)

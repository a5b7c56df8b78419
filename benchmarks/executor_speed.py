"""NumPy executor (float and fixed mode) against the PyTorch eval forward of the same model, in one run.

CIFAR VGG-11 and ResNet-18 (EM-PF, binary weights, random weights with BatchNorm statistics measured on the batch
so activity reaches every layer), T=4, batch 16, the same thread count for PyTorch and NumPy's BLAS. Each engine
runs ``--repeats`` times after a warm-up; prints the median times, their ratios and each engine's peak memory: how
far the process's peak resident set rises above its size before one call, and (NumPy only) the tracemalloc peak of
that call. Targets: VGG-11 float ≤ 1.0× and fixed ≤ 1.5× PyTorch; ResNet-18 float ≤ 1.2× and fixed ≤ 2×.

    python benchmarks/executor_speed.py [--arch vgg11|resnet18] [--batch 16] [--timesteps 4] [--threads 2]
"""

import tracemalloc
from pathlib import Path

import torch
from common import active_model, median_time, parser
from threadpoolctl import threadpool_limits

from empf_hw.deploy import export_model
from empf_hw.sim import calibrate, execute

TARGETS = {"vgg11": (1.0, 1.5), "resnet18": (1.2, 2.0)}  # (float, fixed) time ÷ PyTorch's


def _status_kib(field: str) -> int:
    line = next(s for s in Path("/proc/self/status").read_text().splitlines() if s.startswith(field + ":"))
    return int(line.split()[1])


def peak_memory(fn, numpy_engine: bool) -> tuple[float, float]:
    """(peak RSS rise, tracemalloc peak) of one ``fn()`` call in MiB; NaN where not measurable (RSS: Linux only;
    tracemalloc sees NumPy's buffers, not PyTorch's)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        before = _status_kib("VmRSS")
    except OSError:
        before = None
    if numpy_engine:
        tracemalloc.start()
    fn()
    traced = tracemalloc.get_traced_memory()[1] / 2**20 if numpy_engine else float("nan")
    tracemalloc.stop()
    rss = (_status_kib("VmHWM") - before) / 1024 if before is not None else float("nan")
    return rss, traced


def bench(arch: str, a) -> None:
    model, x = active_model(arch, a.batch, a.timesteps)
    xn = x.numpy()
    graph = export_model(model)
    fixed_graph = calibrate(graph, xn, a.spike_bits)

    def torch_forward():
        with torch.no_grad():
            model.run(x)

    engines = {"pytorch eval": torch_forward, "numpy float": lambda: execute(graph, xn, "float"),
               "numpy fixed": lambda: execute(fixed_graph, xn, "fixed")}
    with threadpool_limits(a.threads):
        med = {name: median_time(fn, a.repeats) for name, fn in engines.items()}
        memory = {name: peak_memory(fn, name != "pytorch eval") for name, fn in engines.items()}
    t_torch = med["pytorch eval"]
    print(f"\n{arch}, T={a.timesteps}, batch {a.batch}, {a.threads} threads, fixed mode at {a.spike_bits}-bit spikes, "
          f"median of {a.repeats}")
    print(f"{'engine':<14} {'time_s':>8} {'ratio_vs_torch':>15} {'peak_rss_MiB':>13} {'tracemalloc_MiB':>16}")
    for name, t in med.items():
        rss, traced = memory[name]
        print(f"{name:<14} {t:>8.3f} {t / t_torch:>15.2f} {rss:>13.0f} {traced:>16.0f}")
    f, q = TARGETS.get(arch, (float("nan"),) * 2)
    print(f"float/torch = {med['numpy float'] / t_torch:.2f}x (target <= {f}x); "
          f"fixed/torch = {med['numpy fixed'] / t_torch:.2f}x (target <= {q}x)")


def main():
    p = parser(__doc__, 8)
    p.set_defaults(arch=None)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    for arch in [a.arch] if a.arch else list(TARGETS):
        bench(arch, a)


if __name__ == "__main__":
    main()

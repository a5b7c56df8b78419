"""NumPy executor (float and fixed mode) against the PyTorch eval forward of the same model, in one run.

CIFAR VGG-11 (EM-PF, binary weights, random weights with BatchNorm statistics measured on the batch so activity
reaches every layer), T=4, batch 16, the same thread count for PyTorch and NumPy's BLAS. Prints the median of
``--repeats`` runs and the ratios. Targets: float ≤ 1.5× PyTorch, fixed ≤ 2.5× PyTorch.

    python benchmarks/executor_speed.py [--arch vgg11] [--batch 16] [--timesteps 4] [--threads 2]
"""


import torch
from common import active_model, median_time, parser
from threadpoolctl import threadpool_limits

from empf_hw.deploy import export_model
from empf_hw.sim import calibrate, execute


def main():
    a = parser(__doc__, 8).parse_args()
    torch.set_num_threads(a.threads)
    model, x = active_model(a.arch, a.batch, a.timesteps)
    xn = x.numpy()
    graph = export_model(model)
    fixed_graph = calibrate(graph, xn, a.spike_bits)

    def torch_forward():
        with torch.no_grad():
            model.run(x)

    with threadpool_limits(a.threads):
        t_torch = median_time(torch_forward, a.repeats)
        t_float = median_time(lambda: execute(graph, xn, "float"), a.repeats)
        t_fixed = median_time(lambda: execute(fixed_graph, xn, "fixed"), a.repeats)
    print(f"{a.arch}, T={a.timesteps}, batch {a.batch}, {a.threads} threads, fixed mode at {a.spike_bits}-bit spikes")
    print(f"{'engine':<16} {'time_s':>8} {'ratio_vs_torch':>15}")
    for name, t in (("pytorch eval", t_torch), ("numpy float", t_float), ("numpy fixed", t_fixed)):
        print(f"{name:<16} {t:>8.3f} {t / t_torch:>15.2f}")
    print(f"float/torch = {t_float / t_torch:.2f}x (target <= 1.5x); fixed/torch = {t_fixed / t_torch:.2f}x "
          f"(target <= 2.5x)")


if __name__ == "__main__":
    main()

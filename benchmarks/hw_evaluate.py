"""Hardware evaluation on a cached trace against the time needed to produce that trace, in one run.

CIFAR VGG-11 (EM-PF, binary weights, random weights with BatchNorm statistics measured on the batch so activity
reaches every layer), T=4, batch 16, fixed mode with 4-bit spikes. The trace is produced once (timed), then
``evaluate(...).summary()`` runs on it for one architecture (``empf-core-45nm`` with a mesh large enough for
VGG-11); both are medians of ``--repeats`` runs after a warm-up. Per-trace tables (channel prefix sums) are
built by the first evaluation of a trace and reused by later ones, as in a sweep; the cold figure is printed too.
Target: evaluate < 2 % of the trace time. Prints the ratio and configurations per second.

    python benchmarks/hw_evaluate.py [--arch vgg11] [--batch 16] [--timesteps 4] [--threads 2]
"""

import time

from common import active_model, median_time, parser
from threadpoolctl import threadpool_limits

from empf_hw.deploy import export_model
from empf_hw.hw import evaluate, load_arch
from empf_hw.sim import calibrate, execute


def main():
    a = parser(__doc__, 4).parse_args()
    model, x = active_model(a.arch, a.batch, a.timesteps)
    graph = calibrate(export_model(model), x.numpy(), a.spike_bits)
    hw = load_arch("empf-core-45nm").with_overrides({"chip.mesh_rows": 32, "chip.mesh_cols": 32})
    with threadpool_limits(a.threads):
        t_trace = median_time(lambda: execute(graph, x.numpy(), "fixed"), a.repeats)
        trace = execute(graph, x.numpy(), "fixed")
        cold = execute(graph, x.numpy(), "fixed")  # a fresh trace: its derived tables are not cached yet
        t0 = time.perf_counter()
        evaluate(cold, hw).summary()
        t_cold = time.perf_counter() - t0
        t_eval = median_time(lambda: evaluate(trace, hw).summary(), a.repeats)
    s = evaluate(trace, hw).summary().iloc[0]
    print(f"{a.arch} T={a.timesteps} batch={a.batch} {a.spike_bits}-bit spikes on {hw.name} (32x32 mesh): "
          f"{int(s['tiles'])} tiles, {int(s['latency_cycles'])} cycles, {s['energy_pJ_per_inference']:.4g} pJ")
    print(f"trace {t_trace:.3f} s   evaluate + summary {t_eval * 1e3:.1f} ms (medians of {a.repeats})")
    print(f"evaluate / trace = {t_eval / t_trace * 100:.2f} % (target < 2 %)   "
          f"{1 / t_eval:.1f} configurations per second")
    print(f"first evaluation of a fresh trace (fills its per-trace tables) {t_cold * 1e3:.1f} ms = "
          f"{t_cold / t_trace * 100:.2f} % of the trace time")


if __name__ == "__main__":
    main()

"""Hardware evaluation on a cached trace against the time needed to produce that trace, in one run.

CIFAR VGG-11 (EM-PF, binary weights, random weights with BatchNorm statistics measured on the batch so activity
reaches every layer), T=4, batch 16, fixed mode with 4-bit spikes. The trace is produced once (timed), then
``evaluate(...).summary()`` runs on it as a sweep would, on ``empf-core-45nm`` with a mesh large enough for
VGG-11: each point a new value of one field (medians over ``--repeats`` points after a warm-up), for an energy-only
field (``chip.tech_node_nm``: mapping, work and fast timing reused), a timing-only field (``chip.noc_buffer_flits``:
mapping and work reused, the timing recomputed) and a structural non-mapping field (``chip.noc_hop_cycles``: the
mapping reused, work and timing recomputed; see ``empf_hw.hw.cores.reuse``). The first evaluation of a fresh trace
(its per-trace tables built) is printed too. Target: evaluate < 2 % of the trace time for points that change no
mapping field. Prints the ratios and configurations per second.

    python benchmarks/hw_evaluate.py [--arch vgg11] [--batch 16] [--timesteps 4] [--threads 2]
"""

import time

from common import active_model, median_time, parser
from threadpoolctl import threadpool_limits

from empf_hw.deploy import export_model
from empf_hw.hw import evaluate, load_arch
from empf_hw.sim import calibrate, execute

# a new value at every point (the warm-up takes the first)
SWEPT = {"chip.tech_node_nm": [45, 40, 32, 28, 22, 16, 14, 10, 7, 65, 90, 130, 50, 60, 70, 80],
         "chip.noc_buffer_flits": list(range(2, 40)), "chip.noc_hop_cycles": list(range(2, 40))}
KIND = {"chip.tech_node_nm": "energy only", "chip.noc_buffer_flits": "timing only",
        "chip.noc_hop_cycles": "work and timing"}


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
        points = {field: iter(values) for field, values in SWEPT.items()}
        t_eval = {field: median_time(lambda f=field: evaluate(trace, hw.with_overrides({f: next(points[f])}))
                                     .summary(), a.repeats) for field in SWEPT}
    s = evaluate(trace, hw).summary().iloc[0]
    print(f"{a.arch} T={a.timesteps} batch={a.batch} {a.spike_bits}-bit spikes on {hw.name} (32x32 mesh): "
          f"{int(s['tiles'])} tiles, {int(s['latency_cycles'])} cycles, {s['energy_pJ_per_inference']:.4g} pJ")
    print(f"trace {t_trace:.3f} s; evaluate + summary per sweep point (medians of {a.repeats} new values):")
    for field, t in t_eval.items():
        print(f"  {field:<20} ({KIND[field]}): {t * 1e3:6.1f} ms = {t / t_trace * 100:5.2f} % of the trace "
              f"(target < 2 %)   {1 / t:6.1f} configurations per second")
    print(f"first evaluation of a fresh trace (fills its per-trace tables) {t_cold * 1e3:.1f} ms = "
          f"{t_cold / t_trace * 100:.2f} % of the trace time")


if __name__ == "__main__":
    main()

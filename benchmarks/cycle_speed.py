"""Cycle-level simulator speed, and against SANA-FE on the same workload, in one run.

1. digits: the zoo's STBP LIF CNN (T=4), one test inference, on ``loihi-sanafe`` (lock-step, the SANA-FE preset):
   empf-hw's cycle-level simulation (wall time, simulated cycles per wall second) against SANA-FE 2.2.9 running the
   same workload (``empf-hw sanafe export``): its wall time including set-up (architecture and network load, chip
   build) and the simulation alone. Target: empf-hw faster than SANA-FE's simulation alone (aim 10×).
2. CIFAR ResNet-18 (EM-PF, random weights with BatchNorm statistics measured on the input so activity reaches every
   layer, T=4, 4-bit spikes), one inference on ``empf-core-45nm`` with a 64×64 mesh (it needs 2,562 cores) and on
   the ``empf-board-45nm`` board: wall time (targets 30 s and 60 s), packets and simulated cycles per wall second.
   SANA-FE is not run on it: its network would have ~0.56 G synapses (one network-file edge each), beyond this
   machine's memory; the line says so. ``--skip-resnet18`` leaves it out.

    python benchmarks/cycle_speed.py [--skip-resnet18] [--threads 2]
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from peers import run_sanafe  # noqa: E402  (SANA-FE runs in its own virtual environment)

from empf_hw.hw import evaluate, load_arch  # noqa: E402
from empf_hw.hw.cores.lowering import lower  # noqa: E402
from empf_hw.hw.sanafe_io import export_sanafe  # noqa: E402
from empf_hw.sim import calibrate, execute  # noqa: E402
from empf_hw.sim.pipeline import deploy  # noqa: E402


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def digits():
    d = deploy("models/digits_cnn-lif-stbp-T4", samples=1, mode="fixed", schedule="lockstep")
    arch = load_arch("loihi-sanafe")
    trace = execute(d.graph, d.inputs[:1], "fixed", schedule="lockstep")
    evaluate(trace, arch, lowering="parallel", timing="cycle")  # warm-up (per-trace tables)
    cyc, wall = timed(lambda: evaluate(trace, arch, lowering="parallel", timing="cycle"))
    with tempfile.TemporaryDirectory() as tmp:
        files = export_sanafe(cyc.graph, cyc.mapping, [lower(d.graph, trace, cyc.arch, "parallel")[1]])
        for name, text in files.items():
            (Path(tmp) / name).write_bytes(text if isinstance(text, bytes) else text.encode())
        sf = run_sanafe(Path(tmp))
    s = sf["samples"][0]["wall_s"]
    setup = sf["wall_s"]["load_arch"] + s["build_and_load"]
    print(f"digits_cnn-lif-stbp-T4 on loihi-sanafe, 1 inference: empf-hw cycle-level {wall:.2f} s "
          f"({cyc.timing.cycles / wall:,.0f} simulated cycles/s, {cyc.timing.stats['packets']} packets)")
    print(f"  SANA-FE 2.2.9: set-up {setup:.2f} s + simulation {s['sim']:.2f} s = {setup + s['sim']:.2f} s   "
          f"empf-hw / SANA-FE = {wall / (setup + s['sim']):.3f}× including set-up, {wall / s['sim']:.2f}× "
          "simulation alone (target < 1×, aim 0.1×)")


def resnet18():
    from common import active_model

    model, x = active_model("resnet18", 1, 4)
    from empf_hw.deploy import export_model

    graph = calibrate(export_model(model), x.numpy(), 4)
    trace = execute(graph, x.numpy(), "fixed")
    targets = {"empf-core-45nm 64×64": 30, "empf-board-45nm": 60}
    for name, arch in (("empf-core-45nm 64×64", load_arch("empf-core-45nm").with_overrides(
            {"chip.mesh_rows": 64, "chip.mesh_cols": 64})), ("empf-board-45nm", load_arch("empf-board-45nm"))):
        fast, t_fast = timed(lambda a=arch: evaluate(trace, a))
        cyc, wall = timed(lambda a=arch: evaluate(trace, a, timing="cycle"))
        pps = cyc.timing.stats["packets"] / wall
        print(f"CIFAR ResNet-18 (random init, T=4, 4-bit spikes) on {name}, 1 inference: cycle-level {wall:.1f} s "
              f"(target ≤ {targets[name]} s; {cyc.timing.cycles / wall:,.0f} simulated cycles/s, "
              f"{cyc.timing.stats['packets']:,} packets, {pps:,.0f} packets/s, target ≥ 2,000,000); fast estimate "
              f"{t_fast:.2f} s ({fast.timing.cycles / cyc.timing.cycles - 1:+.1%} latency error)")
    print("  SANA-FE: not run (≈0.56 G synapses, one network-file edge each, exceed this machine's memory)")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--skip-resnet18", action="store_true")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    with threadpool_limits(a.threads):
        digits()
        if not a.skip_resnet18:
            resnet18()


if __name__ == "__main__":
    main()

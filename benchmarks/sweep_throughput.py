"""Sweep throughput (points per second) with and without activity-trace reuse, and the time of `empf-hw simulate`.

The sweep is ``sims/sweeps/bus-x-spike-bits.yaml`` (EM-PF digits model, 5 bus widths × 6 spike widths, 120 test
samples): with reuse, one trace per spike width serves all bus widths; without, every point re-runs the executor.
Both run in-process into fresh stores, after a first sweep that pays the process's one-off costs (imports, model
and dataset loading; printed too); then with reuse on a Dask LocalCluster of 2 worker processes, after a sweep that
warms the workers, their traces cleared before the timed one. Target: ≥ 2000 points/min with reuse on 2 workers.
Then ``empf-hw simulate`` with its defaults runs as a subprocess.

    python benchmarks/sweep_throughput.py [--spec sims/sweeps/bus-x-spike-bits.yaml]
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from empf_hw.sim import executor
from empf_hw.sweep import runner
from empf_hw.sweep.runner import run_sweep
from empf_hw.sweep.spec import load_spec


def forget() -> None:
    """Every trace and calibration of this process: each sweep makes its own."""
    runner._traces.clear()
    executor._maxima.clear()


def timed_sweep(spec, reuse: bool, client=None) -> tuple[float, int]:
    forget()
    if client is not None:
        client.run(forget)
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        store = run_sweep(spec, Path(d) / "s.sqlite", progress=False, reuse_traces=reuse,
                          scheduler=client.scheduler_info()["address"] if client is not None else None)
        elapsed = time.perf_counter() - t0
        n = len(store.rows())
        store.close()
    return elapsed, n


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--spec", default="sims/sweeps/bus-x-spike-bits.yaml")
    a = p.parse_args()
    spec = load_spec(a.spec)
    t_cold, n = timed_sweep(spec, True)  # the process's first sweep: imports, model and dataset loading
    t_reuse, _ = timed_sweep(spec, True)
    t_plain, _ = timed_sweep(spec, False)
    print(f"sweep {spec.name}: {n} points, in one process")
    print(f"  first sweep of the process {t_cold:6.2f} s  {n / t_cold * 60:7.0f} points/min")
    print(f"  with trace reuse           {t_reuse:6.2f} s  {n / t_reuse * 60:7.0f} points/min (target ≥ 2000)")
    print(f"  without trace reuse        {t_plain:6.2f} s  {n / t_plain * 60:7.0f} points/min")
    print(f"  speed-up from reuse {t_plain / t_reuse:.2f}×")
    client, cluster = runner.connect(2, None)
    try:
        timed_sweep(spec, True, client)  # the workers' imports, model and dataset loading
        t_two, _ = timed_sweep(spec, True, client)
    finally:
        client.close()
        cluster.close()
    print(f"  with trace reuse, 2 workers {t_two:6.2f} s  {n / t_two * 60:7.0f} points/min (target ≥ 2000; "
          f"{t_reuse / t_two:.2f}× one process)")
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "empf_hw.cli", "simulate", "--out", str(Path(d) / "r")], check=True,
                       stdout=subprocess.DEVNULL)
        print(f"empf-hw simulate (defaults, whole digits test split, incl. start-up): "
              f"{time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    main()

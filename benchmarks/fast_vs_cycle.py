"""Fast estimate against the cycle-level simulator: |fast / cycle − 1| latency error over random networks and
architectures (the families of tests/test_cycle.py and tests/test_netkernel.py), printed as README's table, with
the realistic families pooled (issue 18's targets are stated over them).

    python benchmarks/fast_vs_cycle.py [--cases N]
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_cycle import case, latency_errors  # noqa: E402
from test_netkernel import board_case  # noqa: E402


def line(name: str, e: np.ndarray) -> str:
    a = np.abs(e)
    return (f"| {name} | {len(e)} | {np.median(a):.1%} | {np.quantile(a, 0.9):.1%} | {a.max():.1%} | "
            f"{(e < 0).mean():.0%} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--cases", type=int, default=60, help="random cases per family (default 60)")
    n = p.parse_args().cases
    families = {"realistic (links 16/32 b, buffers 4/8 flits, no FIFO limit)": lambda s: case(s, realistic=True),
                "contention (4–32-bit links, 1–8-flit buffers, 0–4-packet FIFOs)": lambda s: case(s, realistic=False),
                "realistic boards of 2–6 chips and single chips (links 16/32 b, buffers ≥ 4 flits, no FIFO limit, "
                "chip links 8/32 b)": lambda s: board_case(s, realistic=True),
                "boards of 2–6 chips and single chips (chip links 1–32 b)": board_case}
    print("| family | cases | median abs error | p90 | max | fast too low |")
    print("| --- | --- | --- | --- | --- | --- |")
    realistic: dict[str, list] = {"pipelined": [], "lockstep": []}
    for name, make in families.items():
        for mode, e in latency_errors(make, range(n)).items():
            if len(e):
                print(line(f"{name}, {mode}", e))
                if name.startswith("realistic"):
                    realistic[mode].append(e)
    pooled = {mode: np.concatenate(v) for mode, v in realistic.items() if v}
    for mode, e in pooled.items():
        print(line(f"all realistic chips and boards, {mode}", e))
    print(line("all realistic chips and boards", np.concatenate(list(pooled.values()))))


if __name__ == "__main__":
    main()

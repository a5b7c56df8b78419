"""empf-hw's systolic model against SCALE-Sim v3 on the same layer set: every distinct convolution of CIFAR
ResNet-18 and VGG-11 plus three GEMMs on a 32×32 weight-stationary array; prints both times and the ratio.

SCALE-Sim runs in its own virtual environment (numpy < 2, see tests/peers.py), one subprocess for the convolutions
and one for the GEMMs, without trace files (``-s N``); its start-up is included. empf-hw's time is the median of
repeated in-process evaluations of the same layers' cycles, and, for context, of a full ``evaluate`` (cycles,
counts, energy) of both networks on ``systolic-32x32-45nm`` in dense mode. Target: at least 100× faster.

    python benchmarks/scalesim_speed.py
"""

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from common import median_time  # noqa: E402
from peers import run_scalesim, scalesim_python  # noqa: E402

from empf_hw.deploy import export_model  # noqa: E402
from empf_hw.hw import evaluate, load_arch  # noqa: E402
from empf_hw.hw.systolic import scalesim_io as ss  # noqa: E402
from empf_hw.nn import ModelConfig, build_model  # noqa: E402
from empf_hw.sim import calibrate, execute  # noqa: E402

GEMMS = [ss.Gemm("g_fc", 1, 10, 512), ss.Gemm("g_tall", 1000, 64, 300), ss.Gemm("g_wide", 64, 1000, 2000)]


def main():
    graphs = {a: export_model(build_model(ModelConfig(a, timesteps=1)).eval()) for a in ("resnet18", "vgg11")}
    lines, seen = [], set()
    for g in graphs.values():
        for ln in ss.conv_topology(g).splitlines()[1:]:
            key = tuple(x.strip() for x in ln.split(",")[1:8])
            if key not in seen:
                seen.add(key)
                lines.append(ln)
    conv_text = ss.CONV_HEADER + "\n" + "\n".join(lines) + "\n"
    tmp = Path("/tmp/empf_hw_scalesim_speed.csv")
    tmp.write_text(conv_text)
    layers = ss.read_topology(tmp) + GEMMS
    arch = load_arch("systolic-32x32-45nm").with_overrides({"array.mode": "dense"})
    scalesim_python()  # create the environment before timing
    t0 = time.perf_counter()
    theirs = run_scalesim(conv_text, 32, 32, "ws", False) + run_scalesim(ss.gemm_topology(GEMMS), 32, 32, "ws", True)
    t_theirs = time.perf_counter() - t0
    ours = ss.dense_cycles(layers, arch)
    t_ours = median_time(lambda: ss.dense_cycles(layers, arch), 20)
    worst = max(abs(a - b) / b for a, b in zip(ours, theirs))
    print(f"{len(layers)} layers ({len(lines)} distinct convolutions of ResNet-18 and VGG-11, 3 GEMMs), 32x32 WS")
    print(f"SCALE-Sim v3: {t_theirs:.1f} s   empf-hw cycles: {t_ours * 1e6:.1f} µs   "
          f"ratio {t_theirs / t_ours:,.0f}× (target ≥ 100×); largest cycle difference {worst * 100:.3f} %")
    for name, g in graphs.items():
        x = np.ones((1, *g.nodes[0].shape), np.float32)
        tr = execute(calibrate(g, x, 4), x, "fixed")
        t_full = median_time(lambda tr=tr: evaluate(tr, arch).summary(), 5)
        print(f"full evaluate of {name} (all layers, T=1, cycles + counts + energy): {t_full * 1e3:.1f} ms")


if __name__ == "__main__":
    main()

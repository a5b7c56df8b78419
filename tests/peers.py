"""Public peer tools used only by tests and benchmarks: SCALE-Sim v3 in its own virtual environment (it needs
numpy < 2), called as a subprocess."""

import csv
import os
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

VENV = Path(os.environ.get("EMPF_HW_SCALESIM_VENV", Path.home() / ".cache" / "empf-hw" / "scalesim-venv"))
CFG = """[general]
run_name = run

[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: 65536
FilterSramSzkB: 65536
OfmapSramSzkB: 65536
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth: 1024
Dataflow: {dataflow}
MemoryBanks: 1
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport: false
SparseRep: ellpack_block
OptimizedMapping: false
BlockSize: 8
RandomNumberGeneratorSeed: 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""


def scalesim_python() -> str:
    """The interpreter of a virtual environment with scalesim and numpy < 2 (created once, then reused)."""
    py = VENV / "bin" / "python"
    if not py.exists() or subprocess.run([py, "-c", "import scalesim"], capture_output=True).returncode:
        venv.create(VENV, with_pip=True, clear=True)
        subprocess.run([py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "numpy<2",
                        "scalesim==3.0.0"], check=True)
    return str(py)


def config_text(rows: int, cols: int, dataflow: str) -> str:
    return CFG.format(rows=rows, cols=cols, dataflow=dataflow)


def run_scalesim(topology: str, rows: int, cols: int, dataflow: str, gemm: bool) -> list[int]:
    """SCALE-Sim's ``Total Cycles`` (compute, prefetch excluded) per layer of a topology CSV text."""
    py = scalesim_python()
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        (d / "topo.csv").write_text(topology)
        (d / "run.cfg").write_text(config_text(rows, cols, dataflow))
        n = len(topology.strip().splitlines()) - 1
        (d / "layout.csv").write_text("Layer name, a, b, c,\n" + "x, 1, 1, 1,\n" * n)
        subprocess.run([py, "-m", "scalesim.scale", "-c", d / "run.cfg", "-t", d / "topo.csv", "-l",
                        d / "layout.csv", "-p", d / "out", "-s", "N", "-i", "gemm" if gemm else "conv"],
                       check=True, capture_output=True, cwd=d)
        with open(d / "out" / "run" / "COMPUTE_REPORT.csv") as f:
            rows_ = list(csv.reader(f))
    head = [h.strip() for h in rows_[0]]
    col = head.index("Total Cycles")
    return [int(r[col]) for r in rows_[1:] if r and r[0].strip()]


if __name__ == "__main__":
    print(scalesim_python(), file=sys.stderr)

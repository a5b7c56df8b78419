"""Public peer tools used only by tests and benchmarks, each in its own virtual environment and called as a
subprocess: SCALE-Sim v3 (it needs numpy < 2) and SANA-FE 2.2.9 (its C++ core may abort the process on bad input)."""

import csv
import os
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

VENV = Path(os.environ.get("EMPF_HW_SCALESIM_VENV", Path.home() / ".cache" / "empf-hw" / "scalesim-venv"))
SANAFE_VENV = Path(os.environ.get("EMPF_HW_SANAFE_VENV", Path.home() / ".cache" / "empf-hw" / "sanafe-venv"))
SANAFE_RUNNER = Path(__file__).with_name("sanafe_runner.py")
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


def _venv_python(where: Path, module: str, packages: list[str]) -> str:
    """The interpreter of a virtual environment in which ``module`` imports (created once, then reused)."""
    py = where / "bin" / "python"
    if not py.exists() or subprocess.run([py, "-c", f"import {module}"], capture_output=True).returncode:
        venv.create(where, with_pip=True, clear=True)
        subprocess.run([py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *packages], check=True)
    return str(py)


def scalesim_python() -> str:
    return _venv_python(VENV, "scalesim", ["numpy<2", "scalesim==3.0.0"])


def sanafe_python() -> str:
    return _venv_python(SANAFE_VENV, "sanafe", ["sanafe==2.2.9"])


def run_sanafe(export_dir: Path, timing: str = "simple") -> dict:
    """SANA-FE's results for an empf-hw export (see sanafe_runner.py)."""
    import json

    run = subprocess.run([sanafe_python(), SANAFE_RUNNER, export_dir, timing], capture_output=True, text=True,
                         check=True, cwd=export_dir)
    return json.loads(run.stdout.strip().splitlines()[-1])


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

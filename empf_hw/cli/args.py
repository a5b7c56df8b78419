"""Argument parsing: one ``error:`` line for bad flags, typed and range-checked numbers, shared options."""

import argparse
import math
import sys

from ..nn.catalog import MAX_CLASSES


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one ``error:`` line (no usage block) and exit code 2."""

    def error(self, message: str):
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def _bound(lo, hi) -> str:
    return f"{lo}..{hi}" if hi is not None else f">= {lo}"


def integer(lo: int, hi: int | None = None):
    """argparse type: an integer in ``lo..hi``."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer; allowed: {_bound(lo, hi)}") from None
        if v < lo or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"{v} is out of range; allowed: {_bound(lo, hi)}")
        return v

    parse.bounds = (lo, hi, True)  # (lo, hi, integer): read by the fuzz test
    return parse


def number(lo: float, hi: float | None = None, above: bool = False):
    """argparse type: a finite number ``>= lo`` (``> lo`` if ``above``) and ``<= hi``."""

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            v = math.nan
        if not math.isfinite(v) or v < lo or (above and v == lo) or (hi is not None and v > hi):
            bound = f"> {lo}" if above and hi is None else _bound(lo, hi)
            raise argparse.ArgumentTypeError(f"{text!r} is not valid; allowed: a finite number {bound}")
        return v

    parse.bounds = (lo, hi, False)
    return parse


def spike_bits(text: str) -> int:
    """argparse type: a spike width the default fixed-point formats represent."""
    from ..deploy.graph import DEFAULT_FORMATS
    from ..sim.executor import max_spike_bits

    return integer(1, max_spike_bits(DEFAULT_FORMATS))(text)


spike_bits.bounds = (1, 16, True)  # max_spike_bits of the default formats (checked by the tests)


def add_out(p: argparse.ArgumentParser, what: str, required: bool = False) -> None:
    p.add_argument("--out", required=required, help=f"{what}; a new or empty directory, or one empf-hw wrote "
                   "before (with --force)")
    p.add_argument("--force", action="store_true", help="replace earlier empf-hw output there (files empf-hw did "
                   "not write are kept)")


def add_data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="directory with the dataset's local files (MNIST IDX, CIFAR-10/100 binary); not "
                   "needed for digits, mnist1d, synthetic")


def add_samples(p: argparse.ArgumentParser) -> None:
    p.add_argument("--samples", type=integer(1), help="only the first N test samples (default: the whole split)")


def add_spike_bits(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--spike-bits", type=spike_bits, help=what)


def add_model(p: argparse.ArgumentParser, default: str | None = None, what: str = "checkpoint") -> None:
    p.add_argument("--model", required=default is None, default=default,
                   help=f"{what}: path stem, .json or .safetensors, or a shipped model's name"
                   + (f" (default {default})" if default else ""))


def add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="PyTorch device (default cpu)")


def add_timing(p, default: str) -> None:
    p.add_argument("--timing", choices=("fast", "cycle"), default=default, help="fast estimate over the whole "
                   "batch, or also the cycle-level simulation of single inferences on cores chips "
                   f"(default {default})")
    p.add_argument("--cycle-samples", type=integer(1, 1000), default=3, help="inferences simulated cycle by cycle "
                   "with --timing cycle (default 3)")


def add_num_classes(p: argparse.ArgumentParser) -> None:
    p.add_argument("--num-classes", type=integer(2, MAX_CLASSES), help="classifier outputs (default: the "
                   "architecture's own, e.g. 10 for resnet18, 1000 for resnet34; 100 for CIFAR-100)")

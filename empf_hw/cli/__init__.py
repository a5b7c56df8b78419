"""Command line: ``empf-hw simulate | sensitivity | sweep | sweep-report | train | evaluate | run | memory | zoo |
cost | explore | ert | scalesim | sanafe export | map``.

Bad input → one ``error:`` line on stderr and exit code 2. Heavy modules are imported by the commands, so
``--help`` stays fast."""

import os
import sys

from ..errors import EmpfError
from . import hardware, mapping, models, reports
from .args import Parser


def build_parser() -> Parser:
    p = Parser(prog="empf-hw", description="What it costs to deploy a trained spiking network on modelled hardware: "
               "energy, latency, operations and memory, EM-PF against STBP. Run 'empf-hw COMMAND --help' for a "
               "command's options.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (reports, models, hardware, mapping):
        module.add_parsers(sub)
    return p


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help, or a bad flag (already reported on one line)
        return e.code if isinstance(e.code, int) else 2
    try:
        code = args.func(args)
        sys.stdout.flush()  # inside the try: a reader that left shows here, not at interpreter exit
        return code
    except EmpfError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `empf-hw cost | head -1`: the reader took what it wanted; a success
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0

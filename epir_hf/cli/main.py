"""`epir-hf COMMAND ...`: the package's commands behind one name.

Why one entry point: users find every command with `epir-hf --help`, and each command module stays small. Input
errors (a missing file, a bad value) end in one line naming the input, as for the other commands of the package.
"""

from __future__ import annotations

import sys

from ..training.cli import run_command
from . import compare, export, plot, predict, spot

COMMANDS = {"predict": predict.main, "spot": spot.main, "compare": compare.main, "plot": plot.main,
            "export": export.main}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        known = ", ".join(COMMANDS)
        print(f"usage: epir-hf COMMAND [ARGS]\n\ncommands: {known} (epir-hf COMMAND --help for its arguments)",
              file=sys.stderr if argv and argv[0] not in ("-h", "--help") else sys.stdout)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    return COMMANDS[argv[0]](argv[1:])


def cli() -> None:
    """The `epir-hf` console script."""
    run_command(lambda argv: sys.exit(main(argv)), "epir-hf")

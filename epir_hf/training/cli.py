"""The command-line face of the library's tools: a bad argument or a missing file ends in one line, not a traceback.

`epir-seed-table` and `epir-recipe-fit` are installed with the package; both raise `ValueError` or
`FileNotFoundError` with a message naming the bad input, and this turns it into the exit status and message argparse
gives for its own errors.
"""

from __future__ import annotations

import sys
from collections.abc import Callable


def run_command(main: Callable[[list[str] | None], object], prog: str,
                errors: tuple[type[Exception], ...] = (ValueError, FileNotFoundError)) -> None:
    """Call `main()` on the process's arguments; exit with `prog: error: message` on an input error (`errors`: the
    exceptions whose message names what the user can fix; anything else is a bug and keeps its traceback)."""
    try:
        main(None)
    except errors as error:
        sys.exit(f"{prog}: error: {error}")

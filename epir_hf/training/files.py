"""JSON files that readers see whole or not at all.

Every output of a run (its settings, each fold, the pooled results) is written to a temporary file and renamed into
place, so a run killed at any moment leaves either a whole file or none: that is what makes "skip the folds already
on disk" a safe resume rule.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any


def atomic_write_json(path: str | Path, payload: Any) -> None:
    """Write JSON so that readers see the old file or the whole new one, never a partial write.

    The temporary file is opened like any other new file (mode 0o666 less the umask), not with tempfile's
    private 0o600, so that results are as readable as everything else the user writes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temporary, "x") as handle:
            json.dump(payload, handle, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def read_json(path: str | Path) -> Any:
    with open(path) as handle:
        return json.load(handle)

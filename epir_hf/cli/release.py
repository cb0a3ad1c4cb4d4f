"""The model a command uses when none is named: the release checkpoint of a source checkout."""

from __future__ import annotations

from pathlib import Path

RELEASE_CHECKPOINT = Path(__file__).resolve().parents[2] / "checkpoints" / "epir-megc2019-3class"
"""The release checkpoint of a source checkout (an installed wheel has none: pass --model)."""


def model_or_release(model: str | None) -> str:
    """`model` (a saved folder or Hub id), else the release checkpoint; a `ValueError` when there is neither."""
    if model:
        return model
    if not RELEASE_CHECKPOINT.is_dir():
        raise ValueError("no --model given and no release checkpoint next to this installation: pass --model "
                         "(a saved EPIR folder or Hub id)")
    return str(RELEASE_CHECKPOINT)

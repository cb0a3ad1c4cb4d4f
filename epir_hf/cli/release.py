"""The model a command uses: the one its user named (a saved folder or a Hub id), else the release checkpoint.

Why one module: every command takes a model the same way and must fail the same way when it cannot be had, in one
line naming the argument, before any work starts. A missing folder is refused at once, not looked up on the Hub
(which, without a network, retries for half a minute before it gives up), when its name cannot be a Hub id or its
parent folder exists here (`runs/epir` beside an existing `runs/`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from huggingface_hub.utils import HFValidationError, validate_repo_id
from transformers import Pipeline, pipeline
from transformers.utils import logging as transformers_logging

RELEASE_CHECKPOINT = Path(__file__).resolve().parents[2] / "checkpoints" / "epir-megc2019-3class"
"""The release checkpoint of a source checkout (an installed wheel has none: pass --model)."""
MODEL_HELP = "a saved EPIR folder or Hub id (default: the release checkpoint of a source checkout)"


def model_or_release(model: str | None) -> str:
    """`model` (a saved folder or Hub id), else the release checkpoint; a `ValueError` when there is neither."""
    if model:
        return model
    if not RELEASE_CHECKPOINT.is_dir():
        raise ValueError("no --model given and no release checkpoint next to this installation: pass --model "
                         "(a saved EPIR folder or Hub id)")
    return str(RELEASE_CHECKPOINT)


def check_model_name(name: str, argument: str = "--model") -> None:
    """A `FileNotFoundError` naming `argument` unless `name` is a saved model folder (with a config.json) or can
    only be a Hub id (see the module doc)."""
    path = Path(name)
    if path.exists():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{argument} {name}: not a saved model folder (it has no config.json)")
        return
    try:
        validate_repo_id(name)
    except HFValidationError:
        raise FileNotFoundError(f"{argument} {name}: no such folder, and not a Hub id (name or namespace/name)"
                                ) from None
    if len(path.parts) > 1 and path.parent.is_dir():
        raise FileNotFoundError(f"{argument} {name}: no such folder (its parent folder {path.parent} exists here, so "
                                "it is not taken for a Hub id)")


def loading_error(error: BaseException, name: str, argument: str = "--model") -> ValueError:
    """The one-line error of a model `name` that transformers could not load: the first line of its message (they
    run over several), saying that the Hub was asked when no such folder exists here."""
    text = str(error).strip()
    where = "" if Path(name).exists() else "no such folder here, and from the Hub: "
    return ValueError(f"{argument} {name}: {where}{text.splitlines()[0] if text else type(error).__name__}")


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """transformers' progress bars (weights loading) off while a model loads: a command shows its own bar only."""
    was_enabled = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            transformers_logging.enable_progress_bar()


def load_pipeline(task: str, model: str, argument: str = "--model", **kwargs: Any) -> Pipeline:
    """`pipeline(task, model, trust_remote_code=True, **kwargs)`; a model that cannot be had or loaded for `task`
    is a `ValueError` (`FileNotFoundError` for a missing folder) of one line naming `argument`."""
    check_model_name(model, argument)
    try:
        with quiet_loading():
            return pipeline(task, model=model, trust_remote_code=True, **kwargs)
    except (OSError, ValueError, KeyError) as error:
        raise loading_error(error, model, argument) from None

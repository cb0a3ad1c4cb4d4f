"""The record of a LOSO run's settings: stored with the run, and compared on resume and merge.

Folds trained with other settings must never be pooled with a run's folds: resuming or merging them would silently
mix two experiments. A run's folder therefore holds `run_config.json`, everything that determines its numbers, and
every later invocation that writes into the folder (or pools it) is compared with it by meaning, setting by setting.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import reprlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import TrainingArguments

from .files import atomic_write_json, read_json
from .folds import FOLDS_DIRNAME

logger = logging.getLogger(__name__)

RUN_CONFIG_FILENAME = "run_config.json"
FINAL_DIRNAME = "final"
"""Where `--train_full` saves its model inside the output dir."""
PROTOCOLS = ("honest", "inner-val", "oracle-epoch")

BOOKKEEPING_KEYS = frozenset({"auto_map", "_processor_class", "processor_class", "image_processor_type",
                              "transformers_version", "architectures", "_name_or_path"})
"""Keys that record where a config or processor came from, not what it computes: an equivalent processor loaded
from a folder (with `auto_map`) or saved by another transformers version must not look like other settings."""


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines the numbers of one LOSO run (one seed).

    Args:
        protocol: "honest", "inner-val" or "oracle-epoch" (see `LOSOArguments.protocol`).
        seed: the training seed of every fold.
        dataset: the `dataset_scripts.load_me_dataset` name.
        subjects: every fold of a complete run: the corpus' subjects, or its corpora under `fold_by="dataset"`.
        label_names: the classes, in label order.
        model_config: the model config as a dict (without its transformers version).
        training: the TrainingArguments that change what a fold learns (`training_signature`).
        recipe: balance, augmentation and test-time mirror (`TrainingRecipe.to_dict`), plus `inner_folds` under
            inner-val.
        dataset_kwargs: the loader's arguments that change the data (not where its cache lives).
        processor: the image processor as a dict: it made the model inputs.
        fold_by: "subject" (leave-one-subject-out) or "dataset" (leave-one-database-out).
    """

    protocol: str
    seed: int
    dataset: str
    subjects: list[str]
    label_names: list[str]
    model_config: dict[str, Any]
    training: dict[str, Any]
    recipe: dict[str, Any]
    dataset_kwargs: dict[str, Any] = field(default_factory=dict)
    processor: dict[str, Any] | None = None
    fold_by: str = "subject"

    def __post_init__(self):
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"Unknown protocol {self.protocol!r}; expected one of {', '.join(PROTOCOLS)}.")

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, settings: dict[str, Any], source: str = "the run settings") -> RunConfig:
        """The record in `settings`; `source` names it in the error on missing or unknown keys."""
        fields = {item.name: item for item in dataclasses.fields(cls)}
        unknown = sorted(set(settings) - set(fields))
        missing = sorted(name for name, item in fields.items() if name not in settings
                         and item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING)
        if unknown or missing:
            problems = [f"unknown keys {unknown}" if unknown else "", f"missing keys {missing}" if missing else ""]
            raise ValueError(f"{source} is not a LOSO run record ({'; '.join(p for p in problems if p)}).")
        return cls(**settings)

    def to_json(self, path: str | Path) -> None:
        atomic_write_json(path, self.to_dict())

    @classmethod
    def from_json(cls, path: str | Path) -> RunConfig:
        return cls.from_dict(read_json(path), source=str(path))

    @classmethod
    def from_output_dir(cls, output_dir: str | Path) -> RunConfig:
        """The settings recorded in a run's output dir."""
        path = Path(output_dir) / RUN_CONFIG_FILENAME
        if not path.is_file():
            raise FileNotFoundError(f"{output_dir} is not a LOSO output dir (no {RUN_CONFIG_FILENAME}).")
        return cls.from_json(path)

    def differences(self, other: RunConfig) -> list[str]:
        """Each setting that differs, as `dotted.path: self → other`, bookkeeping keys ignored."""
        return settings_differences(self.to_dict(), other.to_dict())

    def record_in(self, output_dir: str | Path, write: bool = True) -> None:
        """Record these settings in `output_dir` (if `write`), or check that the run already there has the same.

        A record under which nothing was written yet (no fold, no trained model: a run that failed or was stopped
        before its first fold ended) vouches for no result, so it is replaced rather than refused: the corrected
        command can use the same folder.
        """
        record_settings(Path(output_dir) / RUN_CONFIG_FILENAME, self.to_dict(), "a run", write=write,
                        read=lambda path: RunConfig.from_json(path).to_dict(),
                        replaceable=not holds_results(output_dir))

    def check_recorded(self, output_dir: str | Path) -> None:
        """Refuse to add work to `output_dir` once its record holds other settings: another command, started into the
        same folder before this one's first fold ended, replaced the record (`record_in`)."""
        record_settings(Path(output_dir) / RUN_CONFIG_FILENAME, self.to_dict(), "a run", write=False,
                        read=lambda path: RunConfig.from_json(path).to_dict())


@dataclass
class LOSORun:
    """One seed's LOSO run: its TrainingArguments, its recorded settings, and the folder it is written to."""

    args: TrainingArguments
    run_config: RunConfig
    output_dir: Path


_ABSENT = object()
_SHORT = reprlib.Repr()  # long lists (e.g. the subjects) and nested dicts are shortened with "..."
_SHORT.maxlist, _SHORT.maxdict, _SHORT.maxstring = 8, 4, 60


def seed_run_dirs(folder: str | Path) -> list[Path]:
    """The runs of a `--seeds` output dir (its `seed<s>/` folders holding a run record), in the order of their seeds;
    empty when `folder` holds none (a single run's folder, for one)."""
    runs = [path for path in Path(folder).glob("seed*") if (path / RUN_CONFIG_FILENAME).is_file()]
    return sorted(runs, key=lambda path: (len(path.name), path.name))


def holds_results(output_dir: str | Path) -> bool:
    """Whether a run's folder holds work its settings record vouches for: a finished fold or a trained model."""
    output_dir = Path(output_dir)
    return any((output_dir / FOLDS_DIRNAME).glob("*.json")) or (output_dir / FINAL_DIRNAME).exists()


def record_settings(path: Path, settings: dict, what: str, write: bool = True,
                    read: Callable[[Path], dict] = read_json, replaceable: bool = False) -> None:
    """Write `settings` to `path` (if `write`), or, when `path` exists, refuse settings other than those it holds:
    work written under other settings must never be resumed or pooled as if it were the same run. `what` names the
    work in the error (e.g. "a run"); `read` loads the file (e.g. filling defaults of an older record). With
    `replaceable` (no work was written under the record on disk), other settings replace it instead."""
    if path.is_file():
        differences = settings_differences(read(path), settings)
        if differences and replaceable:
            logger.info("Replacing the settings recorded in %s, under which nothing was written yet (on disk → now: "
                        "%s).", path, "; ".join(differences))
            if write:
                atomic_write_json(path, settings)
        elif differences:
            raise ValueError(f"{path.parent} already holds {what} with different settings (on disk → now: "
                             f"{'; '.join(differences)}). Use a new --output_dir, or the same settings to resume.")
    elif write:
        atomic_write_json(path, settings)


def settings_differences(old: dict, new: dict) -> list[str]:
    """Each setting that differs, as `dotted.path: old → new`, bookkeeping keys ignored."""
    old, new = json.loads(json.dumps(old)), json.loads(json.dumps(new))  # same JSON types on both sides
    return list(_differing_paths(old, new, ""))


def _differing_paths(old: Any, new: Any, path: str) -> Iterator[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            if key not in BOOKKEEPING_KEYS:
                yield from _differing_paths(old.get(key, _ABSENT), new.get(key, _ABSENT),
                                            f"{path}.{key}" if path else key)
    elif old != new:
        yield f"{path}: {_describe(old)} → {_describe(new)}"


def _describe(value: Any) -> str:
    return "(absent)" if value is _ABSENT else _SHORT.repr(value)

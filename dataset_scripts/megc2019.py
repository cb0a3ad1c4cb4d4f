"""The MEGC2019 composite set (See et al., FG 2019): CASME II + SAMM + SMIC-HS in three classes.

Two ways in:
- `Megc2019Composite` builds it from the three raw corpora, each labelled with its own 3-class
  mapping (negative <- anger, contempt, disgust, fear, sadness, repression; positive <- happiness;
  surprise <- surprise; "others" dropped). Subject ids stay distinct across corpora (sub01 / 006 /
  s01), which leave-one-subject-out evaluation relies on.
- `Megc2019CompositeFlow` reads the precomputed release that STSTNet/HTNet published: `labels.csv`
  (dataset, sub, filename_o, label, ...) and one 28x28 RGB flow image `flow/{sub}_{filename_o} .png`
  per sample (with the space before `.png`, as released).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from datasets import ClassLabel, Features, Image, Value

from epir_hf.image_processing_epir import load_flow_image

from .casme2 import Casme2
from .samm import Samm
from .samples import (
    FrameRows,
    Sample,
    cell_text,
    check_unique,
    file_stats,
    format_listing,
    report_problems,
    require_nonempty,
    require_path,
)
from .smic import Smic
from .tasks import TASKS, THREE_CLASSES, Task

PARTS = {"casme2": Casme2, "samm": Samm, "smic": Smic}


class Megc2019Composite(FrameRows):
    """The composite from raw corpora: `data_dir` maps "casme2", "samm", "smic" to their folders.

    `frames` selects the CASME II frame release; `apex` is the SMIC apex policy.
    """

    name = "megc2019_composite"

    def __init__(self, data_dir: Mapping[str, str | Path], frames: str | None = None, apex: str = "middle") -> None:
        if not isinstance(data_dir, Mapping) or set(data_dir) != set(PARTS):
            raise ValueError(f"megc2019_composite needs data_dir={{'casme2': ..., 'samm': ..., 'smic': ...}}, "
                             f"got {data_dir!r}")
        self.parts = {"casme2": Casme2(data_dir["casme2"], frames=frames), "samm": Samm(data_dir["samm"]),
                      "smic": Smic(data_dir["smic"], apex=apex)}

    def identity(self) -> dict:
        return {name: part.identity() for name, part in self.parts.items()}

    def plan(self, task: Task, strict: bool) -> list[Sample]:
        samples, owners = [], {}
        for name, part in self.parts.items():
            part_samples = part.plan(TASKS[name][task.name], strict)
            for s in part_samples:
                owners.setdefault(s.subject, set()).add(name)
            samples += part_samples
        shared = sorted(f"{subject}: {sorted(parts)}" for subject, parts in owners.items() if len(parts) > 1)
        if shared:
            raise ValueError(f"subject ids shared between corpora (LOSO would mix people):{format_listing(shared)}")
        return samples


@dataclass(frozen=True)
class FlowSample:
    sample_id: str
    subject: str
    dataset: str
    label: str
    path: Path


LABELS_COLUMNS = ("dataset", "sub", "filename_o", "label")


def check_corpus_names(names: pd.Series, corpora: Sequence[str], path: Path) -> None:
    """A ValueError naming the first row of `path` whose corpus name is not one of `corpora`, with the closest one."""
    for position, name in enumerate(names):
        if name not in corpora:
            close = difflib.get_close_matches(name.lower(), corpora, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            # Line 1 of the file is its header.
            raise ValueError(f"{path} line {position + 2}: unknown corpus {name!r} in the dataset column{hint}; "
                             f"known corpora: {list(corpora)}. A corpus of your own is declared with "
                             "extra_corpora=['name'] (in run_loso.py: --dataset_kwargs '{\"extra_corpora\": "
                             "[\"name\"]}').")


def flow_file_name(subject: str, filename: str) -> str:
    return f"{subject}_{filename} .png"


class Megc2019CompositeFlow:
    """The precomputed flow release; `data_dir` holds `labels.csv` and `flow/`.

    The `dataset` column must name one of the composite's corpora (casme2, samm, smic) or one of `extra_corpora`:
    leave-one-database-out folds and the per-corpus scores group samples by that name, so a misspelt one would
    silently become a corpus of its own.
    """

    name = "megc2019_composite_flow"

    def __init__(self, data_dir: str | Path, extra_corpora: Sequence[str] = ()) -> None:
        root = Path(data_dir)
        if isinstance(extra_corpora, str) or not all(isinstance(name, str) and name.strip()
                                                     for name in extra_corpora):
            raise ValueError(f"extra_corpora must be a list of corpus names, e.g. ['casme3']; got {extra_corpora!r}")
        self.corpora = (*PARTS, *sorted(set(extra_corpora) - set(PARTS)))
        self.labels = require_path(root / "labels.csv", "labels file of the composite flow release")
        self.flow_dir = require_path(root / "flow", "flow folder of the composite flow release")

    def identity(self) -> dict:
        # Every sample is a file, so each flow image is part of the key: one edited in place changes neither
        # labels.csv nor the folder's mtime. Statting a few hundred files costs far less than a rebuild. The corpora
        # are part of it too, so that a copy built with a declared corpus is never returned without the declaration.
        flows = sorted(path for path in self.flow_dir.iterdir() if path.is_file())
        return {"files": file_stats([self.labels, self.flow_dir, *flows]), "corpora": list(self.corpora)}

    def plan(self, task: Task, strict: bool) -> list[FlowSample]:
        table = pd.read_csv(self.labels, dtype=str, keep_default_na=False)
        absent = [c for c in LABELS_COLUMNS if c not in table.columns]
        if absent:
            raise ValueError(f"{self.labels} lacks the columns {absent}; found {list(table.columns)}")
        accepted = {str(i): name for i, name in enumerate(THREE_CLASSES)}
        unknown = sorted(set(table["label"].map(cell_text)) - set(accepted))
        if unknown:
            raise ValueError(f"unknown emotion labels in {self.labels}: {unknown}. Accepted: {accepted}")
        check_corpus_names(table["dataset"].map(cell_text), self.corpora, self.labels)
        listed = [self._sample(row, accepted) for row in table.to_dict("records")]
        check_unique(listed, str(self.labels))
        samples, missing, unreadable = [], [], []
        for s in listed:
            if not s.path.is_file():
                missing.append(f"{s.sample_id}: {s.path} does not exist")
                continue
            try:
                # Decoded here, where the file is still known by name: the dataset keeps only its bytes.
                load_flow_image(s.path, s.sample_id)
            except ValueError as error:
                unreadable.append(str(error))
                continue
            samples.append(s)
        report_problems(missing, [], strict, what="flow images", unreadable=unreadable)
        require_nonempty(samples, str(self.labels))
        return samples

    def _sample(self, row: dict, accepted: dict[str, str]) -> FlowSample:
        subject, filename = cell_text(row["sub"]), cell_text(row["filename_o"])
        return FlowSample(f"{subject}_{filename}", subject, cell_text(row["dataset"]),
                          accepted[cell_text(row["label"])], self.flow_dir / flow_file_name(subject, filename))

    def features(self, task: Task) -> Features:
        return Features({
            "sample_id": Value("string"),
            "subject": Value("string"),
            "dataset": Value("string"),
            "emotion": Value("string"),
            "label": ClassLabel(names=list(task.class_names)),
            "flow": Image(),
        })

    @staticmethod
    def generate(plan: list[FlowSample]) -> Iterator[dict]:
        for s in plan:
            yield {"sample_id": s.sample_id, "subject": s.subject, "dataset": s.dataset, "emotion": s.label,
                   "label": s.label, "flow": {"bytes": s.path.read_bytes(), "path": None}}

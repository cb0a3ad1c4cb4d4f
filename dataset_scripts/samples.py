"""Shared machinery of the corpus loaders: annotation sheets, labels, frame picking, validation.

Why: every corpus is a spreadsheet (or a folder tree) plus folders of numbered frames, and every
corpus has the same failure modes (missing files, unknown emotions, indices outside the clip).
Checking them here, at the boundary, gives the user one clear error that lists every bad sample
instead of a traceback from deep inside PIL or the model hours later.
"""

from __future__ import annotations

import re
import warnings
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
from datasets import ClassLabel, Features, Image, Value
from tqdm.auto import tqdm

from .tasks import Task, normalise_emotion


@dataclass(frozen=True)
class Sample:
    """One annotated micro-expression clip, before and after its frames are resolved.

    `onset_frame`/`apex_frame` are the frame numbers of the annotation; None means "not
    annotated": the onset then defaults to the first frame of the clip and the apex is chosen by
    the loader's apex policy.
    """

    sample_id: str
    subject: str
    dataset: str
    emotion: str
    folder: Path
    onset_frame: int | None = None
    apex_frame: int | None = None
    label: str | None = None
    onset_path: Path | None = None
    apex_path: Path | None = None
    annotation_problem: str | None = None  # e.g. a frame cell that is not a number


def core_features(class_names: Sequence[str]) -> Features:
    """The features every frame-based loader returns (see interfaces.md)."""
    return Features({
        "sample_id": Value("string"),
        "subject": Value("string"),
        "dataset": Value("string"),
        "emotion": Value("string"),
        "label": ClassLabel(names=list(class_names)),
        "onset": Image(),
        "apex": Image(),
        "onset_frame": Value("int32"),
        "apex_frame": Value("int32"),
    })


def format_listing(items: Sequence[str]) -> str:
    """Every item on its own indented line: an error names each affected sample, however many."""
    return "".join(f"\n  {item}" for item in items)


def file_stats(paths: Iterable[Path]) -> dict[str, tuple[int, int]]:
    """(mtime in ns, size) of each path: the part of a cache key that notices an edited input file."""
    return {str(p.resolve()): (p.stat().st_mtime_ns, p.stat().st_size) for p in paths}


def require_path(path: Path, what: str) -> Path:
    """Return `path` if it exists, else a FileNotFoundError naming it and what it should be."""
    if not path.exists():
        raise FileNotFoundError(f"{what} not found: {path}")
    return path


def find_annotation_file(data_dir: Path, patterns: Sequence[str], override: str | Path | None) -> Path:
    """The annotation sheet: `override` if given, else the newest-named match of `patterns` in `data_dir`."""
    if override is not None:
        return require_path(Path(override), "annotation file")
    require_path(data_dir, "data_dir")
    matches = sorted({p for pattern in patterns for p in data_dir.glob(pattern)})
    if not matches:
        raise FileNotFoundError(
            f"annotation file not found: no file matching {list(patterns)} in {data_dir} "
            "(pass annotation_file= to point at it)")
    return matches[-1]  # official names carry a date or a version number: the last is the newest


def frame_release(corpus: str, releases: Sequence[str], frames: str | None) -> str:
    """The frame release `frames` of `corpus` (default: its first), or a ValueError listing the releases."""
    if frames is None:
        return releases[0]
    if frames not in releases:
        raise ValueError(f"{corpus} frames must be one of {list(releases)}, got {frames!r}")
    return frames


def locate_sheet_and_frames(corpus, data_dir: str | Path, annotation_file: str | Path | None,
                            frames_dir: str | Path | None) -> tuple[Path, Path]:
    """The annotation sheet and the frame folder of a corpus annotated by one spreadsheet.

    `corpus` gives `title`, `annotation_patterns` and `frames_subdir`: the sheet defaults to the newest file of
    `data_dir` matching the patterns, the frame folder to `data_dir/frames_subdir`.
    """
    data_dir = Path(data_dir)
    annotation = find_annotation_file(data_dir, corpus.annotation_patterns, annotation_file)
    default = data_dir / corpus.frames_subdir if corpus.frames_subdir else data_dir
    return annotation, require_path(Path(frames_dir) if frames_dir else default, f"{corpus.title} frame folder")


def _header_key(cell: object) -> str:
    return " ".join(str(cell).split()).lower()


def read_workbook(path: Path) -> dict[str, pd.DataFrame]:
    """Every sheet of an .xlsx workbook as raw cells (no header), indexed by spreadsheet row number (1-based).

    Only truly empty cells are missing: "n/a" or "/" in a frame column must reach the user as written.
    """
    try:
        sheets = pd.read_excel(path, sheet_name=None, header=None, engine="openpyxl", keep_default_na=False,
                               na_values=[""])
    except Exception as err:  # openpyxl raises several unrelated types for a non-xlsx file
        raise ValueError(f"cannot read annotation file {path} as an .xlsx workbook: {err}") from err
    for raw in sheets.values():
        raw.index = raw.index + 1  # error messages name the row as a spreadsheet shows it
    return sheets


def read_annotation_sheet(path: Path, required: Sequence[str], max_header_row: int = 30) -> pd.DataFrame:
    """Read the table of an annotation workbook whose header row contains every `required` column.

    The header is searched for in the first `max_header_row` rows of every sheet, because some
    releases put title rows above the table (SAMM) or keep the labels on a second sheet. Column
    names are returned normalised (lower case, single spaces); the index is the spreadsheet row
    number, so that an error can name the row. When no header has every column, the error names
    the columns missing from the closest one and the columns it has.
    """
    wanted = [_header_key(c) for c in required]
    closest, seen = None, []
    for name, raw in read_workbook(path).items():
        for row in raw.index[:max_header_row]:
            cells = raw.loc[row].tolist()
            keys = [_header_key(c) for c in cells]
            found = sum(w in keys for w in wanted)
            if found == len(wanted):
                named = [pd.notna(c) for c in cells]  # cells under no header (stray notes) are not columns
                table = raw.loc[row + 1:, named].copy()
                table.columns = [k for k, keep in zip(keys, named) if keep]
                return table.dropna(how="all")
            if found and (closest is None or found > closest[0]):
                closest = (found, name, row, [c for c in cells if pd.notna(c)], keys)
        if len(raw):
            seen.append(f"sheet {name!r}: {[c for c in raw.iloc[0].tolist() if pd.notna(c)]}")
    if closest is not None:
        _, name, row, cells, keys = closest
        missing = [c for c, w in zip(required, wanted) if w not in keys]
        raise ValueError(f"annotation file {path} has no table with the columns {list(required)}: the header in "
                         f"sheet {name!r} row {row} lacks {missing}; its columns: {cells}")
    raise ValueError(f"annotation file {path} has no table with the columns {list(required)}; "
                     f"first rows seen:{format_listing(seen)}")


def cell_text(value: object) -> str:
    """A spreadsheet cell as stripped text; empty cells (NaN) become ""."""
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value).strip()


def as_frame_number(value: object) -> int | None:
    """An annotated frame number as int, or None when the cell is empty or not a number ("/")."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return int(value) if not pd.isna(value) and float(value).is_integer() else None
    text = str(value).strip()
    return int(text) if text.isdigit() else None


def subject_number(value: object, source: str) -> int:
    """The number of a subject cell (6, "06", "sub06"), or a ValueError naming the cell."""
    text = cell_text(value)
    digits = text[3:] if text.lower().startswith("sub") else text
    try:
        return int(float(digits))
    except ValueError:
        raise ValueError(f"{source}: subject {value!r} is not a subject number") from None


def invalid_indices(**cells: object) -> str | None:
    """A description of the cells that are not frame numbers (None when all are), for Sample.annotation_problem."""
    bad = [f"{name} {value!r}" for name, value in cells.items() if as_frame_number(value) is None]
    return f"{' and '.join(bad)}: not a frame number" if bad else None


def check_unique(samples: Iterable, source: str) -> None:
    """Raise a ValueError listing every `sample_id` of `samples` that occurs more than once.

    Each sample is one row of a LOSO fold: a duplicate would be trained on and scored twice, under whichever
    label each copy carries.
    """
    counts = Counter(s.sample_id for s in samples)
    duplicated = sorted(sample_id for sample_id, n in counts.items() if n > 1)
    if duplicated:
        raise ValueError(f"duplicated sample ids in {source}:{format_listing(duplicated)}")


def apply_task(samples: Iterable[Sample], task: Task, source: str) -> list[Sample]:
    """Label every sample for `task`, drop the emotions the task drops, reject unknown emotions."""
    samples = list(samples)
    unknown = sorted({s.emotion for s in samples if normalise_emotion(s.emotion) not in task.mapping})
    if unknown:
        raise ValueError(f"unknown emotion labels in {source}: {unknown}. Accepted (case-insensitive) "
                         f"for {task.describe()}")
    labelled = []
    for s in samples:
        label = task.mapping[normalise_emotion(s.emotion)]
        if label is not None:
            labelled.append(replace(s, label=label))
    return labelled


def list_frames(folder: Path, pattern: re.Pattern) -> dict[int, Path]:
    """Frame number -> file for the files of `folder` whose name fully matches `pattern` (group 1 = number).

    Two files with one number ("img1.jpg", "img001.jpg") are a ValueError: either could be meant.
    """
    frames = {}
    for entry in folder.iterdir():
        match = pattern.fullmatch(entry.name)
        if match:
            number = int(match.group(1))
            if number in frames:
                raise ValueError(f"{folder}: {frames[number].name} and {entry.name} are both frame {number}")
            frames[number] = entry
    return frames


# Picks the apex frame number of a clip without an annotated apex, given its frames from the onset
# on as (number, file) pairs sorted by number.
ApexPolicy = Callable[[Sample, list[tuple[int, Path]]], int]


def resolve_frames(samples: Sequence[Sample], pattern: re.Pattern, strict: bool,
                   apex_policy: ApexPolicy | None = None, desc: str = "Checking frames") -> list[Sample]:
    """Find the onset and apex files of every sample; report every problem at once.

    Missing folders/frames -> with `strict` one FileNotFoundError listing every affected sample,
    otherwise a warning and the samples are skipped. Indices outside the frames present in the
    clip folder (or onset after apex) -> likewise, as a ValueError. `apex_policy(sample, frames)`
    picks the apex frame number for clips without an annotated apex (frames sorted by number).
    """
    resolved, missing, out_of_range = [], [], []
    listings: dict[Path, dict[int, Path]] = {}
    for s in tqdm(samples, desc=desc, leave=False):
        if s.annotation_problem:
            out_of_range.append(f"{s.sample_id}: {s.annotation_problem}")
            continue
        if not s.folder.is_dir():
            missing.append(f"{s.sample_id}: folder {s.folder} does not exist")
            continue
        if s.folder not in listings:  # several CAS(ME)^3 samples share one video folder
            listings[s.folder] = list_frames(s.folder, pattern)
        frames = listings[s.folder]
        if not frames:
            missing.append(f"{s.sample_id}: no frame matching {pattern.pattern!r} in {s.folder}")
            continue
        first, last = min(frames), max(frames)
        onset = first if s.onset_frame is None else s.onset_frame
        apex = s.apex_frame
        if apex is None:
            if apex_policy is None:
                raise ValueError(f"{s.sample_id}: no apex frame annotated and no apex policy given")
            apex = apex_policy(replace(s, onset_frame=onset), [(k, frames[k]) for k in sorted(frames) if k >= onset])
        bad = [f"{name} {n}" for name, n in (("onset", onset), ("apex", apex)) if not first <= n <= last]
        if bad:
            out_of_range.append(f"{s.sample_id}: {', '.join(bad)} outside the frames {first}..{last} in {s.folder}")
            continue
        if onset > apex:
            out_of_range.append(f"{s.sample_id}: onset {onset} after apex {apex}")
            continue
        absent = [f"frame {n}" for n in (onset, apex) if n not in frames]
        if absent:
            missing.append(f"{s.sample_id}: {' and '.join(absent)} missing in {s.folder}")
            continue
        resolved.append(replace(s, onset_frame=onset, apex_frame=apex,
                                onset_path=frames[onset], apex_path=frames[apex]))
    report_problems(missing, out_of_range, strict)
    return resolved


def report_problems(missing: list[str], out_of_range: list[str], strict: bool, what: str = "frames",
                    unreadable: Sequence[str] = ()) -> None:
    """Raise (strict) or warn about every sample with missing or `unreadable` `what` or invalid onset/apex
    indices."""
    if not (missing or out_of_range or unreadable):
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} sample(s) with missing {what}:{format_listing(missing)}")
    if unreadable:
        parts.append(f"{len(unreadable)} sample(s) with unreadable {what}:{format_listing(unreadable)}")
    if out_of_range:
        parts.append(f"{len(out_of_range)} sample(s) with invalid onset/apex indices:{format_listing(out_of_range)}")
    message = "\n".join(parts)
    if not strict:
        skipped = len(missing) + len(out_of_range) + len(unreadable)
        warnings.warn(f"skipping {skipped} sample(s) (strict=False):\n{message}", stacklevel=3)
    elif missing:
        raise FileNotFoundError(message + "\n(pass strict=False to skip these samples)")
    else:
        raise ValueError(message + "\n(pass strict=False to skip these samples)")


def require_nonempty(samples: Sequence, source: str) -> None:
    if not samples:
        raise ValueError(f"no usable samples in {source} (after applying the task and skipping bad samples)")


def frame_examples(samples: Sequence[Sample]) -> Iterator[dict]:
    """Dataset rows for resolved samples; frames are embedded as the original file bytes."""
    for s in samples:
        yield {
            "sample_id": s.sample_id,
            "subject": s.subject,
            "dataset": s.dataset,
            "emotion": s.emotion,
            "label": s.label,
            "onset": {"bytes": s.onset_path.read_bytes(), "path": None},
            "apex": {"bytes": s.apex_path.read_bytes(), "path": None},
            "onset_frame": s.onset_frame,
            "apex_frame": s.apex_frame,
        }


class FrameRows:
    """Features and rows of any loader whose plan is a list of resolved `Sample`s."""

    def features(self, task: Task) -> Features:
        return core_features(task.class_names)

    @staticmethod
    def generate(plan: list[Sample]) -> Iterator[dict]:
        yield from frame_examples(plan)


class FrameCorpus(FrameRows, ABC):
    """A corpus of annotated clips of numbered frames; subclasses locate and read the annotation.

    The split between `identity` (cheap: arguments plus size and mtime of the annotation files)
    and `plan` (the scan of the frame folders) is what lets `load_me_dataset` return a cached
    dataset without touching the frame tree again.
    """

    name: str
    frame_releases: tuple[str, ...] = ("as_released",)
    apex_policy: ApexPolicy | None = None

    def __init__(self, frames: str | None) -> None:
        self.frames = frame_release(self.name, self.frame_releases, frames)

    @property
    @abstractmethod
    def frame_pattern(self) -> re.Pattern:
        """File names of the frames of a clip; group 1 is the frame number."""

    @abstractmethod
    def watched_files(self) -> list[Path]:
        """The files whose change must invalidate a cached dataset (the annotation sheet)."""

    @abstractmethod
    def annotated_samples(self) -> list[Sample]:
        """Every sample of the annotation, frames not yet checked."""

    def arguments(self) -> dict:
        """Loader arguments that change the result, for the cache key."""
        return {}

    def identity(self) -> dict:
        return {"corpus": self.name, "frames": self.frames, "files": file_stats(self.watched_files()),
                **self.arguments()}

    def plan(self, task: Task, strict: bool) -> list[Sample]:
        """Annotated, labelled samples whose onset and apex files exist (the frame-tree scan)."""
        source = f"{self.name} ({', '.join(str(p) for p in self.watched_files())})"
        samples = self.annotated_samples()
        check_unique(samples, source)
        labelled = apply_task(samples, task, source)
        resolved = resolve_frames(labelled, self.frame_pattern, strict, self.apex_policy,
                                  desc=f"Checking {self.name} frames")
        require_nonempty(resolved, source)
        return resolved


class SheetCorpus(FrameCorpus):
    """A corpus annotated by one spreadsheet, its clips in `frames_dir/{subject}/{filename}/...`.

    `frames_dir` defaults to `data_dir/frames_subdir`; `annotation_file` to the newest file of
    `data_dir` matching `annotation_patterns`.
    """

    title: str
    annotation_patterns: tuple[str, ...]
    columns: tuple[str, ...]
    frames_subdir: str = ""

    def __init__(self, data_dir: str | Path, frames: str | None = None, annotation_file: str | Path | None = None,
                 frames_dir: str | Path | None = None) -> None:
        super().__init__(frames)
        self.annotation, self.frames_dir = locate_sheet_and_frames(self, data_dir, annotation_file, frames_dir)

    def watched_files(self) -> list[Path]:
        return [self.annotation]

    def arguments(self) -> dict:
        return {"frames_dir": str(self.frames_dir.resolve())}

    def annotated_samples(self) -> list[Sample]:
        table = read_annotation_sheet(self.annotation, self.columns)
        return [self.sample_from_row(row) for row in table.to_dict("records")
                if cell_text(row["subject"]) and cell_text(row["filename"])]

    @abstractmethod
    def sample_from_row(self, row: dict) -> Sample:
        """The sample of one annotation row (keys: the normalised column names)."""

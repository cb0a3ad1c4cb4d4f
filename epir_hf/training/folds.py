"""Leave-one-subject-out fold bookkeeping: which subjects to hold out, in which shard, and which are done.

Micro-expression results are only comparable when no subject's samples are seen in training and testing at
once, so a fold is identified by its held-out subject. Folds are independent (each starts from a freshly seeded
model), which is what lets an interrupted run skip the finished folds, and lets `--fold_shard` spread folds over
processes or machines whose outputs are merged afterwards with the same numbers as one run.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

FOLDS_DIRNAME = "folds"


def loso_subjects(subjects: Iterable[str]) -> list[str]:
    """The distinct subjects of a corpus in a fixed (sorted) order: one LOSO fold each."""
    ordered = sorted({str(subject) for subject in subjects})
    if len(ordered) < 2:
        raise ValueError(
            f"Leave-one-subject-out needs at least 2 subjects; the dataset has {len(ordered)} ({ordered})."
        )
    return ordered


def parse_fold_shard(spec: str) -> tuple[int, int]:
    """Parse `"i/n"` (0-based shard `i` of `n`) and validate it."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", spec)
    if match is None:
        raise ValueError(f"--fold_shard must look like 'i/n' (e.g. '0/4'), got {spec!r}.")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"--fold_shard {spec!r}: need n >= 1 and a 0-based shard index i in [0, n-1].")
    return index, count


def select_folds(subjects: Sequence[str], folds: str | Sequence[str] | None = None,
                 fold_shard: str | None = None) -> list[str]:
    """The held-out subjects this process runs: `folds` (comma-separated subject ids) first, then the shard.

    Shards take every n-th fold (round robin) so that corpora sorted by subject id share the work evenly.
    """
    selected = list(subjects)
    if folds is not None:
        requested = [name.strip() for name in folds.split(",")] if isinstance(folds, str) else list(folds)
        requested = [name for name in requested if name]
        if not requested:
            raise ValueError("--folds is empty; give comma-separated subject ids, e.g. --folds sub01,sub02.")
        unknown = [name for name in requested if name not in subjects]
        if unknown:
            raise ValueError(
                f"--folds names subjects that are not in the dataset: {unknown}. Known subjects: {list(subjects)}."
            )
        selected = [subject for subject in subjects if subject in set(requested)]
    if fold_shard is not None:
        index, count = parse_fold_shard(fold_shard)
        selected = selected[index::count]
    return selected


def fold_filename(subject: str) -> str:
    """A file name for a subject id that is safe on every file system, readable, and unique per subject."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", subject)
    if safe != subject or safe.startswith("."):
        safe = f"{safe}-{hashlib.sha1(subject.encode()).hexdigest()[:8]}"
    return f"{safe}.json"


def fold_path(output_dir: str | Path, subject: str) -> Path:
    return Path(output_dir) / FOLDS_DIRNAME / fold_filename(subject)


def completed_folds(output_dir: str | Path, subjects: Iterable[str]) -> set[str]:
    """Subjects whose fold predictions are already on disk (written atomically, so present = complete)."""
    return {subject for subject in subjects if fold_path(output_dir, subject).is_file()}

"""Shared machinery of the long-video corpora: recordings as folders of numbered frames, intervals from a sheet.

Why: CAS(ME)², SAMM Long Videos and CAS(ME)³ part A each annotate their recordings with a spreadsheet whose rows
are intervals (onset, apex, offset, micro or macro) named by frame number, and ship each recording as a folder of
numbered frames. The rows of `LONG_VIDEO_FEATURES` speak of 0-based positions instead, so every annotated number is
checked against its folder here, once: the folder must hold an unbroken run of frame numbers (a gap would shift every
later position away from the number annotated), and every annotated frame must be one of them. A corpus module only
says where its videos are and how one annotation row reads.

Errors name the annotation file and its row (as a spreadsheet shows it), or the frame folder. With `strict=True`
(the default) the first bad row or folder raises; with `strict=False` bad rows and folders are skipped and listed in
one warning.
"""

from __future__ import annotations

import re
import warnings
from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from datasets import Features

from .long_videos import LONG_VIDEO_FEATURES, NO_APEX, check_interval
from .samples import (
    as_frame_number,
    cell_text,
    file_stats,
    format_listing,
    frame_release,
    list_frames,
    locate_sheet_and_frames,
)


@dataclass(frozen=True)
class VideoFolder:
    """One recording of the frame tree: its ids and the folder of its frames."""

    video_id: str
    subject: str
    path: Path


@dataclass(frozen=True)
class AnnotatedInterval:
    """One annotation row, with the frame numbers as annotated (not yet positions).

    `video` is the key of its recording in `LongVideoCorpus.video_folders()`, `folder` says where that recording
    should be (for the error when it is not), `where` names the file and row. `note` says how the row was read
    where the corpus codes a value specially (reported once, as a warning).
    """

    video: Hashable
    folder: str
    where: str
    onset: int
    apex: int | None
    offset: int
    kind: str
    emotion: str
    note: str | None = None


def frame_number(value: object, column: str, where: str, not_annotated: tuple[int, ...] = (),
                 required: bool = False) -> int | None:
    """The frame number of an annotation cell; None for an empty cell or a code in `not_annotated`.

    Anything else that is not a whole number ("n/a", 12.5) is a ValueError naming `where` and the column, and so is
    a missing number where one is `required` (onset, offset).
    """
    text = cell_text(value)
    number = as_frame_number(value) if text else None
    if number is None and re.fullmatch(r"-\d+", text):  # a negative code written as text ("-1")
        number = int(text)
    if number is None and text:
        raise ValueError(f"{where}: {column} {value!r} is not a frame number")
    if number in not_annotated:
        number = None
    if number is None and required:
        raise ValueError(f"{where}: no {column} annotated")
    return number


def interval_kind(value: object, kinds: Mapping[str, str], column: str, where: str) -> str:
    """The interval kind ("micro" / "macro") of the corpus' own type code, matched ignoring case and spacing."""
    code = " ".join(cell_text(value).split()).lower()
    if code not in kinds:
        raise ValueError(f"{where}: {column} {value!r} is not one of {sorted(kinds)}")
    return kinds[code]


def frame_run(folder: Path, pattern: re.Pattern) -> tuple[int, int]:
    """(number of the first frame, number of frames) of a folder whose frame numbers run without a gap."""
    frames = list_frames(folder, pattern)
    if not frames:
        raise FileNotFoundError(f"no frame matching {pattern.pattern!r} in {folder}")
    first, last = min(frames), max(frames)
    if len(frames) != last - first + 1:
        missing = sorted(set(range(first, last + 1)) - frames.keys())
        raise ValueError(f"frame folder {folder} has gaps in its numbering: {len(missing)} of the frames "
                         f"{first}..{last} are missing (first: {missing[:5]}), so positions would not match the "
                         "annotated numbers")
    return first, len(frames)


class LongVideoCorpus(ABC):
    """A long-video corpus annotated by spreadsheet; subclasses list the recordings and read one row.

    As for the recognition corpora, `identity` is cheap (arguments, size and mtime of the annotation files) and
    `plan` scans the frame tree, so that `load_me_dataset` returns a cached dataset without touching the frames.
    Every recording of the frame tree becomes a row, with no interval if none is annotated: spotting scores the
    false positives of those videos too.
    """

    name: str
    title: str
    fps: float
    annotation_patterns: tuple[str, ...]
    frames_subdir: str = ""
    frame_releases: tuple[str, ...] = ("raw",)
    frame_pattern: re.Pattern

    def __init__(self, data_dir: str | Path, frames: str | None = None, annotation_file: str | Path | None = None,
                 frames_dir: str | Path | None = None) -> None:
        self.frames = frame_release(self.name, self.frame_releases, frames)
        self.data_dir = Path(data_dir)
        self.annotation, self.frames_dir = locate_sheet_and_frames(self, data_dir, annotation_file, frames_dir)

    def watched_files(self) -> list[Path]:
        """The files whose change must invalidate a cached dataset (the annotation sheets)."""
        return [self.annotation]

    def identity(self) -> dict:
        return {"corpus": self.name, "frames": self.frames, "files": file_stats(self.watched_files()),
                "frames_dir": str(self.frames_dir.resolve())}

    @abstractmethod
    def video_folders(self) -> dict[Hashable, VideoFolder]:
        """Every recording of the frame tree, by the key its annotation rows name it with."""

    @abstractmethod
    def annotation_rows(self) -> Iterator[tuple[str, dict]]:
        """(where, cells) for every annotation row; `where` names the file and the row."""

    @abstractmethod
    def interval(self, where: str, cells: dict) -> AnnotatedInterval:
        """The interval of one annotation row (a ValueError naming `where` when a cell cannot be read)."""

    def features(self, task: None = None) -> Features:
        return LONG_VIDEO_FEATURES

    @staticmethod
    def generate(plan: list[dict]) -> Iterator[dict]:
        yield from plan

    def plan(self, task: None, strict: bool) -> list[dict]:
        """One row per recording, its annotated intervals as 0-based positions (the frame-tree scan)."""
        skipped, notes = [], []
        videos, bad_videos = {}, set()
        for key, folder in self.video_folders().items():
            try:
                videos[key] = (folder, *frame_run(folder.path, self.frame_pattern), [])
            except (FileNotFoundError, ValueError) as err:
                self._skip_or_raise(err, strict, skipped)
                bad_videos.add(key)
        if not videos:
            raise FileNotFoundError(f"no {self.title} recordings found in {self.frames_dir}"
                                    + (f"; skipped:{format_listing(skipped)}" if skipped else ""))
        for where, cells in self.annotation_rows():
            try:
                item = self.interval(where, cells)
                if item.video in bad_videos:  # already reported with its folder
                    continue
                if item.video not in videos:
                    raise FileNotFoundError(f"{where}: no frame folder for this row's recording ({item.folder})")
                folder, first, count, intervals = videos[item.video]
                intervals.append(self._positions(item, folder.path, first, count))
            except (FileNotFoundError, ValueError) as err:
                self._skip_or_raise(err, strict, skipped)
                continue
            if item.note:
                notes.append(f"{where}: {item.note}")
        if notes:
            warnings.warn(f"{self.title}: {len(notes)} row(s) read with a special code:{format_listing(notes)}",
                          stacklevel=3)
        if skipped:
            warnings.warn(f"{self.name}: skipping {len(skipped)} bad row(s) or folder(s) (strict=False):"
                          f"{format_listing(skipped)}", stacklevel=3)
        return [self._row(*video) for _, video in sorted(videos.items(), key=lambda item: item[1][0].video_id)]

    @staticmethod
    def _skip_or_raise(err: Exception, strict: bool, skipped: list[str]) -> None:
        if strict:
            raise err
        skipped.append(str(err))

    @staticmethod
    def _positions(item: AnnotatedInterval, folder: Path, first: int, count: int) -> tuple:
        """(onset, apex, offset, kind, emotion) as positions in the folder, after checking the annotated numbers."""
        last = first + count - 1
        for label, number in (("onset", item.onset), ("apex", item.apex), ("offset", item.offset)):
            if number is not None and not first <= number <= last:
                raise FileNotFoundError(f"{item.where}: {label} frame {number} is not in {folder}, which holds the "
                                        f"frames {first}..{last}")
        check_interval(item.onset, NO_APEX if item.apex is None else item.apex, item.offset, item.kind, last + 1,
                       item.where)
        apex = NO_APEX if item.apex is None else item.apex - first
        return item.onset - first, apex, item.offset - first, item.kind, item.emotion

    def _row(self, folder: VideoFolder, first: int, count: int, intervals: list[tuple]) -> dict:
        columns = list(zip(*sorted(intervals))) or [()] * 5
        onset, apex, offset, kind, emotion = (list(column) for column in columns)
        return {"video_id": folder.video_id, "subject": folder.subject, "dataset": self.name,
                "video": str(folder.path.absolute()), "fps": self.fps, "num_frames": count, "onset": onset,
                "apex": apex, "offset": offset, "kind": kind, "emotion": emotion}


__all__ = ["AnnotatedInterval", "LongVideoCorpus", "VideoFolder", "frame_number", "frame_run", "interval_kind"]

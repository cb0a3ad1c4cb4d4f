"""CAS(ME)² long videos (Qu et al., IEEE TAFFC 2017): part A, recordings at 30 fps with macro- and micro-expressions.

Layout read here (the release, as the MEGC spotting baselines read it): the coding workbook
`CAS(ME)^2code_final.xlsx`. Its first sheet (named CASFEcode_final or CASMEcode_final in different copies) has no
header row; its columns are the subject number, the clip (`{expression video}_{k}`, e.g. disgust1_3), onset, apex,
offset, action units, emotion, expression type (micro-expression / macro-expression) and the self-reported emotion.
Sheet `naming rule1` (no header) maps the subject number (third column) to its folder (second column, s15); sheet
`naming rule2` (no header) maps the expression video (second column, disgust1) to its code (first column, 0101, which
some copies store as the number 101). The frames of a recording are `rawpic/s15/15_0101disgustingteeth/img{N}.jpg`,
N being the frame number of the sheet (from 1; written img001..img099, then img100...).

Codes: an offset of 0 means none was annotated, and the apex is used as the offset (as the MEGC2020 baseline and
SOFTNet do; reported in a warning); an apex of 0 means none was annotated (`NO_APEX`).
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterator

import pandas as pd

from .long_video_sheets import AnnotatedInterval, LongVideoCorpus, VideoFolder, frame_number, interval_kind
from .samples import as_frame_number, cell_text, read_workbook, subject_number

CODE_COLUMNS = ("subject", "clip", "onset", "apex", "offset", "action units", "emotion", "expression type")
NAMING_SHEETS = {"naming rule1": 3, "naming rule2": 2}  # sheet -> columns it must have
KINDS = {"micro-expression": "micro", "macro-expression": "macro"}
_SUBJECT = re.compile(r"s(\d+)")


class Casme2Long(LongVideoCorpus):
    """CAS(ME)² part A; `frames_dir` defaults to `data_dir/rawpic` (the folder holding s15, s16, ...)."""

    name = "casme2_long"
    title = "CAS(ME)^2"
    fps = 30.0
    annotation_patterns = ("CAS(ME)^2code_final*.xlsx", "code_final*.xlsx")
    frames_subdir = "rawpic"
    frame_pattern = re.compile(r"img(\d+)\.jpg")

    def video_folders(self) -> dict[Hashable, VideoFolder]:
        """Recordings by (subject folder, video code): `s15/15_0101disgustingteeth` is ("s15", "0101")."""
        found = {}
        for subject_dir in sorted(p for p in self.frames_dir.iterdir() if p.is_dir() and _SUBJECT.fullmatch(p.name)):
            recording = re.compile(rf"{_SUBJECT.fullmatch(subject_dir.name).group(1)}_(\d{{4}})(?:\D.*)?")
            for video_dir in sorted(p for p in subject_dir.iterdir() if p.is_dir() and recording.fullmatch(p.name)):
                key = (subject_dir.name, recording.fullmatch(video_dir.name).group(1))
                if key in found:
                    raise ValueError(f"{subject_dir}: {found[key].path.name} and {video_dir.name} both hold video "
                                     f"{key[1]}")
                found[key] = VideoFolder(video_dir.name, subject_dir.name, video_dir)
        return found

    def annotation_rows(self) -> Iterator[tuple[str, dict]]:
        sheets = read_workbook(self.annotation)
        missing = [name for name in NAMING_SHEETS if name not in sheets]
        if missing:
            raise ValueError(f"annotation file {self.annotation} has no sheet {missing}; its sheets: {list(sheets)}")
        code_sheet = next(iter(sheets))
        if sheets[code_sheet].shape[1] < len(CODE_COLUMNS):
            raise ValueError(f"annotation file {self.annotation}: sheet {code_sheet!r} has "
                             f"{sheets[code_sheet].shape[1]} column(s); the coding sheet has no header row and the "
                             f"columns {list(CODE_COLUMNS)} (then the self-reported emotion)")
        for name, needed in NAMING_SHEETS.items():
            if sheets[name].shape[1] < needed:
                raise ValueError(f"annotation file {self.annotation}: sheet {name!r} has {sheets[name].shape[1]} "
                                 f"column(s), not the {needed} of the official layout")
        naming = (_subject_folders(sheets["naming rule1"]), _video_codes(sheets["naming rule2"]))
        for row, cells in sheets[code_sheet].dropna(how="all").iterrows():
            yield f"{self.annotation} row {row}", {**dict(zip(CODE_COLUMNS, cells.tolist())), "naming": naming}

    def interval(self, where: str, cells: dict) -> AnnotatedInterval:
        folders, codes = cells["naming"]
        number = subject_number(cells["subject"], where)
        if number not in folders:
            raise ValueError(f"{where}: subject {number} is not listed in sheet 'naming rule1' of {self.annotation}")
        clip = cell_text(cells["clip"])
        video = clip.rsplit("_", 1)[0]
        if video not in codes:
            raise ValueError(f"{where}: the expression video {video!r} of clip {clip!r} is not listed in sheet "
                             f"'naming rule2' of {self.annotation}")
        folder, code = folders[number], codes[video]
        apex = frame_number(cells["apex"], "apex", where, not_annotated=(0,))
        offset, note = frame_number(cells["offset"], "offset", where, not_annotated=(0,)), None
        if offset is None:
            if apex is None:
                raise ValueError(f"{where}: neither an offset nor an apex is annotated")
            offset, note = apex, f"offset {cells['offset']!r} (none annotated): the apex {apex} is used as offset"
        return AnnotatedInterval(
            video=(folder, code), folder=f"{self.frames_dir / folder}/{folder[1:]}_{code}*", where=where,
            onset=frame_number(cells["onset"], "onset", where, required=True), apex=apex, offset=offset,
            kind=interval_kind(cells["expression type"], KINDS, "expression type", where),
            emotion=cell_text(cells["emotion"]), note=note)


def _subject_folders(sheet: pd.DataFrame) -> dict[int, str]:
    """Sheet `naming rule1` as {subject number of the coding sheet: subject folder}; rows without a number map none."""
    return {number: cell_text(cells[1]) for cells in sheet.itertuples(index=False)
            if (number := as_frame_number(cells[2])) is not None}


def _video_codes(sheet: pd.DataFrame) -> dict[str, str]:
    """Sheet `naming rule2` as {expression video: four-digit code}; rows without a numeric code map none."""
    return {cell_text(cells[1]): f"{code:04d}" for cells in sheet.itertuples(index=False)
            if (code := as_frame_number(cells[0])) is not None}

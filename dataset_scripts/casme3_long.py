"""CAS(ME)³ part A long videos (Li et al., IEEE TPAMI 2022): 13 recordings per subject at 30 fps, macro and micro.

Layout read here (the release's JpgIndex annotations): the micro-expression sheet
`cas(me)3_part_A_ME_label_JpgIndex_v*.xlsx` (Subject, Filename, Onset, Apex, Offset, AU, Objective class, emotion,
...) and the macro-expression sheet `cas(me)3_part_A_MaE_label_JpgIndex_v*.xlsx` (sub, seq, onset, apex, offset, ...,
emotion), both naming a frame by the number N of its file `{subject}/{filename}/color/{N}.jpg`. The numbers of a
recording do not start at 0 or 1 alike (most start between 2 and 9), which the position (N minus the first number of
the folder) absorbs. Filename case varies between the sheets and the folders ("L" for folder `l`): matched ignoring
case. A micro-expression sheet with an "Expression type" column (Micro-expression / Macro-expression) is read row by
row; without one, its rows are micro-expressions.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterator
from pathlib import Path

from .casme3 import Casme3
from .long_video_sheets import AnnotatedInterval, LongVideoCorpus, VideoFolder, frame_number, interval_kind
from .samples import cell_text, find_annotation_file, read_annotation_sheet

KINDS = {"micro-expression": "micro", "macro-expression": "macro"}
# The columns of each sheet, in the order the rows are read: subject, recording, onset, apex, offset.
SHEET_COLUMNS = {"ME": ("Subject", "Filename", "Onset", "Apex", "Offset"),
                 "MaE": ("sub", "seq", "onset", "apex", "offset")}
_SUBJECT = re.compile(r"spNO\.\d+")


class Casme3Long(LongVideoCorpus):
    """CAS(ME)³ part A; `frames_dir` (default `data_dir`) holds the subject folders (spNO.*).

    `annotation_file` is the micro-expression sheet, `macro_annotation_file` the macro-expression one.
    """

    name = "casme3_long"
    title = "CAS(ME)^3"
    fps = 30.0
    annotation_patterns = Casme3.annotation_patterns
    macro_annotation_patterns = ("cas(me)3_part_A_MaE_label*.xlsx", "*part_A_MaE_label*.xlsx")
    frame_pattern = Casme3.frame_pattern

    def __init__(self, data_dir: str | Path, frames: str | None = None, annotation_file: str | Path | None = None,
                 frames_dir: str | Path | None = None, macro_annotation_file: str | Path | None = None) -> None:
        super().__init__(data_dir, frames, annotation_file, frames_dir)
        self.macro_annotation = find_annotation_file(self.data_dir, self.macro_annotation_patterns,
                                                     macro_annotation_file)

    def watched_files(self) -> list[Path]:
        return [self.annotation, self.macro_annotation]

    def video_folders(self) -> dict[Hashable, VideoFolder]:
        """Recordings by (subject, lower-case folder name): `spNO.1/a/color` is ("spNO.1", "a")."""
        found = {}
        for subject_dir in (p for p in self.frames_dir.iterdir() if p.is_dir() and _SUBJECT.fullmatch(p.name)):
            for video_dir in (p for p in subject_dir.iterdir() if (p / "color").is_dir()):
                found[subject_dir.name, video_dir.name.lower()] = VideoFolder(
                    f"{subject_dir.name}_{video_dir.name}", subject_dir.name, video_dir / "color")
        return found

    def annotation_rows(self) -> Iterator[tuple[str, dict]]:
        for path, sheet in ((self.annotation, "ME"), (self.macro_annotation, "MaE")):
            columns = SHEET_COLUMNS[sheet]
            for row, cells in read_annotation_sheet(path, columns).to_dict("index").items():
                if cell_text(cells[columns[1].lower()]):  # rows naming no recording are notes
                    kind = cells.get("expression type", "micro-expression") if sheet == "ME" else "macro-expression"
                    yield f"{path} row {row}", {"columns": columns, "cells": [cells[c.lower()] for c in columns],
                                                "kind": kind, "emotion": cells.get("emotion", "")}

    def interval(self, where: str, cells: dict) -> AnnotatedInterval:
        names, (subject, video, onset, apex, offset) = cells["columns"], cells["cells"]
        subject, video = cell_text(subject), cell_text(video)
        if not subject:
            raise ValueError(f"{where}: no {names[0]} annotated")
        return AnnotatedInterval(
            video=(subject, video.lower()), folder=str(self.frames_dir / subject / video / "color"), where=where,
            onset=frame_number(onset, names[2], where, required=True), apex=frame_number(apex, names[3], where),
            offset=frame_number(offset, names[4], where, required=True),
            kind=interval_kind(cells["kind"], KINDS, "Expression type", where), emotion=cell_text(cells["emotion"]))

"""SAMM Long Videos (Yap et al., FG 2020): the long SAMM recordings at 200 fps with macro- and micro-movements.

Layout read here (the release, as the MEGC spotting methods read it): the workbook `SAMM_LongVideos_V*_Release.xlsx`,
whose table (Subject, Filename, Inducement Code, Onset, Apex, Offset, Duration, Type, Action Units, Notes) sits below
nine title rows. Filename `006_1_2` is interval 2 of recording `006_1`; Type is "Macro" or "Micro - 1/2"; an apex
of -1 means none was annotated (`NO_APEX`). The frames of a recording are
`SAMM_longvideos/{recording}/{recording}_{N:04d}.jpg`, N being the frame number of the sheet (from 1). The sheet
annotates no emotion: `emotion` is "".
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterator

from .long_video_sheets import AnnotatedInterval, LongVideoCorpus, VideoFolder, frame_number, interval_kind
from .samples import cell_text, read_annotation_sheet

KINDS = {"micro - 1/2": "micro", "macro": "macro"}
_RECORDING = re.compile(r"(\d{3})_\d+")
_INTERVAL = re.compile(r"(\d{3}_\d+)_\d+")


class SammLong(LongVideoCorpus):
    """SAMM Long Videos; `frames_dir` defaults to `data_dir/SAMM_longvideos` (the folder of the recordings)."""

    name = "samm_long"
    title = "SAMM Long Videos"
    fps = 200.0
    annotation_patterns = ("SAMM_LongVideos_V*_Release.xlsx",)
    frames_subdir = "SAMM_longvideos"
    frame_pattern = re.compile(r"\d{3}_\d+_(\d+)\.jpg")
    columns = ("Subject", "Filename", "Onset", "Apex", "Offset", "Type")

    def video_folders(self) -> dict[Hashable, VideoFolder]:
        """Recordings by folder name (006_1); the subject is its first part (006)."""
        return {p.name: VideoFolder(p.name, _RECORDING.fullmatch(p.name).group(1), p)
                for p in self.frames_dir.iterdir() if p.is_dir() and _RECORDING.fullmatch(p.name)}

    def annotation_rows(self) -> Iterator[tuple[str, dict]]:
        table = read_annotation_sheet(self.annotation, self.columns)
        for row, cells in table.to_dict("index").items():
            if cell_text(cells["filename"]):
                yield f"{self.annotation} row {row}", cells

    def interval(self, where: str, cells: dict) -> AnnotatedInterval:
        filename = cell_text(cells["filename"])
        match = _INTERVAL.fullmatch(filename)
        if match is None:
            raise ValueError(f"{where}: Filename {filename!r} is not {{subject}}_{{recording}}_{{interval}} (006_1_2)")
        return AnnotatedInterval(
            video=match.group(1), folder=str(self.frames_dir / match.group(1)), where=where,
            onset=frame_number(cells["onset"], "Onset", where, required=True),
            apex=frame_number(cells["apex"], "Apex", where, not_annotated=(-1,)),
            offset=frame_number(cells["offset"], "Offset", where, required=True),
            kind=interval_kind(cells["type"], KINDS, "Type", where), emotion="")

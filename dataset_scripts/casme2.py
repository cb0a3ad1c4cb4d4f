"""CASME II (Yan et al., PLoS ONE 2014): 200 fps clips of 26 subjects, FACS-coded with emotions.

Layout read here (the official release): the coding sheet `CASME2-coding-*.xlsx` (Subject,
Filename, OnsetFrame, ApexFrame, OffsetFrame, Action Units, Estimated Emotion) and one folder of
frames per clip, `subXX/EPxx_xxf/`, named `img{N}.jpg` in the raw release and `reg_img{N}.jpg` in
the cropped (registered) release, where N is the frame number of the coding sheet.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

from .samples import (FrameCorpus, Sample, as_frame_number, cell_text, find_annotation_file, invalid_indices,
                      read_annotation_sheet, require_path)

ANNOTATION_PATTERNS = ("CASME2-coding-*.xlsx",)
COLUMNS = ("Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Estimated Emotion")
FRAME_PATTERNS = {"cropped": re.compile(r"reg_img(\d+)\.jpg"), "raw": re.compile(r"img(\d+)\.jpg")}


def subject_id(value: object) -> str:
    """The sheet numbers subjects (1, "01"); the folders and the MEGC releases call them sub01."""
    text = str(value).strip()
    if text.lower().startswith("sub"):
        text = text[3:]
    return f"sub{int(float(text)):02d}"


class Casme2(FrameCorpus):
    """CASME II; `frames_dir` (default `data_dir`) is the folder holding the subXX folders."""

    name = "casme2"
    frame_releases = ("cropped", "raw")

    def __init__(self, data_dir: str | Path, frames: str | None = None, annotation_file: str | Path | None = None,
                 frames_dir: str | Path | None = None) -> None:
        super().__init__(frames)
        self.data_dir = Path(data_dir)
        self.annotation = find_annotation_file(self.data_dir, ANNOTATION_PATTERNS, annotation_file)
        self.frames_dir = require_path(Path(frames_dir) if frames_dir else self.data_dir, "CASME II frame folder")

    @property
    def frame_pattern(self) -> re.Pattern:
        return FRAME_PATTERNS[self.frames]

    def watched_files(self) -> list[Path]:
        return [self.annotation]

    def arguments(self) -> dict:
        return {"frames_dir": str(self.frames_dir.resolve())}

    def annotated_samples(self) -> list[Sample]:
        table = read_annotation_sheet(self.annotation, COLUMNS)
        samples, apex_from_middle = [], []
        for row in table.to_dict("records"):
            filename = cell_text(row["filename"])
            if not filename:
                continue
            subject = subject_id(row["subject"])
            onset, apex = as_frame_number(row["onsetframe"]), as_frame_number(row["apexframe"])
            offset = as_frame_number(row["offsetframe"])
            sample_id = f"{subject}_{filename}"
            problem = invalid_indices(onset=row["onsetframe"])
            if problem is None and apex is None and offset is not None:
                # A few clips of the official sheet have "/" as apex: use the middle of the clip.
                apex = (onset + offset) // 2
                apex_from_middle.append(sample_id)
            elif problem is None and apex is None:
                problem = invalid_indices(apex=row["apexframe"], offset=row["offsetframe"])
            samples.append(Sample(sample_id, subject, self.name, cell_text(row["estimated emotion"]),
                                  self.frames_dir / subject / filename, onset, apex, annotation_problem=problem))
        if apex_from_middle:
            warnings.warn(f"CASME II: no apex annotated for {apex_from_middle}; using the middle frame "
                          "between onset and offset", stacklevel=2)
        return samples

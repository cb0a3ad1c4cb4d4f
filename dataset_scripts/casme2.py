"""CASME II (Yan et al., PLoS ONE 2014): 200 fps clips of 26 subjects, FACS-coded with emotions.

Layout read here (the official release): the coding sheet `CASME2-coding-*.xlsx` (Subject,
Filename, OnsetFrame, ApexFrame, OffsetFrame, Action Units, Estimated Emotion) and one folder of
frames per clip, `subXX/EPxx_xxf/`, named `img{N}.jpg` in the raw release and `reg_img{N}.jpg` in
the cropped (registered) release, where N is the frame number of the coding sheet.
"""

from __future__ import annotations

import re
import warnings

from .samples import Sample, SheetCorpus, as_frame_number, cell_text, invalid_indices, subject_number

FRAME_PATTERNS = {"cropped": re.compile(r"reg_img(\d+)\.jpg"), "raw": re.compile(r"img(\d+)\.jpg")}


def subject_id(value: object) -> str:
    """The sheet numbers subjects (1, "01"); the folders and the MEGC releases call them sub01."""
    return f"sub{subject_number(value, 'CASME II'):02d}"


class Casme2(SheetCorpus):
    """CASME II; `frames_dir` (default `data_dir`) is the folder holding the subXX folders."""

    name = "casme2"
    title = "CASME II"
    annotation_patterns = ("CASME2-coding-*.xlsx",)
    columns = ("Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Estimated Emotion")
    frame_releases = ("cropped", "raw")

    @property
    def frame_pattern(self) -> re.Pattern:
        return FRAME_PATTERNS[self.frames]

    def sample_from_row(self, row: dict) -> Sample:
        subject, filename = subject_id(row["subject"]), cell_text(row["filename"])
        sample_id = f"{subject}_{filename}"
        onset, apex = as_frame_number(row["onsetframe"]), as_frame_number(row["apexframe"])
        offset = as_frame_number(row["offsetframe"])
        problem = invalid_indices(onset=row["onsetframe"])
        if problem is None and apex is None:
            if offset is None:
                problem = invalid_indices(apex=row["apexframe"], offset=row["offsetframe"])
            else:
                # A few clips of the official sheet have "/" as apex: use the middle of the clip.
                apex = (onset + offset) // 2
                warnings.warn(f"CASME II: no apex annotated for {sample_id}; using the middle frame {apex} "
                              f"between onset {onset} and offset {offset}", stacklevel=2)
        return Sample(sample_id, subject, self.name, cell_text(row["estimated emotion"]),
                      self.frames_dir / subject / filename, onset, apex, annotation_problem=problem)

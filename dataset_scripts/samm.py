"""SAMM (Davison et al., IEEE TAFFC 2018): 200 fps clips of 32 subjects of 13 ethnicities.

Layout read here (the official release): `SAMM_Micro_FACS_Codes_v2.xlsx`, whose table (Subject,
Filename, Onset Frame, Apex Frame, Offset Frame, ..., Estimated Emotion) sits below a few title
rows, and the frames `SAMM/{subject}/{filename}/{subject}_{frame:05d}.jpg`. SAMM ships a single
(uncropped, grayscale) frame release.
"""

from __future__ import annotations

import re

from .samples import Sample, SheetCorpus, as_frame_number, cell_text, invalid_indices, subject_number


def subject_id(value: object) -> str:
    """The sheet numbers subjects (6); folders, file names and the MEGC releases use "006"."""
    return f"{subject_number(value, 'SAMM'):03d}"


class Samm(SheetCorpus):
    """SAMM; `frames_dir` defaults to `data_dir/SAMM` (the folder holding the subject folders)."""

    name = "samm"
    title = "SAMM"
    annotation_patterns = ("SAMM_Micro_FACS_Codes_v*.xlsx",)
    columns = ("Subject", "Filename", "Onset Frame", "Apex Frame", "Offset Frame", "Estimated Emotion")
    frames_subdir = "SAMM"
    frame_releases = ("raw",)
    frame_pattern = re.compile(r"\d{3}_(\d+)\.jpg")

    def sample_from_row(self, row: dict) -> Sample:
        subject, filename = subject_id(row["subject"]), cell_text(row["filename"])
        onset, apex = as_frame_number(row["onset frame"]), as_frame_number(row["apex frame"])
        return Sample(f"{subject}_{filename}", subject, self.name, cell_text(row["estimated emotion"]),
                      self.frames_dir / subject / filename, onset, apex,
                      annotation_problem=invalid_indices(onset=row["onset frame"], apex=row["apex frame"]))

"""SAMM (Davison et al., IEEE TAFFC 2018): 200 fps clips of 32 subjects of 13 ethnicities.

Layout read here (the official release): `SAMM_Micro_FACS_Codes_v2.xlsx`, whose table (Subject,
Filename, Onset Frame, Apex Frame, Offset Frame, ..., Estimated Emotion) sits below a few title
rows, and the frames `SAMM/{subject}/{filename}/{subject}_{frame:05d}.jpg`. SAMM ships a single
(uncropped, grayscale) frame release.
"""

from __future__ import annotations

import re
from pathlib import Path

from .samples import (FrameCorpus, Sample, as_frame_number, cell_text, find_annotation_file, invalid_indices,
                      read_annotation_sheet, require_path)

ANNOTATION_PATTERNS = ("SAMM_Micro_FACS_Codes_v*.xlsx",)
COLUMNS = ("Subject", "Filename", "Onset Frame", "Apex Frame", "Offset Frame", "Estimated Emotion")


def subject_id(value: object) -> str:
    """The sheet numbers subjects (6); folders, file names and the MEGC releases use "006"."""
    return f"{int(float(cell_text(value))):03d}"


class Samm(FrameCorpus):
    """SAMM; `frames_dir` defaults to `data_dir/SAMM` (the folder holding the subject folders)."""

    name = "samm"
    frame_releases = ("raw",)

    def __init__(self, data_dir: str | Path, frames: str | None = None, annotation_file: str | Path | None = None,
                 frames_dir: str | Path | None = None) -> None:
        super().__init__(frames)
        self.data_dir = Path(data_dir)
        self.annotation = find_annotation_file(self.data_dir, ANNOTATION_PATTERNS, annotation_file)
        self.frames_dir = require_path(Path(frames_dir) if frames_dir else self.data_dir / "SAMM", "SAMM frame folder")

    frame_pattern = re.compile(r"\d{3}_(\d+)\.jpg")

    def watched_files(self) -> list[Path]:
        return [self.annotation]

    def arguments(self) -> dict:
        return {"frames_dir": str(self.frames_dir.resolve())}

    def annotated_samples(self) -> list[Sample]:
        table = read_annotation_sheet(self.annotation, COLUMNS)
        samples = []
        for row in table.to_dict("records"):
            filename = cell_text(row["filename"])
            if not filename:
                continue
            subject = subject_id(row["subject"])
            onset, apex = as_frame_number(row["onset frame"]), as_frame_number(row["apex frame"])
            samples.append(Sample(f"{subject}_{filename}", subject, self.name, cell_text(row["estimated emotion"]),
                                  self.frames_dir / subject / filename, onset, apex,
                                  annotation_problem=invalid_indices(onset=row["onset frame"], apex=row["apex frame"])))
        return samples

"""CAS(ME)^3 part A (Li et al., IEEE TPAMI 2022): 100 subjects, RGB-D, mock-crime elicitation.

Layout read here: the micro-expression sheet `cas(me)3_part_A_ME_label_JpgIndex_v*.xlsx`
(Subject, Filename, Onset, Apex, Offset, AU, Objective class, emotion) and the frames of each
recorded video `{subject}/{filename}/color/{N}.jpg`, N being the frame index of the sheet. One
video can hold several micro-expressions, so a sample id is `{subject}_{filename}_{onset}`.
Tasks: 3-, 4- and 7-class, see dataset_scripts/tasks.py for the mappings and their sources.
"""

from __future__ import annotations

import re
from pathlib import Path

from .samples import (FrameCorpus, Sample, as_frame_number, cell_text, find_annotation_file, invalid_indices,
                      read_annotation_sheet, require_path)

ANNOTATION_PATTERNS = ("cas(me)3_part_A_ME_label*.xlsx", "*part_A_ME_label*.xlsx")
COLUMNS = ("Subject", "Filename", "Onset", "Apex", "Offset", "emotion")


class Casme3(FrameCorpus):
    """CAS(ME)^3 part A; `frames_dir` (default `data_dir`) holds the subject folders (spNO.*)."""

    name = "casme3"
    frame_releases = ("raw",)
    frame_pattern = re.compile(r"(\d+)\.jpg")

    def __init__(self, data_dir: str | Path, frames: str | None = None, annotation_file: str | Path | None = None,
                 frames_dir: str | Path | None = None) -> None:
        super().__init__(frames)
        self.data_dir = Path(data_dir)
        self.annotation = find_annotation_file(self.data_dir, ANNOTATION_PATTERNS, annotation_file)
        self.frames_dir = require_path(Path(frames_dir) if frames_dir else self.data_dir, "CAS(ME)^3 frame folder")

    def watched_files(self) -> list[Path]:
        return [self.annotation]

    def arguments(self) -> dict:
        return {"frames_dir": str(self.frames_dir.resolve())}

    def annotated_samples(self) -> list[Sample]:
        table = read_annotation_sheet(self.annotation, COLUMNS)
        samples = []
        for row in table.to_dict("records"):
            subject, filename = cell_text(row["subject"]), cell_text(row["filename"])
            if not (subject and filename):
                continue
            onset, apex = as_frame_number(row["onset"]), as_frame_number(row["apex"])
            samples.append(Sample(f"{subject}_{filename}_{cell_text(row['onset'])}", subject, self.name,
                                  cell_text(row["emotion"]), self.frames_dir / subject / filename / "color",
                                  onset, apex, annotation_problem=invalid_indices(onset=row["onset"], apex=row["apex"])))
        return samples

"""CAS(ME)^3 part A (Li et al., IEEE TPAMI 2022): 100 subjects, RGB-D, mock-crime elicitation.

Layout read here: the micro-expression sheet `cas(me)3_part_A_ME_label_JpgIndex_v*.xlsx`
(Subject, Filename, Onset, Apex, Offset, AU, Objective class, emotion) and the frames of each
recorded video `{subject}/{filename}/color/{N}.jpg`, N being the frame index of the sheet. One
video can hold several micro-expressions, so a sample id is `{subject}_{filename}_{onset}`.
Tasks: 3-, 4- and 7-class, see dataset_scripts/tasks.py for the mappings and their sources.
"""

from __future__ import annotations

import re

from .samples import Sample, SheetCorpus, as_frame_number, cell_text, invalid_indices


class Casme3(SheetCorpus):
    """CAS(ME)^3 part A; `frames_dir` (default `data_dir`) holds the subject folders (spNO.*)."""

    name = "casme3"
    title = "CAS(ME)^3"
    annotation_patterns = ("cas(me)3_part_A_ME_label*.xlsx", "*part_A_ME_label*.xlsx")
    columns = ("Subject", "Filename", "Onset", "Apex", "Offset", "emotion")
    frame_releases = ("raw",)
    frame_pattern = re.compile(r"(\d+)\.jpg")

    def sample_from_row(self, row: dict) -> Sample:
        subject, filename = cell_text(row["subject"]), cell_text(row["filename"])
        onset, apex = as_frame_number(row["onset"]), as_frame_number(row["apex"])
        return Sample(f"{subject}_{filename}_{cell_text(row['onset'])}", subject, self.name, cell_text(row["emotion"]),
                      self.frames_dir / subject / filename / "color", onset, apex,
                      annotation_problem=invalid_indices(onset=row["onset"], apex=row["apex"]))

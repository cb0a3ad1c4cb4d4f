"""SMIC-HS (Li et al., FG 2013): 100 fps clips of 16 subjects, labelled negative/positive/surprise.

Layout read here (the official release): `HS/s{N}/micro/{negative|positive|surprise}/s{N}_{ne|po|sur}_{k}/`
folders of numbered frames. The folder tree is the annotation: there is no onset/apex sheet, so
the onset is the first frame of a clip and the apex is either its middle frame (`apex="middle"`,
the usual choice in the literature) or the frame the processor's apex spotting picks
(`apex="spotted"`). Subjects are renamed s01..s20 and clips s01_ne_01.. as in the MEGC2019 releases.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from .samples import FrameCorpus, Sample, require_path

_SUBJECT = re.compile(r"s(\d+)")
_CLIP = re.compile(r"s\d+_([a-z]+)_(\d+)", re.IGNORECASE)
APEX_POLICIES = ("middle", "spotted")


def middle_apex(sample: Sample, frames: list[tuple[int, Path]]) -> int:
    """The middle frame of the clip (onset to last frame)."""
    return frames[len(frames) // 2][0]


def spotted_apex(sample: Sample, frames: list[tuple[int, Path]]) -> int:
    """The apex found by epir_hf's apex spotting on the clip's grayscale frames."""
    from epir_hf.apex_spotting import spot_apex  # imported lazily: only this policy needs it

    clip = [np.asarray(PILImage.open(path).convert("L")) for _, path in frames]
    return frames[spot_apex(clip, onset_index=0).apex_index][0]


class Smic(FrameCorpus):
    """SMIC-HS; `data_dir` is the folder that contains `HS/`."""

    name = "smic"
    frame_pattern = re.compile(r"\D*(\d+)\.(?:jpe?g|png|bmp)", re.IGNORECASE)

    def __init__(self, data_dir: str | Path, frames: str | None = None, apex: str = "middle") -> None:
        super().__init__(frames)
        if apex not in APEX_POLICIES:
            raise ValueError(f"smic apex must be one of {list(APEX_POLICIES)}, got {apex!r}")
        self.apex = apex
        self.apex_policy = middle_apex if apex == "middle" else spotted_apex
        self.hs_dir = require_path(Path(data_dir) / "HS", "SMIC-HS folder")

    def _subject_dirs(self) -> list[tuple[str, Path]]:
        found = [(int(m.group(1)), p) for p in self.hs_dir.iterdir()
                 if p.is_dir() and (m := _SUBJECT.fullmatch(p.name))]
        return [(f"s{n:02d}", p) for n, p in sorted(found)]

    def watched_files(self) -> list[Path]:
        # No annotation sheet: the emotion folders are the annotation, and their mtime changes when
        # a clip folder is added or removed.
        folders = [self.hs_dir]
        for _, subject_dir in self._subject_dirs():
            micro = subject_dir / "micro"
            if micro.is_dir():
                folders += [micro] + sorted(p for p in micro.iterdir() if p.is_dir())
        return folders

    def arguments(self) -> dict:
        return {"apex": self.apex}

    def annotated_samples(self) -> list[Sample]:
        samples = []
        for subject, subject_dir in self._subject_dirs():
            micro = subject_dir / "micro"
            if not micro.is_dir():
                continue
            for emotion_dir in sorted(p for p in micro.iterdir() if p.is_dir()):
                for clip in sorted(p for p in emotion_dir.iterdir() if p.is_dir()):
                    match = _CLIP.fullmatch(clip.name)
                    filename = f"{subject}_{match.group(1).lower()}_{match.group(2)}" if match else clip.name
                    samples.append(Sample(f"{subject}_{filename}", subject, self.name, emotion_dir.name, clip))
        return samples

"""Apex spotting: find the frame of a clip where the face has moved the most from its onset.

Why: EPIR classifies the onset→apex flow, but a user's clip rarely comes with an annotated apex. The usual
heuristic of the spotting literature is the frame whose motion relative to the onset is largest. By default that
motion is the one the long-video spotting measures (`motion_signal.RegionalFlow`): the largest motion of a facial
region, which a lip-corner pull of a pixel raises far above the noise, while the mean over the whole face barely
moves; the mean optical strain or the mean flow magnitude of a fast DIS flow on 64 px crops are kept as options.
Each frame's face is aligned to the onset's (`face_registration`) and given its lighting (`photometric`) first:
otherwise a head drifting or a lamp flickering through the clip scores higher than the expression.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from .face_registration import FaceTracker
from .facial_regions import FaceLayout, RegionalMotion
from .motion_signal import SPOTTING_SIDE, RegionalFlow
from .optical_flow import compute_optical_flow, optical_strain, resize_to
from .photometric import match_lighting

APEX_SCORES = ("regional", "strain", "magnitude")
SPOTTING_SIZE = 64
"""Side in pixels of the square face crops the "strain" and "magnitude" scores compute their flow on."""
SPOTTING_FLOW_METHOD = "dis"


@dataclass(frozen=True)
class ApexSpotting:
    """Result of `spot_apex`: the chosen frame and the motion score of every frame (0 for the onset)."""

    apex_index: int
    scores: np.ndarray


class ApexScorer:
    """Scores frames one at a time by their motion relative to an onset face crop.

    Why a scorer rather than a function over a clip: it keeps only the onset's small crop, so a video can be
    streamed frame by frame and a clip of any length is spotted in bounded memory.

    Args:
        onset_face: 2-D grayscale square face crop (0..255) of the neutral reference frame; the faces scored must be
            aligned to it (`FaceTracker`).
        score: `"regional"` (the largest regional motion, `RegionalFlow`, at the crop's own size), `"strain"` (mean
            optical strain of the onset→frame flow) or `"magnitude"` (mean flow magnitude).
        size: for "strain" and "magnitude", crops are resized to `size`×`size` before the flow, for speed.
        layout: where the onset face's parts lie, for "regional" (default: found on the onset face).
    """

    def __init__(self, onset_face: np.ndarray, score: str = "regional", size: int = SPOTTING_SIZE,
                 layout: FaceLayout | None = None):
        if score not in APEX_SCORES:
            raise ValueError(f"apex score must be one of {APEX_SCORES}, got {score!r}")
        self.score, self.size = score, size
        if score == "regional":
            self.onset = np.asarray(onset_face, dtype=np.float32)
            self._regional = RegionalFlow(RegionalMotion(layout or FaceLayout.for_face(self.onset)))
        else:
            self.onset = self._small(onset_face)

    def _small(self, face: np.ndarray) -> np.ndarray:
        return resize_to(np.asarray(face, dtype=np.float32), self.size, self.size)

    def __call__(self, face: np.ndarray) -> float:
        """The motion score of `face` (a crop aligned to the onset's) relative to the onset."""
        if self.score == "regional":
            return float(self._regional(self.onset, np.asarray(face, dtype=np.float32))[0].max())
        flow = compute_optical_flow(self.onset, match_lighting(self.onset, self._small(face)), SPOTTING_FLOW_METHOD)
        motion = optical_strain(flow) if self.score == "strain" else np.linalg.norm(flow, axis=-1)
        return float(motion.mean())


def spot_apex(frames: Sequence[np.ndarray], onset_index: int = 0, score: str = "regional",
              size: int = SPOTTING_SIZE) -> ApexSpotting:
    """Index of the frame with the largest motion relative to `frames[onset_index]`.

    Args:
        frames: 2-D grayscale face crops (0..255), all of one shape, in temporal order; each is aligned to the onset's
            before it is scored.
        onset_index: the neutral reference frame.
        score, size: as in `ApexScorer`.
    """
    if len(frames) < 2:
        raise ValueError(f"apex spotting needs at least 2 frames (onset + candidates), got {len(frames)}")
    if not -len(frames) <= onset_index < len(frames):
        raise ValueError(f"onset_index {onset_index} is out of range for a clip of {len(frames)} frames")
    onset_index %= len(frames)
    height, width = np.shape(frames[onset_index])
    tracker = FaceTracker(np.asarray(frames[onset_index], dtype=np.float32), (0, 0, width, height), SPOTTING_SIDE)
    scorer = ApexScorer(tracker.reference_face, score, size, tracker.layout)
    scores = np.zeros(len(frames), dtype=np.float32)
    candidates = [index for index in range(len(frames)) if index != onset_index]
    for index in tqdm(candidates, desc="apex spotting", leave=False, disable=len(candidates) < 100):
        scores[index] = scorer(tracker.align(np.asarray(frames[index], dtype=np.float32)).face)
    return ApexSpotting(apex_index=int(max(candidates, key=lambda index: scores[index])), scores=scores)

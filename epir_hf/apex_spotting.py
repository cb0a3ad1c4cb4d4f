"""Apex spotting: find the frame of a clip where the face has moved the most from its onset.

Why: EPIR classifies the onset→apex flow, but a user's clip rarely comes with an annotated apex. The usual
heuristic of the spotting literature is the frame whose motion relative to the onset is largest; here that is
the mean optical strain (or mean flow magnitude) of the onset→frame flow, computed on small face crops with the
fast DIS flow so that a few hundred frames take well under a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from .optical_flow import compute_optical_flow, optical_strain, resize_to

APEX_SCORES = ("strain", "magnitude")
SPOTTING_SIZE = 64
"""Side in pixels of the square face crops the spotting flow is computed on."""
SPOTTING_FLOW_METHOD = "dis"


@dataclass(frozen=True)
class ApexSpotting:
    """Result of `spot_apex`: the chosen frame and the motion score of every frame (0 for the onset)."""

    apex_index: int
    scores: np.ndarray


def spot_apex(frames: Sequence[np.ndarray], onset_index: int = 0, score: str = "strain",
              size: int = SPOTTING_SIZE) -> ApexSpotting:
    """Index of the frame with the largest motion relative to `frames[onset_index]`.

    Args:
        frames: 2-D grayscale face crops (0..255), all of one shape, in temporal order.
        onset_index: the neutral reference frame.
        score: `"strain"` (mean optical strain of the onset→frame flow, robust to global drift) or
            `"magnitude"` (mean flow magnitude).
        size: crops are resized to `size`×`size` before the flow, for speed.
    """
    if score not in APEX_SCORES:
        raise ValueError(f"apex score must be one of {APEX_SCORES}, got {score!r}")
    if len(frames) < 2:
        raise ValueError(f"apex spotting needs at least 2 frames (onset + candidates), got {len(frames)}")
    if not -len(frames) <= onset_index < len(frames):
        raise ValueError(f"onset_index {onset_index} is out of range for a clip of {len(frames)} frames")
    onset_index %= len(frames)
    small = [resize_to(np.asarray(frame, dtype=np.float32), size, size) for frame in frames]
    scores = np.zeros(len(frames), dtype=np.float32)
    candidates = [index for index in range(len(frames)) if index != onset_index]
    for index in tqdm(candidates, desc="apex spotting", leave=False, disable=len(candidates) < 100):
        flow = compute_optical_flow(small[onset_index], small[index], SPOTTING_FLOW_METHOD)
        motion = optical_strain(flow) if score == "strain" else np.linalg.norm(flow, axis=-1)
        scores[index] = float(motion.mean())
    return ApexSpotting(apex_index=int(max(candidates, key=lambda index: scores[index])), scores=scores)

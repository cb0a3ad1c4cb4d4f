"""Spotting: turn a video's motion signal (`motion_signal`) into facial events with onset, apex and offset.

Why a signal-to-noise threshold: how much a region's measured motion varies at rest depends on the camera, the
compression, the resolution of the face and the region itself (the mouth's edges show more flow noise than the
nose), so each region's motion is expressed in units of its own noise in that video — its robust z-score against the
video's median, with the median absolute deviation as the scale —, averaged over a tenth of a second (an expression
rises and falls over several frames, a noise spike does not), and an event is a peak of the largest region z-score
above `peak`. A floor in pixels (`min_motion`) keeps a video in which nothing moves from yielding its largest noise
peaks as events. The event spans the frames around the peak whose z-score stays above `boundary`; its apex is the
peak. Events closer than `merge_seconds` are merged, and an event longer than `MAX_MICRO_SECONDS` is a
macro-expression.

Blinks: a closing eye changes the eye region's brightness far more than any movement of the lids or brows does (the
flow cannot follow an occlusion), so runs of frames in which both eye regions change by at least `blink` grey levels,
for at most `MAX_BLINK_SECONDS`, are blinks. In a blink's frames only the regions away from the eyes count (nose,
mouth corners, chin): a blink drags the brows and the tops of the cheeks along. An action of the eyes or brows
during a blink is therefore not spotted.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from scipy import ndimage
from scipy.signal import find_peaks

from .facial_regions import REGION_NAMES
from .motion_signal import EYE_CHANGE_COLUMNS, SIGNAL_COLUMNS

MAX_MICRO_SECONDS = 0.5
"""Events longer than this are macro-expressions (the micro-expression bound of the MEGC spotting challenges)."""
MAX_BLINK_SECONDS = 0.5
"""A run of eye-closing frames longer than this is not a blink (blinks last 0.1–0.4 s) but an expression."""
SMOOTHING_SECONDS = 0.1
EVENT_KINDS = ("micro", "macro")
_NEAR_EYES = ("left_brow", "right_brow", "left_eye", "right_eye", "nose", "left_cheek", "right_cheek")


@dataclass(frozen=True)
class SpottingThresholds:
    """The thresholds of `find_events` (defaults: experiment E33 in docs/experiments.md).

    peak: z-score (noise units of the video) the strongest region must reach at an event's apex.
    boundary: fraction of the peak's z-score below which the frames around a peak are no longer part of its event.
    min_motion: pixels (of the 128 px aligned face) the strongest region must move at the apex.
    blink: grey levels by which both eye regions must change for a frame to count as part of a blink.
    merge_seconds: events whose frames are closer than this are one event.
    """

    peak: float = 7.0
    boundary: float = 0.2
    min_motion: float = 0.15
    blink: float = 4.0
    merge_seconds: float = 0.1

    def __post_init__(self):
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
                raise ValueError(f"spotting threshold {field.name} must be a number >= 0, got {value!r}")
        if self.boundary > 1:
            raise ValueError(f"spotting threshold boundary is a fraction of the peak in [0, 1], got {self.boundary}")


@dataclass(frozen=True)
class SpottedEvent:
    """One spotted event: frames are 0-based indices of the signal, `offset_frame` included. `score` is the apex's
    z-score: how many noise units of this video `region`, the facial region that moved most, moved."""

    onset_frame: int
    apex_frame: int
    offset_frame: int
    kind: str
    score: float
    region: str


def _columns(*names: str) -> list[int]:
    return [SIGNAL_COLUMNS.index(name) for name in names]


def robust_z(motion: np.ndarray) -> np.ndarray:
    """Each column in noise units of the video: (x − median) / (1.4826 · median absolute deviation)."""
    median = np.nanmedian(motion, axis=0)
    spread = 1.4826 * np.nanmedian(np.abs(motion - median), axis=0)
    return (motion - median) / np.maximum(spread, 1e-6)


def _moving_average(values: np.ndarray, width: int) -> np.ndarray:
    """Average over `width` frames along axis 0, ignoring NaN frames (which stay NaN)."""
    if width <= 1:
        return values
    known = ~np.isnan(values)
    total = ndimage.uniform_filter1d(np.where(known, values, 0.0), width, axis=0, mode="nearest")
    count = ndimage.uniform_filter1d(known.astype(float), width, axis=0, mode="nearest")
    return np.where(known, total / np.maximum(count, 1e-9), np.nan)


def blink_frames(signal: np.ndarray, fps: float, thresholds: SpottingThresholds) -> np.ndarray:
    """True for the frames of a blink: runs of at most `MAX_BLINK_SECONDS` in which both eye regions change by
    `blink` grey levels or more."""
    change = np.nan_to_num(np.min(signal[:, _columns(*EYE_CHANGE_COLUMNS)], axis=1), nan=0.0)
    labels, count = ndimage.label(change >= thresholds.blink)
    if not count:
        return np.zeros(len(signal), dtype=bool)
    lengths = np.bincount(labels)[1:]
    blinks = np.concatenate([[False], lengths <= MAX_BLINK_SECONDS * fps])[labels]
    return blinks


def event_signal(signal: np.ndarray, fps: float, thresholds: SpottingThresholds
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each frame's smoothed z-score of its strongest region (blinks discounted, see the module doc), the motion in
    pixels of that region (NaN where the face was not tracked), and that region's index in `REGION_NAMES`."""
    motion = signal[:, :len(REGION_NAMES)]
    width = max(1, round(SMOOTHING_SECONDS * fps)) | 1
    z = _moving_average(robust_z(motion), width)
    counted = np.ones_like(z, dtype=bool)
    # A blink reaches the regions near the eyes through the smoothing too.
    blinks = ndimage.binary_dilation(blink_frames(signal, fps, thresholds), iterations=width // 2 + 1)
    counted[np.ix_(blinks, _columns(*_NEAR_EYES))] = False
    z_counted = np.where(counted, np.nan_to_num(z, nan=-np.inf), -np.inf)
    strongest = np.argmax(z_counted, axis=1)
    rows = np.arange(len(z))
    lost = np.isnan(motion).all(axis=1)
    return (np.where(lost, np.nan, z_counted[rows, strongest]),
            np.where(lost, np.nan, _moving_average(motion, width)[rows, strongest]), strongest)


def find_events(motion: np.ndarray, fps: float, thresholds: SpottingThresholds = SpottingThresholds(),
                scored: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> list[SpottedEvent]:
    """The events of a video from its motion signal (frames × `SIGNAL_COLUMNS`, NaN rows where the face was lost).

    `scored` is `event_signal(motion, fps, thresholds)` when the caller has computed it already (the spotting
    pipeline returns its first part for plotting), so that it is not computed twice.
    """
    if motion.ndim != 2 or motion.shape[1] != len(SIGNAL_COLUMNS):
        raise ValueError(f"expected a motion signal of shape (frames, {len(SIGNAL_COLUMNS)}), got {motion.shape}")
    if len(motion) < 3 or np.isnan(motion).all():
        return []
    signal, pixels, strongest = event_signal(motion, fps, thresholds) if scored is None else scored
    filled = np.nan_to_num(signal, nan=-np.inf)
    peaks, _ = find_peaks(np.nan_to_num(signal, nan=0.0), height=thresholds.peak)
    peaks = [peak for peak in peaks if pixels[peak] >= thresholds.min_motion]
    spans: list[list[int]] = []
    gap = round(thresholds.merge_seconds * fps)
    for peak in peaks:
        onset, offset, edge = peak, peak, thresholds.boundary * filled[peak]
        while onset > 0 and filled[onset - 1] >= edge:
            onset -= 1
        while offset < len(filled) - 1 and filled[offset + 1] >= edge:
            offset += 1
        if spans and onset <= spans[-1][1] + gap:
            spans[-1][1] = max(spans[-1][1], offset)
            spans[-1][2] = peak if filled[peak] > filled[spans[-1][2]] else spans[-1][2]
        else:
            spans.append([onset, offset, peak])
    events = []
    for onset, offset, apex in spans:
        kind = "macro" if (offset - onset + 1) / fps > MAX_MICRO_SECONDS else "micro"
        events.append(SpottedEvent(int(onset), int(apex), int(offset), kind, float(signal[apex]),
                                   REGION_NAMES[int(strongest[apex])]))
    return events


__all__ = ["EVENT_KINDS", "MAX_BLINK_SECONDS", "MAX_MICRO_SECONDS", "SpottedEvent", "SpottingThresholds",
           "blink_frames", "event_signal", "find_events", "robust_z"]

"""The motion signal of a long video: each frame's regional facial motion relative to the face at rest.

Why against a face at rest: a micro-expression rises from a neutral face to its apex and falls back within half a
second, so the displacement of each frame from the neutral face traces the event whole — zero before its onset,
largest at its apex, zero again after its offset. The neutral face is estimated as the per-pixel median of the
aligned faces over a window of several seconds centred on the frame: facial events are short and sparse, so at most
pixels and in most windows the median is the resting face, while sensor noise is averaged out of it. Frames are
aligned first (`face_registration`), each is given the median's lighting (`photometric`), and the flow from the
median to the frame is measured in facial regions (`facial_regions`). Whatever rigid motion the alignment left (a
rotation misjudged by a fraction of a degree moves the brows and chin by a tenth of a pixel) is removed as the
similarity motion fitted robustly to the flow over the whole face, which a local action barely changes.

The signal is computed as the video streams: only the faces of one window are kept, so memory does not grow with the
length of the video.
"""

from __future__ import annotations

import itertools
from collections import deque

import cv2
import numpy as np

from .facial_regions import EYE_REGIONS, REGION_NAMES, RegionalMotion
from .photometric import match_lighting

SPOTTING_SIDE = 128
"""Side in pixels of the aligned face crops the spotting flow is computed on (the processor's default `flow_size`)."""
REFERENCE_SECONDS = 10.0
"""Length of the window whose median face is the resting face: over three times the longest expression the spotting
should see whole (macro-expressions last up to about 3 s), so that the expression fills under a third of it."""
_REFERENCE_SAMPLES = 15
"""At most this many faces of the window, evenly spaced, enter the median (a median of every frame of a 200 fps
window costs much and changes little)."""
_REFERENCE_REFRESH_SECONDS = 0.1
_FARNEBACK = {"pyr_scale": 0.5, "levels": 3, "winsize": 15, "iterations": 3, "poly_n": 5, "poly_sigma": 1.1,
              "flags": 0}
"""Farnebäck's flow, with these settings, separated the weakest generated micro-expressions from the noise of
compressed video better than DIS (medium preset, or at full resolution) at a similar cost (8–9 ms a frame on one
core at 128 px), and TV-L1 costs five times more."""
_RIGID_STRIDE = 4
_AVERAGE_SECONDS = 1 / 15
"""Each frame's face is the mean of the aligned faces within this span around it (3 frames at 30 fps): sensor noise
drops by their number's square root, while an expression, which rises over a tenth of a second or more, barely
changes within it."""
EYE_CHANGE_COLUMNS = ("left_eye_change", "right_eye_change")
SIGNAL_COLUMNS = REGION_NAMES + EYE_CHANGE_COLUMNS
"""The columns of the signal: each region's motion in pixels of the aligned face, then the mean absolute change of
brightness (grey levels) of each eye region against the resting face, which a blink — an eye that closes, which
the flow cannot follow — raises far more than any movement of the lids does."""
"""The median face is recomputed this often; the resting face changes slowly."""


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


class RegionalFlow:
    """The regional motion from a reference face to an aligned face: the face given the reference's lighting
    (`photometric`), the Farnebäck flow between them (`_FARNEBACK`), the residual similarity motion fitted out of it,
    and the flow measured in `regions`. What `MotionSignal` measures at every frame against the resting face, and what
    the clip apex spotting scores against the onset.

    Calling it returns the motion of each region (px) and the lighting-matched face.
    """

    def __init__(self, regions: RegionalMotion):
        self.regions, side = regions, regions.side
        # u = tx + a·x − b·y, v = ty + b·x + a·y at every pixel (x, y centred on the face, in face widths), and the
        # rows of that system for the sampled pixels, u's above v's.
        self._grid = (np.mgrid[0:side, 0:side][::-1] - (side - 1) / 2) / side
        xs, ys = (axis[::_RIGID_STRIDE, ::_RIGID_STRIDE].ravel() for axis in self._grid)
        ones, zeros = np.ones_like(xs), np.zeros_like(xs)
        self._similarity = np.block([[ones[:, None], zeros[:, None], xs[:, None], -ys[:, None]],
                                     [zeros[:, None], ones[:, None], ys[:, None], xs[:, None]]])

    def __call__(self, reference: np.ndarray, face: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        matched = match_lighting(reference, face)
        flow = cv2.calcOpticalFlowFarneback(_to_uint8(reference), _to_uint8(matched), None, **_FARNEBACK)
        flow -= self._rigid(flow)
        return self.regions(flow), matched

    def _rigid(self, flow: np.ndarray) -> np.ndarray:
        """The similarity motion (translation, rotation, scale) that best explains `flow` over the face, fitted by
        least squares on a grid of every `_RIGID_STRIDE`-th pixel, and once more without the quarter of them it
        explains worst, which hold any local action."""
        sampled = flow[::_RIGID_STRIDE, ::_RIGID_STRIDE].reshape(-1, 2)
        values = np.concatenate([sampled[:, 0], sampled[:, 1]])
        keep = np.ones(len(values), dtype=bool)
        for _ in range(2):
            coefficients, *_ = np.linalg.lstsq(self._similarity[keep], values[keep], rcond=None)
            residual = (values - self._similarity @ coefficients).reshape(2, -1)
            distance = np.hypot(*residual)
            keep = np.tile(distance <= np.quantile(distance, 0.75), 2)
        tx, ty, a, b = coefficients
        xs, ys = self._grid
        return np.stack([tx + a * xs - b * ys, ty + b * xs + a * ys], axis=-1).astype(np.float32)



class MotionSignal:
    """Streams aligned faces in frame order and yields each frame's regional motion (see the module doc).

    Args:
        fps: frames per second of the video (windows are set in seconds).
        regions: the facial regions to measure, laid out for the faces to come (`RegionalMotion.for_face`).
        reference_seconds: length of the window of the resting face.

    Call `add(face)` for every frame in order (`None` for a frame whose face could not be aligned), then `finish()`,
    which returns a float32 array of shape (frames, len(SIGNAL_COLUMNS)), NaN for the frames without a face. The flow
    is Farnebäck's (`_FARNEBACK`).
    """

    def __init__(self, fps: float, regions: RegionalMotion, reference_seconds: float = REFERENCE_SECONDS):
        self.fps, self.side = fps, regions.side
        self._half = max(1, round(reference_seconds * fps / 2))
        self._refresh = max(1, round(_REFERENCE_REFRESH_SECONDS * fps))
        self._faces: deque[tuple[np.ndarray | None, int]] = deque(maxlen=2 * self._half + 1)
        self._segment, self._reference_segment = 0, -1
        self._added = 0
        self._rows: list[np.ndarray] = []
        self._reference: np.ndarray = np.zeros((self.side, self.side), np.float32)
        self._measure_flow = RegionalFlow(regions)
        self._average = max(0, round(fps * _AVERAGE_SECONDS / 2))

    def add(self, face: np.ndarray | None, cut: bool = False) -> None:
        """The next frame's aligned face (2-D, `side`×`side`, 0..255), or None where the face was lost.

        `cut` marks a frame where the head jumped: what surrounds the face (background, shading) changed at once, so
        the frames before it no longer show this face at rest, and neither its resting face nor its average reaches
        across the cut.
        """
        if face is not None and face.shape != (self.side, self.side):
            raise ValueError(f"expected a {self.side}x{self.side} aligned face, got shape {face.shape}")
        self._segment += bool(cut)
        self._faces.append((face, self._segment))
        self._added += 1
        if self._added > self._half:
            self._measure(self._added - 1 - self._half)

    def finish(self) -> np.ndarray:
        """Measure the frames still waiting for the frames after them; returns the whole signal (see the class)."""
        for index in range(len(self._rows), self._added):
            self._measure(index)
        return np.array(self._rows, dtype=np.float32).reshape(self._added, len(SIGNAL_COLUMNS))

    def _near(self, index: int, reach: int) -> list[np.ndarray]:
        """The faces within `reach` frames of frame `index` that lie on its side of every cut."""
        first = self._added - len(self._faces)  # the frame index of self._faces[0]
        segment = self._faces[index - first][1]
        return [face for face, other in itertools.islice(self._faces, max(0, index - reach - first),
                                                         index + reach + 1 - first)
                if face is not None and other == segment]

    def _measure(self, index: int) -> None:
        face, segment = self._faces[index - (self._added - len(self._faces))]
        if face is None:
            self._rows.append(np.full(len(SIGNAL_COLUMNS), np.nan, np.float32))
            return
        if self._average:
            face = np.mean(self._near(index, self._average), axis=0)
        if index % self._refresh == 0 or segment != self._reference_segment:
            self._reference, self._reference_segment = self._resting_face(index), segment
        motion, matched = self._measure_flow(self._reference, face)
        eyes = self._measure_flow.regions.change(self._reference, matched, EYE_REGIONS)
        self._rows.append(np.concatenate([motion, eyes]))

    def _resting_face(self, index: int) -> np.ndarray:
        window = self._near(index, self._half)
        picks = np.unique(np.linspace(0, len(window) - 1, min(len(window), _REFERENCE_SAMPLES)).round().astype(int))
        return _median(np.stack([window[pick] for pick in picks]))


def _median(faces: np.ndarray) -> np.ndarray:
    """`np.median(faces, axis=0)` to the last bit for faces without NaN (aligned frames have none), at a third of its
    cost for an odd count: np.median also partitions at the last element to find NaNs. The resting face is taken anew
    every few frames of every video, where this is a tenth of the spotting's time."""
    middle = len(faces) // 2
    if len(faces) % 2:
        return np.partition(faces, middle, axis=0)[middle]
    ordered = np.partition(faces, [middle - 1, middle], axis=0)
    return (ordered[middle - 1] + ordered[middle]) / 2


__all__ = ["EYE_CHANGE_COLUMNS", "MotionSignal", "REFERENCE_SECONDS", "SIGNAL_COLUMNS", "SPOTTING_SIDE", "RegionalFlow"]

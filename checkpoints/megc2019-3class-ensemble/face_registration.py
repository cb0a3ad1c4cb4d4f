"""Face registration: follow a face through frames and cancel the head's rigid motion before the flow.

Why: a micro-expression moves the skin by a pixel or two, while a head in a real recording shifts, drifts and turns
by several. Cropping every frame with the first frame's face box leaves that rigid motion in the flow, where it
outweighs the expression: a 4 px head shift moved the spotted apex of a clip by 22 frames. Each frame is therefore
aligned to the reference frame on the face's most stable part — the nose below the eyes, which no action unit of
the brows, eyes or mouth moves — with a rigid (rotation + translation) transform found by OpenCV's ECC maximisation
(Evangelidis & Psarakis, 2008). ECC maximises a zero-mean normalised correlation, so a change of lighting does not
pull the alignment. The face is then resampled from its frame at the aligned position, so what remains between the
reference face and the aligned one is the non-rigid facial motion.

A frame is resampled once: the region around the face (the face box plus a margin) is scaled to the working size
with area averaging and the rigid transform is applied with one bilinear warp. Reference and aligned faces take the
same path, so a frame identical to the reference gives an identical face.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .face_crop import FaceBox
from .facial_regions import STABLE_REGION, FaceLayout

_MARGIN = 0.25
"""The region resampled around the face box, per side, as a fraction of the box: the head may move this far between
two re-centrings of the region without the aligned face reaching past it."""
_ECC_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-4)
_SMOOTHING_SIGMA = 1.0
"""Both the reference face and each region are smoothed by this Gaussian (pixels of the working size) before they are
matched, once and whole, so that the matched patch sees the same neighbourhood in both (ECC's own smoothing of a cut
patch would treat its edges differently from the region's and bias the alignment)."""
MIN_CORRELATION = 0.6
"""The lowest ECC correlation of the stable region at which a frame counts as aligned: a face that left the region,
was covered or turned away scores below it (an aligned face, even under a lighting change, scores above 0.9)."""


@dataclass(frozen=True)
class AlignedFace:
    """One frame's face as `FaceTracker.align` returns it.

    `face` is the float32 `side`×`side` face (0..255) resampled at the aligned position; `aligned` is False when the
    alignment failed (the face left the search region or does not look like the reference any more), in which case
    `face` is cut at the last good position and should not be compared with the reference. `shift` is the face's
    displacement from the reference box in frame pixels (x, y) and `rotation` its rotation in degrees.
    """

    face: np.ndarray
    aligned: bool
    correlation: float
    shift: tuple[float, float]
    rotation: float


class FaceTracker:
    """Aligns the face of any frame to the face of a reference frame (see the module doc).

    Args:
        reference: 2-D grayscale reference frame (0..255).
        box: the face box (x, y, w, h) in the reference frame, in the corpora's crop convention.
        side: the side in pixels of the square faces returned (the flow's working size).

    `reference_face` is the reference frame's face and `layout` where its parts lie (`FaceLayout.for_face`): the
    nose it is aligned on sits below the eyes found there. `align(frame)` aligns one frame of the same size; a
    tracker keeps the last alignment as the starting point of the next, so a head drifting across a video is
    followed frame by frame.
    """

    def __init__(self, reference: np.ndarray, box: FaceBox, side: int):
        x, y, w, h = box
        self.box, self.side, self.frame_shape = box, side, reference.shape
        self._scale = np.array([side / w, side / h])
        self._frame_margin = np.maximum(1, np.rint(_MARGIN * np.array([w, h]))).astype(int)
        self._offset = np.zeros(2, dtype=int)  # where the resampled region sits, relative to the box, in frame px
        self._home = self._frame_margin * self._scale  # the face's origin in the resampled region, unmoved
        self._warp = np.float32([[1, 0, self._home[0]], [0, 1, self._home[1]]])
        self.reference_face = self._resample(self._region(reference), self._warp)
        self.layout = FaceLayout.for_face(self.reference_face)
        rows, columns = self.layout.slices(STABLE_REGION)
        self._patch = np.ascontiguousarray(_smooth(self.reference_face)[rows, columns])
        self._patch_origin = np.array([columns.start, rows.start], dtype=np.float32)

    def _region(self, frame: np.ndarray) -> np.ndarray:
        """The face box plus margin, moved by the current offset, scaled to the working size (border replicated)."""
        x, y, w, h = self.box
        (mx, my), (ox, oy) = self._frame_margin, self._offset
        left, top, right, bottom = x + ox - mx, y + oy - my, x + ox + w + mx, y + oy + h + my
        height, width = frame.shape
        inside = frame[max(0, top):max(0, min(height, bottom)), max(0, left):max(0, min(width, right))]
        if inside.size == 0:
            inside = np.zeros((1, 1), np.float32)
        region = cv2.copyMakeBorder(np.ascontiguousarray(inside, dtype=np.float32), max(0, -top),
                                    max(0, bottom - max(top, height)), max(0, -left),
                                    max(0, right - max(left, width)), cv2.BORDER_REPLICATE)
        shrinking = self._scale[0] * self._scale[1] < 1.0
        return cv2.resize(region, (0, 0), fx=float(self._scale[0]), fy=float(self._scale[1]),
                          interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)

    def _resample(self, region: np.ndarray, warp: np.ndarray) -> np.ndarray:
        return cv2.warpAffine(region, warp, (self.side, self.side), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)

    def _check(self, frame: np.ndarray) -> None:
        if frame.shape != self.frame_shape:
            raise ValueError(f"frame is {frame.shape[1]}x{frame.shape[0]} but the reference frame is "
                             f"{self.frame_shape[1]}x{self.frame_shape[0]}; all frames must have one size")

    def align(self, frame: np.ndarray) -> AlignedFace:
        """The face of `frame` (2-D grayscale, the reference frame's size) aligned to the reference face."""
        self._check(frame)
        region = self._region(frame)
        smooth = _smooth(region)
        # The patch is first found by normalised cross-correlation over the whole region (a head that jumped between
        # two frames is found as well as one that drifted), then ECC refines that position and the rotation. The
        # warp maps patch coordinates into the region.
        scores = cv2.matchTemplate(smooth, self._patch, cv2.TM_CCOEFF_NORMED)
        found = np.array(cv2.minMaxLoc(scores)[3], dtype=np.float32)
        rotation = self._warp[:, :2]
        patch_warp = np.hstack([rotation, found[:, None]]).astype(np.float32)
        try:
            correlation, patch_warp = cv2.findTransformECC(self._patch, smooth, patch_warp, cv2.MOTION_EUCLIDEAN,
                                                           _ECC_CRITERIA, None, 1)
        except cv2.error:  # no convergence: the patch has nothing to match in this region
            correlation = float("nan")
        aligned = bool(np.isfinite(correlation) and correlation >= MIN_CORRELATION)
        if aligned:
            rotation = patch_warp[:, :2]
            self._warp = np.hstack([rotation, (patch_warp[:, 2] - rotation @ self._patch_origin)[:, None]]).astype(
                np.float32)
        face = self._resample(region, self._warp)
        shift = (self._warp[:, 2] - self._home) / self._scale + self._offset
        result = AlignedFace(face=face, aligned=aligned, correlation=float(correlation),
                             shift=(float(shift[0]), float(shift[1])),
                             rotation=float(np.degrees(np.arctan2(self._warp[1, 0], self._warp[0, 0]))))
        self._recentre()
        return result

    def _recentre(self) -> None:
        """Move the resampled region with the face once it has drifted past half the margin, so that a face drifting
        across the frame stays inside the region."""
        drift = (self._warp[:, 2] - self._home) / self._scale
        if np.all(np.abs(drift) <= self._frame_margin / 2):
            return
        step = np.rint(drift).astype(int)
        self._offset += step
        self._warp[:, 2] -= (step * self._scale).astype(np.float32)


def _smooth(image: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(image, (0, 0), _SMOOTHING_SIGMA)


__all__ = ["AlignedFace", "FaceTracker", "MIN_CORRELATION"]

"""Regional motion: how far each part of the face moved, from a dense flow of an aligned face crop.

Why regions: an action unit moves a small patch of skin — a brow, a lip corner — by a pixel or two, so the mean flow
over the whole face hardly changes (a 1 px brow raise moves it no more than sensor noise does) while a blink moves it
ten times more. The spotting methods of the MEGC challenges therefore measure motion in facial regions. Here each
region's motion is the 90th percentile of the flow magnitude after the flow is smoothed over a few pixels: smoothing
averages the flow's pixel noise away while keeping the coherent displacement of an action unit, and the percentile
picks up a motion that fills only part of its region. The largest of the regions is a frame's motion.

The regions are laid out on the face's eyes: a template drawn for the corpora's crop convention (eyebrows to chin,
eye centres a quarter of the height from the top and a quarter of the width in from each side, where `locate_face`
puts its boxes on real faces) is moved and scaled so that its eyes fall on the eyes OpenCV's eye cascade finds in
the face. Faces whose proportions differ from that convention (a drawn face, a box placed by hand) then still get
their brows, eyes and mouth measured where they are. When the cascade does not find a plausible pair of eyes (it
misses about a third of real faces, more behind glasses) the template is used as it is. "Left" and "right" are the
image's.
"""

from __future__ import annotations

import cv2
import numpy as np

from .face_crop import _cascade

FACIAL_REGIONS: dict[str, tuple[float, float, float, float]] = {
    # name: (left, right, top, bottom) as fractions of the face box
    "left_brow": (0.08, 0.45, 0.05, 0.21),
    "right_brow": (0.55, 0.92, 0.05, 0.21),
    "left_eye": (0.10, 0.42, 0.19, 0.33),
    "right_eye": (0.58, 0.90, 0.19, 0.33),
    "nose": (0.38, 0.62, 0.30, 0.58),
    "left_cheek": (0.08, 0.36, 0.36, 0.62),
    "right_cheek": (0.64, 0.92, 0.36, 0.62),
    "left_mouth_corner": (0.18, 0.48, 0.62, 0.86),
    "right_mouth_corner": (0.52, 0.82, 0.62, 0.86),
    "chin": (0.35, 0.65, 0.85, 0.98),
}
TEMPLATE_EYES = ((0.25, 0.26), (0.75, 0.26))
"""The eye centres (x, y) of the `FACIAL_REGIONS` template, as fractions of the face."""
REGION_NAMES = tuple(FACIAL_REGIONS)
EYE_REGIONS = ("left_eye", "right_eye")
SMOOTHING = 3.0 / 128
"""The flow is smoothed with a Gaussian of this many face widths (3 px of a 128 px face) before magnitudes are taken."""
PERCENTILE = 90.0
_EYE_CASCADE = "eye_tree_eyeglasses"
# A pair of eye detections is taken when the eyes lie in the upper part of the face, level with each other, one on
# each side, and as far apart as a face's eyes can be in a face box.
_EYE_SEARCH_HEIGHT = 0.6
_EYE_SIZE = (0.12, 0.4)
_EYE_ROWS = (0.12, 0.5)
_EYE_LEVEL = 0.08
_EYE_DISTANCE = (0.3, 0.7)


def locate_eyes(face: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """The centres (x, y) of the left and right eye of a 2-D grayscale face crop, as fractions of its side, or None
    when OpenCV's eye cascade finds no plausible pair (see the module doc)."""
    side = face.shape[0]
    image = np.clip(np.rint(face[:round(_EYE_SEARCH_HEIGHT * side)]), 0, 255).astype(np.uint8)
    smallest, largest = (round(fraction * side) for fraction in _EYE_SIZE)
    boxes = _cascade(_EYE_CASCADE).detectMultiScale(image, scaleFactor=1.05, minNeighbors=3,
                                                    minSize=(smallest, smallest), maxSize=(largest, largest))
    centres = [((x + w / 2) / side, (y + h / 2) / side, w) for x, y, w, h in np.reshape(boxes, (-1, 4))]
    left = [centre for centre in centres if centre[0] < 0.5]
    right = [centre for centre in centres if centre[0] >= 0.5]
    if not left or not right:
        return None
    (lx, ly, _), (rx, ry, _) = max(left, key=lambda c: c[2]), max(right, key=lambda c: c[2])
    plausible = (abs(ly - ry) <= _EYE_LEVEL and _EYE_DISTANCE[0] <= rx - lx <= _EYE_DISTANCE[1]
                 and all(_EYE_ROWS[0] <= y <= _EYE_ROWS[1] for y in (ly, ry)))
    return ((lx, ly), (rx, ry)) if plausible else None


Box = tuple[float, float, float, float]
"""(left, right, top, bottom) as fractions of a face in the template's frame."""
STABLE_REGION: Box = (0.38, 0.62, 0.35, 0.58)
"""The nose below the eyes, the part no action unit of the brows, eyes or mouth moves: where faces are aligned."""


class FaceLayout:
    """Where the template's parts lie in one `side`×`side` face: the template moved and scaled so that its eyes fall on
    `eyes` (centres (x, y) as fractions of the side; None keeps the template). `FaceLayout.for_face(face)` finds them.
    """

    def __init__(self, side: int, eyes: tuple[tuple[float, float], tuple[float, float]] | None = None):
        self.side, self.eyes = side, eyes or TEMPLATE_EYES
        (lx, ly), (rx, ry) = self.eyes
        (tlx, tly), (trx, try_) = TEMPLATE_EYES
        self._scale = (rx - lx) / (trx - tlx)
        self._shift = ((lx + rx) / 2 - self._scale * (tlx + trx) / 2, (ly + ry) / 2 - self._scale * (tly + try_) / 2)

    @classmethod
    def for_face(cls, face: np.ndarray) -> FaceLayout:
        """The layout of `face` (a square 2-D face crop) on its own eyes, or the template's where none are found."""
        return cls(face.shape[0], locate_eyes(face))

    def slices(self, box: Box) -> tuple[slice, slice]:
        """The (rows, columns) of this face that a template box covers (at least one pixel each)."""
        def span(start: float, end: float, axis: int) -> slice:
            # A part laid out past the face's edge (eyes found far apart push the chin below it) keeps the edge's
            # last pixel, so that every region can be measured.
            first, last = (int(np.clip(round((self._shift[axis] + self._scale * fraction) * self.side), 0, self.side))
                           for fraction in (start, end))
            first = min(first, self.side - 1)
            return slice(first, max(first + 1, last))

        left, right, top, bottom = box
        return span(top, bottom, 1), span(left, right, 0)


class RegionalMotion:
    """Measures each facial region's motion in flows of aligned face crops laid out as `layout` (see the module doc).

    Calling it on a flow returns one value per `REGION_NAMES` entry, in pixels of the crop.
    """

    def __init__(self, layout: FaceLayout):
        self.side = layout.side
        self._slices = [layout.slices(box) for box in FACIAL_REGIONS.values()]

    def change(self, reference: np.ndarray, face: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
        """The mean absolute brightness difference of two aligned faces in each region of `names`."""
        difference = np.abs(face - reference)
        return np.array([difference[self._slices[REGION_NAMES.index(name)]].mean() for name in names],
                        dtype=np.float32)

    def __call__(self, flow: np.ndarray) -> np.ndarray:
        if flow.shape != (self.side, self.side, 2):
            raise ValueError(f"expected a ({self.side}, {self.side}, 2) flow of an aligned face, got {flow.shape}")
        smooth = cv2.GaussianBlur(flow, (0, 0), SMOOTHING * self.side)
        magnitude = np.hypot(smooth[..., 0], smooth[..., 1])
        return np.array([np.percentile(magnitude[rows, cols], PERCENTILE) for rows, cols in self._slices],
                        dtype=np.float32)


__all__ = ["EYE_REGIONS", "FACIAL_REGIONS", "REGION_NAMES", "STABLE_REGION", "TEMPLATE_EYES", "FaceLayout",
           "RegionalMotion", "locate_eyes"]

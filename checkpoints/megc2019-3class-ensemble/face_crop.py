"""Face detection and cropping with OpenCV's bundled Haar cascades.

Why: micro-expression flow is only meaningful on the face; the literature crops the face once (on the onset
frame) and applies the same box to the apex so that head position does not leak into the flow. The 4.x
OpenCV wheels ship the Haar cascades (`cv2.data.haarcascades`), so no model download is needed.
The cascades are loaded lazily and cached per thread (never at import), so a processor that uses them stays
picklable and safe under `datasets.map(num_proc=...)` and thread pools.

`locate_faces` handles both inputs the processor meets: full recordings (a face somewhere in a 640×480 frame)
and frames that are already tightly cropped faces (the corpora's cropped releases, the MEGC2019 composite). A
Haar cascade only fires on a window that contains the whole face with some margin, so on a tight crop, whose
edges cut the forehead and chin, it finds nothing or a wrong part (the nose); the frame is therefore padded
before detection and the result mapped back. A frame may hold several faces (an interviewer, a second subject):
`locate_faces` reports each of them, and `locate_face` the one the processor uses, the largest. See
`benchmarks/bench_face_crop.py` for the measured accuracy.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from .opencv_features import require_opencv

FaceBox = tuple[int, int, int, int]
"""A face box (x, y, width, height) in pixels of the frame, as OpenCV's detectors return it."""

# The cascade that scans the frame first, then the ones that confirm its candidates (or scan the frame when the
# first finds nothing). On the padded real face crops of the MEGC2019 composite `frontalface_alt2` and `_alt` find
# all 442 faces, `frontalface_default` (the usual choice) misses 10. Clutter that one cascade takes for a face is
# rarely taken for one by the others, so the number of cascades that agree ranks the candidates.
_CASCADES = ("frontalface_alt2", "frontalface_alt", "frontalface_default")
# Frames are downscaled so that their shorter side is at most this many pixels before detection: the smallest face
# searched for (a fifth of that, 48 px) is still twice the cascades' 20-24 px window, and a smaller image makes each
# level of the cascades' image pyramid cheaper to build.
_DETECTION_SIDE = 240
# Faces (Haar boxes) smaller than this fraction of the frame's shorter side are not searched for: the subject of a
# micro-expression recording is close to the camera, and small boxes are mostly clutter or a part of the face.
_MIN_FACE_FRACTION = 0.2
# Faces (Haar boxes) at least this fraction of the frame's shorter side are searched first (see `_candidates`); the
# scan for smaller faces reaches `_SCAN_OVERLAP` squared times that size, so that faces near the boundary are seen
# whole by one of the scans.
_LARGE_FACE_FRACTION = 0.4
_SCAN_OVERLAP = 1.2
# Scale step and number of overlapping detections that the cascade scans require.
_SCALE_FACTOR = 1.1
_MIN_NEIGHBORS = 3
# Each side of the (downscaled) frame is padded by this fraction of its shorter side, replicating the border, so
# that a face that fills the frame lies inside the detection window with the margin the cascades were trained on.
_PAD_FRACTION = 0.3
# A second cascade confirms a candidate when it finds a box overlapping it by at least this IoU.
_AGREEMENT_IOU = 0.5
# Two candidates are one face when at least this fraction of the smaller one lies inside the other: the same face
# found by two scans, or a part of a face (the nose, an eye and a brow) taken for a smaller face. Faces of two people
# overlap far less, even when one partly hides the other.
_SAME_FACE_OVERLAP = 0.5
# Candidates are confirmed in a window of this many candidate sizes, resampled so the candidate is this many pixels.
_CONFIRM_WINDOW = 2.0
_CONFIRM_SIDE = 48
# A Haar box spans the forehead and more of the cheeks than the corpora's face crops (CASME II, SAMM and SMIC as
# cropped for the MEGC2019 composite): around those crops it is 1.14-1.25x their side (median per corpus) and,
# for CASME II and SMIC, centred ~10% of the side higher. The box is shrunk about its centre and moved down by these
# factors so that the returned box follows the crops' convention, as the flow features were computed on such crops.
# Fitted (maximum share of IoU >= 0.7) on the 442 composites of `benchmarks/bench_face_crop.py --seed 1`; the
# benchmark's default seed 0 is held out.
_BOX_SCALE = 0.82
_BOX_SHIFT_DOWN = 0.05
# A detected face that spans at least this fraction of both the frame's width and height means the frame is
# already a face crop: the whole frame is returned. Faces in full recordings leave background on at least one
# side (a face filling the height of a 4:3 frame spans 75% of its width).
_WHOLE_FRAME_SPAN = 0.8
_MIN_FRAME_SIDE = 16

_per_thread = threading.local()


@dataclass(frozen=True)
class FaceDetection:
    """Where `locate_faces` found a face in a frame.

    Attributes:
        box: (x, y, w, h) of the face inside the frame, in the corpora's crop convention (eyebrows to chin,
            cheek to cheek); the whole frame `(0, 0, W, H)` when `whole_frame` is True.
        whole_frame: the frame is already a cropped face (the detected face spans most of it).
        cascade: the OpenCV cascade whose scan found the face (e.g. `"frontalface_alt2"`).
        votes: how many of the cascades found this face (1-3); faces found by one cascade only are less certain.
    """

    box: FaceBox
    whole_frame: bool
    cascade: str
    votes: int


@dataclass(frozen=True)
class _Candidate:
    box: np.ndarray  # float (x, y, w, h) in pixels of the padded, downscaled frame
    weight: float  # the cascade's level weight: higher is more face-like
    votes: int


def _cascade(name: str) -> cv2.CascadeClassifier:
    cascades = getattr(_per_thread, "cascades", None)
    if cascades is None:
        cascades = _per_thread.cascades = {}
    cascade = cascades.get(name)
    if cascade is None:
        path = os.path.join(require_opencv("data.haarcascades", "face detection"), f"haarcascade_{name}.xml")
        cascade = require_opencv("CascadeClassifier", "face detection")(path)
        if cascade.empty():
            raise RuntimeError(
                f"OpenCV could not load its bundled face cascade {path}. Install opencv-contrib-python-headless"
                " >=4.10,<5 as the only OpenCV build (docs/preprocessing.md: 'When another OpenCV build is installed')."
            )
        cascades[name] = cascade
    return cascade


def _intersection(a: np.ndarray, b: np.ndarray) -> float:
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return float(width * height) if width > 0 and height > 0 else 0.0


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = _intersection(a, b)
    return inter / float(a[2] * a[3] + b[2] * b[3] - inter) if inter else 0.0


def _same_face(a: np.ndarray, b: np.ndarray) -> bool:
    return _intersection(a, b) >= _SAME_FACE_OVERLAP * min(a[2] * a[3], b[2] * b[3])


def _scan(image: np.ndarray, name: str, min_side: int, max_side: int | None = None,
          min_neighbors: int = _MIN_NEIGHBORS) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (n×4 float) and level weights (n) that cascade `name` finds in `image`."""
    max_size = (max_side, max_side) if max_side else (0, 0)
    boxes, _, weights = _cascade(name).detectMultiScale3(
        image, scaleFactor=_SCALE_FACTOR, minNeighbors=min_neighbors, minSize=(min_side, min_side), maxSize=max_size,
        outputRejectLevels=True)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return boxes, np.asarray(weights, dtype=np.float64).reshape(-1)


def _confirm(image: np.ndarray, box: np.ndarray, name: str, min_neighbors: int) -> np.ndarray | None:
    """The box of cascade `name` that matches `box` (a candidate of another cascade), or None.

    Only a window around the candidate is searched, resampled to a small fixed size, so confirming costs a
    fraction of a full scan.
    """
    x, y, w, h = box
    grow = (_CONFIRM_WINDOW - 1) / 2
    left, top = max(0, int(x - grow * w)), max(0, int(y - grow * h))
    right = min(image.shape[1], int(np.ceil(x + w + grow * w)))
    bottom = min(image.shape[0], int(np.ceil(y + h + grow * h)))
    scale = _CONFIRM_SIDE / w
    window = cv2.resize(image[top:bottom, left:right],
                        (max(1, round((right - left) * scale)), max(1, round((bottom - top) * scale))),
                        interpolation=cv2.INTER_AREA)
    found, _ = _scan(window, name, round(0.7 * _CONFIRM_SIDE), round(1.4 * _CONFIRM_SIDE), min_neighbors)
    matches = [found_box / scale + (left, top, 0, 0) for found_box in found]
    if not matches:
        return None
    best = max(matches, key=lambda match: _iou(match, box))
    return best if _iou(best, box) >= _AGREEMENT_IOU else None


def _confirmed(image: np.ndarray, name: str, boxes: np.ndarray, weights: np.ndarray,
               min_neighbors: int = _MIN_NEIGHBORS) -> list[_Candidate]:
    """The boxes that cascade `name` found, each with the votes of the other cascades that confirm it."""
    candidates = []
    for box, weight in zip(boxes, weights):
        agreeing = [box]
        for other in _CASCADES:
            if other != name and (match := _confirm(image, box, other, min_neighbors)) is not None:
                agreeing.append(match)
        # The mean of the agreeing boxes: each cascade places the box slightly differently.
        candidates.append(_Candidate(np.mean(agreeing, axis=0), float(weight), len(agreeing)))
    return candidates


def _candidates(image: np.ndarray, min_side: int, large_side: int, fills_frame: Callable[[np.ndarray], bool]
                ) -> tuple[str, list[_Candidate]]:
    """Face candidates of the first cascade that finds any, each confirmed by the other cascades.

    Large faces are searched first: the cost of a scan grows with the number of small windows, and a frame that
    is a face crop is settled by the cheap scan of large windows when all cascades agree on a face that fills the
    frame (`fills_frame`), since no other face fits beside it. Any other frame is scanned for smaller faces too, so
    that every face in it is found.
    """
    for name in _CASCADES:
        large = _confirmed(image, name, *_scan(image, name, large_side))
        if any(candidate.votes == len(_CASCADES) and fills_frame(candidate.box) for candidate in large):
            return name, large
        small = _confirmed(image, name, *_scan(image, name, min_side, round(_SCAN_OVERLAP ** 2 * large_side)))
        if large or small:
            return name, large + small
    # A faint face (low contrast, blur) gathers fewer overlapping detections: as a last resort, take single
    # detections of the first cascade that another cascade also detects.
    name = _CASCADES[0]
    faint = _confirmed(image, name, *_scan(image, name, min_side, min_neighbors=1), min_neighbors=1)
    return name, [candidate for candidate in faint if candidate.votes >= 2]


def _faces(candidates: list[_Candidate]) -> list[_Candidate]:
    """One candidate per face, the confirmed ones only when there are any, largest first.

    Candidates of one face (see `_SAME_FACE_OVERLAP`) are merged into the most certain of them: the one that the
    most cascades find, ties going to the cascade's level weight. Clutter that one cascade takes for a face is
    rarely taken for one by the others, so a candidate no other cascade confirms counts only when no candidate is
    confirmed, and then only the most certain one.
    """
    distinct = []
    for candidate in sorted(candidates, key=lambda candidate: (candidate.votes, candidate.weight), reverse=True):
        if not any(_same_face(candidate.box, kept.box) for kept in distinct):
            distinct.append(candidate)
    faces = [candidate for candidate in distinct if candidate.votes >= 2] or distinct[:1]
    return sorted(faces, key=lambda candidate: candidate.box[2] * candidate.box[3], reverse=True)


def _to_crop_convention(box: np.ndarray) -> np.ndarray:
    """A Haar box (x, y, w, h) shrunk and moved to the corpora's crop convention (see `_BOX_SCALE`)."""
    x, y, w, h = box
    center_x, center_y = x + w / 2, y + h / 2 + _BOX_SHIFT_DOWN * h
    side_w, side_h = _BOX_SCALE * w, _BOX_SCALE * h
    return np.array([center_x - side_w / 2, center_y - side_h / 2, side_w, side_h])


def _clip(box: np.ndarray, height: int, width: int) -> FaceBox:
    x, y, w, h = box
    left, top = min(max(0, round(x)), width - 1), min(max(0, round(y)), height - 1)
    right, bottom = max(left + 1, min(width, round(x + w))), max(top + 1, min(height, round(y + h)))
    return (left, top, right - left, bottom - top)


def _as_uint8_frame(gray: np.ndarray) -> np.ndarray:
    frame = np.asarray(gray)
    if frame.ndim != 2:
        raise ValueError(f"face location needs a 2-D grayscale frame, got an array of shape {frame.shape}")
    if min(frame.shape) < _MIN_FRAME_SIDE:
        raise ValueError(f"face location needs a frame of at least {_MIN_FRAME_SIDE}x{_MIN_FRAME_SIDE} px, got "
                         f"{frame.shape[1]}x{frame.shape[0]}")
    if frame.dtype == np.uint8:
        return frame
    if not np.issubdtype(frame.dtype, np.number) or np.issubdtype(frame.dtype, np.complexfloating):
        raise ValueError(f"face location needs a real-valued frame on 0..255, got dtype {frame.dtype}")
    return np.clip(np.rint(np.nan_to_num(frame.astype(np.float32))), 0, 255).astype(np.uint8)


def locate_faces(gray: np.ndarray) -> list[FaceDetection]:
    """Every face in a 2-D grayscale frame (uint8 or float on 0..255, each side >= 16 px), largest first.

    Works on full recordings and on frames that are already face crops. The frame is downscaled (shorter side at
    most 240 px), padded on every side by 30% of its shorter side (border replicated, so that a face filling the
    frame gets the margin the cascades need) and scanned by `frontalface_alt2`, falling back to
    `frontalface_alt`, then `frontalface_default` when a cascade finds nothing. Faces (Haar boxes) smaller than a
    fifth of the frame's shorter side are not searched for. Each candidate is confirmed by the other two cascades
    in a window around it, and its box is the mean of theirs. Candidates that overlap (half of the smaller one inside
    the other) are one face, kept as the candidate the most cascades find, ties going to the cascade's level weight.
    Faces that at least two cascades find are returned; a face only one cascade finds is returned alone, and only
    when no other is confirmed, since clutter is rarely taken for a face by two cascades. Each box is mapped to the
    corpora's crop convention, back to the frame, and clipped to it. A face that spans at least 80% of both the
    frame's width and height means the frame is an already cropped face: that face alone is returned, as the whole
    frame (`whole_frame=True`).

    Returns an empty list when no cascade finds a face, not even a faint one that two cascades detect with relaxed
    settings.

    Raises:
        ValueError: `gray` is not a 2-D real-valued array of at least 16x16 px.
        ImportError: the installed OpenCV build lacks the cascade classifier or its bundled cascades.
    """
    frame = _as_uint8_frame(gray)
    height, width = frame.shape
    scale = min(1.0, _DETECTION_SIDE / min(height, width))
    if scale < 1.0:
        frame = cv2.resize(frame, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    pad = round(_PAD_FRACTION * min(frame.shape))
    padded = cv2.copyMakeBorder(frame, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    short = min(frame.shape)

    def in_frame(box: np.ndarray) -> FaceBox:
        return _clip((_to_crop_convention(box) - (pad, pad, 0, 0)) / scale, height, width)

    def fills_frame(box: np.ndarray) -> bool:
        _, _, box_width, box_height = in_frame(box)
        return box_width >= _WHOLE_FRAME_SPAN * width and box_height >= _WHOLE_FRAME_SPAN * height

    name, candidates = _candidates(padded, max(20, round(_MIN_FACE_FRACTION * short)),
                                   max(20, round(_LARGE_FACE_FRACTION * short)), fills_frame)
    faces = _faces(candidates)
    if faces and fills_frame(faces[0].box):
        return [FaceDetection(box=(0, 0, width, height), whole_frame=True, cascade=name, votes=faces[0].votes)]
    return [FaceDetection(box=in_frame(face.box), whole_frame=False, cascade=name, votes=face.votes)
            for face in faces]


def locate_face(gray: np.ndarray) -> FaceDetection | None:
    """The face the processor uses in a 2-D grayscale frame: the largest that `locate_faces` finds, or None.

    The largest, because the subject of a micro-expression recording sits close to the camera, in front of anyone
    else in the frame. Same input and errors as `locate_faces`.
    """
    faces = locate_faces(gray)
    return faces[0] if faces else None


def expand_box(box: FaceBox, margin: float, height: int, width: int) -> FaceBox:
    """Grow `box` by `margin` × its size on every side, then clip it to a `height`×`width` frame."""
    x, y, w, h = box
    left = max(0, int(round(x - margin * w)))
    top = max(0, int(round(y - margin * h)))
    right = min(width, int(round(x + w + margin * w)))
    bottom = min(height, int(round(y + h + margin * h)))
    return (left, top, right - left, bottom - top)


def check_box(box: Sequence[float], height: int, width: int, name: str) -> FaceBox:
    """Validate a caller-supplied (x, y, w, h) box against a `height`×`width` frame; return it as ints."""
    try:
        x, y, w, h = (int(round(float(value))) for value in box)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: a face box must be 4 numbers (x, y, width, height), got {box!r}") from None
    if w < 8 or h < 8 or x < 0 or y < 0 or x + w > width or y + h > height:
        raise ValueError(f"{name}: face box (x={x}, y={y}, w={w}, h={h}) must lie inside the {width}x{height} frame "
                         "and be at least 8x8 px")
    return (x, y, w, h)


def check_face_index(face_index: Any, name: str = "face_index") -> int:
    """Validate a caller's choice among the faces `locate_faces` found (an index, largest first); return it."""
    if isinstance(face_index, bool) or not isinstance(face_index, (int, np.integer)) or face_index < 0:
        raise ValueError(f"{name} must be an integer >= 0 (an index into the faces found, largest first), got "
                         f"{face_index!r}")
    return int(face_index)


def crop(image: np.ndarray, box: FaceBox) -> np.ndarray:
    """The `box` region of `image` (rows y..y+h, columns x..x+w)."""
    x, y, w, h = box
    return image[y:y + h, x:x + w]

"""Face detection and cropping with OpenCV's bundled Haar cascade.

Why: micro-expression flow is only meaningful on the face; the literature crops the face once (on the onset
frame) and applies the same box to the apex so that head position does not leak into the flow. The 4.x
OpenCV wheels ship the Haar cascades (`cv2.data.haarcascades`), so no model download is needed.
The cascade is loaded lazily and cached per thread (never at import), so a processor that uses it stays
picklable and safe under `datasets.map(num_proc=...)` and thread pools.
"""

from __future__ import annotations

import os
import threading

import cv2
import numpy as np

from .opencv_features import require_opencv

FaceBox = tuple[int, int, int, int]
"""A face box (x, y, width, height) in pixels of the frame, as OpenCV's detectors return it."""

_CASCADE_FILE = "haarcascade_frontalface_default.xml"
# Frames are downscaled so that their shorter side is at most this many pixels before detection: faces in
# micro-expression recordings fill a large part of the frame, and detection cost grows with the area.
_DETECTION_SIDE = 240
_per_thread = threading.local()


def _cascade() -> cv2.CascadeClassifier:
    cascade = getattr(_per_thread, "cascade", None)
    if cascade is None:
        path = os.path.join(require_opencv("data.haarcascades", "face detection"), _CASCADE_FILE)
        cascade = require_opencv("CascadeClassifier", "face detection")(path)
        if cascade.empty():
            raise RuntimeError(
                f"OpenCV could not load its bundled face cascade {path}. Install opencv-contrib-python-headless"
                " >=4.10,<5 as the only OpenCV build (see the README section 'Preprocessing: from frames to flow')."
            )
        _per_thread.cascade = cascade
    return cascade


def detect_largest_face(gray: np.ndarray) -> FaceBox | None:
    """Box (x, y, w, h) of the largest frontal face in a 2-D grayscale frame (0..255), or None if there is none."""
    height, width = gray.shape
    scale = min(1.0, _DETECTION_SIDE / min(height, width))
    small = gray if scale == 1.0 else cv2.resize(gray, (round(width * scale), round(height * scale)),
                                                 interpolation=cv2.INTER_AREA)
    small = np.clip(np.rint(small), 0, 255).astype(np.uint8)
    min_side = max(24, min(small.shape) // 5)
    faces = _cascade().detectMultiScale(small, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side))
    if len(faces) == 0:
        return None
    x, y, w, h = max(faces, key=lambda box: int(box[2]) * int(box[3]))
    return (round(x / scale), round(y / scale), round(w / scale), round(h / scale))


def expand_box(box: FaceBox, margin: float, height: int, width: int) -> FaceBox:
    """Grow `box` by `margin` × its size on every side, then clip it to a `height`×`width` frame."""
    x, y, w, h = box
    left = max(0, int(round(x - margin * w)))
    top = max(0, int(round(y - margin * h)))
    right = min(width, int(round(x + w + margin * w)))
    bottom = min(height, int(round(y + h + margin * h)))
    return (left, top, right - left, bottom - top)


def check_box(box, height: int, width: int, name: str) -> FaceBox:
    """Validate a caller-supplied (x, y, w, h) box against a `height`×`width` frame; return it as ints."""
    try:
        x, y, w, h = (int(round(float(value))) for value in box)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: a face box must be 4 numbers (x, y, width, height), got {box!r}") from None
    if w < 8 or h < 8 or x < 0 or y < 0 or x + w > width or y + h > height:
        raise ValueError(f"{name}: face box (x={x}, y={y}, w={w}, h={h}) must lie inside the {width}x{height} frame "
                         "and be at least 8x8 px")
    return (x, y, w, h)


def crop(image: np.ndarray, box: FaceBox) -> np.ndarray:
    """The `box` region of `image` (rows y..y+h, columns x..x+w)."""
    x, y, w, h = box
    return image[y:y + h, x:x + w]

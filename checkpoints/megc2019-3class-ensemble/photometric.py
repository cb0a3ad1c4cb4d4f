"""Photometric alignment: give a frame the lighting of a reference frame before the flow is computed.

Why: optical flow assumes that a moving point keeps its brightness. A change of exposure, a flickering lamp or a
shadow drifting across the face breaks that assumption everywhere at once, and the flow explains the change as
motion: raising a still frame by one grey level gives TV-L1 a mean flow of about 0.1 px, more than a real lip-corner
pull. Lighting varies slowly across the face while facial motion is local, so the lighting difference between two
frames is modelled as a gain and an offset that vary linearly across the image (six numbers), fitted by least
squares on heavily smoothed copies of both frames (which facial motion of a pixel or two barely changes), and
removed from the frame. Two frames that differ only in such lighting become equal; texture, and therefore the flow
of real motion, is untouched.
"""

from __future__ import annotations

import cv2
import numpy as np

from .optical_flow import compute_optical_flow

_FIT_SIDE = 32
"""Both frames are area-averaged to at most this many pixels a side before the fit: smoothing removes sensor noise
and most of the local change a facial motion makes, and the fit stays cheap on large frames."""
_MIN_GAIN = 0.2
"""A fitted gain below this (the frame five times darker than the reference, or inverted) is not a lighting change
the frame can be corrected for; such frames are returned as they are."""


def _design(image: np.ndarray) -> np.ndarray:
    """The columns of the model frame ≈ (g0 + g1 x + g2 y) · reference + (o0 + o1 x + o2 y) at every pixel."""
    height, width = image.shape
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    xs, ys = (xs + 0.5) / width - 0.5, (ys + 0.5) / height - 0.5
    ones = np.ones_like(xs)
    return np.stack([image, image * xs, image * ys, ones, xs, ys], axis=-1).reshape(-1, 6)


def _small(image: np.ndarray) -> np.ndarray:
    height, width = image.shape
    scale = min(1.0, _FIT_SIDE / max(height, width))
    size = (max(2, round(width * scale)), max(2, round(height * scale)))
    return cv2.resize(image.astype(np.float32), size, interpolation=cv2.INTER_AREA).astype(np.float64)


def _sampled_back(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """`image` at x + flow(x): where each reference pixel moved to, i.e. the image with the motion undone."""
    ys, xs = np.mgrid[0:image.shape[0], 0:image.shape[1]].astype(np.float32)
    return cv2.remap(image, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _fit_and_apply(reference: np.ndarray, image: np.ndarray, fitted: np.ndarray) -> np.ndarray:
    """`image` corrected by the gain and offset fields that map `reference` onto `fitted` (see the module doc)."""
    coefficients, *_ = np.linalg.lstsq(_design(_small(reference)), _small(fitted).reshape(-1), rcond=None)
    height, width = image.shape
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    xs, ys = (xs + 0.5) / width - 0.5, (ys + 0.5) / height - 0.5
    g0, g1, g2, o0, o1, o2 = (float(value) for value in coefficients)
    gain = g0 + g1 * xs + g2 * ys
    if not np.isfinite(coefficients).all() or float(gain.min()) < _MIN_GAIN:
        return image.astype(np.float32)
    offset = o0 + o1 * xs + o2 * ys
    return ((image.astype(np.float32) - offset) / gain).astype(np.float32)


def match_lighting(reference: np.ndarray, image: np.ndarray, undo_motion: bool = False) -> np.ndarray:
    """`image` (2-D grayscale, 0..255, the shape of `reference`) with the lighting of `reference`, as float32.

    The gain and offset fields are fitted on copies of both frames smoothed to 32 px and applied at full resolution:
    `(image - offset(x, y)) / gain(x, y)`. The result is not clipped to 0..255, so that no pixel's brightness is
    changed beyond the fitted correction.

    With `undo_motion`, the fit is made a second time on the image sampled back along its flow from the reference
    (a fast DIS flow of the first fit's result): a motion large enough to change the smoothed frames — a face moving
    a pixel or two against a darker background — is then not taken for a change of lighting. Worth its cost where
    frames may differ by such motion (an onset and its apex), not between a frame and the resting face of a video.
    """
    if reference.shape != image.shape or reference.ndim != 2:
        raise ValueError(f"match_lighting needs two 2-D frames of one shape, got {reference.shape} and {image.shape}")
    matched = _fit_and_apply(reference, image, image)
    if not undo_motion:
        return matched
    flow = compute_optical_flow(reference, matched, "dis")
    return _fit_and_apply(reference, image, _sampled_back(image.astype(np.float32), flow))


__all__ = ["match_lighting"]

"""Onset→apex optical flow, optical strain and the 3-channel flow image EPIR reads.

Why: the micro-expression literature (STSTNet, HTNet, EPIR) feeds its networks the TV-L1 flow between the
onset and apex frames of a cropped face, plus the optical strain derived from it, stacked as (u, v, strain),
resized to 28×28 and min–max normalised per channel. Reproducing exactly that layout lets a model trained on
the public precomputed MEGC2019 composite PNGs and one fed raw frames see the same tensors.
All OpenCV solver objects are created per call (they are cheap), so nothing here holds global state.
"""

from __future__ import annotations

import cv2
import numpy as np

from .opencv_features import require_opencv

FLOW_METHODS = ("tvl1", "dis", "farneback")


def _check_pair(onset_gray: np.ndarray, apex_gray: np.ndarray) -> None:
    for name, image in (("onset_gray", onset_gray), ("apex_gray", apex_gray)):
        if not isinstance(image, np.ndarray) or image.ndim != 2:
            raise ValueError(f"{name} must be a 2-D grayscale numpy array, got "
                             f"{getattr(image, 'shape', type(image).__name__)}")
        if image.dtype != np.uint8 and not np.issubdtype(image.dtype, np.floating):
            raise ValueError(f"{name} must be uint8 or float (0..255), got dtype {image.dtype}")
        if min(image.shape) < 8:
            raise ValueError(f"{name} is {image.shape[1]}x{image.shape[0]} px; optical flow needs at least 8x8")
    if onset_gray.shape != apex_gray.shape:
        raise ValueError(f"onset_gray {onset_gray.shape} and apex_gray {apex_gray.shape} must have the same shape")


def compute_optical_flow(onset_gray: np.ndarray, apex_gray: np.ndarray, method: str = "tvl1") -> np.ndarray:
    """Dense flow from `onset_gray` to `apex_gray` as float32 `[H, W, 2]` = (u, v) in pixels.

    Both inputs are 2-D grayscale arrays of one shape, uint8 or float on the 0..255 scale. The flow follows
    OpenCV's convention: the onset pixel at x moves to x + flow(x) in the apex frame.

    Methods: `"tvl1"` (Dual TV-L1, OpenCV contrib; what the literature uses), `"dis"` (Dense Inverse Search,
    medium preset; ~50x faster, less accurate on small motions), `"farneback"` (polynomial expansion).
    """
    if method not in FLOW_METHODS:
        raise ValueError(f"flow method must be one of {FLOW_METHODS}, got {method!r}")
    _check_pair(onset_gray, apex_gray)
    onset = onset_gray.astype(np.float32)
    apex = apex_gray.astype(np.float32)
    if method == "tvl1":
        # OpenCV's TV-L1 reads float images on the 0..1 scale (it multiplies them by 255 internally);
        # passing floats rather than uint8 avoids re-quantising frames that were resized.
        solver = require_opencv("optflow.DualTVL1OpticalFlow_create", "TV-L1 optical flow")()
        flow = solver.calc(onset / 255.0, apex / 255.0, None)
    elif method == "dis":
        # DIS accepts 8-bit images only.
        solver = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        flow = solver.calc(_to_uint8(onset), _to_uint8(apex), None)
    else:
        flow = cv2.calcOpticalFlowFarneback(onset, apex, None, pyr_scale=0.5, levels=3, winsize=15,
                                            iterations=3, poly_n=5, poly_sigma=1.2, flags=0)
    return flow.astype(np.float32, copy=False)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def optical_strain(flow: np.ndarray) -> np.ndarray:
    """Optical strain magnitude sqrt(u_x² + v_y² + ½(u_y + v_x)²) of a `[H, W, 2]` flow, as float32 `[H, W]`.

    Spatial derivatives are central differences (one-sided at the borders), in pixel units.
    """
    if not isinstance(flow, np.ndarray) or flow.ndim != 3 or flow.shape[-1] != 2:
        raise ValueError(f"flow must be a [H, W, 2] array, got {getattr(flow, 'shape', type(flow).__name__)}")
    u = flow[..., 0].astype(np.float64)
    v = flow[..., 1].astype(np.float64)
    u_y, u_x = np.gradient(u)
    v_y, v_x = np.gradient(v)
    return np.sqrt(u_x**2 + v_y**2 + 0.5 * (u_y + v_x) ** 2).astype(np.float32)


def min_max_to_uint8(channels: np.ndarray) -> np.ndarray:
    """Min–max normalise each channel of a `[H, W, C]` array to 0..255 (uint8); a constant channel becomes 0."""
    channels = channels.astype(np.float64)
    low = channels.min(axis=(0, 1), keepdims=True)
    span = channels.max(axis=(0, 1), keepdims=True) - low
    scaled = np.divide(channels - low, span, out=np.zeros_like(channels), where=span > 0)
    return np.rint(scaled * 255.0).astype(np.uint8)


def resize_to(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize with area averaging when shrinking (no aliasing) and bilinear interpolation when enlarging."""
    if image.shape[:2] == (height, width):
        return image
    shrinking = height * width < image.shape[0] * image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def flow_to_image(flow: np.ndarray, height: int = 28, width: int = 28) -> np.ndarray:
    """The EPIR input layout of a flow: uint8 `[height, width, 3]` with channels (u, v, strain).

    Strain is computed at the flow's own resolution, then the three channels are resized to (height, width) and
    each is min–max normalised to 0..255 — the order of the public MEGC2019 composite release, whose PNGs
    PIL reads as R = u, G = v, B = strain.
    """
    stacked = np.dstack([flow[..., 0], flow[..., 1], optical_strain(flow)])
    return min_max_to_uint8(resize_to(stacked, height, width))

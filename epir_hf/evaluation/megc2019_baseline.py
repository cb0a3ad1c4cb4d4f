"""The LBP-χ²-distance spotting method of the MEGC2019 spotting paper: LBP feature difference and peak thresholding.

Why: a spotter's F1 on a long-video corpus means little without a classical method run on the very same face
crops. Li, Soladié, Séguier, Wang and Yap, "Spotting Micro-Expressions on Long Videos Sequences" (FG 2019,
arXiv:1812.10306), report the challenge's LTP-ML baseline and compare it with this LBP-χ²-distance method, the
feature difference (FD) analysis of Moilanen, Zhao and Pietikäinen, "Spotting rapid facial movements from videos
using appearance-based feature difference analysis" (ICPR 2014). The parameter values below are those of the
first author's public code for the challenge (github.com/jingtingEmmaLi/MEGC_spotting, folders `CAS(ME)2_LBP`
and `SAMM_LBP`).

Definition, for a video of n face crops at `fps` frames per second:

1. Each crop is resized to `size`×`size` and its uniform LBP codes (P = 8 neighbours on a circle of radius
   R = 3, the 59 non-rotation-invariant "u2" patterns) are computed; the crop's inner part (its R-pixel margin,
   where the circle leaves the image, is left out) is divided into a 6×6 grid of blocks, and each block gives a
   normalised 59-bin histogram.
2. The micro-expression interval is N = round(0.3 s × fps) + 1 frames and k = ⌈(N − 1) / 2⌉ (N = 10, k = 5 for
   CAS(ME)² at 30 fps; N = 61, k = 30 for SAMM at 200 fps). For frame i with k <= i < n − k, block b's
   difference is the χ² distance χ²(P, Q) = Σ_j (P_j − Q_j)² / (P_j + Q_j) between the current frame's histogram
   and the average of the tail (i − k) and head (i + k) frames' histograms.
3. FD_i is the mean of the M = 36 / 3 = 12 largest block differences. Frames within k of either end, which lack
   a tail or a head frame, take the FD of the nearest frame that has both.
4. The contrasted difference is C_i = FD_i − ½(FD_{i−k} + FD_{i+k}) for k <= i < n − k, and 0 elsewhere;
   negative values are set to 0.
5. The threshold is T = C_mean + p × (C_max − C_mean) over the whole video, with p = 0.05 for SAMM and 0.15 for
   CAS(ME)²; every peak of C above T (`scipy.signal.find_peaks`, peaks at least k frames apart) is spotted, and
   spotted peak i becomes the interval [i − k, i + k] (2k + 1 ≈ N frames, one micro-expression length).

Where this differs from the authors' code, and why: their 36 blocks are laid out from facial landmarks (a
nasal-spine point and the eye distance) on the rotated full frame and overlap by 20 % horizontally and 30 %
vertically; here the input is already an aligned face crop, which is divided into equal blocks without overlap,
and the LBP codes are computed once on the whole crop (so a block's border pixels see neighbours across the
block edge). Their code takes χ² from `pdist2(..., 'chisq')`, which some toolboxes halve; a constant factor scales
FD, C and T alike and spots the same frames. A video of fewer than 2k + 1 frames is a ValueError here, where their
code halves k. Their code marks every frame with C_i > T and merges the marked frames within fixed windows into
intervals; here each peak gives one interval of one micro-expression length, the unit that MEGC2019 scoring
matches with a ground-truth interval (a true positive overlaps it with IoU >= 0.5). As in their code, "above" is
strict (C_i > T), so p = 1 spots nothing.

The threshold is relative to each video: whenever C is not constant, its maximum exceeds T for every p < 1, so
at least one interval is spotted in every video, even one without any expression (the method assumes each long
video holds movements). A clip of identical frames gives FD = 0, C = 0 and spots nothing.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from typing import Any

import numpy as np
from scipy.signal import find_peaks
from skimage.feature import local_binary_pattern

from ..optical_flow import resize_to

ME_INTERVAL_S = 0.3
"""Typical micro-expression length in seconds from which N and k follow (300 ms in the authors' code)."""
GRID = 6
"""Blocks per side of the face grid (6×6 = 36 blocks)."""
LBP_POINTS = 8
LBP_RADIUS = 3
CROP_SIZE = 128
"""Side in pixels that every face crop is resized to before the LBP."""
THRESHOLD_P = {"SAMM": 0.05, "CAS(ME)2": 0.15}
"""The threshold parameter p of the authors' code per corpus."""


def _positive_number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _integer(value: Any, name: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low \
            or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be an integer {bound}, got {value!r}")
    return int(value)


def half_interval(fps: float, interval_s: float = ME_INTERVAL_S) -> int:
    """k = ⌈(N − 1) / 2⌉ frames for a micro-expression interval of N = round(interval_s × fps) + 1 frames."""
    fps, interval_s = _positive_number(fps, "fps"), _positive_number(interval_s, "interval_s")
    steps = math.floor(interval_s * fps + 0.5)
    if steps < 1:
        raise ValueError(f"interval_s × fps = {interval_s} × {fps} is under one frame; the feature difference "
                         "needs a micro-expression interval of at least 2 frames")
    return math.ceil(steps / 2)


def _check_length(num_frames: int, k: int) -> None:
    if num_frames < 2 * k + 1:
        raise ValueError(f"the feature difference needs at least 2k + 1 = {2 * k + 1} frames (k = {k}), "
                         f"got {num_frames}")


class LBPFeatureDifference:
    """Streams face crops in temporal order into the per-frame LBP feature difference FD (see the module docstring).

    Why a streaming class: a long video has thousands of frames; only the 2k + 1 latest crops' block histograms are
    kept, so memory is bounded by k, not by the video's length. Crops are given all at once (`feature_difference`)
    or one at a time as they are made (`start`, `add`, `finish`), e.g. beside another method reading the same crops.

    Args:
        fps: frame rate of the video.
        interval_s: typical micro-expression length in seconds; gives N and k (`half_interval`).
        grid: blocks per side of the face grid.
        size: side in pixels that crops are resized to.
        radius, points: the LBP circle's radius in pixels and its number of neighbours.
        top_blocks: M, the number of largest block differences averaged into FD; `grid² // 3` when None.
    """

    def __init__(self, fps: float, interval_s: float = ME_INTERVAL_S, grid: int = GRID, size: int = CROP_SIZE,
                 radius: int = LBP_RADIUS, points: int = LBP_POINTS, top_blocks: int | None = None):
        self.k = half_interval(fps, interval_s)
        self.grid = _integer(grid, "grid", 1)
        self.radius = _integer(radius, "radius", 1)
        self.points = _integer(points, "points", 1)
        self.size = _integer(size, "size", 2 * self.radius + self.grid)
        blocks = self.grid ** 2
        self.top_blocks = max(1, blocks // 3) if top_blocks is None else _integer(top_blocks, "top_blocks", 1, blocks)
        self.bins = self.points * (self.points - 1) + 3  # uniform patterns with their rotations, plus one other bin
        inner = self.size - 2 * self.radius
        rows = np.arange(inner) * self.grid // inner
        block_of_pixel = rows[:, None] * self.grid + rows[None, :]
        self._bin_offset = (block_of_pixel * self.bins).ravel()
        self._pixels_per_block = np.bincount(block_of_pixel.ravel(), minlength=blocks)[:, None].astype(np.float64)
        self.start()

    def block_histograms(self, crop: np.ndarray, index: int = 0) -> np.ndarray:
        """Normalised LBP histograms `[grid², bins]` of one 2-D grayscale face crop (0..255), row-major blocks."""
        if not isinstance(crop, np.ndarray) or crop.ndim != 2 or crop.size == 0:
            raise ValueError(f"face crop {index} must be a non-empty 2-D grayscale numpy array, got "
                             f"{getattr(crop, 'shape', type(crop).__name__)}")
        if crop.dtype != np.uint8:
            if not np.issubdtype(crop.dtype, np.floating):
                raise ValueError(f"face crop {index} must be uint8 or float (0..255), got dtype {crop.dtype}")
            if not np.isfinite(crop).all():
                raise ValueError(f"face crop {index} holds NaN or infinite values")
        if crop.shape != (self.size, self.size):
            crop = resize_to(crop.astype(np.float32, copy=False), self.size, self.size)
        # Integer grey levels, as the frames of the corpora are: LBP compares neighbours with >=, and float noise
        # far below one grey level would otherwise flip codes on flat skin.
        crop = np.clip(np.rint(crop), 0, 255).astype(np.uint8, copy=False)
        codes = local_binary_pattern(crop, self.points, self.radius, method="nri_uniform")
        r = self.radius
        inner = codes[r:-r, r:-r].astype(np.intp).ravel()
        counts = np.bincount(self._bin_offset + inner, minlength=self.grid ** 2 * self.bins)
        return counts.reshape(self.grid ** 2, self.bins) / self._pixels_per_block

    def _difference(self, tail: np.ndarray, current: np.ndarray, head: np.ndarray) -> float:
        average = 0.5 * (tail + head)
        total = current + average
        squared = (current - average) ** 2
        chi2 = np.divide(squared, total, out=np.zeros_like(squared), where=total > 0).sum(axis=1)
        return float(np.partition(chi2, -self.top_blocks)[-self.top_blocks:].mean())

    def start(self) -> None:
        """Forget the crops of a previous video: the next `add` starts a new one."""
        self._window: deque[np.ndarray] = deque(maxlen=2 * self.k + 1)
        self._values: list[float] = []
        self._first_shape = None
        self._count = 0

    def add(self, crop: np.ndarray) -> None:
        """The next face crop of the video (all crops of a video share one shape; uint8 or float, 0..255)."""
        if self._count == 0:
            self._first_shape = getattr(crop, "shape", None)
        elif getattr(crop, "shape", None) != self._first_shape:
            raise ValueError(f"face crop {self._count} has shape {getattr(crop, 'shape', type(crop).__name__)}, "
                             f"but crop 0 has shape {self._first_shape}; all crops of a video must share one shape")
        self._window.append(self.block_histograms(crop, self._count))
        self._count += 1
        if len(self._window) == self._window.maxlen:
            self._values.append(self._difference(self._window[0], self._window[self.k], self._window[-1]))

    def finish(self) -> np.ndarray:
        """The FD signal (float64, one value per crop added since `start`). Frames within k of either end take the FD
        of the nearest frame that has both a tail and a head frame; fewer than 2k + 1 crops is a ValueError."""
        _check_length(self._count, self.k)
        return np.pad(np.asarray(self._values, dtype=np.float64), self.k, mode="edge")

    def feature_difference(self, crops: Iterable[np.ndarray]) -> np.ndarray:
        """The FD signal of face crops given in temporal order (`start`, `add` each, `finish`)."""
        self.start()
        for crop in crops:
            self.add(crop)
        return self.finish()


def contrasted_difference(signal: np.ndarray, k: int) -> np.ndarray:
    """C_i = FD_i − ½(FD_{i−k} + FD_{i+k}) for k <= i < n − k, 0 elsewhere, negative values set to 0."""
    signal, k = _check_signal(signal, k)
    contrast = np.zeros_like(signal)
    contrast[k:-k] = signal[k:-k] - 0.5 * (signal[:-2 * k] + signal[2 * k:])
    return np.maximum(contrast, 0.0)


def _check_signal(signal: Any, k: Any) -> tuple[np.ndarray, int]:
    k = _integer(k, "k", 1)
    array = np.asarray(signal, dtype=np.float64) if isinstance(signal, (np.ndarray, list, tuple)) else None
    if array is None or array.ndim != 1:
        raise ValueError(f"signal must be a 1-D array of per-frame values, got "
                         f"{getattr(signal, 'shape', type(signal).__name__)}")
    if not np.isfinite(array).all():
        raise ValueError("signal holds NaN or infinite values")
    _check_length(len(array), k)
    return array, k


def threshold(contrast: np.ndarray, p: float) -> float:
    """T = C_mean + p × (C_max − C_mean)."""
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be a number in [0, 1], got {p!r}")
    mean = float(np.mean(contrast))
    return mean + float(p) * (float(np.max(contrast)) - mean)


def spot(signal: np.ndarray, p: float, k: int) -> list[tuple[int, int, int]]:
    """Spotted intervals (onset, peak, offset), inclusive frame indices, of a feature-difference signal.

    Every peak of the contrasted difference above T (strictly), at least k frames from a higher one, gives
    [peak − k, peak + k]; such intervals lie inside the video since C is 0 within k of either end.
    """
    contrast = contrasted_difference(signal, k)
    level = threshold(contrast, p)
    k = int(k)
    peaks, _ = find_peaks(contrast, distance=k)
    return [(int(peak) - k, int(peak), int(peak) + k) for peak in peaks if contrast[peak] > level]


__all__ = ["CROP_SIZE", "GRID", "LBP_POINTS", "LBP_RADIUS", "ME_INTERVAL_S", "THRESHOLD_P", "LBPFeatureDifference",
           "contrasted_difference", "half_interval", "spot", "threshold"]

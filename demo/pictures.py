"""The demo's pictures: RGB uint8 arrays drawn from what the pipelines return, for people to look at.

Why these: a person judging a prediction wants to see where the face was found, which two frames were compared,
how the face moved between them (the flow as a colour wheel: hue = direction, brightness = length, which the model's
min–max scaled flow image cannot show), where it was stretched (optical strain), which patches EPIR's dynamic token
selection kept, and, for a video, the motion over time with the events the spotter found in it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from epir_hf.optical_flow import optical_strain
from epir_hf.spotting import SpottingThresholds

SIDE = 256  # px of the face pictures
USED, OTHER = (40, 200, 60), (250, 200, 40)  # the face box used, other faces found
KEPT = np.array([255, 140, 0], np.float32)
MICRO_COLOUR, MACRO_COLOUR = "tab:orange", "tab:blue"
BRIGHTEST_PERCENTILE = 99


def as_uint8(gray: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(gray), 0, 255).astype(np.uint8)


def _rgb(gray: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(as_uint8(gray), cv2.COLOR_GRAY2RGB)


def framed_face(frame: np.ndarray, box: Sequence[int] | None, others: Sequence[Sequence[int]] = ()) -> np.ndarray:
    """The whole frame with the face box used (green) and any other face found (yellow)."""
    picture = _rgb(frame)
    thickness = max(2, round(min(picture.shape[:2]) / 200))
    for candidate in others:
        if box is None or list(candidate) != list(box):
            x, y, w, h = candidate
            cv2.rectangle(picture, (x, y), (x + w - 1, y + h - 1), OTHER, thickness)
    if box is not None:
        x, y, w, h = box
        cv2.rectangle(picture, (x, y), (x + w - 1, y + h - 1), USED, thickness)
    return picture


def face_crop(frame: np.ndarray, box: Sequence[int] | None) -> np.ndarray:
    """The face box of `frame` (the whole frame without one), SIDE px high."""
    if box is not None:
        x, y, w, h = box
        frame = frame[y:y + h, x:x + w]
    width = max(1, round(frame.shape[1] * SIDE / frame.shape[0]))
    return _rgb(cv2.resize(frame, (width, SIDE), interpolation=cv2.INTER_LINEAR))


def _wheel(flow: np.ndarray, scale: float) -> np.ndarray:
    """HSV colour wheel of a (u, v) flow: hue = direction, brightness = length / `scale` (clipped at 1)."""
    length, angle = cv2.cartToPolar(flow[..., 0], flow[..., 1], angleInDegrees=True)
    hsv = np.dstack([angle / 2.0, np.full_like(angle, 255.0), np.clip(length / scale, 0.0, 1.0) * 255.0])
    return cv2.cvtColor(np.rint(hsv).astype(np.uint8), cv2.COLOR_HSV2RGB)


def _bright(values: np.ndarray) -> float:
    """The value drawn at full brightness: the 99th percentile, so that a few pixels at the crop's border (where the
    flow of an aligned face is least reliable) do not darken the face's own motion."""
    return max(float(np.percentile(values, BRIGHTEST_PERCENTILE)), 1e-6)


def flow_colours(flow: np.ndarray) -> tuple[np.ndarray, float]:
    """The flow as a colour wheel, SIDE px, with the wheel as a key in its corner; and the length (px of the face
    crop the flow was computed on) drawn at full brightness."""
    scale = _bright(np.hypot(flow[..., 0], flow[..., 1]))
    picture = cv2.resize(_wheel(flow.astype(np.float32), scale), (SIDE, SIDE), interpolation=cv2.INTER_LINEAR)
    radius = SIDE // 10
    ys, xs = np.mgrid[-radius:radius + 1, -radius:radius + 1].astype(np.float32)
    key = _wheel(np.dstack([xs, ys]), radius)
    inside = np.hypot(xs, ys) <= radius
    corner = picture[SIDE - 2 * radius - 5:SIDE - 4, SIDE - 2 * radius - 5:SIDE - 4]
    corner[inside] = key[inside]
    return picture, scale


def strain_picture(flow: np.ndarray) -> tuple[np.ndarray, float]:
    """Optical strain of the flow (magma), SIDE px; and the strain drawn at full brightness."""
    strain = optical_strain(flow)
    peak = _bright(strain)
    coloured = colormaps["magma"](np.clip(strain / peak, 0.0, 1.0))[..., :3]
    return cv2.resize(as_uint8(coloured * 255.0), (SIDE, SIDE), interpolation=cv2.INTER_LINEAR), peak


def kept_patches(face: np.ndarray, token_map: np.ndarray, grid: int) -> np.ndarray:
    """The apex face with the patches DTSM kept tinted orange and the others dimmed, on the model's patch grid."""
    face = cv2.resize(face, (SIDE, SIDE), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    kept = cv2.resize(token_map, (SIDE, SIDE), interpolation=cv2.INTER_NEAREST)[..., None] > 0.5
    gray = np.repeat(face[..., None], 3, axis=2)
    picture = np.where(kept, 0.6 * gray + 0.4 * KEPT, 0.35 * gray)
    picture = as_uint8(picture)
    for line in range(1, grid):
        at = round(line * SIDE / grid)
        picture[at, :] = picture[:, at] = (90, 90, 90)
    return picture


def motion_curve(spotting: dict[str, Any], shown: int | None) -> np.ndarray:
    """The spotter's motion signal over time with its peak threshold and the events it found (micro orange, macro
    blue; the one shown outlined), as an RGB picture."""
    start, _ = spotting["window"]
    fps = spotting["fps"]
    signal = np.array([np.nan if value is None else value for value in spotting["motion"]], np.float64)
    seconds = (start + np.arange(len(signal))) / fps
    figure = Figure(figsize=(9.0, 2.8), dpi=100)
    FigureCanvasAgg(figure)
    axis = figure.add_subplot()
    axis.plot(seconds, signal, color="black", linewidth=1.0, label="motion")
    axis.axhline(SpottingThresholds().peak, color="gray", linestyle="--", linewidth=1.0, label="peak threshold")
    top = np.nanmax(signal) if np.isfinite(signal).any() else SpottingThresholds().peak
    for number, event in enumerate(spotting["events"]):
        micro = event["kind"] == "micro"
        axis.axvspan(event["start_time"], event["end_time"], facecolor=MICRO_COLOUR if micro else MACRO_COLOUR,
                     alpha=0.3, linewidth=2.0 if number == shown else 0.0, edgecolor="black")
        label = event["predictions"][0]["label"] if "predictions" in event else event["kind"]
        axis.annotate(f"{number + 1}: {label}", (event["start_time"], 1.01), xycoords=axis.get_xaxis_transform(),
                      fontsize=8, va="bottom", annotation_clip=False)  # just above the plot, clear of the curve
    axis.plot([], [], color=MICRO_COLOUR, linewidth=6, alpha=0.4, label="micro-expression")
    axis.plot([], [], color=MACRO_COLOUR, linewidth=6, alpha=0.4, label="macro-expression")
    axis.set_xlabel("time (s)")
    axis.set_ylabel("motion (z-score)")
    axis.set_ylim(bottom=min(0.0, np.nanmin(signal) if np.isfinite(signal).any() else 0.0), top=top * 1.05)
    axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)  # beside, not over, events
    figure.tight_layout()
    figure.canvas.draw()
    return np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()

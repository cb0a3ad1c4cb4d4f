"""Procedurally drawn faces with action-unit-like micro-motions.

Why: the real micro-expression corpora are licensed and cannot ship with the project, yet the
quickstart, CI, the examples and the processor's flow-accuracy test need faces whose motion is
known exactly. Every face is drawn from a handful of geometric parameters (the "subject"),
textured so that optical flow is well-posed on the skin, and lit by a smooth gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Sub-pixel drawing precision for cv2 primitives (coordinates are scaled by 2**_SHIFT).
_SHIFT = 4
_SCALE = 1 << _SHIFT


@dataclass(frozen=True)
class FaceGeometry:
    """Where the facial parts of one synthetic subject sit, in units of the image size."""

    center: tuple[float, float]
    head_axes: tuple[float, float]
    eye_y: float
    eye_dx: float
    eye_axes: tuple[float, float]
    brow_gap: float
    brow_length: float
    brow_thickness: float
    nose_tip_y: float
    nose_width: float
    mouth_y: float
    mouth_half_width: float
    lip_thickness: float
    cheek_offset: tuple[float, float]
    skin: float
    background: float
    light_angle: float
    light_strength: float


def sample_geometry(rng: np.random.Generator) -> FaceGeometry:
    """Draw one subject's face geometry; every subject differs in proportions, tone and lighting."""
    cx = 0.5 + rng.normal(0.0, 0.01)
    cy = 0.52 + rng.normal(0.0, 0.01)
    return FaceGeometry(
        center=(cx, cy),
        head_axes=(rng.uniform(0.33, 0.40), rng.uniform(0.42, 0.47)),
        eye_y=cy - rng.uniform(0.08, 0.12),
        eye_dx=rng.uniform(0.13, 0.16),
        eye_axes=(rng.uniform(0.055, 0.075), rng.uniform(0.025, 0.035)),
        brow_gap=rng.uniform(0.065, 0.085),
        brow_length=rng.uniform(0.12, 0.15),
        brow_thickness=rng.uniform(0.016, 0.024),
        nose_tip_y=cy + rng.uniform(0.06, 0.09),
        nose_width=rng.uniform(0.045, 0.065),
        mouth_y=cy + rng.uniform(0.19, 0.23),
        mouth_half_width=rng.uniform(0.09, 0.12),
        lip_thickness=rng.uniform(0.018, 0.026),
        cheek_offset=(rng.uniform(0.17, 0.21), rng.uniform(0.10, 0.14)),
        skin=rng.uniform(135.0, 175.0),
        background=rng.uniform(35.0, 75.0),
        light_angle=rng.uniform(0.0, 2.0 * np.pi),
        light_strength=rng.uniform(0.08, 0.2),
    )


def _pt(x: float, y: float, size: int) -> tuple[int, int]:
    return int(round(x * size * _SCALE)), int(round(y * size * _SCALE))


def _axes(a: float, b: float, size: int) -> tuple[int, int]:
    return max(1, int(round(a * size * _SCALE))), max(1, int(round(b * size * _SCALE)))


def _ellipse(canvas, center, axes, value, size, thickness=-1, angle=0.0, arc=(0, 360)) -> None:
    thick = thickness if thickness < 0 else max(1, int(round(thickness * size)))
    cv2.ellipse(canvas, _pt(*center, size), _axes(*axes, size), angle, arc[0], arc[1], float(value),
                thick, cv2.LINE_AA, _SHIFT)


def _smooth_noise(rng: np.random.Generator, size: int, sigma: float, amplitude: float) -> np.ndarray:
    """Band-limited noise: white noise blurred to `sigma` px, rescaled to unit std times `amplitude`."""
    noise = cv2.GaussianBlur(rng.standard_normal((size, size)).astype(np.float32), (0, 0), sigma)
    return noise * (amplitude / (noise.std() + 1e-6))


def render_face(geometry: FaceGeometry, rng: np.random.Generator, size: int = 128) -> np.ndarray:
    """Render `geometry` to a float32 image in 0..255 (texture drawn from `rng`, no sensor noise)."""
    g = geometry
    canvas = np.full((size, size), g.background, np.float32)
    cx, cy = g.center
    _ellipse(canvas, g.center, g.head_axes, g.skin, size)
    # Hair line: a darker cap over the top of the head.
    _ellipse(canvas, (cx, cy - 0.02), (g.head_axes[0] * 1.02, g.head_axes[1] * 1.02), g.background * 0.8,
             size, thickness=0.06, arc=(200, 340))
    for side in (-1.0, 1.0):
        ex = cx + side * g.eye_dx
        # Cheeks: broad, slightly brighter blobs (they move with AU6).
        _ellipse(canvas, (cx + side * g.cheek_offset[0], g.eye_y + g.cheek_offset[1]), (0.07, 0.05),
                 g.skin + 14.0, size)
        # Eye: socket shadow, sclera, iris, pupil.
        _ellipse(canvas, (ex, g.eye_y), (g.eye_axes[0] * 1.35, g.eye_axes[1] * 1.9), g.skin - 25.0, size)
        _ellipse(canvas, (ex, g.eye_y), g.eye_axes, 225.0, size)
        _ellipse(canvas, (ex, g.eye_y), (g.eye_axes[1] * 0.95, g.eye_axes[1] * 0.95), 80.0, size)
        _ellipse(canvas, (ex, g.eye_y), (g.eye_axes[1] * 0.45, g.eye_axes[1] * 0.45), 20.0, size)
        # Brow: a thick arc above the eye, inner end lower than the outer end.
        _ellipse(canvas, (ex, g.eye_y - g.brow_gap + 0.03), (g.brow_length / 2, 0.035), g.skin - 90.0, size,
                 thickness=g.brow_thickness, arc=(200, 340), angle=side * 4.0)
        # Nostril.
        _ellipse(canvas, (cx + side * g.nose_width * 0.55, g.nose_tip_y), (0.014, 0.009), g.skin - 70.0, size)
    # Nose bridge: a soft shadow line and a brighter tip.
    cv2.line(canvas, _pt(cx - 0.012, g.eye_y + 0.02, size), _pt(cx - g.nose_width * 0.4, g.nose_tip_y - 0.02, size),
             float(g.skin - 30.0), max(1, int(0.012 * size)), cv2.LINE_AA, _SHIFT)
    _ellipse(canvas, (cx, g.nose_tip_y - 0.01), (g.nose_width * 0.45, 0.022), g.skin + 18.0, size)
    # Mouth: upper and lower lip, dark line between them.
    mw, lt = g.mouth_half_width, g.lip_thickness
    _ellipse(canvas, (cx, g.mouth_y - lt * 0.5), (mw, lt), g.skin - 45.0, size, arc=(180, 360))
    _ellipse(canvas, (cx, g.mouth_y + lt * 0.2), (mw * 0.9, lt * 1.3), g.skin - 35.0, size, arc=(0, 180))
    cv2.line(canvas, _pt(cx - mw, g.mouth_y, size), _pt(cx + mw, g.mouth_y, size), float(g.skin - 100.0),
             max(1, int(0.01 * size)), cv2.LINE_AA, _SHIFT)
    # Skin texture at two scales (pores / blotches) so that flow is well-posed on flat skin.
    scale = size / 128.0
    canvas += _smooth_noise(rng, size, 1.0 * scale, 9.0) + _smooth_noise(rng, size, 3.0 * scale, 7.0)
    # Smooth directional lighting plus a soft radial fall-off.
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size
    direction = (xs - cx) * np.cos(g.light_angle) + (ys - cy) * np.sin(g.light_angle)
    radial = ((xs - cx) / g.head_axes[0]) ** 2 + ((ys - cy) / g.head_axes[1]) ** 2
    canvas *= (1.0 + g.light_strength * 2.0 * direction) * (1.0 - 0.12 * np.clip(radial, 0.0, 1.5))
    canvas = cv2.GaussianBlur(canvas, (0, 0), 0.6 * scale)
    return np.clip(canvas, 0.0, 255.0)


def draw_face(rng: np.random.Generator, size: int = 128) -> np.ndarray:
    """A random subject's face as a uint8 `size`x`size` grayscale image (deterministic given `rng`)."""
    if size < 32:
        raise ValueError(f"draw_face needs size >= 32 to draw facial parts, got {size}")
    geometry = sample_geometry(rng)
    return np.round(render_face(geometry, rng, size)).astype(np.uint8)

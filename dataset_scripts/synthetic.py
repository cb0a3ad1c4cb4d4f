"""Procedurally drawn faces with action-unit-like micro-motions.

Why: the real micro-expression corpora are licensed and cannot ship with the project, yet the
quickstart, CI, the examples and the processor's flow-accuracy test need faces whose motion is
known exactly. Every face is drawn from a handful of geometric parameters (the "subject"),
textured so that optical flow is well-posed on the skin, and lit by a smooth gradient.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
from datasets import Features, List, Value

from .samples import core_features

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


# --------------------------------------------------------------------------------------------
# Action-unit-like micro-motions and the synthetic corpus
# --------------------------------------------------------------------------------------------

SYNTHETIC_CLASSES = ("negative", "positive", "surprise")
# Amplitudes are specified for a 128 px face and scaled with the image size.
_REFERENCE_SIZE = 128.0
MAX_DISPLACEMENT = 2.0


@dataclass(frozen=True)
class Bump:
    """A Gaussian-weighted local translation: the muscle pull of one action unit, in pixels."""

    x: float
    y: float
    sigma: float
    dx: float
    dy: float


def action_unit_bumps(geometry: FaceGeometry, emotion: str, size: int, amplitude: float,
                      asymmetry: float = 1.0) -> list[Bump]:
    """The local motions of `emotion` on `geometry`, with peak amplitude `amplitude` px.

    surprise: AU1+2 brow raise and AU5 upper-lid raise (eye widening);
    positive: AU12 lip-corner pull and AU6 cheek raise;
    negative: AU4 brow lowering (down and towards the midline) and AU24 lip press.
    `asymmetry` scales the motion on the subject's left side (real micro-expressions are rarely
    symmetric).
    """
    g, s, a = geometry, float(size), amplitude
    cx = g.center[0] * s
    brow_y = (g.eye_y - g.brow_gap) * s
    bumps: list[Bump] = []
    for side in (-1.0, 1.0):
        k = a * (asymmetry if side < 0 else 1.0)
        ex = (g.center[0] + side * g.eye_dx) * s
        if emotion == "surprise":
            bumps.append(Bump(ex, brow_y, 0.06 * s, 0.0, -k))
            bumps.append(Bump(ex, (g.eye_y - g.eye_axes[1]) * s, 0.03 * s, 0.0, -0.6 * k))
            bumps.append(Bump(ex, (g.eye_y + g.eye_axes[1]) * s, 0.025 * s, 0.0, 0.25 * k))
        elif emotion == "positive":
            bumps.append(Bump(cx + side * g.mouth_half_width * s, g.mouth_y * s, 0.045 * s, side * 0.55 * k, -0.8 * k))
            bumps.append(Bump(cx + side * g.cheek_offset[0] * s, (g.eye_y + g.cheek_offset[1]) * s, 0.06 * s,
                              0.0, -0.6 * k))
        elif emotion == "negative":
            inner = ex - side * 0.3 * g.brow_length * s
            bumps.append(Bump(inner, brow_y, 0.05 * s, -side * 0.45 * k, 0.8 * k))
        else:
            raise ValueError(f"unknown synthetic emotion {emotion!r}; expected one of {SYNTHETIC_CLASSES}")
    if emotion == "negative":
        lip = g.lip_thickness * s
        bumps.append(Bump(cx, g.mouth_y * s - lip, 0.04 * s, 0.0, 0.5 * a))
        bumps.append(Bump(cx, g.mouth_y * s + 1.5 * lip, 0.04 * s, 0.0, -0.5 * a))
    return bumps


def displacement_field(bumps: list[Bump], size: int, offset: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Sum the bumps into a smooth float32 [size, size, 2] field (dx, dy); centres shifted by `offset`."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    field = np.zeros((size, size, 2), np.float32)
    for b in bumps:
        weight = np.exp(-((xs - b.x - offset[0]) ** 2 + (ys - b.y - offset[1]) ** 2) / (2.0 * b.sigma ** 2))
        field[..., 0] += b.dx * weight
        field[..., 1] += b.dy * weight
    return field


@dataclass(frozen=True)
class SyntheticPair:
    """One onset/apex pair and the displacement that maps one onto the other: apex(x) = onset(x - d(x))."""

    onset: np.ndarray
    apex: np.ndarray
    displacement: np.ndarray
    face_box: tuple[int, int, int, int]  # (x, y, w, h) of the head oval in the onset frame


def _rigid_jitter(size: int, rng: np.random.Generator, max_degrees: float = 0.4,
                  max_shift: float = 0.4) -> np.ndarray:
    """Small head motion between onset and apex: rotation <= `max_degrees` and translation <= `max_shift` px (at
    128 px; scaled with the size)."""
    scale = size / _REFERENCE_SIZE
    theta = np.deg2rad(rng.uniform(-max_degrees, max_degrees))
    t = rng.uniform(-max_shift, max_shift, 2) * scale
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    xc, yc = xs - size / 2.0, ys - size / 2.0
    dx = np.cos(theta) * xc - np.sin(theta) * yc - xc + t[0]
    dy = np.sin(theta) * xc + np.cos(theta) * yc - yc + t[1]
    return np.stack([dx, dy], axis=-1).astype(np.float32)


def _head_mask(geometry: FaceGeometry, size: int, placement: tuple[float, float]) -> np.ndarray:
    """1 on the head oval (shifted by `placement`), 0 on the background, feathered over about 1 px at 128 px so the
    warp stays continuous."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    cx, cy = geometry.center[0] * size + placement[0], geometry.center[1] * size + placement[1]
    inside = ((xs - cx) / (geometry.head_axes[0] * size)) ** 2 + ((ys - cy) / (geometry.head_axes[1] * size)) ** 2
    mask = (inside <= 1.0).astype(np.float32)
    return cv2.GaussianBlur(mask, (0, 0), size / _REFERENCE_SIZE)


def _add_sensor_noise(image: np.ndarray, rng: np.random.Generator, gain: float | np.ndarray) -> np.ndarray:
    noisy = image * gain + rng.normal(0.0, 1.5, image.shape).astype(np.float32)
    return np.round(np.clip(noisy, 0.0, 255.0)).astype(np.uint8)


@dataclass(frozen=True)
class Nuisances:
    """What changes between onset and apex besides the facial action: head motion (degrees and px at 128 px), and
    an apex lit by a smooth gradient of up to `illumination` relative change (0: only a global gain of ±0.5 %).
    With `still_background` the head motion moves the head oval only, as a fixed camera sees a moving head: the
    face's outline then moves against the background, which leaves strain along it; otherwise the whole frame moves."""

    head_degrees: float = 0.4
    head_shift: float = 0.4
    illumination: float = 0.0
    still_background: bool = False


def make_pair(geometry: FaceGeometry, base: np.ndarray, emotion: str, rng: np.random.Generator,
              amplitude: float) -> SyntheticPair:
    """Render an onset/apex pair of the subject (`geometry`, pre-rendered `base`) showing `emotion`."""
    size = base.shape[0]
    scale = size / _REFERENCE_SIZE
    placement = tuple(rng.uniform(-2.0, 2.0, 2) * scale)
    bumps = action_unit_bumps(geometry, emotion, size, amplitude * scale, asymmetry=rng.uniform(0.6, 1.0))
    return warp_pair(geometry, base, bumps, placement, rng)


def warp_pair(geometry: FaceGeometry, base: np.ndarray, bumps: list[Bump], placement: tuple[float, float],
              rng: np.random.Generator, nuisances: Nuisances = Nuisances(),
              nuisance_bumps: tuple[Bump, ...] = ()) -> SyntheticPair:
    """The onset/apex pair of `bumps` (the facial action, in px of this size) on the subject's `base` face.

    The onset is the base face shifted by `placement`; the apex warps the onset by the bumps' field (peak bounded by
    MAX_DISPLACEMENT) plus a small rigid head motion, applied with one `cv2.remap` from the base so both frames are
    interpolated exactly once. Independent sensor noise is added to each frame. `nuisance_bumps` (e.g. a gaze shift)
    are added like the head motion: after the action's bound and without the centre jitter, which models where a
    muscle pulls, so they neither rescale the action nor change the random draws of the rest of the pair.
    """
    size = base.shape[0]
    scale = size / _REFERENCE_SIZE
    # Centres of the action units jitter a little from sample to sample.
    jitter = rng.normal(0.0, 0.01 * size, (len(bumps), 2))
    bumps = [Bump(b.x + j[0], b.y + j[1], b.sigma, b.dx, b.dy) for b, j in zip(bumps, jitter)]
    field = displacement_field(bumps, size, placement)
    peak = float(np.hypot(field[..., 0], field[..., 1]).max())
    if peak > MAX_DISPLACEMENT * scale:
        field *= MAX_DISPLACEMENT * scale / peak
    head_motion = _rigid_jitter(size, rng, nuisances.head_degrees, nuisances.head_shift)
    if nuisances.still_background:
        head_motion *= _head_mask(geometry, size, placement)[..., None]
    displacement = field + head_motion
    if nuisance_bumps:
        displacement += displacement_field(list(nuisance_bumps), size, placement)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    map_x, map_y = xs - np.float32(placement[0]), ys - np.float32(placement[1])
    onset = cv2.remap(base, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    apex = cv2.remap(base, map_x - displacement[..., 0], map_y - displacement[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REFLECT101)
    gains = rng.uniform(0.995, 1.005, 2)
    apex_gain = gains[1]
    if nuisances.illumination > 0:
        angle = rng.uniform(0.0, 2.0 * np.pi)
        ramp = (np.cos(angle) * (xs - size / 2) + np.sin(angle) * (ys - size / 2)) / (size / 2)
        apex_gain = gains[1] * (1.0 + nuisances.illumination * rng.uniform(-1.0, 1.0) * ramp)
    half_w, half_h = geometry.head_axes[0] * size, geometry.head_axes[1] * size
    x0 = geometry.center[0] * size + placement[0] - half_w
    y0 = geometry.center[1] * size + placement[1] - half_h
    left, top = max(0, int(round(x0))), max(0, int(round(y0)))
    right, bottom = min(size, int(round(x0 + 2 * half_w))), min(size, int(round(y0 + 2 * half_h)))
    box = (left, top, right - left, bottom - top)
    return SyntheticPair(_add_sensor_noise(onset, rng, gains[0]), _add_sensor_noise(apex, rng, apex_gain),
                         displacement, box)


@dataclass(frozen=True)
class GeneratedSubject:
    """One drawn subject: its name, face geometry, rendered face, expressiveness (peak px at 128 px) and the
    order in which its samples' classes are dealt."""

    name: str
    geometry: FaceGeometry
    base: np.ndarray
    expressiveness: float
    order: np.ndarray


def generated_subjects(num_subjects: int, samples_per_subject: int, seed: int, image_size: int,
                       name_format: str) -> Iterator[tuple[int, GeneratedSubject]]:
    """Yield (i, subject) for the subjects of a generated corpus; subject `i` draws from a generator seeded by
    (seed, i), so it does not depend on how many subjects or samples come before it."""
    for i in range(num_subjects):
        rng = np.random.default_rng([seed, i])
        geometry = sample_geometry(rng)
        base = render_face(geometry, rng, image_size)
        expressiveness = rng.uniform(1.1, 1.9)
        yield i, GeneratedSubject(name_format.format(i + 1), geometry, base, expressiveness,
                                  rng.permutation(samples_per_subject))


def synthetic_samples(num_subjects: int = 8, samples_per_subject: int = 12, seed: int = 0,
                      image_size: int = 128):
    """Yield synthetic micro-expression samples as dicts (uint8 frames, not yet encoded).

    Every subject has its own geometry, skin texture, lighting and expressiveness (peak amplitude
    1.1-1.9 px); classes are balanced within a subject and shuffled. Subject `i` and sample `k`
    draw from independent generators seeded by (seed, i) and (seed, i, k), so a corpus is
    deterministic per seed and growing it keeps the existing samples unchanged.
    """
    for i, person in generated_subjects(num_subjects, samples_per_subject, seed, image_size, "synth{:02d}"):
        subject, geometry, base = person.name, person.geometry, person.base
        expressiveness, order = person.expressiveness, person.order
        for k in range(samples_per_subject):
            emotion = SYNTHETIC_CLASSES[int(order[k]) % len(SYNTHETIC_CLASSES)]
            rng = np.random.default_rng([seed, i, k])
            pair = make_pair(geometry, base, emotion, rng, expressiveness * rng.uniform(0.75, 1.1))
            yield {
                "sample_id": f"{subject}_{k:03d}",
                "subject": subject,
                "emotion": emotion,
                "onset": pair.onset,
                "apex": pair.apex,
                "face_box": pair.face_box,
            }


class SyntheticCorpus:
    """The built-in corpus for `load_me_dataset("synthetic", ...)`: same core features as the real
    loaders, plus `face_box` ((x, y, w, h) of the head oval in the onset frame, the box convention of
    `EPIRImageProcessor(face_boxes=...)`, so the drawn faces need no face detector)."""

    name = "synthetic"

    def __init__(self, num_subjects: int = 8, samples_per_subject: int = 12, seed: int = 0,
                 image_size: int = 128) -> None:
        for key, value, low in (("num_subjects", num_subjects, 1), ("samples_per_subject", samples_per_subject, 1),
                                ("image_size", image_size, 32)):
            if not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{self.name} {key} must be an integer >= {low}, got {value!r}")
        self.arguments = {"num_subjects": int(num_subjects), "samples_per_subject": int(samples_per_subject),
                          "seed": int(seed), "image_size": int(image_size)}

    def identity(self) -> dict:
        return dict(self.arguments)

    def plan(self, task, strict: bool) -> dict:
        return dict(self.arguments)

    def features(self, task) -> Features:
        features = core_features(task.class_names)
        features["face_box"] = List(Value("int32"), length=4)
        return features

    @classmethod
    def generate(cls, plan: dict):
        for sample in cls.samples(**plan):
            yield {**sample, "dataset": cls.name, "label": sample["emotion"],
                   "onset": {"bytes": _png(sample["onset"]), "path": None},
                   "apex": {"bytes": _png(sample["apex"]), "path": None},
                   "onset_frame": 0, "apex_frame": 1}

    samples = staticmethod(synthetic_samples)


def _png(image: np.ndarray) -> bytes:
    ok, buffer = cv2.imencode(".png", image)
    if not ok:
        raise RuntimeError("OpenCV could not encode a synthetic frame as PNG")
    return buffer.tobytes()

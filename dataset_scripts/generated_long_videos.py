"""Generated long videos for micro-expression spotting: minutes of a face at rest with a few known expressions.

Why: spotting is evaluated on long recordings (CAS(ME)², SAMM Long Videos), which are licensed. These videos need
none: each is a face of `synthetic.py` (or, with `faces="real"`, a real face crop of the MEGC2019 composite) in a
larger frame, moved by the action-unit fields of `action_units.py`, with the nuisances that make spotting hard in
real recordings, each recorded in its own column so that an evaluation can count the false positives it causes.

What a video holds (`load_me_dataset("synthetic_long", ...)`, rows in `LONG_VIDEO_FEATURES` plus the columns of
`SyntheticLongVideos.features`):

- the face: a drawn subject (head oval on a textured, lit "room" background with a static torso) or a real crop
  (blended in by a feathered ellipse), placed at a random spot of the frame, so that a spotter must locate it. Its
  crop framed like the corpora's (`action_units.corpus_crop`: eyebrows to chin, eyes 22 % below the top, their
  centres half the width apart) is `face_size` px wide; `face_box` is that crop in frame 0. A real crop is that crop
  itself (its eyes lie lower than the drawn framing puts them: `REAL_EYE_ROW`).
- events: micro-expressions lasting 0.2–0.5 s with a peak displacement of 0.3–1.5 px, and macro-expressions
  lasting 1–3 s with 2–5 px; each has an emotion of the three classes (dealt evenly within a video) and moves the
  AU set of one of that emotion's prototypes (`EMOTION_ACTION_UNITS`), each AU weighted 0.5–1, left side scaled by an
  asymmetry of 0.6–1. Events never overlap, and keep `EVENT_GAP` seconds from each other and from both ends.
- blinks (not events): every 4 s on average (`blinks_per_minute`), 0.1–0.3 s long, the upper lids travelling
  75–100 % of the eye opening (`eyelid_field`).
- head motion (not events): a slow drift of up to `head_drift` px per axis (two sinusoids of 20–120 s periods),
  and head jumps (`head_jumps_per_minute`) that shift the head by 2–4 px within 1 or 2 frames, kept within 4 px of
  the drifting position. The background stays still, as a fixed camera sees a moving head.
- sensor noise (sigma 1.5 grey levels, every frame) and the compression of the MPEG-4 part 2 video (`mp4v`).

All amplitudes are px at a 128 px face crop, as in the rest of `dataset_scripts`, and scale with `face_size`.

Ground truth: onset, apex and offset are 0-based frame indices of the written video, both ends included. An event's
displacement follows a raised-cosine profile that is exactly 0 at the onset and offset frames (the last frame at rest
before the motion and the first one at rest after it), rises to 1 at the apex, which lies at 30–60 % of the
interval, and falls back. The interval's length in seconds is (offset - onset + 1) / fps: at most 0.5 for "micro",
at least 1 for "macro". Blinks and head jumps are [start, end] pairs with the same convention (at rest at both ends),
and stay `NUISANCE_MARGIN` seconds clear of every event so that a detection near one is attributed unambiguously;
head jumps also keep clear of blinks. The slow drift goes on everywhere: at the defaults the head moves by 0.08 px
from onset to offset of a micro-expression in the median, 0.29 px in the 99th percentile (1,200 scripted events).

Seeds: `DEVELOPMENT_SEED` and `HELD_OUT_SEED` generate the two splits (`split="development"` or `"held_out"`): fit
thresholds on the first, report on the second. Their drawn subjects differ, and with real faces each split takes the
crops of its own half of the composite's subjects. Subject `i` draws from a generator seeded by (seed, i) and its
video `k` from (seed, i, k) for the script (events, blinks, head motion) and (seed, i, k, 1) for the pixels (placement,
background, noise), so a corpus is deterministic per seed, growing it keeps the existing videos, and changing the
frame or face size keeps the ground truth.

Speed: each event's displacement field is computed once and scaled per frame by its profile, and each frame is one
`cv2.remap` of the face and its mask; frames are written as they are made, so memory does not grow with duration.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from datasets import Features, List, Value

from .action_units import EMOTION_ACTION_UNITS, action_unit_motion, check_number, corpus_crop, corpus_framed
from .samples import file_stats, require_path
from .synthetic import (
    _REFERENCE_SIZE,
    SYNTHETIC_CLASSES,
    FaceGeometry,
    _head_mask,
    _smooth_noise,
    displacement_field,
    render_face,
    sample_geometry,
)

DEVELOPMENT_SEED = 2019_0601
"""The generator seed of the development split: tune spotting thresholds on it."""
HELD_OUT_SEED = 2019_0602
"""The generator seed of the held-out split: report spotting results on it, never tune on it."""
SPLIT_SEEDS = {"development": DEVELOPMENT_SEED, "held_out": HELD_OUT_SEED}
SPLITS = tuple(SPLIT_SEEDS)
SUBJECT_NAMES = {"development": "dev{:02d}", "held_out": "heldout{:02d}"}
FACE_SOURCES = ("drawn", "real")

# Event and nuisance ranges (seconds; px at a 128 px face crop), from the module docstring.
MICRO_SECONDS = (0.2, 0.5)
MACRO_SECONDS = (1.0, 3.0)
MICRO_PEAK = (0.3, 1.5)
MACRO_PEAK = (2.0, 5.0)
APEX_FRACTION = (0.3, 0.6)
EVENT_GAP = 1.0
NUISANCE_MARGIN = 0.25
BLINK_SECONDS = (0.1, 0.3)
BLINK_CLOSURE = (0.75, 1.0)
HEAD_JUMP = (2.0, 4.0)
DRIFT_PERIODS = (20.0, 120.0)
SENSOR_NOISE = 1.5
# Where the eyes of the composite's real apex crops are, read off the mean of its 442 crops: the darkest row of the eye
# columns lies 27 % of the side below the top (brows at 14.5 %, the lip line at about 75 %), and an eye spans about
# 18 % of the side across and 4 % from lid to lid. (`action_units.CORPUS_EYE_ROW`, 22 %, was read off the mean strain
# map, whose peak lies between brows and eyes.) Individual crops deviate from these by a few per cent.
REAL_EYE_ROW = 0.27
REAL_EYE_AXES = (0.09, 0.02)
# Frames of sensor noise drawn once per video, each frame adding a shifted window of one of them: drawing 300,000
# normal numbers per 640x480 frame would take most of the generation time. Consecutive frames use different entries,
# and shifted white noise is uncorrelated, so every frame's noise is independent of its neighbours'.
_NOISE_BANK = 4
_NOISE_SHIFT = 16
# Each side of the face's patch is padded by this much besides the head motion, for the bilinear interpolation.
_PAD = 2


@dataclass(frozen=True)
class LongVideoSettings:
    """What every video of a generated corpus shares (see the module docstring); checked on creation."""

    duration: float = 60.0
    fps: float = 30.0
    frame_width: int = 640
    frame_height: int = 480
    face_size: int = 150
    micro_per_minute: float = 6.0
    macro_per_minute: float = 2.0
    blinks_per_minute: float = 15.0
    head_jumps_per_minute: float = 3.0
    head_drift: float = 3.0

    def __post_init__(self) -> None:
        bounds = {"duration": (1.0, 3600.0), "fps": (15.0, 240.0), "micro_per_minute": (0.0, 60.0),
                  "macro_per_minute": (0.0, 30.0), "blinks_per_minute": (0.0, 60.0),
                  "head_jumps_per_minute": (0.0, 60.0), "head_drift": (0.0, 20.0)}
        for key, (low, high) in bounds.items():
            check_number("synthetic_long", key, getattr(self, key), low, high)
        for key, low in (("frame_width", 128), ("frame_height", 128), ("face_size", 64)):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low or value % 2:
                raise ValueError(f"synthetic_long {key} must be an even integer >= {low}, got {value!r}")
        counts = self.event_counts()
        longest = counts["micro"] * _frames(MICRO_SECONDS, self.fps)[1] + counts["macro"] * _frames(
            MACRO_SECONDS, self.fps)[1] + (sum(counts.values()) + 1) * _gap_frames(self.fps)
        if longest > self.num_frames:
            raise ValueError(f"synthetic_long: {counts['micro']} micro and {counts['macro']} macro events of up to "
                             f"{MICRO_SECONDS[1]:g} and {MACRO_SECONDS[1]:g} s, {EVENT_GAP:g} s apart, need up to "
                             f"{longest / self.fps:.1f} s, more than duration={self.duration!r}; lower "
                             "micro_per_minute / macro_per_minute or raise duration")

    @property
    def num_frames(self) -> int:
        return round(self.duration * self.fps)

    def event_counts(self) -> dict[str, int]:
        """The number of micro and macro events of every video: the rates times the duration, rounded."""
        minutes = self.duration / 60.0
        return {"micro": round(self.micro_per_minute * minutes), "macro": round(self.macro_per_minute * minutes)}

    def head_reach(self, scale: float) -> int:
        """The most px the head moves from its place along either axis, for a face crop of `scale` x 128 px."""
        return math.ceil((self.head_drift + HEAD_JUMP[1]) * scale) + _PAD


def _frames(seconds: tuple[float, float], fps: float) -> tuple[int, int]:
    """The fewest and most frames (ends included, at least 3: rest, motion, rest) of an interval lasting `seconds`."""
    low = max(3, math.ceil(seconds[0] * fps - 1e-6))
    return low, max(low, math.floor(seconds[1] * fps + 1e-6))


def _gap_frames(fps: float) -> int:
    return math.ceil(EVENT_GAP * fps - 1e-6)


# --------------------------------------------------------------------------------------------
# The script of a video: its events, blinks and head motion
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Event:
    """One expression: its frames, kind, emotion, AUs (name -> relative weight), peak displacement (px at a 128 px
    face crop) and the scale of its left side."""

    onset: int
    apex: int
    offset: int
    kind: str
    emotion: str
    units: dict[str, float]
    peak: float
    asymmetry: float


@dataclass(frozen=True)
class Blink:
    """Frames start..end (at rest at both) and the fraction of the eye opening the upper lids travel at the apex."""

    start: int
    apex: int
    end: int
    closure: float


@dataclass(frozen=True, eq=False)
class VideoScript:
    """What happens in one video, frame by frame: events, blinks, head jumps ([start, end] pairs) and the head's
    offset from its place in every frame ((num_frames, 2) px at a 128 px face crop)."""

    num_frames: int
    events: tuple[Event, ...]
    blinks: tuple[Blink, ...]
    head_jumps: tuple[tuple[int, int], ...]
    head: np.ndarray


def profile(onset: int, apex: int, offset: int) -> np.ndarray:
    """The motion's fraction of its peak at frames onset..offset: a raised cosine, 0 at both ends and 1 at the apex."""
    frames = np.arange(onset, offset + 1, dtype=np.float64)
    rise = 0.5 - 0.5 * np.cos(np.pi * (frames - onset) / (apex - onset))
    fall = 0.5 + 0.5 * np.cos(np.pi * (frames - apex) / (offset - apex))
    return np.where(frames <= apex, rise, fall)


def _apex(rng: np.random.Generator, onset: int, offset: int) -> int:
    apex = onset + round(rng.uniform(*APEX_FRACTION) * (offset - onset))
    return min(max(apex, onset + 1), offset - 1)


def _events(rng: np.random.Generator, settings: LongVideoSettings) -> tuple[Event, ...]:
    """The events in random order and places: the slack beyond the required gaps is cut at uniform points."""
    counts = settings.event_counts()
    kinds = list(rng.permutation(["micro"] * counts["micro"] + ["macro"] * counts["macro"]))
    first = int(rng.integers(len(SYNTHETIC_CLASSES)))
    emotions = rng.permutation([SYNTHETIC_CLASSES[(first + j) % len(SYNTHETIC_CLASSES)] for j in range(len(kinds))])
    spans = {"micro": (_frames(MICRO_SECONDS, settings.fps), MICRO_PEAK),
             "macro": (_frames(MACRO_SECONDS, settings.fps), MACRO_PEAK)}
    lengths = [int(rng.integers(spans[kind][0][0], spans[kind][0][1] + 1)) for kind in kinds]
    gap = _gap_frames(settings.fps)
    slack = settings.num_frames - sum(lengths) - (len(kinds) + 1) * gap
    cuts = np.diff([0, *sorted(rng.integers(0, slack + 1, len(kinds))), slack])
    events, start = [], 0
    for kind, emotion, length, extra in zip(kinds, emotions, lengths, cuts):
        onset = start + gap + int(extra)
        offset = onset + length - 1
        prototypes = EMOTION_ACTION_UNITS[str(emotion)]
        units = {unit: float(rng.uniform(0.5, 1.0)) for unit in prototypes[int(rng.integers(len(prototypes)))]}
        events.append(Event(onset, _apex(rng, onset, offset), offset, str(kind), str(emotion), units,
                            float(rng.uniform(*spans[kind][1])), float(rng.uniform(0.6, 1.0))))
        start = offset + 1
    return tuple(events)


def _renewals(rng: np.random.Generator, per_minute: float, settings: LongVideoSettings,
              lengths: tuple[int, int], busy: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """[start, end] intervals whose starts are 0.5–1.5 times 60 / `per_minute` s apart, dropping those that overlap an
    interval of `busy` (ends included) or run past the video."""
    if per_minute == 0:
        return []
    mean = 60.0 / per_minute * settings.fps
    kept, start = [], rng.uniform(0.0, mean)
    while True:
        length = int(rng.integers(lengths[0], lengths[1] + 1))
        first, last = int(start), int(start) + length - 1
        if last >= settings.num_frames:
            return kept
        if not any(first <= high and low <= last for low, high in busy):
            kept.append((first, last))
        start += max(rng.uniform(0.5, 1.5) * mean, length + 1)


def _drift(rng: np.random.Generator, settings: LongVideoSettings) -> np.ndarray:
    """A smooth head path of up to `head_drift` px per axis: per axis, two sinusoids with random periods and phases."""
    seconds = np.arange(settings.num_frames)[:, None] / settings.fps
    periods = rng.uniform(*DRIFT_PERIODS, (2, 2))
    phases = rng.uniform(0.0, 2.0 * np.pi, (2, 2))
    weights = rng.uniform(0.5, 1.0, (2, 2))
    path = [(weights[axis] * np.sin(2.0 * np.pi * seconds / periods[axis] + phases[axis])).sum(1) / weights[axis].sum()
            for axis in range(2)]
    return settings.head_drift * np.stack(path, axis=1)


def _jump_levels(rng: np.random.Generator, jumps: list[tuple[int, int]], num_frames: int) -> np.ndarray:
    """The head offset that the jumps add, frame by frame: each shifts it by 2–4 px, linearly over its frames, in a
    random direction, reversed (or else pointed back towards 0) where the sum would leave the disc of radius
    `HEAD_JUMP[1]`."""
    levels = np.zeros((num_frames, 2))
    level = np.zeros(2)
    for start, end in jumps:
        angle = rng.uniform(0.0, 2.0 * np.pi)
        step = rng.uniform(*HEAD_JUMP) * np.array([np.cos(angle), np.sin(angle)])
        if np.hypot(*(level + step)) > HEAD_JUMP[1]:
            step = -step
        if np.hypot(*(level + step)) > HEAD_JUMP[1]:
            step = -np.hypot(*step) * level / np.hypot(*level)
        ramp = np.clip((np.arange(num_frames) - start) / (end - start), 0.0, 1.0)[:, None]
        levels += ramp * step
        level = level + step
    return levels


def script_video(rng: np.random.Generator, settings: LongVideoSettings) -> VideoScript:
    """Draw what happens in one video: events first, then blinks and head jumps in the time the events leave free."""
    events = _events(rng, settings)
    margin = math.ceil(NUISANCE_MARGIN * settings.fps - 1e-6)
    clear = [(event.onset - margin, event.offset + margin) for event in events]
    blinks = []
    for start, end in _renewals(rng, settings.blinks_per_minute, settings, _frames(BLINK_SECONDS, settings.fps),
                                clear):
        blinks.append(Blink(start, _apex(rng, start, end), end, float(rng.uniform(*BLINK_CLOSURE))))
    clear += [(blink.start - 1, blink.end + 1) for blink in blinks]
    jumps = _renewals(rng, settings.head_jumps_per_minute, settings, (2, 3), clear)
    head = _drift(rng, settings) + _jump_levels(rng, jumps, settings.num_frames)
    return VideoScript(settings.num_frames, events, tuple(blinks), tuple(jumps), head)


# --------------------------------------------------------------------------------------------
# Faces and frames
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Face:
    """One subject as the generator moves it: its grey image (float32, square), the weight of the face against the
    background in each pixel (`mask`, 0..1), its geometry (where the AUs and eyelids act) in units of the image, and
    (left, top, side) in px of its face crop framed like the corpora's."""

    subject: str
    image: np.ndarray
    mask: np.ndarray
    geometry: FaceGeometry
    crop: tuple[float, float, float]

    @property
    def scale(self) -> float:
        """px of this face per px at a 128 px face crop."""
        return self.crop[2] / _REFERENCE_SIZE


def drawn_faces(num_subjects: int, seed: int, face_size: int, name_format: str) -> list[Face]:
    """Drawn subjects (`synthetic.render_face`), each rendered at the size that makes its face crop `face_size` px;
    subject `i` draws from a generator seeded by (seed, i)."""
    faces = []
    for i in range(num_subjects):
        rng = np.random.default_rng([seed, i])
        geometry = sample_geometry(rng)
        size = round(face_size / corpus_crop(geometry, 1.0)[2])
        faces.append(Face(name_format.format(i + 1), render_face(geometry, rng, size),
                          _head_mask(geometry, size, (0.0, 0.0)), geometry, corpus_crop(geometry, size)))
    return faces


def real_face_pool(composite_dir: str | os.PathLike, split: str) -> list[tuple[str, list[Path]]]:
    """The real subjects of `split` with their apex crops: the composite's subjects in sorted order, the even positions
    for "development" and the odd ones for "held_out", so that no real person is in both splits."""
    root = Path(composite_dir)
    labels_path = require_path(root / "labels.csv", "labels file of the MEGC2019 composite release")
    apex_dir = require_path(root / "apex", "apex crop folder of the MEGC2019 composite release")
    labels = pd.read_csv(labels_path, dtype=str, keep_default_na=False)
    absent = [column for column in ("dataset", "sub", "imagename") if column not in labels.columns]
    if absent:
        raise ValueError(f"{labels_path} lacks the columns {absent}; found {list(labels.columns)}")
    crops: dict[str, list[Path]] = {}
    for dataset, subject, name in zip(labels["dataset"], labels["sub"], labels["imagename"]):
        crops.setdefault(f"{dataset}/{subject}", []).append(apex_dir / name)
    missing = [str(path) for paths in crops.values() for path in paths if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} apex crops listed in {labels_path} are missing, e.g. {missing[:3]}")
    subjects = sorted(crops)[SPLITS.index(split)::len(SPLITS)]
    return [(subject, sorted(crops[subject])) for subject in subjects]


def real_faces(composite_dir: str | os.PathLike, split: str, num_subjects: int, seed: int, face_size: int,
               name_format: str) -> list[Face]:
    """One real apex crop per subject, resized to `face_size` and blended in by a feathered ellipse, with a drawn
    geometry framed like the crop (`corpus_framed` with the eyes at `REAL_EYE_ROW`, eyes of `REAL_EYE_AXES`) to place
    the AUs and eyelids: subjects are `split`'s real subjects in an order drawn from `seed`; subject `i` picks one of
    its crops and its geometry with a generator seeded by (seed, i)."""
    pool = real_face_pool(composite_dir, split)
    if num_subjects > len(pool):
        raise ValueError(f"synthetic_long num_subjects={num_subjects} exceeds the {len(pool)} real subjects of the "
                         f"{split} split of {composite_dir}")
    order = np.random.default_rng(seed).permutation(len(pool))
    size = float(face_size)
    ys, xs = np.mgrid[0:face_size, 0:face_size].astype(np.float32) + 0.5
    inside = ((xs - size / 2) / (0.48 * size)) ** 2 + ((ys - size / 2) / (0.5 * size)) ** 2 <= 1.0
    mask = cv2.GaussianBlur(inside.astype(np.float32), (0, 0), 0.02 * size)
    faces = []
    for i in range(num_subjects):
        rng = np.random.default_rng([seed, i])
        geometry = replace(corpus_framed(sample_geometry(rng), REAL_EYE_ROW), eye_axes=REAL_EYE_AXES)
        paths = pool[int(order[i])][1]
        path = paths[int(rng.integers(len(paths)))]
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise ValueError(f"OpenCV could not read the apex crop {path} as an image")
        image = cv2.resize(image, (face_size, face_size), interpolation=cv2.INTER_AREA).astype(np.float32)
        faces.append(Face(name_format.format(i + 1), image, mask, geometry, (0.0, 0.0, size)))
    return faces


def eyelid_field(geometry: FaceGeometry, size: int, closure: float, shape: int,
                 offset: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """The displacement (0, dy) of a blink: both upper lids close `closure` of the eye opening, on a `shape` x `shape`
    grid where the face of `size` px is shifted by `offset`.

    Why not `action_units._blink`: a Gaussian pull moves the lid by at most about half the opening (further, the warp
    folds), while a blink covers most of the eye. Here each column of the eye, whose lids lie b·h above and below the
    eye's centre (b the eye's half-height, h = sqrt(1 - (x/a)²) across its half-width a), shows the strip of lid skin
    of height b above the upper lid stretched down by closure·2b·h; below the lid's new edge the eye is unchanged.
    The edge is an occlusion boundary, so the field steps there (over one pixel)."""
    ys, xs = np.mgrid[0:shape, 0:shape].astype(np.float32)
    field = np.zeros((shape, shape, 2), np.float32)
    half_width, half_height = geometry.eye_axes[0] * size, geometry.eye_axes[1] * size
    eye_y = geometry.eye_y * size + offset[1]
    for side in (-1.0, 1.0):
        eye_x = (geometry.center[0] + side * geometry.eye_dx) * size + offset[0]
        across = np.sqrt(np.clip(1.0 - ((xs - eye_x) / half_width) ** 2, 0.0, None))
        upper = eye_y - half_height * across
        drop = closure * 2.0 * half_height * across
        top = upper - half_height
        edge = np.clip(upper + drop + 0.5 - ys, 0.0, 1.0) * (ys >= top)
        field[..., 1] += (ys - top) * drop / (half_height + drop) * edge
    return field


def _room(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A still background: a wall with blotchy texture and lighting, and a few flat rectangles (door, shelf, poster)."""
    side = max(width, height)
    wall = rng.uniform(90.0, 160.0) + _smooth_noise(rng, side, 25.0, 15.0) + _smooth_noise(rng, side, 1.5, 4.0)
    wall = wall[:height, :width]
    for _ in range(int(rng.integers(2, 5))):
        w, h = (int(rng.uniform(0.1, 0.4) * extent) for extent in (width, height))
        x, y = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
        wall[y:y + h, x:x + w] += rng.choice([-1.0, 1.0]) * rng.uniform(20.0, 50.0)
    ramp = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :] * rng.uniform(-15.0, 15.0)
    return np.clip(wall + ramp, 0.0, 255.0).astype(np.float32)


def write_video(path: str | os.PathLike, face: Face, script: VideoScript, rng: np.random.Generator,
                settings: LongVideoSettings) -> tuple[int, int, int, int]:
    """Write the video of `script` performed by `face` to `path` (grayscale MPEG-4 part 2, 'mp4v') and return the
    face crop's box (x, y, w, h) in frame 0. Each event's field is computed at its onset (where the head is then;
    jumps keep clear of events) and scaled by its profile; each frame is one `cv2.remap` of the face and its mask."""
    size, scale = face.image.shape[0], face.scale
    reach, side = patch_fits(face, settings)
    width, height = settings.frame_width, settings.frame_height
    layers = np.dstack([cv2.copyMakeBorder(face.image, reach, reach, reach, reach, cv2.BORDER_REPLICATE),
                        cv2.copyMakeBorder(face.mask, reach, reach, reach, reach, cv2.BORDER_CONSTANT)])
    x0, y0 = int(rng.integers(0, width - side + 1)), int(rng.integers(0, height - side + 1))
    background = _room(rng, width, height)
    _draw_torso(background, face, x0 + reach, y0 + reach, rng)
    window = (slice(y0, y0 + side), slice(x0, x0 + side))
    behind = background[window].copy()
    shape = (height + _NOISE_SHIFT, width + _NOISE_SHIFT)
    noise = rng.standard_normal((_NOISE_BANK, *shape), dtype=np.float32) * np.float32(SENSOR_NOISE)
    grid_x, grid_y = np.meshgrid(np.arange(side, dtype=np.float32), np.arange(side, dtype=np.float32))
    head = (script.head * scale).astype(np.float32)
    active, motion, lids = _timelines(script)
    writer = cv2.VideoWriter(os.fspath(path), cv2.VideoWriter_fourcc(*"mp4v"), float(settings.fps), (width, height),
                             False)
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV could not open {os.fspath(path)!r} to write an mp4v video (does its folder "
                           "exist? is this OpenCV built without FFmpeg?)")
    field, bank, frame = None, 0, np.empty((height, width), np.float32)
    try:
        for t in range(script.num_frames):
            map_x, map_y = grid_x - head[t, 0], grid_y - head[t, 1]
            if active[t] >= 0:
                if t == script.events[active[t]].onset:
                    field = _event_field(face, script.events[active[t]], side, reach + head[t])
                map_x -= motion[t] * field[..., 0]
                map_y -= motion[t] * field[..., 1]
            if lids[t] > 0:
                map_y -= eyelid_field(face.geometry, size, float(lids[t]), side, reach + head[t])[..., 1]
            moved = cv2.remap(layers, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            np.copyto(frame, background)
            frame[window] = behind + moved[..., 1] * (moved[..., 0] - behind)
            bank = (bank + int(rng.integers(1, _NOISE_BANK))) % _NOISE_BANK
            dy, dx = rng.integers(0, _NOISE_SHIFT, 2)
            frame += noise[bank, dy:dy + height, dx:dx + width]
            writer.write(cv2.convertScaleAbs(np.clip(frame, 0.0, 255.0, out=frame)))
    finally:
        writer.release()
    left, top, crop = face.crop
    return (round(x0 + reach + left + float(head[0, 0])), round(y0 + reach + top + float(head[0, 1])),
            round(crop), round(crop))


def _timelines(script: VideoScript) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame: the index of the event under way (-1: none), its profile, and the blink's closure."""
    active = np.full(script.num_frames, -1)
    motion = np.zeros(script.num_frames, np.float32)
    for index, event in enumerate(script.events):
        active[event.onset:event.offset + 1] = index
        motion[event.onset:event.offset + 1] = profile(event.onset, event.apex, event.offset)
    lids = np.zeros(script.num_frames, np.float32)
    for blink in script.blinks:
        lids[blink.start:blink.end + 1] = blink.closure * profile(blink.start, blink.apex, blink.end)
    return active, motion, lids


def patch_fits(face: Face, settings: LongVideoSettings) -> tuple[int, int]:
    """(reach, side): the head motion's reach in px and the side of the square patch that holds the face wherever it
    moves; a ValueError when the patch does not fit the frame."""
    reach = settings.head_reach(face.scale)
    side = face.image.shape[0] + 2 * reach
    width, height = settings.frame_width, settings.frame_height
    if side > min(width, height):
        raise ValueError(f"synthetic_long face_size={settings.face_size} does not fit a {width}x{height} frame: "
                         f"subject {face.subject}'s face with its head motion needs {side} px; lower face_size or "
                         "head_drift, or raise frame_width / frame_height")
    return reach, side


def _event_field(face: Face, event: Event, side: int, offset: np.ndarray) -> np.ndarray:
    """The displacement of `event` at its apex on the `side` px patch where the face is shifted by `offset`, scaled so
    that its largest magnitude is the event's peak."""
    size = face.image.shape[0]
    bumps = action_unit_motion(face.geometry, event.units, size, asymmetry=event.asymmetry)
    field = displacement_field(bumps, side, (float(offset[0]), float(offset[1])))
    return field * np.float32(event.peak * face.scale / float(np.hypot(field[..., 0], field[..., 1]).max()))


def _draw_torso(background: np.ndarray, face: Face, x: int, y: int, rng: np.random.Generator) -> None:
    """Shoulders under the face (whose image sits at (x, y)): an ellipse of textured cloth twice the face's width."""
    rows, cols = np.nonzero(face.mask > 0.5)
    width = float(cols.max() - cols.min())
    center = (round(x + (cols.min() + cols.max()) / 2.0), round(y + rows.max() + 0.5 * width))
    cloth = np.zeros(background.shape, np.float32)
    cv2.ellipse(cloth, center, (round(0.95 * width), round(0.55 * width)), 0.0, 0.0, 360.0, 1.0, -1, cv2.LINE_AA)
    side = max(background.shape)
    texture = rng.uniform(50.0, 120.0) + _smooth_noise(rng, side, 6.0, 10.0)[:background.shape[0], :background.shape[1]]
    background += cloth * (texture - background)


def generate_long_videos(folder: str | os.PathLike, faces: Sequence[Face], videos_per_subject: int, seed: int,
                         settings: LongVideoSettings, recorded_folder: str | os.PathLike | None = None
                         ) -> Iterator[dict]:
    """Write `videos_per_subject` videos of each face into `folder` and yield their rows (`LONG_VIDEO_FEATURES` plus
    `action_units`, `peak_displacement`, `blinks`, `head_jumps`, `face_box`; no `dataset`). The rows name each
    video in `recorded_folder` (default `folder`), where the caller moves the files after writing."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    recorded = Path(recorded_folder if recorded_folder is not None else folder).absolute()
    for i, face in enumerate(faces):
        for k in range(videos_per_subject):
            script = script_video(np.random.default_rng([seed, i, k]), settings)
            video_id = f"{face.subject}_{k + 1:02d}"
            box = write_video(Path(folder) / f"{video_id}.mp4", face, script, np.random.default_rng([seed, i, k, 1]),
                              settings)
            events = script.events
            yield {
                "video_id": video_id,
                "subject": face.subject,
                "video": str(recorded / f"{video_id}.mp4"),
                "fps": settings.fps,
                "num_frames": script.num_frames,
                "onset": [event.onset for event in events],
                "apex": [event.apex for event in events],
                "offset": [event.offset for event in events],
                "kind": [event.kind for event in events],
                "emotion": [event.emotion for event in events],
                "action_units": ["+".join(event.units) for event in events],
                "peak_displacement": [event.peak * face.scale for event in events],
                "blinks": [[blink.start, blink.end] for blink in script.blinks],
                "head_jumps": [list(jump) for jump in script.head_jumps],
                "face_box": list(box),
            }



class SyntheticLongVideos:
    """`load_me_dataset("synthetic_long", ...)`: generated long videos for spotting (module docstring).

    Rows follow `LONG_VIDEO_FEATURES`, plus per event `action_units` ("AU6+AU12") and `peak_displacement` (px in the
    video), per video `blinks` and `head_jumps` ([start, end] frame pairs) and `face_box` (the face crop in frame 0).
    The videos are written next to the cached dataset and move with it. `faces="real"` takes `data_dir`, the
    MEGC2019 composite release, whose apex crops replace the drawn faces (never commit what it generates).
    """

    name = "synthetic_long"
    writes_files = True

    def __init__(self, data_dir: str | os.PathLike | None = None, num_subjects: int = 4, videos_per_subject: int = 2,
                 split: str = "development", faces: str = "drawn", duration: float = 60.0, fps: float = 30.0,
                 frame_width: int = 640, frame_height: int = 480, face_size: int = 150,
                 micro_per_minute: float = 6.0, macro_per_minute: float = 2.0, blinks_per_minute: float = 15.0,
                 head_jumps_per_minute: float = 3.0, head_drift: float = 3.0) -> None:
        for key, value in (("num_subjects", num_subjects), ("videos_per_subject", videos_per_subject)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{self.name} {key} must be an integer >= 1, got {value!r}")
        if split not in SPLITS:
            raise ValueError(f"{self.name} split must be one of {SPLITS}, got {split!r}")
        if faces not in FACE_SOURCES:
            raise ValueError(f"{self.name} faces must be one of {FACE_SOURCES}, got {faces!r}")
        if faces == "real" and not isinstance(data_dir, (str, os.PathLike)):
            raise ValueError(f"{self.name} faces='real' needs data_dir= (the folder of the MEGC2019 composite "
                             f"release, e.g. $EPIR_COMPOSITE_DIR), got {data_dir!r}")
        if faces == "drawn" and data_dir is not None:
            raise ValueError(f"{self.name} draws its faces: it takes data_dir only with faces='real' (got "
                             f"data_dir={os.fspath(data_dir)!r})")
        self.settings = LongVideoSettings(duration, fps, frame_width, frame_height, face_size, micro_per_minute,
                                          macro_per_minute, blinks_per_minute, head_jumps_per_minute, head_drift)
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.arguments = {"num_subjects": int(num_subjects), "videos_per_subject": int(videos_per_subject),
                          "split": split, "faces": faces}

    def identity(self) -> dict:
        identity = {**self.arguments, **asdict(self.settings)}
        if self.data_dir is not None:
            apex_dir = self.data_dir / "apex"
            crops = sorted(apex_dir.iterdir()) if apex_dir.is_dir() else []
            identity["files"] = file_stats([path for path in (self.data_dir / "labels.csv", apex_dir, *crops)
                                            if path.exists()])
        return identity

    def plan(self, task, strict: bool) -> dict:
        """The faces, rendered or read now, so that a bad composite folder or a face too large for the frame is
        reported before anything is built."""
        split, count, size = self.arguments["split"], self.arguments["num_subjects"], self.settings.face_size
        seed, names = SPLIT_SEEDS[split], SUBJECT_NAMES[split]
        if self.arguments["faces"] == "real":
            faces = real_faces(self.data_dir, split, count, seed, size, names)
        else:
            faces = drawn_faces(count, seed, size, names)
        for face in faces:
            patch_fits(face, self.settings)
        return {"faces": faces, "videos_per_subject": self.arguments["videos_per_subject"], "seed": seed,
                "settings": self.settings}

    def features(self, task) -> Features:
        # Imported here: the layout needs epir_hf (and torch), which drawing the videos does not (the demo draws its
        # example clip at start-up, before the model loads).
        from .long_videos import LONG_VIDEO_FEATURES

        return Features({**LONG_VIDEO_FEATURES, "action_units": List(Value("string")),
                         "peak_displacement": List(Value("float32")), "blinks": List(List(Value("int32"), length=2)),
                         "head_jumps": List(List(Value("int32"), length=2)),
                         "face_box": List(Value("int32"), length=4)})

    @classmethod
    def generate(cls, plan: dict, files: tuple[Path, Path]) -> Iterator[dict]:
        """Rows of `plan`; the videos are written into files[0] and named in files[1], where the loader moves them."""
        written, recorded = files
        for row in generate_long_videos(written, plan["faces"], plan["videos_per_subject"], plan["seed"],
                                        plan["settings"], recorded):
            yield {**row, "dataset": cls.name}


__all__ = ["DEVELOPMENT_SEED", "HELD_OUT_SEED", "SPLIT_SEEDS", "Blink", "Event", "Face", "LongVideoSettings",
           "SyntheticLongVideos", "VideoScript", "drawn_faces", "eyelid_field", "generate_long_videos", "patch_fits",
           "profile", "real_face_pool", "real_faces", "script_video", "write_video"]

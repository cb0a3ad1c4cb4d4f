"""Generated facial motion with known action units: a pretraining corpus for EPIR.

Why: the composite has 442 labelled samples, too few for a Transformer trained from scratch, and no more real
corpora are available. The drawn faces of `synthetic.py` can be moved by any action unit (AU) of the Facial Action
Coding System, each a localised displacement field on the face's own geometry, so an unlimited number of onset/apex
pairs with exact per-sample AU labels can be generated. Combinations follow the AU sets that the emotion literature
(EMFACS prototypes) and the corpora's coding sheets associate with each class, plus random ones; the nuisances that
real flows contain (blinks, rigid head motion, illumination change, sensor noise) are drawn independently of the
label. The built-in `synthetic` corpus, which the tests and the quickstart use, is left unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

import numpy as np
from datasets import Features, List, Value

from .synthetic import (
    _REFERENCE_SIZE,
    SYNTHETIC_CLASSES,
    Bump,
    FaceGeometry,
    Nuisances,
    SyntheticCorpus,
    generated_subjects,
    warp_pair,
)

# Each AU as bumps on one side of the face (side = -1 left, +1 right) for peak amplitude `a` px at size `s`: where
# the muscle pulls the skin, how wide (sigma) and in which direction (dx, dy; +y is down).
_Landmarks = dict[str, float]


def _landmarks(g: FaceGeometry, side: float, s: float) -> _Landmarks:
    ex = (g.center[0] + side * g.eye_dx) * s
    return {
        "cx": g.center[0] * s, "ex": ex, "brow_y": (g.eye_y - g.brow_gap) * s,
        "inner_brow": ex - side * 0.3 * g.brow_length * s, "outer_brow": ex + side * 0.35 * g.brow_length * s,
        "upper_lid": (g.eye_y - g.eye_axes[1]) * s, "lower_lid": (g.eye_y + g.eye_axes[1]) * s,
        "cheek_x": (g.center[0] + side * g.cheek_offset[0]) * s, "cheek_y": (g.eye_y + g.cheek_offset[1]) * s,
        "nose_x": (g.center[0] + side * g.nose_width * 0.6) * s, "nose_y": (g.nose_tip_y - 0.05) * s,
        "corner_x": (g.center[0] + side * g.mouth_half_width) * s, "mouth_y": g.mouth_y * s,
        "lip": g.lip_thickness * s, "chin_y": (g.mouth_y + 0.1) * s,
    }


AU_BUMPS: dict[str, Callable[[_Landmarks, float, float, float], list[Bump]]] = {
    # name: (landmarks, side, amplitude, size) -> bumps
    "AU1": lambda m, side, a, s: [Bump(m["inner_brow"], m["brow_y"], 0.04 * s, 0.0, -a)],  # inner brow raiser
    "AU2": lambda m, side, a, s: [Bump(m["outer_brow"], m["brow_y"], 0.04 * s, 0.0, -a)],  # outer brow raiser
    "AU4": lambda m, side, a, s: [Bump(m["inner_brow"], m["brow_y"], 0.05 * s, -side * 0.45 * a, 0.8 * a)],
    "AU5": lambda m, side, a, s: [Bump(m["ex"], m["upper_lid"], 0.03 * s, 0.0, -0.6 * a)],  # upper lid raiser
    "AU6": lambda m, side, a, s: [Bump(m["cheek_x"], m["cheek_y"], 0.06 * s, 0.0, -0.6 * a),  # cheek raiser
                                  Bump(m["ex"], m["lower_lid"], 0.025 * s, 0.0, -0.3 * a)],
    "AU7": lambda m, side, a, s: [Bump(m["ex"], m["lower_lid"], 0.025 * s, 0.0, -0.5 * a),  # lid tightener
                                  Bump(m["ex"], m["upper_lid"], 0.025 * s, 0.0, 0.2 * a)],
    "AU9": lambda m, side, a, s: [Bump(m["nose_x"], m["nose_y"], 0.035 * s, -side * 0.2 * a, -0.7 * a)],
    "AU10": lambda m, side, a, s: [Bump(m["cx"] + 0.3 * (m["corner_x"] - m["cx"]),
                                        m["mouth_y"] - m["lip"], 0.035 * s, 0.0, -0.7 * a)],  # upper lip raiser
    "AU12": lambda m, side, a, s: [Bump(m["corner_x"], m["mouth_y"], 0.045 * s, side * 0.55 * a, -0.8 * a)],
    "AU14": lambda m, side, a, s: [Bump(m["corner_x"], m["mouth_y"], 0.035 * s, -side * 0.5 * a, 0.0)],  # dimpler
    "AU15": lambda m, side, a, s: [Bump(m["corner_x"], m["mouth_y"], 0.04 * s, 0.0, 0.8 * a)],  # corner depressor
    "AU17": lambda m, side, a, s: [Bump(m["cx"] + side * 0.02 * s, m["chin_y"], 0.045 * s, 0.0, -0.6 * a)],
    "AU24": lambda m, side, a, s: [Bump(m["cx"] + side * 0.03 * s, m["mouth_y"] - m["lip"], 0.03 * s, 0.0, 0.5 * a),
                                   Bump(m["cx"] + side * 0.03 * s, m["mouth_y"] + 1.5 * m["lip"], 0.03 * s, 0.0,
                                        -0.5 * a)],  # lip pressor
    "AU25": lambda m, side, a, s: [Bump(m["cx"] + side * 0.03 * s, m["mouth_y"] - m["lip"], 0.03 * s, 0.0, -0.3 * a),
                                   Bump(m["cx"] + side * 0.03 * s, m["mouth_y"] + 1.5 * m["lip"], 0.035 * s, 0.0,
                                        0.6 * a)],  # lips part
}
ACTION_UNITS = tuple(AU_BUMPS)
MOUTH_UNITS = ("AU10", "AU12", "AU14", "AU15", "AU17", "AU24", "AU25")
"""The AUs that move the lips, whose amplitude `mouth_gain` scales."""

EMOTION_ACTION_UNITS: dict[str, tuple[tuple[str, ...], ...]] = {
    # Happiness (EMFACS: AU6+12); the composite's positive class.
    "positive": (("AU6", "AU12"), ("AU12",), ("AU6", "AU12", "AU25"), ("AU12", "AU25")),
    # Surprise (EMFACS: AU1+2+5+26/27, here lips part).
    "surprise": (("AU1", "AU2"), ("AU1", "AU2", "AU5"), ("AU1", "AU2", "AU25"), ("AU5",),
                 ("AU1", "AU2", "AU5", "AU25")),
    # The composite's negative class pools anger (AU4+5+7+24), disgust (AU9, AU10, AU15), sadness (AU1+4+15),
    # fear and repression (AU14, AU15, AU17, AU24 in the CASME II coding sheets).
    "negative": (("AU4",), ("AU4", "AU7"), ("AU4", "AU5", "AU7"), ("AU4", "AU24"), ("AU9",), ("AU9", "AU10"),
                 ("AU10",), ("AU14",), ("AU15",), ("AU15", "AU17"), ("AU17",), ("AU24",), ("AU1", "AU4", "AU15"),
                 ("AU4", "AU9")),
}
RANDOM = "random"
"""The emotion of a sample whose AUs are a random set (1–3 AUs): AU supervision without an emotion prototype."""

# The framing of the corpora's face crops, read off the composite's mean strain map (442 flows, no labels): the eyes
# sit 22 % of the crop's height below its top and their centres are half the crop's width apart. A drawn face cut to
# this framing shows the flow model its parts where the real crops have them, instead of the whole head oval.
CORPUS_EYE_ROW = 0.22
CORPUS_EYE_SPAN = 0.5
FACE_BOXES = ("corpus", "head")
# The generator's numeric options and their upper bounds (each is >= 0): probabilities and fractions up to 1, head
# motion up to 10 degrees and 10 px (beyond that the warp is no longer a micro-movement).
GENERATOR_LIMITS = {"random_fraction": 1.0, "blink_probability": 1.0, "gaze_probability": 1.0, "mouth_gain": 1.0,
                    "illumination": 1.0, "head_degrees": 10.0, "head_shift": 10.0}


def corpus_crop(geometry: FaceGeometry, size: float, placement: tuple[float, float] = (0.0, 0.0),
                eye_row: float = CORPUS_EYE_ROW) -> tuple[float, float, float]:
    """(left, top, side) in px of the square crop of the face framed like the corpora's crops (eyebrows to chin; the
    eyes `eye_row` of the side below its top), in an image of `size` px where the face is shifted by `placement`; it
    may reach past the image's edges."""
    side = 2.0 * geometry.eye_dx * size / CORPUS_EYE_SPAN
    left = geometry.center[0] * size + placement[0] - side / 2.0
    top = geometry.eye_y * size + placement[1] - eye_row * side
    return left, top, side


def corpus_face_box(geometry: FaceGeometry, placement: tuple[float, float], size: int) -> tuple[int, int, int, int]:
    """The square (x, y, w, h) box of the onset frame framed like the corpora's crops (eyebrows to chin)."""
    left, top, side = corpus_crop(geometry, size, placement)
    x0, y0 = max(0, int(round(left))), max(0, int(round(top)))
    x1, y1 = min(size, int(round(left + side))), min(size, int(round(top + side)))
    return x0, y0, x1 - x0, y1 - y0


def corpus_framed(geometry: FaceGeometry, eye_row: float = CORPUS_EYE_ROW) -> FaceGeometry:
    """`geometry` in units of its own corpus-framed crop (`corpus_crop`): the eyes lie `eye_row` below the top and
    their centres `CORPUS_EYE_SPAN` of the width apart. Why: a real face crop of the corpora is framed this way, so
    this geometry places the AUs' bumps near its brows, eyes and mouth."""
    left, top, side = corpus_crop(geometry, 1.0, eye_row=eye_row)
    g = geometry
    return replace(
        g, center=((g.center[0] - left) / side, (g.center[1] - top) / side),
        head_axes=(g.head_axes[0] / side, g.head_axes[1] / side), eye_y=(g.eye_y - top) / side,
        eye_dx=g.eye_dx / side, eye_axes=(g.eye_axes[0] / side, g.eye_axes[1] / side), brow_gap=g.brow_gap / side,
        brow_length=g.brow_length / side, brow_thickness=g.brow_thickness / side,
        nose_tip_y=(g.nose_tip_y - top) / side, nose_width=g.nose_width / side, mouth_y=(g.mouth_y - top) / side,
        mouth_half_width=g.mouth_half_width / side, lip_thickness=g.lip_thickness / side,
        cheek_offset=(g.cheek_offset[0] / side, g.cheek_offset[1] / side))


def action_unit_motion(geometry: FaceGeometry, units: dict[str, float], size: int,
                       asymmetry: float = 1.0) -> list[Bump]:
    """The bumps of `units` (AU name -> peak amplitude in px at 128 px) on `geometry` at `size`; `asymmetry` scales
    the subject's left side (real micro-expressions are rarely symmetric)."""
    unknown = sorted(set(units) - set(AU_BUMPS))
    if unknown:
        raise ValueError(f"unknown action units {unknown}; expected some of {', '.join(ACTION_UNITS)}")
    scale = size / _REFERENCE_SIZE
    bumps = []
    for side in (-1.0, 1.0):
        marks = _landmarks(geometry, side, float(size))
        for unit, amplitude in units.items():
            bumps += AU_BUMPS[unit](marks, side, amplitude * scale * (asymmetry if side < 0 else 1.0), float(size))
    return bumps


def _blink(geometry: FaceGeometry, size: int, closure: float) -> list[Bump]:
    """A partial blink: both upper lids move down by `closure` px (at 128 px)."""
    scale = size / _REFERENCE_SIZE
    lids = [_landmarks(geometry, side, float(size)) for side in (-1.0, 1.0)]
    return [Bump(marks["ex"], marks["upper_lid"], 0.03 * size, 0.0, closure * scale) for marks in lids]


def _gaze(geometry: FaceGeometry, size: int, shift: np.ndarray) -> list[Bump]:
    """A gaze shift: both irises move by `shift` (dx, dy) px (at 128 px), dragging a little of the lids along."""
    scale = size / _REFERENCE_SIZE
    return [Bump(_landmarks(geometry, side, float(size))["ex"], geometry.eye_y * size,
                 0.7 * geometry.eye_axes[1] * size, float(shift[0]) * scale, float(shift[1]) * scale)
            for side in (-1.0, 1.0)]


def check_generator_arguments(name: str, face_box: str, still_background: bool, **values: float) -> dict[str, float]:
    """The generator's numeric options as floats; a ValueError names the first one that is not a number within
    `GENERATOR_LIMITS`, a `face_box` not in `FACE_BOXES`, or a `still_background` that is not a bool."""
    if face_box not in FACE_BOXES:
        raise ValueError(f"{name} face_box must be one of {FACE_BOXES}, got {face_box!r}")
    if not isinstance(still_background, (bool, np.bool_)):
        raise ValueError(f"{name} still_background must be True or False, got {still_background!r}")
    return {key: check_number(name, key, value, 0.0, GENERATOR_LIMITS[key]) for key, value in values.items()}


def check_number(name: str, key: str, value: object, low: float, high: float) -> float:
    """`value` as a float; a ValueError naming `name`'s option `key` unless it is a number in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not low <= value <= high:
        raise ValueError(f"{name} {key} must be a number in [{low:g}, {high:g}], got {value!r}")
    return float(value)


def action_unit_samples(num_subjects: int = 8, samples_per_subject: int = 12, seed: int = 0, image_size: int = 128,
                        random_fraction: float = 0.25, blink_probability: float = 0.1, illumination: float = 0.02,
                        head_degrees: float = 1.0, head_shift: float = 1.0, face_box: str = "corpus",
                        gaze_probability: float = 0.0, mouth_gain: float = 0.5,
                        still_background: bool = False) -> Iterator[dict]:
    """Yield generated samples as dicts: uint8 frames, the emotion (or `random`), the AUs and their amplitudes.

    Per sample: with probability `random_fraction` a random set of 1–3 AUs, otherwise one of the emotion's AU sets
    (emotions balanced within a subject); each AU's peak amplitude 0.4–1.0 × the subject's expressiveness (1.1–1.9
    px at 128 px), times `mouth_gain` for the `MOUTH_UNITS` (the drawn mouth is a high-contrast line, so the flow
    sees its motion more sharply than a real mouth's); then the nuisances: a blink with probability
    `blink_probability` (not an AU label), a gaze shift of up to 1.5 px with probability `gaze_probability` (drawn
    from its own generator, so that switching it on leaves everything else of a sample unchanged and variants of the
    generator compare pair by pair), head motion up to `head_degrees` and `head_shift` px (of the head alone,
    against a still background, with `still_background`), an illumination gradient of up to `illumination`, and
    sensor noise.
    `face_box` is the crop the processor is given: "corpus" frames the face as the corpora's crops do
    (`corpus_face_box`), "head" is the whole head oval, as in the `synthetic` corpus.
    Subject `i` and sample `k` draw from generators seeded by (seed, i) and (seed, i, k): a corpus is deterministic
    per seed, and growing it keeps the existing samples.
    """
    check_generator_arguments("action_unit_samples", face_box, still_background, random_fraction=random_fraction,
                              blink_probability=blink_probability, gaze_probability=gaze_probability,
                              mouth_gain=mouth_gain, illumination=illumination, head_degrees=head_degrees,
                              head_shift=head_shift)
    emotions = SYNTHETIC_CLASSES
    nuisances = Nuisances(head_degrees=head_degrees, head_shift=head_shift, illumination=illumination,
                          still_background=bool(still_background))
    for i, person in generated_subjects(num_subjects, samples_per_subject, seed, image_size, "au{:03d}"):
        subject, geometry, base = person.name, person.geometry, person.base
        expressiveness, order = person.expressiveness, person.order
        for k in range(samples_per_subject):
            rng = np.random.default_rng([seed, i, k])
            if rng.uniform() < random_fraction:
                emotion = RANDOM
                chosen = tuple(rng.choice(ACTION_UNITS, size=int(rng.integers(1, 4)), replace=False))
            else:
                emotion = emotions[int(order[k]) % len(emotions)]
                options = EMOTION_ACTION_UNITS[emotion]
                chosen = options[int(rng.integers(len(options)))]
            units = {unit: float(expressiveness * rng.uniform(0.4, 1.0) * (mouth_gain if unit in MOUTH_UNITS else 1.0))
                     for unit in sorted(chosen)}
            scale = image_size / _REFERENCE_SIZE
            placement = tuple(rng.uniform(-2.0, 2.0, 2) * scale)
            bumps = action_unit_motion(geometry, units, image_size, asymmetry=rng.uniform(0.6, 1.0))
            blink = rng.uniform() < blink_probability
            if blink:
                bumps += _blink(geometry, image_size, rng.uniform(1.0, 2.0))
            eyes = np.random.default_rng([seed, i, k, 1])
            gaze = _gaze(geometry, image_size, eyes.uniform(-1.5, 1.5, 2)) if eyes.uniform() < gaze_probability else []
            pair = warp_pair(geometry, base, bumps, placement, rng, nuisances, tuple(gaze))
            yield {
                "sample_id": f"{subject}_{k:04d}",
                "subject": subject,
                "emotion": emotion,
                "action_units": [unit in units for unit in ACTION_UNITS],
                "au_amplitudes": [units.get(unit, 0.0) for unit in ACTION_UNITS],
                "blink": blink,
                "onset": pair.onset,
                "apex": pair.apex,
                "face_box": corpus_face_box(geometry, placement, image_size) if face_box == "corpus" else pair.face_box,
            }


class ActionUnitCorpus(SyntheticCorpus):
    """`load_me_dataset("synthetic_au", ...)`: the core features (label = the emotion; `random` samples are
    labelled by their AUs only) plus `action_units` (one boolean per `ACTION_UNITS` entry), `au_amplitudes` (px at
    128 px), `blink` and `face_box`."""

    name = "synthetic_au"
    samples = staticmethod(action_unit_samples)

    def __init__(self, num_subjects: int = 8, samples_per_subject: int = 12, seed: int = 0, image_size: int = 128,
                 random_fraction: float = 0.25, blink_probability: float = 0.1, illumination: float = 0.02,
                 head_degrees: float = 1.0, head_shift: float = 1.0, face_box: str = "corpus",
                 gaze_probability: float = 0.0, mouth_gain: float = 0.5, still_background: bool = False) -> None:
        super().__init__(num_subjects, samples_per_subject, seed, image_size)
        options = check_generator_arguments(
            self.name, face_box, still_background, random_fraction=random_fraction,
            blink_probability=blink_probability, illumination=illumination, head_degrees=head_degrees,
            head_shift=head_shift, gaze_probability=gaze_probability, mouth_gain=mouth_gain)
        self.arguments |= options | {"face_box": face_box, "still_background": bool(still_background)}

    def features(self, task) -> Features:
        features = super().features(task)
        features["action_units"] = List(Value("bool"), length=len(ACTION_UNITS))
        features["au_amplitudes"] = List(Value("float32"), length=len(ACTION_UNITS))
        features["blink"] = Value("bool")
        return features

"""The generated action-unit corpus: each AU moves its own part of the face, labels match the applied motion,
generation is deterministic, and the built-in synthetic corpus is unchanged by it."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from dataset_scripts import load_me_dataset
from dataset_scripts.action_units import (
    ACTION_UNITS,
    CORPUS_EYE_ROW,
    CORPUS_EYE_SPAN,
    EMOTION_ACTION_UNITS,
    MOUTH_UNITS,
    RANDOM,
    action_unit_motion,
    action_unit_samples,
)
from dataset_scripts.synthetic import displacement_field, sample_geometry, synthetic_samples

SIZE = 128
# Where each AU's motion must be centred, in units of the face geometry: between which landmarks (top, bottom).
REGIONS = {
    "AU1": ("brow", "eye"), "AU2": ("brow", "eye"), "AU4": ("brow", "eye"),
    "AU5": ("brow", "nose"), "AU7": ("brow", "nose"), "AU6": ("eye", "nose"),
    "AU9": ("eye", "mouth"), "AU10": ("nose", "mouth"), "AU12": ("nose", "chin"), "AU14": ("nose", "chin"),
    "AU15": ("nose", "chin"), "AU24": ("nose", "chin"), "AU25": ("nose", "chin"), "AU17": ("mouth", "below"),
}


def test_every_au_moves_its_own_part_of_the_face():
    geometry = sample_geometry(np.random.default_rng(0))
    rows = {"brow": (geometry.eye_y - geometry.brow_gap - 0.05) * SIZE, "eye": geometry.eye_y * SIZE,
            "nose": geometry.nose_tip_y * SIZE, "mouth": geometry.mouth_y * SIZE,
            "chin": (geometry.mouth_y + 0.08) * SIZE, "below": (geometry.mouth_y + 0.2) * SIZE}
    assert set(REGIONS) == set(ACTION_UNITS)
    for unit in ACTION_UNITS:
        field = displacement_field(action_unit_motion(geometry, {unit: 1.5}, SIZE), SIZE)
        magnitude = np.hypot(field[..., 0], field[..., 1])
        assert 0.5 < magnitude.max() <= 3.0, unit  # the two sides overlap near the midline
        row = (magnitude.sum(1) * np.arange(SIZE)).sum() / magnitude.sum()  # centroid of the motion
        top, bottom = REGIONS[unit]
        assert rows[top] <= row <= rows[bottom], (unit, row, rows[top], rows[bottom])
        # Both sides of the face move, mirror images of each other for a symmetric face.
        left, right = magnitude[:, : SIZE // 2].sum(), magnitude[:, SIZE // 2:].sum()
        assert 0.5 < left / right < 2.0, unit


def test_labels_are_the_applied_action_units():
    samples = list(action_unit_samples(num_subjects=3, samples_per_subject=12, seed=4, image_size=64))
    assert {sample["emotion"] for sample in samples} >= {"negative", "positive", "surprise", RANDOM}
    for sample in samples:
        applied = [unit for unit, amplitude in zip(ACTION_UNITS, sample["au_amplitudes"]) if amplitude > 0]
        labelled = [unit for unit, on in zip(ACTION_UNITS, sample["action_units"]) if on]
        assert applied == labelled and labelled, sample["sample_id"]
        if sample["emotion"] != RANDOM:
            assert set(labelled) in [set(c) for c in EMOTION_ACTION_UNITS[sample["emotion"]]]
        else:
            assert 1 <= len(labelled) <= 3


def test_generation_is_deterministic_and_growing_keeps_samples():
    first = list(action_unit_samples(num_subjects=2, samples_per_subject=3, seed=7, image_size=64))
    again = list(action_unit_samples(num_subjects=2, samples_per_subject=3, seed=7, image_size=64))
    grown = list(action_unit_samples(num_subjects=3, samples_per_subject=3, seed=7, image_size=64))
    other = list(action_unit_samples(num_subjects=2, samples_per_subject=3, seed=8, image_size=64))
    for a, b, c in zip(first, again, grown):
        assert np.array_equal(a["apex"], b["apex"]) and np.array_equal(a["apex"], c["apex"])
        assert a["action_units"] == b["action_units"] == c["action_units"]
    assert not np.array_equal(first[0]["apex"], other[0]["apex"])


def test_the_builtin_synthetic_corpus_is_unchanged():
    digest = hashlib.sha256()
    for sample in synthetic_samples(num_subjects=3, samples_per_subject=4, seed=5):
        digest.update(sample["onset"].tobytes())
        digest.update(sample["apex"].tobytes())
        digest.update(str(sample["face_box"]).encode())
    # The frames the tests and the quickstart were written against (the AU corpus shares their warp code).
    assert digest.hexdigest() == "6386431731fe9550a161f46a7085185fa13ddf1aa999821356ef96796f025ea4"


def test_loads_as_a_dataset_with_au_labels(tmp_path):
    dataset = load_me_dataset("synthetic_au", num_subjects=2, samples_per_subject=4, image_size=64,
                              cache_dir=str(tmp_path))
    assert dataset.features["label"].names == ["negative", "positive", "surprise", RANDOM]
    assert len(dataset) == 8 and len(dataset[0]["action_units"]) == len(ACTION_UNITS)
    with pytest.raises(ValueError, match="unknown action units"):
        action_unit_motion(sample_geometry(np.random.default_rng(0)), {"AU99": 1.0}, SIZE)
    with pytest.raises(ValueError, match=r"random_fraction must be a number in \[0, 1\]"):
        load_me_dataset("synthetic_au", random_fraction=1.5, cache_dir=str(tmp_path))
    with pytest.raises(ValueError, match=r"head_degrees must be a number in \[0, 10\]"):
        load_me_dataset("synthetic_au", head_degrees=-1.0, cache_dir=str(tmp_path))
    with pytest.raises(ValueError, match=r"face_box must be one of \('corpus', 'head'\), got 'tight'"):
        load_me_dataset("synthetic_au", face_box="tight", cache_dir=str(tmp_path))
    with pytest.raises(ValueError, match=r"illumination must be a number in \[0, 1\], got 'strong'"):
        load_me_dataset("synthetic_au", illumination="strong", cache_dir=str(tmp_path))
    with pytest.raises(ValueError, match=r"action_unit_samples blink_probability must be a number in \[0, 1\]"):
        next(action_unit_samples(blink_probability=-0.1))


def test_corpus_face_box_frames_the_face_like_the_corpora_crops():
    """The default box is a square inside the frame with the eyes 22 % from its top and half its width apart; the
    "head" box is the whole head oval, taller and starting higher."""
    framed = list(action_unit_samples(num_subjects=4, samples_per_subject=2, seed=3))
    oval = list(action_unit_samples(num_subjects=4, samples_per_subject=2, seed=3, face_box="head"))
    subjects = [sample_geometry(np.random.default_rng([3, i])) for i in range(4)]
    for i, (sample, whole) in enumerate(zip(framed, oval)):
        geometry = subjects[i // 2]
        x, y, w, h = sample["face_box"]
        assert 0 <= x and 0 <= y and x + w <= SIZE and y + h <= SIZE and abs(w - h) <= 1, sample["face_box"]
        eye_row = geometry.eye_y * SIZE  # within the 2 px placement of the onset
        assert abs((eye_row - y) / h - CORPUS_EYE_ROW) < 2.5 / h, (sample["sample_id"], eye_row, y, h)
        assert abs(2 * geometry.eye_dx * SIZE / w - CORPUS_EYE_SPAN) < 0.02, sample["sample_id"]
        assert whole["face_box"][1] < y and whole["face_box"][3] > h  # the oval reaches above, into the hair
        assert np.array_equal(sample["apex"], whole["apex"])  # only the box differs


def test_without_head_motion_only_the_action_and_the_noise_change_the_frame():
    """head_degrees = head_shift = 0 leaves the AUs and the sensor noise: the background corner changes between onset
    and apex by the noise alone (two frames with sigma 1.5: mean |difference| about 1.7), less than with head motion."""
    def corner_change(**nuisances) -> float:
        sample = next(action_unit_samples(num_subjects=1, samples_per_subject=1, seed=2, illumination=0.0,
                                          blink_probability=0.0, **nuisances))
        return float(np.abs(sample["apex"][:12, :12].astype(float) - sample["onset"][:12, :12].astype(float)).mean())

    still = corner_change(head_degrees=0.0, head_shift=0.0)
    assert still < 2.0 and still < corner_change(head_degrees=1.0, head_shift=1.0)


def test_still_background_moves_the_head_and_leaves_the_background():
    """With `still_background` the head motion moves the head oval alone: the face's centre is warped exactly as
    without it, and the background corner changes by the sensor noise alone."""
    kwargs = dict(num_subjects=1, samples_per_subject=1, seed=2, illumination=0.0, blink_probability=0.0,
                  head_degrees=2.0, head_shift=2.0)
    moving, fixed = (next(action_unit_samples(still_background=still, **kwargs)) for still in (False, True))
    centre = (slice(54, 74), slice(54, 74))
    assert np.array_equal(moving["apex"][centre], fixed["apex"][centre])

    def corner_change(sample: dict) -> float:
        return float(np.abs(sample["apex"][:12, :12].astype(float) - sample["onset"][:12, :12].astype(float)).mean())

    assert corner_change(fixed) < 2.0 < corner_change(moving)
    with pytest.raises(ValueError, match="still_background must be True or False, got 'yes'"):
        load_me_dataset("synthetic_au", still_background="yes")
    with pytest.raises(ValueError, match="action_unit_samples still_background must be True or False, got 1"):
        next(action_unit_samples(still_background=1))


def test_gaze_moves_only_the_eyes_and_mouth_gain_scales_only_the_lips():
    """A gaze shift is drawn from its own generator: switching it on changes the apex around the eyes and nothing else
    of the sample. `mouth_gain` scales the lip AUs' amplitudes and leaves every other AU's."""
    kwargs = {"num_subjects": 2, "samples_per_subject": 6, "seed": 1, "head_degrees": 0.0, "head_shift": 0.0}
    plain = list(action_unit_samples(**kwargs))
    gazing = list(action_unit_samples(gaze_probability=1.0, **kwargs))
    subjects = [sample_geometry(np.random.default_rng([1, i])) for i in range(2)]
    for i, (a, b) in enumerate(zip(plain, gazing)):
        assert np.array_equal(a["onset"], b["onset"]) and a["au_amplitudes"] == b["au_amplitudes"]
        changed = np.abs(a["apex"].astype(float) - b["apex"].astype(float)) > 8  # above the sensor noise
        rows = np.nonzero(changed.any(1))[0]
        eye_row, reach = subjects[i // 6].eye_y * SIZE, 0.07 * SIZE
        assert rows.size and np.all(np.abs(rows - eye_row) < reach), (a["sample_id"], rows, eye_row)
    with pytest.raises(ValueError, match=r"gaze_probability must be a number in \[0, 1\]"):
        load_me_dataset("synthetic_au", gaze_probability=2.0)
    with pytest.raises(ValueError, match=r"mouth_gain must be a number in \[0, 1\], got 1.5"):
        load_me_dataset("synthetic_au", mouth_gain=1.5)
    loud = list(action_unit_samples(mouth_gain=1.0, **kwargs))
    quiet = list(action_unit_samples(mouth_gain=0.5, **kwargs))
    for a, b in zip(loud, quiet):
        for unit, full, scaled in zip(ACTION_UNITS, a["au_amplitudes"], b["au_amplitudes"]):
            assert scaled == pytest.approx(full * (0.5 if unit in MOUTH_UNITS else 1.0)), (a["sample_id"], unit)

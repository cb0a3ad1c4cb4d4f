"""The drawn faces and the built-in synthetic corpus: determinism, motion model, features, speed, learnability."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from dataset_scripts import load_me_dataset
from dataset_scripts.samples import core_features
from dataset_scripts.synthetic import (
    MAX_DISPLACEMENT,
    action_unit_bumps,
    displacement_field,
    draw_face,
    make_pair,
    render_face,
    sample_geometry,
    synthetic_samples,
)


def test_draw_face_is_deterministic_and_subject_specific():
    face = draw_face(np.random.default_rng(3))
    assert face.dtype == np.uint8 and face.shape == (128, 128)
    assert np.array_equal(face, draw_face(np.random.default_rng(3)))
    other = draw_face(np.random.default_rng(4))
    assert np.abs(face.astype(int) - other).mean() > 5
    assert draw_face(np.random.default_rng(3), size=64).shape == (64, 64)
    with pytest.raises(ValueError, match="size >= 32"):
        draw_face(np.random.default_rng(0), size=16)


def test_draw_face_flow_is_well_posed_on_the_interior():
    """A known smooth displacement is recovered by TV-L1 on the textured face (not only at edges)."""
    face = draw_face(np.random.default_rng(1)).astype(np.float32)
    ys, xs = np.mgrid[0:128, 0:128].astype(np.float32)
    dx = 1.5 * np.exp(-((xs - 64) ** 2 + (ys - 50) ** 2) / (2 * 14.0 ** 2))
    dy = -1.2 * np.exp(-((xs - 60) ** 2 + (ys - 82) ** 2) / (2 * 14.0 ** 2))
    warped = cv2.remap(face, xs - dx, ys - dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    flow = cv2.optflow.DualTVL1OpticalFlow_create().calc(np.round(face).astype(np.uint8),
                                                         np.round(warped).astype(np.uint8), None)
    inner = (slice(28, 100), slice(28, 100))
    error = np.hypot(flow[..., 0] - dx, flow[..., 1] - dy)[inner]
    assert error.mean() < 0.15, error.mean()
    # Texture: the skin of the cheeks is not flat.
    assert face[70:85, 30:45].std() > 3


def test_action_units_move_the_right_parts():
    g = sample_geometry(np.random.default_rng(0))
    s = 128

    def mean_motion(emotion, x, y):
        field = displacement_field(action_unit_bumps(g, emotion, s, 2.0), s)
        return field[int(y * s) - 2:int(y * s) + 3, int(x * s) - 2:int(x * s) + 3].mean(axis=(0, 1))

    brow = (g.center[0] + g.eye_dx, g.eye_y - g.brow_gap)
    assert mean_motion("surprise", *brow)[1] < -1.0      # brows up
    assert mean_motion("negative", *brow)[1] > 0.5       # brows down
    corner = (g.center[0] + g.mouth_half_width, g.mouth_y)
    dx, dy = mean_motion("positive", *corner)
    assert dy < -0.8 and dx > 0.4                          # lip corner up and outwards
    upper_lip = (g.center[0], g.mouth_y - g.lip_thickness)
    assert mean_motion("negative", *upper_lip)[1] > 0.4   # upper lip pressed down
    assert abs(mean_motion("surprise", *corner)[1]) < 0.1  # surprise leaves the mouth corners alone
    with pytest.raises(ValueError, match="unknown synthetic emotion"):
        action_unit_bumps(g, "anger", s, 1.0)


def _warp_residual(pair, sign: float) -> float:
    ys, xs = np.mgrid[0:128, 0:128].astype(np.float32)
    predicted = cv2.remap(pair.onset.astype(np.float32), xs - sign * pair.displacement[..., 0],
                          ys - sign * pair.displacement[..., 1], cv2.INTER_LINEAR)
    return float(np.abs(predicted - pair.apex)[16:112, 16:112].mean())


def test_pair_obeys_the_warp_contract_and_amplitude_bound():
    rng = np.random.default_rng(5)
    g = sample_geometry(rng)
    base = render_face(g, rng, 128)
    for emotion in ("negative", "positive", "surprise"):
        pair = make_pair(g, base, emotion, np.random.default_rng(7), amplitude=5.0)  # asks for too much
        magnitude = np.hypot(pair.displacement[..., 0], pair.displacement[..., 1])
        # <= 2 px of action-unit motion, plus < 0.7 px of rigid head jitter.
        assert magnitude.max() <= MAX_DISPLACEMENT + 0.7
        residual = _warp_residual(pair, sign=1.0)
        assert residual < 2.8  # sensor noise (1.5 per frame) + one extra interpolation
        # The motion is there, and apex(x) = onset(x - d(x)) explains it (the opposite sign does not).
        assert residual < 0.75 * np.abs(pair.onset.astype(np.float32) - pair.apex)[16:112, 16:112].mean()
        assert residual < 0.6 * _warp_residual(pair, sign=-1.0)
        x, y, w, h = pair.face_box
        assert 0 <= x and 0 <= y and x + w <= 128 and y + h <= 128 and w > 64 and h > 80


def test_synthetic_dataset_features_balance_and_determinism(tmp_path):
    ds = load_me_dataset("synthetic", num_subjects=3, samples_per_subject=6, seed=11, cache_dir=tmp_path / "a")
    expected = core_features(("negative", "positive", "surprise"))
    assert {k: v for k, v in ds.features.items() if k != "face_box"} == expected
    assert len(ds) == 18 and set(ds["subject"]) == {"synth01", "synth02", "synth03"}
    for subject in ("synth01", "synth02", "synth03"):
        labels = [lab for lab, sub in zip(ds["label"], ds["subject"]) if sub == subject]
        assert sorted(labels) == [0, 0, 1, 1, 2, 2]
    assert ds[0]["onset"].size == (128, 128) and ds[0]["onset"].mode == "L"
    again = load_me_dataset("synthetic", num_subjects=3, samples_per_subject=6, seed=11, cache_dir=tmp_path / "b")
    assert ds.with_format("arrow")[:].equals(again.with_format("arrow")[:])
    other = load_me_dataset("synthetic", num_subjects=3, samples_per_subject=6, seed=12, cache_dir=tmp_path / "a")
    assert np.asarray(other[0]["apex"]).tobytes() != np.asarray(ds[0]["apex"]).tobytes()
    # Growing the corpus keeps the existing subjects' samples.
    bigger = list(synthetic_samples(num_subjects=4, samples_per_subject=6, seed=11))
    assert np.array_equal(bigger[7]["apex"], np.asarray(ds[7]["apex"]))


def test_subjects_differ_in_geometry_and_expressiveness():
    geometries = [sample_geometry(np.random.default_rng([0, i])) for i in range(8)]
    assert np.std([g.eye_y for g in geometries]) > 0.005 and np.std([g.mouth_y for g in geometries]) > 0.005
    fields = []
    for g in geometries[:2]:
        fields.append(displacement_field(action_unit_bumps(g, "positive", 128, 1.5), 128))
    peaks = [np.unravel_index(np.argmax(np.hypot(f[..., 0], f[..., 1])), (128, 128)) for f in fields]
    assert peaks[0] != peaks[1]


def test_synthetic_generation_is_fast():
    # CPU time of this process, not wall time, so that other jobs on a shared machine cannot fail the test.
    start = time.process_time()
    pairs = list(synthetic_samples(num_subjects=4, samples_per_subject=25, seed=0))
    rate = len(pairs) / (time.process_time() - start)
    assert rate > 100, f"{rate:.0f} pairs per CPU-second"  # measured ~500/s on one shared core


def test_synthetic_task_is_learnable_from_the_flow_under_loso(tmp_path):
    """8 subjects x 12 samples, the processor's flow, a linear classifier, leave-one-subject-out: UF1 >= 0.9."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    from dataset_scripts import prepare_model_inputs
    from epir_hf.image_processing_epir import EPIRImageProcessor

    ds = load_me_dataset("synthetic", num_subjects=8, samples_per_subject=12, seed=0, cache_dir=tmp_path)
    inputs = prepare_model_inputs(ds, EPIRImageProcessor(flow_method="dis")).with_format("numpy")
    x = np.asarray(inputs["pixel_values"][:]).reshape(len(inputs), -1)
    y, groups = np.asarray(inputs["label"][:]), np.asarray(inputs["subject"][:])
    predicted = np.empty_like(y)
    for subject in np.unique(groups):
        held_out = groups == subject
        model = LogisticRegression(max_iter=2000).fit(x[~held_out], y[~held_out])
        predicted[held_out] = model.predict(x[held_out])
    assert f1_score(y, predicted, average="macro") >= 0.9

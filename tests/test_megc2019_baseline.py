"""The LBP-χ²-distance spotting method of the MEGC2019 spotting paper (epir_hf.evaluation.megc2019_baseline)."""

import cv2
import numpy as np
import pytest

from dataset_scripts.synthetic import action_unit_bumps, displacement_field, render_face, sample_geometry
from epir_hf.evaluation.megc2019_baseline import (
    LBPFeatureDifference,
    contrasted_difference,
    half_interval,
    spot,
    threshold,
)

FPS = 30.0  # CAS(ME)²'s frame rate: N = 10 frames, k = 5
P_CASME2 = 0.15
EVENT = (25, 35)  # onset and offset (inclusive) of the synthetic micro-expression
NUM_FRAMES = 60


def drawn_clip(seed: int, emotion: str | None, amplitude: float = 3.0, noise: float = 0.5) -> list[np.ndarray]:
    """A still drawn face with sensor noise (sd `noise` grey levels); with `emotion`, its action units rise and fall
    (sin² of time, peak `amplitude` px at the middle frame) between the frames of EVENT."""
    rng = np.random.default_rng(seed)
    geometry = sample_geometry(rng)
    base = render_face(geometry, rng, 128)
    field = displacement_field(action_unit_bumps(geometry, emotion, 128, amplitude), 128) if emotion else None
    ys, xs = np.mgrid[0:128, 0:128].astype(np.float32)
    onset, offset = EVENT
    frames = []
    for t in range(NUM_FRAMES):
        face = base
        if field is not None and onset <= t <= offset:
            weight = np.float32(np.sin(np.pi * (t - onset) / (offset - onset)) ** 2)
            face = cv2.remap(base, xs - weight * field[..., 0], ys - weight * field[..., 1], cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REFLECT101)
        noisy = face + rng.normal(0.0, noise, face.shape)
        frames.append(np.clip(np.rint(noisy), 0, 255).astype(np.uint8))
    return frames


def iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]) + 1)
    return inter / ((a[1] - a[0] + 1) + (b[1] - b[0] + 1) - inter)


def test_half_interval_matches_the_authors_settings():
    # Their code: N = 10 at 30 fps (CAS(ME)²) and N = 61 at 200 fps (SAMM), k = ceil((N - 1) / 2).
    assert half_interval(30.0) == 5
    assert half_interval(200.0) == 30
    assert LBPFeatureDifference(30.0).top_blocks == 12  # M = 36 / 3


@pytest.mark.parametrize("emotion", ["surprise", "positive"])  # brow raise; lip-corner pull with cheek raise
def test_the_event_is_spotted_and_nothing_else(emotion):
    feature = LBPFeatureDifference(FPS)
    intervals = spot(feature.feature_difference(drawn_clip(0, emotion)), P_CASME2, feature.k)
    assert len(intervals) == 1, intervals
    onset, peak, offset = intervals[0]
    assert iou((onset, offset), EVENT) >= 0.5
    assert EVENT[0] <= peak <= EVENT[1]


def test_a_still_noisy_clip_spots_its_largest_noise_peak():
    # The threshold is relative to the video: the maximum of a non-constant contrast always exceeds it for p < 1,
    # so a clip without any expression still gets one interval or more; p = 1 (strictly above the maximum) gets none.
    feature = LBPFeatureDifference(FPS)
    signal = feature.feature_difference(drawn_clip(0, None))
    contrast = contrasted_difference(signal, feature.k)
    intervals = spot(signal, P_CASME2, feature.k)
    assert int(np.argmax(contrast)) in [peak for _, peak, _ in intervals]
    assert spot(signal, 1.0, feature.k) == []
    # The same noise with the event: the event's contrast stands well above every contrast of the still clip.
    with_event = contrasted_difference(feature.feature_difference(drawn_clip(0, "surprise")), feature.k)
    assert with_event.max() > 3 * contrast.max()


def test_identical_frames_give_zero_difference_and_no_spot():
    frame = drawn_clip(1, None)[0]
    feature = LBPFeatureDifference(FPS)
    signal = feature.feature_difference(frame for _ in range(20))
    assert signal.shape == (20,)
    assert np.array_equal(signal, np.zeros(20))
    assert spot(signal, P_CASME2, feature.k) == []


def test_feature_difference_follows_the_definition():
    # Independent of the streaming window: every frame's histograms at once, the χ² and the top-M mean by hand.
    frames = drawn_clip(2, "surprise", noise=2.0)[18:42]
    feature = LBPFeatureDifference(FPS)
    k, m = feature.k, feature.top_blocks
    histograms = [feature.block_histograms(frame) for frame in frames]
    expected = []
    for i in range(k, len(frames) - k):
        average = (histograms[i - k] + histograms[i + k]) / 2
        total = histograms[i] + average
        chi2 = np.where(total > 0, (histograms[i] - average) ** 2 / np.where(total > 0, total, 1), 0).sum(axis=1)
        expected.append(np.sort(chi2)[::-1][:m].mean())
    signal = feature.feature_difference(iter(frames))
    np.testing.assert_allclose(signal[k:-k], expected, rtol=1e-12)
    # Frames within k of either end take the value of the nearest frame that has a tail and a head frame.
    assert np.all(signal[:k] == signal[k]) and np.all(signal[-k:] == signal[-k - 1])


def test_block_histograms_of_a_flat_face_are_one_pattern():
    # On a constant image every neighbour equals the centre (>= holds), so every pixel has the same code.
    feature = LBPFeatureDifference(FPS)
    histograms = feature.block_histograms(np.full((90, 70), 120.0, np.float32))
    assert histograms.shape == (36, 59)
    np.testing.assert_allclose(histograms.sum(axis=1), 1.0)
    assert np.all(histograms.max(axis=1) == 1.0)
    assert len(set(histograms.argmax(axis=1))) == 1


def test_contrast_threshold_and_peaks_by_hand():
    # k = 1. FD = [1, 1, 1, 5, 1, 1, 3, 1, 1, 1]: C_3 = 5 - (1 + 1)/2 = 4, C_6 = 3 - (1 + 1)/2 = 2, C_2 = 1 - (1 + 5)/2
    # and the others are negative or 0, so C = [0, 0, 0, 4, 0, 0, 2, 0, 0, 0], C_mean = 0.6, C_max = 4.
    fd = [1, 1, 1, 5, 1, 1, 3, 1, 1, 1]
    np.testing.assert_allclose(contrasted_difference(np.array(fd), 1), [0, 0, 0, 4, 0, 0, 2, 0, 0, 0])
    assert threshold(contrasted_difference(np.array(fd), 1), 0.3) == pytest.approx(0.6 + 0.3 * 3.4)
    assert spot(np.array(fd), 0.3, 1) == [(2, 3, 4), (5, 6, 7)]  # T = 1.62: both peaks
    assert spot(np.array(fd), 0.5, 1) == [(2, 3, 4)]  # T = 2.3: only the higher peak
    assert spot(fd, 1.0, 1) == []  # T = 4 = C_max, and peaks must lie strictly above T


def test_peaks_closer_than_k_keep_the_higher():
    # k = 3. FD = [1, 1, 1, 1, 5, 1, 4, 1, 1, 1, 1, 1]: C_4 = 5 - (1 + 1)/2 = 4, C_6 = 4 - (1 + 1)/2 = 3, C_3 and C_7
    # negative: C = [0, 0, 0, 0, 4, 0, 3, 0, ...], T(p = 0) = 7/12. Both peaks exceed T but lie 2 < k frames apart.
    fd = np.array([1, 1, 1, 1, 5, 1, 4, 1, 1, 1, 1, 1], dtype=float)
    assert spot(fd, 0.0, 3) == [(1, 4, 7)]


@pytest.mark.parametrize("fps", [0, -30.0, float("nan"), float("inf"), "30", True, None])
def test_bad_fps(fps):
    with pytest.raises(ValueError, match="fps"):
        LBPFeatureDifference(fps)


def test_interval_under_one_frame():
    with pytest.raises(ValueError, match="under one frame"):
        LBPFeatureDifference(1.0)  # 0.3 s at 1 fps


@pytest.mark.parametrize("arguments, name", [({"grid": 0}, "grid"), ({"top_blocks": 37}, "top_blocks"),
                                             ({"size": 10}, "size"), ({"interval_s": -0.3}, "interval_s")])
def test_bad_settings(arguments, name):
    with pytest.raises(ValueError, match=name):
        LBPFeatureDifference(FPS, **arguments)


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan"), "0.1", None])
def test_bad_p(p):
    with pytest.raises(ValueError, match="p must be a number in"):
        spot(np.arange(12.0), p, 1)


def test_crops_of_different_shapes_name_the_frame():
    crops = [np.zeros((64, 64), np.uint8)] * 3 + [np.zeros((64, 60), np.uint8)]
    with pytest.raises(ValueError, match=r"face crop 3 has shape \(64, 60\).*crop 0 has shape \(64, 64\)"):
        LBPFeatureDifference(FPS).feature_difference(crops)


@pytest.mark.parametrize("bad, message", [
    (np.zeros((64, 64), np.int16), r"face crop 2 must be uint8 or float"),
    (np.full((64, 64), np.nan, np.float32), r"face crop 2 holds NaN or infinite"),
])
def test_bad_crops_name_the_frame(bad, message):
    crops = [np.zeros((64, 64), np.uint8)] * 2 + [bad] + [np.zeros((64, 64), np.uint8)] * 9
    with pytest.raises(ValueError, match=message):
        LBPFeatureDifference(FPS).feature_difference(crops)


def test_colour_crops_are_refused():
    message = r"face crop 0 must be a non-empty 2-D grayscale numpy array, got \(64, 64, 3\)"
    with pytest.raises(ValueError, match=message):
        LBPFeatureDifference(FPS).feature_difference([np.zeros((64, 64, 3), np.uint8)] * 12)


def test_too_short_video():
    with pytest.raises(ValueError, match=r"at least 2k \+ 1 = 11 frames \(k = 5\), got 10"):
        LBPFeatureDifference(FPS).feature_difference([np.zeros((64, 64), np.uint8)] * 10)
    with pytest.raises(ValueError, match=r"at least 2k \+ 1 = 11 frames"):
        spot(np.zeros(10), P_CASME2, 5)


@pytest.mark.parametrize("signal, k, message", [(np.zeros((12, 2)), 1, "1-D"), (np.full(12, np.nan), 1, "NaN"),
                                                (np.zeros(12), 0, "k must be"), ("abc", 1, "1-D")])
def test_bad_signal(signal, k, message):
    with pytest.raises(ValueError, match=message):
        spot(signal, P_CASME2, k)

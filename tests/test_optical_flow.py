"""Flow stage, strain, flow-image layout, face cropping and apex spotting, measured against known motion."""

import csv

import cv2
import numpy as np
import pytest

from dataset_scripts.synthetic import draw_face
from epir_hf.apex_spotting import spot_apex
from epir_hf.face_crop import check_box, expand_box
from epir_hf.image_processing_epir import EPIRImageProcessor
from epir_hf.optical_flow import compute_optical_flow, flow_to_image, min_max_to_uint8, optical_strain

INTERIOR = 16  # px left out at each border of a 128 px crop when scoring flow (borders have no matching content)


def smooth_field(size: int, max_px: float, seed: int) -> np.ndarray:
    """A random smooth displacement field [size, size, 2] (low-frequency sinusoids) with max |component| = max_px."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64) / size
    components = []
    for _ in range(2):
        phase, freq = rng.uniform(0, 2 * np.pi, 2), rng.uniform(0.5, 1.5, 2)
        components.append(np.sin(2 * np.pi * freq[0] * xs + phase[0]) * np.cos(2 * np.pi * freq[1] * ys + phase[1]))
    field = np.dstack(components)
    return (field * (max_px / np.abs(field).max())).astype(np.float32)


def warp(image: np.ndarray, field: np.ndarray) -> np.ndarray:
    """The apex frame of a forward displacement: apex(x) = onset(x - field(x)), bicubic, same dtype."""
    ys, xs = np.mgrid[0:image.shape[0], 0:image.shape[1]].astype(np.float32)
    warped = cv2.remap(image.astype(np.float32), xs - field[..., 0], ys - field[..., 1], cv2.INTER_CUBIC,
                       borderMode=cv2.BORDER_REFLECT)
    return np.clip(np.rint(warped), 0, 255).astype(image.dtype) if image.dtype == np.uint8 else warped


def true_forward_flow(field: np.ndarray) -> np.ndarray:
    """Exact onset→apex flow f of `warp(·, field)`: the onset pixel y lands at x = y + f(y) with f(y) = field(x).

    Solved by fixed-point iteration (a contraction, since the field's gradient is far below 1).
    """
    ys, xs = np.mgrid[0:field.shape[0], 0:field.shape[1]].astype(np.float32)
    flow = field.copy()
    for _ in range(30):
        flow = np.dstack([cv2.remap(field[..., c], xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REFLECT) for c in range(2)])
    return flow


def mean_epe(flow: np.ndarray, truth: np.ndarray) -> float:
    inner = (slice(INTERIOR, -INTERIOR), slice(INTERIOR, -INTERIOR))
    return float(np.linalg.norm(flow - truth, axis=-1)[inner].mean())


def processor_epe(face: np.ndarray, seed: int, method: str) -> float:
    """The flow stage's error on a smooth random field. The field's drift over the nose would be taken for head motion
    and aligned away, so alignment is off here (it has its own tests); the lighting match stays on."""
    field = smooth_field(face.shape[0], 2.0, seed)
    processor = EPIRImageProcessor(do_face_crop=False, flow_method=method, flow_size=face.shape[0], align_face=False)
    flow = processor.process_pair(face, warp(face, field)).flow
    return mean_epe(flow, true_forward_flow(field))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tvl1_flow_stage_end_point_error_on_drawn_faces(seed):
    face = draw_face(np.random.default_rng(seed), 128)
    epe = processor_epe(face, seed, "tvl1")
    zero_flow_epe = mean_epe(np.zeros((128, 128, 2), np.float32), true_forward_flow(smooth_field(128, 2.0, seed)))
    assert epe <= 0.3, f"TV-L1 mean EPE {epe:.3f} px exceeds the 0.3 px target"
    assert epe < 0.2 * zero_flow_epe


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_fast_flow_methods_recover_the_motion(method):
    face = draw_face(np.random.default_rng(3), 128)
    assert processor_epe(face, 3, method) <= 0.4


@pytest.mark.real_data
def test_tvl1_flow_stage_end_point_error_on_real_faces(composite_dir):
    with open(composite_dir / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    picked = [next(row for row in rows if row["dataset"] == part) for part in ("casme2", "samm", "smic")]
    errors = []
    for seed, row in enumerate(picked):
        apex = cv2.imread(str(composite_dir / "apex" / row["imagename"]), cv2.IMREAD_GRAYSCALE)
        assert apex is not None, row["imagename"]
        errors.append(processor_epe(cv2.resize(apex, (128, 128), interpolation=cv2.INTER_AREA), seed, "tvl1"))
    assert max(errors) <= 0.3, f"TV-L1 mean EPE per real face: {errors}"


def test_flow_direction_follows_the_opencv_convention():
    face = draw_face(np.random.default_rng(4), 128)
    field = np.zeros((128, 128, 2), np.float32)
    field[..., 0], field[..., 1] = 1.0, -0.5  # content moves right and up
    flow = compute_optical_flow(face, warp(face, field), "tvl1")
    assert np.allclose(flow[INTERIOR:-INTERIOR, INTERIOR:-INTERIOR].mean(axis=(0, 1)), [1.0, -0.5], atol=0.05)


def test_optical_strain_matches_the_analytic_strain():
    ys, xs = np.mgrid[0:64, 0:64].astype(np.float64)
    u, v = 0.02 * xs**2, 0.5 * np.sin(ys / 10.0) + 0.03 * xs * ys
    # u_x = 0.04x, u_y = 0, v_x = 0.03y, v_y = 0.05cos(y/10) + 0.03x
    expected = np.sqrt((0.04 * xs) ** 2 + (0.05 * np.cos(ys / 10) + 0.03 * xs) ** 2 + 0.5 * (0.03 * ys) ** 2)
    strain = optical_strain(np.dstack([u, v]).astype(np.float32))
    assert strain.dtype == np.float32
    assert np.allclose(strain[1:-1, 1:-1], expected[1:-1, 1:-1], rtol=1e-3, atol=1e-3)


def test_flow_image_channels_are_u_v_strain_in_rgb_order():
    face = draw_face(np.random.default_rng(5), 128)
    field = smooth_field(128, 2.0, 5)
    truth = true_forward_flow(field)
    image = EPIRImageProcessor(do_face_crop=False, align_face=False).compute_flow_image(face, warp(face, field))
    assert image.shape == (28, 28, 3) and image.dtype == np.uint8
    expected = flow_to_image(truth, 28, 28).astype(np.float64)
    inner = (slice(4, -4), slice(4, -4))
    correlations = [np.corrcoef(image[inner + (c,)].ravel(), expected[inner + (c,)].ravel())[0, 1] for c in range(3)]
    assert correlations[0] > 0.95 and correlations[1] > 0.95, correlations
    assert correlations[2] > 0.85, correlations
    # every channel spans the full 0..255 range, as in the public composite PNGs
    assert (image.reshape(-1, 3).min(axis=0) == 0).all() and (image.reshape(-1, 3).max(axis=0) == 255).all()


def test_min_max_maps_a_constant_channel_to_zero():
    channels = np.dstack([np.full((4, 4), 3.0), np.arange(16.0).reshape(4, 4)])
    out = min_max_to_uint8(channels)
    assert (out[..., 0] == 0).all() and out[..., 1].min() == 0 and out[..., 1].max() == 255


@pytest.mark.parametrize("onset, apex, method, message", [
    (np.zeros((32, 32), np.uint8), np.zeros((32, 32), np.uint8), "lk", "flow method must be one of"),
    (np.zeros((32, 32), np.uint8), np.zeros((32, 30), np.uint8), "tvl1", "same shape"),
    (np.zeros((32, 32, 3), np.uint8), np.zeros((32, 32, 3), np.uint8), "tvl1", "2-D grayscale"),
    (np.zeros((32, 32), np.int32), np.zeros((32, 32), np.int32), "dis", "uint8 or float"),
])
def test_compute_optical_flow_rejects_bad_input(onset, apex, method, message):
    with pytest.raises(ValueError, match=message):
        compute_optical_flow(onset, apex, method)


def test_optical_strain_rejects_a_non_flow_array():
    with pytest.raises(ValueError, match=r"\[H, W, 2\]"):
        optical_strain(np.zeros((8, 8, 3), np.float32))


def face_in_frame(seed: int, face_size: int = 200, frame_shape=(480, 640), top_left=(120, 260)) -> np.ndarray:
    """A drawn face pasted into a larger noisy frame at `top_left` (row, column)."""
    rng = np.random.default_rng(seed)
    frame = np.clip(rng.normal(60, 12, frame_shape), 0, 255).astype(np.uint8)
    row, col = top_left
    frame[row:row + face_size, col:col + face_size] = draw_face(rng, face_size)
    return frame


def test_expand_box_grows_and_clips():
    assert expand_box((10, 10, 100, 50), 0.1, 480, 640) == (0, 5, 120, 60)
    assert expand_box((600, 400, 100, 100), 0.0, 480, 640) == (600, 400, 40, 80)


@pytest.mark.parametrize("box, message", [((0, 0, 10), "4 numbers"), (("a", 0, 1, 1), "4 numbers"),
                                          ((600, 0, 100, 100), "inside the 640x480 frame"),
                                          ((0, 0, 4, 4), "at least 8x8")])
def test_check_box_rejects_bad_boxes(box, message):
    with pytest.raises(ValueError, match=message):
        check_box(box, 480, 640, "sample 0 face box")


def micro_expression_clip(seed: int, amplitudes, size: int = 128) -> list[np.ndarray]:
    """Frames of a drawn face deformed by a smooth field scaled by `amplitudes` (frame 0 = neutral)."""
    face = draw_face(np.random.default_rng(seed), size)
    field = smooth_field(size, 1.0, seed)
    rng = np.random.default_rng(seed + 100)
    frames = []
    for amplitude in amplitudes:
        frame = warp(face, field * amplitude).astype(np.float32) + rng.normal(0, 1.0, face.shape)
        frames.append(np.clip(np.rint(frame), 0, 255).astype(np.uint8))
    return frames


RAMP = [0.0, 0.3, 0.7, 1.2, 1.8, 2.4, 1.9, 1.1, 0.5]  # apex at index 5


@pytest.mark.parametrize("score", ["strain", "magnitude"])
def test_spot_apex_finds_the_frame_of_largest_motion(score):
    spotting = spot_apex(micro_expression_clip(7, RAMP), score=score)
    assert spotting.apex_index == 5
    assert spotting.scores[0] == 0 and spotting.scores.shape == (len(RAMP),)
    assert spotting.scores[5] > spotting.scores[2] > 0


def test_spot_apex_uses_the_given_onset():
    frames = micro_expression_clip(8, RAMP)
    spotting = spot_apex(frames, onset_index=len(frames) - 1)
    assert spotting.scores[-1] == 0 and spotting.apex_index == 5


@pytest.mark.parametrize("kwargs, message", [({"frames": [np.zeros((32, 32))]}, "at least 2 frames"),
                                             ({"onset_index": 5}, "out of range"),
                                             ({"score": "energy"}, "apex score must be one of")])
def test_spot_apex_rejects_bad_arguments(kwargs, message):
    arguments = {"frames": [np.zeros((32, 32))] * 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        spot_apex(**arguments)


def test_an_opencv_build_without_tvl1_is_a_clear_error(monkeypatch):
    """Other OpenCV wheels overwrite cv2 without TV-L1: say which build to install (the face detector's case is in
    test_face_crop.py)."""
    monkeypatch.delattr(cv2, "optflow")
    frame = np.full((64, 64), 128, dtype=np.uint8)
    with pytest.raises(ImportError, match="no cv2.optflow.*opencv-contrib-python-headless"):
        compute_optical_flow(frame, frame, method="tvl1")

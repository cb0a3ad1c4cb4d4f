"""epir_hf.face_crop.locate_faces / locate_face: faces in full frames and frames that are already face crops.

The synthetic tests use the procedurally drawn faces of `dataset_scripts.synthetic` (the Haar cascades find them);
the `real_data` tests run a small version of `benchmarks/bench_face_crop.py` on the MEGC2019 composite crops and
paste two of those crops into one frame.
"""

from __future__ import annotations

import pickle
import threading
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
from _loso_testing import load_script

from dataset_scripts.synthetic import draw_face
from epir_hf.face_crop import FaceDetection, locate_face, locate_faces


@pytest.fixture(scope="module")
def bench():
    return load_script("benchmarks/bench_face_crop.py")


def tight_crop(seed: int, side: int = 224) -> np.ndarray:
    """A drawn face cut to the box `locate_face` gives for it (no background left), resized to `side`."""
    face = draw_face(np.random.default_rng(seed), 256)
    detection = locate_face(face)
    assert detection is not None and not detection.whole_frame
    x, y, w, h = detection.box
    return cv2.resize(face[y:y + h, x:x + w], (side, side), interpolation=cv2.INTER_AREA)


def noisy_frame(seed: int, shape=(480, 640)) -> np.ndarray:
    return np.clip(np.random.default_rng(seed).normal(90, 20, shape), 0, 255).astype(np.uint8)


def pasted(face: np.ndarray, frame: np.ndarray, x: int, y: int, side: int) -> tuple[np.ndarray, tuple]:
    frame = frame.copy()
    frame[y:y + side, x:x + side] = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)
    return frame, (x, y, side, side)


def side_by_side(faces: list[np.ndarray], sides: tuple[int, int], seed: int = 12) -> tuple[np.ndarray, list[tuple]]:
    """Two faces pasted next to each other, vertically centred, into a 640x480 noisy frame; their boxes, left first."""
    frame, boxes = noisy_frame(seed), []
    for face, side, x in zip(faces, sides, (20, 340)):
        frame, box = pasted(face, frame, x, (480 - side) // 2, side)
        boxes.append(box)
    return frame, boxes


def inside(box, shape) -> bool:
    x, y, w, h = box
    return x >= 0 and y >= 0 and w > 0 and h > 0 and x + w <= shape[1] and y + h <= shape[0]


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_a_face_crop_is_returned_whole(seed, dtype):
    crop = tight_crop(seed).astype(dtype)
    detection = locate_face(crop)
    assert detection == FaceDetection(box=(0, 0, 224, 224), whole_frame=True, cascade=detection.cascade,
                                      votes=detection.votes)
    assert detection.votes >= 2


def test_a_non_square_face_crop_is_returned_whole():
    crop = cv2.resize(tight_crop(2), (180, 230), interpolation=cv2.INTER_AREA)
    detection = locate_face(crop)
    assert detection is not None and detection.whole_frame and detection.box == (0, 0, 180, 230)


def test_a_drawn_face_with_background_is_not_the_whole_frame():
    face = draw_face(np.random.default_rng(3), 224)  # a head on a plain background, not a tight crop
    detection = locate_face(face)
    assert detection is not None and not detection.whole_frame
    x, _, w, _ = detection.box
    assert 0.5 * 224 < w < 0.9 * 224 and abs(x + w / 2 - 112) < 20


@pytest.mark.parametrize("x, y, side", [(300, 150, 200), (40, 260, 110), (0, 0, 300), (640 - 220, 480 - 220, 220)])
def test_a_face_in_a_frame_is_found_where_it_was_pasted(bench, x, y, side):
    frame, truth = pasted(tight_crop(4), noisy_frame(5), x, y, side)
    detection = locate_face(frame)
    assert detection is not None and not detection.whole_frame
    assert inside(detection.box, frame.shape)
    assert bench.iou(detection.box, truth) >= 0.7, detection
    assert locate_faces(frame) == [detection]  # the one face, reported alone


@pytest.mark.parametrize("sides", [(270, 160), (150, 250)])
def test_several_faces_are_all_found_largest_first(bench, sides):
    # A face this large settles a search that looks for large faces only, which would miss the smaller one.
    frame, boxes = side_by_side([tight_crop(4), tight_crop(10)], sides)
    faces = locate_faces(frame)
    assert len(faces) == 2 and not any(face.whole_frame for face in faces), faces
    largest, smaller = sorted(boxes, key=lambda box: box[2], reverse=True)
    assert bench.iou(faces[0].box, largest) >= 0.7 and bench.iou(faces[1].box, smaller) >= 0.7, faces
    assert all(face.votes >= 2 for face in faces)
    assert locate_face(frame) == faces[0]  # the face the processor uses: the largest


@pytest.mark.parametrize("shape, side", [((720, 1280), 400), ((640, 480), 260), ((120, 160), 60)])
def test_boxes_are_mapped_back_to_frames_of_any_size(bench, shape, side):
    x, y = shape[1] // 3, shape[0] // 4
    frame, truth = pasted(tight_crop(6), noisy_frame(7, shape), x, y, side)
    detection = locate_face(frame)
    assert detection is not None and inside(detection.box, shape)
    assert bench.iou(detection.box, truth) >= 0.7, detection


@pytest.mark.parametrize("frame", [
    np.random.default_rng(0).integers(0, 256, (240, 320)).astype(np.float32),
    np.full((480, 640), 128, np.uint8),
    np.zeros((16, 16), np.uint8),
])
def test_no_face_in_noise_or_flat_frames(frame):
    assert locate_face(frame) is None and locate_faces(frame) == []


@pytest.mark.parametrize("frame, message", [
    (np.zeros((64, 64, 3), np.uint8), "2-D grayscale"),
    (np.zeros((15, 64), np.uint8), "at least 16x16"),
    (np.zeros((64, 64), bool), "real-valued"),
    (np.zeros((64, 64), np.complex64), "real-valued"),
])
def test_rejects_frames_it_cannot_read(frame, message):
    with pytest.raises(ValueError, match=message):
        locate_face(frame)


def test_threads_load_their_own_cascades_and_agree():
    frames = [pasted(tight_crop(8), noisy_frame(seed), 100 + 40 * seed, 120, 220)[0] for seed in range(4)]
    serial = [locate_face(frame) for frame in frames]
    with ThreadPoolExecutor(max_workers=2) as pool:
        threaded = list(pool.map(locate_face, frames))
    assert threaded == serial and all(detection is not None for detection in serial)
    # A detection is plain data: it pickles (e.g. in datasets.map results) and compares by value.
    assert pickle.loads(pickle.dumps(serial[0])) == serial[0]


def test_an_opencv_build_without_the_cascade_classifier_is_a_clear_error(monkeypatch):
    # Run in a fresh thread: its cascade cache is empty, as in a worker that has not detected yet.
    monkeypatch.delattr(cv2, "CascadeClassifier")
    errors = []
    thread = threading.Thread(target=lambda: errors.append(pytest.raises(ImportError, locate_face,
                                                                         np.zeros((64, 64), np.uint8))))
    thread.start()
    thread.join()
    assert errors and "opencv-contrib-python-headless" in str(errors[0].value)
    assert locate_face(tight_crop(9)).whole_frame  # this thread's cascades were loaded before and still work


@pytest.mark.real_data
def test_real_crops_and_composites_meet_the_benchmark_targets(bench, composite_dir):
    samples, subjects, crops = bench.load_crops(composite_dir)
    # Spread over the three corpora, which are listed one after the other.
    picked = range(0, len(samples), len(samples) // 40)
    samples, subjects, crops = ([values[i] for i in picked][:40] for values in (samples, subjects, crops))
    outcomes = [bench.measure(sample, crop, (0, 0, crop.shape[1], crop.shape[0]))
                for sample, crop in zip(samples, crops)]
    hits = [outcome.iou >= 0.7 for outcome in outcomes]
    assert np.mean(hits) >= 0.97, [outcome for outcome in outcomes if outcome.iou < 0.7]
    assert min(bench.min_side_fraction(outcome, crop.shape) for outcome, crop in zip(outcomes, crops)) >= 0.5

    frames = bench.composites(samples, subjects, crops, seed=0)[::2]
    outcomes = [bench.measure(sample, frame, box) for sample, frame, box in frames]
    assert len(outcomes) == 20
    assert np.mean([outcome.iou >= 0.7 for outcome in outcomes]) >= 0.95, [o for o in outcomes if o.iou < 0.7]


@pytest.mark.real_data
@pytest.mark.parametrize("sides", [(280, 180), (180, 280)])
def test_two_real_faces_in_one_frame_are_both_found_largest_first(bench, composite_dir, sides):
    """Each face is found and told from the other (IoU >= 0.5 with its own pasted box, as a second cascade confirms
    a candidate); how closely boxes fit real faces in scenes is the benchmark's measure (E27), not this test's."""
    samples, subjects, crops = bench.load_crops(composite_dir)
    # The first face of each corpus (listed one after the other), next to the first face of the following one.
    firsts = [subjects.index(next(subject for subject in subjects if subject.startswith(corpus)))
              for corpus in ("casme2", "samm", "smic")]
    for left, right in zip(firsts, firsts[1:] + firsts[:1]):
        frame, boxes = side_by_side([crops[left], crops[right]], sides, seed=left)
        found = [face.box for face in locate_faces(frame)]
        largest, smaller = sorted(boxes, key=lambda box: box[2], reverse=True)
        assert len(found) == 2, (samples[left], samples[right], found)
        assert bench.iou(found[0], largest) >= 0.5 and bench.iou(found[1], smaller) >= 0.5, (boxes, found)

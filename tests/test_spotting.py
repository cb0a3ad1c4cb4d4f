"""Spotting in long videos: lighting match, face alignment, regional motion, events, and the spotting pipeline.

The videos are written with the generator of `dataset_scripts.generated_long_videos` from scripts given here, so each
test knows exactly when the face moves, blinks, shifts or is lit differently.
"""

from __future__ import annotations

import json
import logging

import cv2
import numpy as np
import pytest
from transformers import AutoImageProcessor, AutoModelForImageClassification, pipeline

import epir_hf  # noqa: F401
from dataset_scripts.generated_long_videos import (
    Blink,
    Event,
    LongVideoSettings,
    VideoScript,
    drawn_faces,
    real_faces,
    write_video,
)
from epir_hf.face_registration import FaceTracker
from epir_hf.facial_regions import REGION_NAMES, TEMPLATE_EYES, FaceLayout, RegionalMotion, locate_eyes
from epir_hf.motion_signal import SIGNAL_COLUMNS, _median
from epir_hf.photometric import match_lighting
from epir_hf.spotting import SpottingThresholds, find_events
from epir_hf.video_frames import VideoFrames

CHECKPOINT = "checkpoints/epir-megc2019-3class"
FPS = 30.0
SETTINGS = dict(frame_width=400, frame_height=300, face_size=150, head_drift=0.0)


def script(num_frames: int, events=(), blinks=(), head=None) -> VideoScript:
    head = np.zeros((num_frames, 2), np.float32) if head is None else head
    return VideoScript(num_frames, tuple(events), tuple(blinks), (), head)


def micro(onset: int, apex: int, offset: int, units=(("AU12", 1.0),), peak: float = 1.2) -> Event:
    return Event(onset, apex, offset, "micro", "positive", dict(units), peak, 1.0)


def video(tmp_path, face, video_script: VideoScript, name: str = "clip") -> str:
    settings = LongVideoSettings(duration=video_script.num_frames / FPS, fps=FPS, micro_per_minute=0,
                                 macro_per_minute=0, **SETTINGS)
    path = tmp_path / f"{name}.mp4"
    write_video(path, face, video_script, np.random.default_rng(7), settings)
    return str(path)


def frames_of(path: str) -> list[np.ndarray]:
    with VideoFrames(path) as frames:
        return [frame for _, frame in frames.frames()]


@pytest.fixture(scope="module")
def face():
    return drawn_faces(1, 11, 150, "s{:02d}")[0]


def package_pipeline(task: str):
    """The task's pipeline of this package (not the copies of the code in the checkpoint folder) on the release
    checkpoint's weights and processor."""
    return pipeline(task, model=AutoModelForImageClassification.from_pretrained(CHECKPOINT),
                    image_processor=AutoImageProcessor.from_pretrained(CHECKPOINT))


@pytest.fixture(scope="module")
def spot():
    return package_pipeline("micro-expression-spotting")


# ---------------------------------------------------------------------------------------------- building blocks

def test_lighting_match_undoes_gain_offset_and_gradients():
    rng = np.random.default_rng(0)
    face = drawn_faces(1, 3, 128, "x{}")[0].image[:128, :128]
    ys, xs = np.mgrid[0:128, 0:128] / 128.0
    for changed in (face + 1.0, face * 1.1 - 3.0, face * (1.0 + 0.05 * (xs - 0.5)) + 2.0 * ys):
        assert np.abs(match_lighting(face, changed) - face).max() < 0.05
        assert np.abs(match_lighting(face, changed, undo_motion=True) - face).max() < 0.05
    noisy = face + rng.normal(0, 1.5, face.shape)
    assert np.abs(match_lighting(face, noisy) - noisy).mean() < 0.2  # noise is not lighting: left as it is
    with pytest.raises(ValueError, match="two 2-D frames of one shape"):
        match_lighting(face, face[:64])


def test_tracker_recovers_a_shift_and_a_rotation_and_leaves_a_still_frame_alone(face):
    frame = np.zeros((300, 300), np.float32)
    size = face.image.shape[0]
    frame[50:50 + size, 50:50 + size] = face.image
    left, top, side = face.crop
    box = (round(50 + left), round(50 + top), round(side), round(side))
    tracker = FaceTracker(frame, box, 128)
    still = tracker.align(frame)
    assert still.aligned and still.shift == pytest.approx((0, 0), abs=0.05) and abs(still.rotation) < 0.05
    assert np.abs(still.face - tracker.reference_face).mean() < 0.05
    for dx, dy, degrees in ((4.0, 0.0, 0.0), (-2.5, 3.0, 0.0), (1.0, -1.0, 2.0)):
        moved = cv2.warpAffine(frame, cv2.getRotationMatrix2D((box[0] + side / 2, box[1] + side / 2), degrees, 1.0)
                               + np.float32([[0, 0, dx], [0, 0, dy]]), (300, 300))
        aligned = FaceTracker(frame, box, 128).align(moved)
        assert aligned.aligned and aligned.rotation == pytest.approx(-degrees, abs=0.1)
        if not degrees:  # a rotation about the box's centre also moves the crop's corner, which `shift` follows
            assert aligned.shift == pytest.approx((dx, dy), abs=0.15)
        unaligned = np.abs(moved[box[1]:box[1] + box[3], box[0]:box[0] + box[2]] - frame[box[1]:box[1] + box[3],
                                                                                         box[0]:box[0] + box[2]])
        inner = (slice(8, -8), slice(8, -8))
        assert np.abs(aligned.face - tracker.reference_face)[inner].mean() < 0.2 * unaligned.mean()
    with pytest.raises(ValueError, match="frame is 200x300 but the reference frame is 300x300"):
        tracker.align(frame[:, :200])


def test_the_resting_face_median_is_numpys_to_the_last_bit():
    rng = np.random.default_rng(0)
    for count in range(1, 16):
        faces = (rng.random((count, 32, 32)) * 255).astype(np.float32)
        faces[:, :8] = np.round(faces[:, :8] / 32) * 32  # ties, as flat image areas give
        assert np.array_equal(_median(faces), np.median(faces, axis=0)), count


def test_regions_follow_the_eyes_and_fall_back_to_the_template():
    drawn = drawn_faces(1, 5, 128, "x{}")[0]
    left, top, side = drawn.crop
    crop = cv2.resize(drawn.image[round(top):round(top + side), round(left):round(left + side)], (128, 128))
    eyes = locate_eyes(crop)
    geometry = drawn.geometry
    size = drawn.image.shape[0]
    truth = [((geometry.center[0] + s * geometry.eye_dx) * size - left) / side for s in (-1, 1)]
    assert eyes is not None and [eye[0] for eye in eyes] == pytest.approx(truth, abs=0.05)
    assert FaceLayout.for_face(np.full((128, 128), 128.0, np.float32)).eyes == TEMPLATE_EYES
    flow = np.zeros((128, 128, 2), np.float32)
    rows, cols = FaceLayout(128).slices((0.55, 0.82, 0.62, 0.86))  # the right mouth corner of the template
    flow[rows, cols, 0] = 1.0
    motion = RegionalMotion(FaceLayout(128))(flow)
    assert REGION_NAMES[int(np.argmax(motion))] == "right_mouth_corner" and motion.max() == pytest.approx(1.0, 0.01)


def signal(frames: int, bumps=(), blink=None) -> np.ndarray:
    """A hand-made motion signal: noise around 0.05 px, `bumps` (region, first, last, px) as raised cosines, and a
    blink (first, last) moving the eyes and changing their brightness."""
    rng = np.random.default_rng(1)
    values = 0.05 + 0.01 * rng.standard_normal((frames, len(SIGNAL_COLUMNS))).astype(np.float32)
    values[:, len(REGION_NAMES):] = 1.0 + 0.2 * rng.standard_normal((frames, 2))
    for region, first, last, pixels in bumps:
        values[first:last + 1, REGION_NAMES.index(region)] += pixels * np.sin(np.linspace(0, np.pi, last - first + 1))
    if blink is not None:
        first, last = blink
        for column in ("left_eye", "right_eye", "left_brow", "right_brow", "left_cheek"):
            values[first:last + 1, SIGNAL_COLUMNS.index(column)] += 1.5
        values[first:last + 1, len(REGION_NAMES):] += 10.0
    return values


def test_events_have_their_onset_apex_offset_and_kind():
    events = find_events(signal(600, [("left_brow", 100, 110, 0.6), ("chin", 300, 360, 1.0)]), FPS)
    assert [(event.kind, event.region) for event in events] == [("micro", "left_brow"), ("macro", "chin")]
    assert abs(events[0].apex_frame - 105) <= 1 and 98 <= events[0].onset_frame <= 102
    assert 108 <= events[0].offset_frame <= 112 and events[1].offset_frame - events[1].onset_frame + 1 > 0.5 * FPS


def test_blinks_still_frames_and_lost_faces_give_no_events():
    assert find_events(signal(600, blink=(200, 206)), FPS) == []
    assert find_events(signal(600), FPS) == []  # noise alone stays under min_motion
    lost = signal(600, [("left_brow", 100, 110, 0.6)])
    lost[90:130] = np.nan
    assert find_events(lost, FPS) == []
    assert find_events(np.full((50, len(SIGNAL_COLUMNS)), np.nan), FPS) == []
    with pytest.raises(ValueError, match="expected a motion signal of shape"):
        find_events(np.zeros((10, 3)), FPS)


@pytest.mark.parametrize("values, message", [({"peak": -1}, "peak must be a number >= 0"),
                                             ({"boundary": 2.0}, "boundary is a fraction of the peak"),
                                             ({"blink": float("nan")}, "blink must be a number >= 0")])
def test_bad_thresholds_are_named(values, message):
    with pytest.raises(ValueError, match=message):
        SpottingThresholds(**values)


# ---------------------------------------------------------------------------------------------- the pipeline

def test_the_pipeline_spots_the_event_and_not_the_blink(face, spot, tmp_path):
    path = video(tmp_path, face, script(240, [micro(100, 104, 110)], [Blink(170, 174, 178, 1.0)]))
    result = spot(path, progress=False)
    assert json.loads(json.dumps(result)) == result  # plain JSON
    (event,) = result["events"]
    assert abs(event["apex_frame"] - 104) <= 1 and event["kind"] == "micro" and event["region"].endswith("corner")
    iou = (min(event["offset_frame"], 110) - max(event["onset_frame"], 100) + 1) / (
        max(event["offset_frame"], 110) - min(event["onset_frame"], 100) + 1)
    assert iou >= 0.5
    assert event["start_time"] == pytest.approx(event["onset_frame"] / FPS)
    assert [p["label"] for p in event["predictions"]] and event["reliable_motion"] in (True, False)
    assert result["num_frames"] == len(result["motion"]) == 240 and result["fps"] == FPS
    assert result["window"] == [0, 240] and result["lost"] == [] and result["truncated"] is False
    window = spot(path, start_frame=50, end_frame=200, progress=False, classify=False)
    assert [event["apex_frame"] for event in window["events"]] == [event["apex_frame"] for event in result["events"]]
    assert "predictions" not in window["events"][0] and window["window"] == [50, 200]


def test_a_head_shift_and_a_drift_leave_the_apex_in_place(face, spot, tmp_path):
    shift = np.zeros((240, 2), np.float32)
    shift[60:] = (4.0 / face.scale, 0.0)  # a 4 px head shift in the video, well before the event
    drift = np.linspace(0.0, 8.0, 240, dtype=np.float32)[:, None] / face.scale * np.float32([1.0, 0.5])
    for head in (shift, drift):
        result = spot(video(tmp_path, face, script(240, [micro(150, 154, 160)], head=head)), progress=False)
        assert [abs(event["apex_frame"] - 154) <= 1 for event in result["events"]] == [True]


def test_the_recognition_pipeline_finds_the_apex_through_a_shift_and_a_minute_of_drift(face, tmp_path):
    """The clip apex spotting of `micro-expression-recognition`: a 4 px head shift before the apex, and a drift of 8 px
    over a minute, leave the apex found where it is."""
    recognise = package_pipeline("micro-expression-recognition")
    shift = np.zeros((90, 2), np.float32)
    shift[20:] = (4.0 / face.scale, 0.0)
    result = recognise(video(tmp_path, face, script(90, [micro(40, 45, 52)], head=shift), "shift"))
    assert abs(result["apex_index"] - 45) <= 1
    drift = np.linspace(0.0, 8.0, 1800, dtype=np.float32)[:, None] / face.scale * np.float32([1.0, -0.6])
    result = recognise(video(tmp_path, face, script(1800, [micro(900, 905, 912)], head=drift), "drift"))
    assert abs(result["apex_index"] - 905) <= 1


@pytest.mark.parametrize("change", ["step", "flicker", "exposure", "gradient"])
def test_lighting_changes_are_not_events(face, spot, tmp_path, change):
    frames = frames_of(video(tmp_path, face, script(180)))
    ys, xs = np.mgrid[0:300, 0:400] / 400.0
    for index, frame in enumerate(frames):
        if change == "step" and index >= 90:
            frame += 1.0
        elif change == "flicker":
            frame += 2.0 if index % 2 else -2.0
        elif change == "exposure" and index >= 90:
            frame *= 1.1
        elif change == "gradient":
            frame += 4.0 * np.sin(index / 30.0) * (xs - 0.5)
        np.clip(frame, 0, 255, out=frame)
    assert spot(frames, fps=FPS, progress=False)["events"] == []


def test_several_faces_warn_and_report_their_boxes(spot, tmp_path, caplog):
    small, large = drawn_faces(2, 21, 100, "f{}")[0].image, drawn_faces(1, 22, 150, "g{}")[0].image
    frame = np.full((260, 480), 60.0, np.float32)
    frame[20:20 + large.shape[0], 10:10 + large.shape[1]] = large
    frame[40:40 + small.shape[0], 300:300 + small.shape[1]] = small
    frames = [np.clip(frame + np.random.default_rng(i).normal(0, 1.0, frame.shape), 0, 255) for i in range(40)]
    with caplog.at_level(logging.WARNING):
        result = spot(frames, fps=FPS, progress=False)
    assert "faces found in the onset frame" in caplog.text and len(result["face_boxes"]) == 2
    assert result["face_box"] == result["face_boxes"][0] and result["face_box"][0] < 200  # the larger, on the left
    other = spot(frames, fps=FPS, face_index=1, progress=False)
    assert other["face_box"] == result["face_boxes"][1]


def test_a_face_lost_midway_is_reported(face, spot, tmp_path, caplog):
    frames = frames_of(video(tmp_path, face, script(150)))
    for frame in frames[60:100]:
        frame[:] = 50.0  # the face is gone: an empty scene
    with caplog.at_level(logging.WARNING):
        result = spot(frames, fps=FPS, progress=False)
    assert result["lost"] and result["lost"][0][0] == 60 and "the face was lost in frames 60-" in caplog.text
    assert all(value is None for value in result["motion"][62:98])


def test_a_damaged_video_is_reported_and_can_fail(face, spot, tmp_path, caplog):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (400, 300), False)
    for frame in frames_of(video(tmp_path, face, script(90))):
        writer.write(np.clip(frame, 0, 255).astype(np.uint8))
    writer.release()
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with caplog.at_level(logging.WARNING):
        result = spot(str(path), progress=False)
    assert result["truncated"] and result["num_frames"] < 90 and "decoding stopped at frame" in caplog.text
    with pytest.raises(ValueError, match="decoding stopped at frame .* of the 90 frames"):
        spot(str(path), progress=False, on_truncated="error")


def test_bad_videos_are_clear_errors(face, spot, tmp_path):
    with pytest.raises(FileNotFoundError, match="no such video file"):
        spot(str(tmp_path / "missing.mp4"))
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    with pytest.raises(ValueError, match="OpenCV could not open .*broken.mp4"):
        spot(str(tmp_path / "broken.mp4"))
    frames = frames_of(video(tmp_path, face, script(30)))
    with pytest.raises(ValueError, match="no usable frame rate; pass fps="):
        spot(frames, progress=False)
    with pytest.raises(ValueError, match="at least 2 frames"):
        spot(frames[:1], fps=FPS, progress=False)
    with pytest.raises(ValueError, match=r"frame 10: is 400x200 but frame 0 is 400x300"):
        spot(frames[:10] + [frames[10][:200]] + frames[11:], fps=FPS, progress=False)
    with pytest.raises(ValueError, match="no face found"):
        spot([np.full((300, 400), 90.0, np.float32)] * 10, fps=FPS, progress=False)
    with pytest.raises(ValueError, match="not an \\(onset, apex\\) pair"):
        spot({"onset": frames[0], "apex": frames[1]})
    with pytest.raises(ValueError, match="thresholds must be a SpottingThresholds or a dict"):
        spot(frames, fps=FPS, thresholds={"peek": 3})
    with pytest.raises(ValueError, match="unexpected options \\['apex_index'\\]"):
        spot(frames, fps=FPS, apex_index=3)


@pytest.mark.real_data
def test_real_faces_keep_their_apex_and_ignore_lighting(composite_dir, spot, tmp_path):
    real = real_faces(composite_dir, "held_out", 1, 3, 150, "r{}")[0]
    shift = np.zeros((240, 2), np.float32)
    shift[60:] = (4.0 / real.scale, 0.0)
    result = spot(video(tmp_path, real, script(240, [micro(150, 154, 160)], head=shift)), progress=False)
    assert [abs(event["apex_frame"] - 154) <= 1 for event in result["events"]] == [True]
    frames = frames_of(video(tmp_path, real, script(120), "still"))
    for index, frame in enumerate(frames):
        frame += 2.0 if index % 2 else -2.0
    assert spot(frames, fps=FPS, progress=False)["events"] == []


# ---------------------------------------------------------------------------------------------- the command line

def test_the_command_line_writes_one_row_per_event(face, tmp_path):
    import csv
    import subprocess

    from epir_hf.cli.main import main

    path = video(tmp_path, face, script(180, [micro(90, 94, 100)]))
    output = tmp_path / "events.csv"
    assert main(["spot", path, "--output", str(output), "--model", CHECKPOINT]) == 0
    (row,) = list(csv.DictReader(output.open()))
    assert row["video"] == path and row["kind"] == "micro" and abs(int(row["apex_frame"]) - 94) <= 1
    assert row["label"] in ("negative", "positive", "surprise") and 0 < float(row["label_score"]) <= 1
    done = subprocess.run(["epir-hf", "spot", str(tmp_path / "missing.mp4"), "--output", str(output)],
                          capture_output=True, text=True)
    assert done.returncode == 1 and done.stderr.strip().splitlines() == [
        f"epir-hf: error: no such video file or folder: {tmp_path / 'missing.mp4'}"]
    done = subprocess.run(["epir-hf", "spot", path, "--output", str(output), "--peak", "-1"], capture_output=True,
                          text=True)
    assert done.returncode == 1 and "spotting threshold peak must be a number >= 0" in done.stderr


# ---------------------------------------------------------------------------------------------- saved folders, harness

def test_a_saved_folder_spots_without_epir_hf(face, spot, tmp_path):
    from test_pipeline import run_without_epir_hf

    from epir_hf import save_for_hub

    folder = tmp_path / "saved"
    save_for_hub(spot.model, spot.image_processor, folder)
    path = video(tmp_path, face, script(150, [micro(70, 74, 80)]))
    expected = spot(path, progress=False)
    done = run_without_epir_hf(f"""
        import json
        from transformers import AutoImageProcessor, AutoModelForImageClassification, pipeline
        spot = pipeline("micro-expression-spotting", model={str(folder)!r}, trust_remote_code=True)
        result = spot({path!r}, progress=False)
        print("RESULT", json.dumps(result))
    """, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    remote = json.loads(done.stdout.split("RESULT", 1)[1])
    assert [(e["onset_frame"], e["apex_frame"], e["offset_frame"]) for e in remote["events"]] == [
        (e["onset_frame"], e["apex_frame"], e["offset_frame"]) for e in expected["events"]]
    assert [e["predictions"][0]["label"] for e in remote["events"]] == [
        e["predictions"][0]["label"] for e in expected["events"]]


def test_the_harness_fits_on_the_other_subjects_and_resumes(tmp_path, monkeypatch):
    from dataset_scripts import load_me_dataset
    from epir_hf.evaluation import spotting_evaluation as harness

    rows = list(load_me_dataset("synthetic_long", num_subjects=2, videos_per_subject=1, duration=10.0,
                                frame_width=320, frame_height=240, face_size=100, cache_dir=tmp_path / "cache"))
    chosen = []
    fit = harness.fit_thresholds
    monkeypatch.setattr(harness, "fit_thresholds", lambda videos: chosen.append(sorted(v.subject for v in videos))
                        or fit(videos))
    results = harness.evaluate_corpus(rows, tmp_path / "run", progress=False)
    subjects = sorted(row["subject"] for row in rows)
    # each subject's thresholds come from the other subject's videos, then one fit on all of them
    assert chosen == [[subjects[1]], [subjects[0]], subjects]
    for subject in subjects:
        fold = json.loads((tmp_path / "run" / "folds" / f"{subject}.json").read_text())
        assert fold["thresholds"]["peak"] in harness.PEAK_GRID and fold["baseline_p"] in harness.LBP_P_GRID
    assert json.loads((tmp_path / "run" / "results.json").read_text())["spotting"] == results["spotting"]
    assert {"micro_f1", "macro_f1", "f1"} <= set(results["spotting"]) and "strs" not in results
    monkeypatch.setattr(harness, "measure_video_motion", None)  # a second run reads the signals it measured
    again = harness.evaluate_corpus(rows, tmp_path / "run", progress=False)
    assert again["spotting"] == results["spotting"] and again["baseline_micro_f1"] == results["baseline_micro_f1"]

"""The generated long-video corpus for spotting: scripts obey the ground-truth rules, the written videos decode to the
frames the rows describe, the frames move where the intervals say, and generation is deterministic per split.

The ranges checked here are the corpus' specification (module docstring of `generated_long_videos`), not numbers
measured from its output."""

from __future__ import annotations

import math
import re
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from datasets import load_from_disk

from dataset_scripts import load_me_dataset
from dataset_scripts.action_units import EMOTION_ACTION_UNITS
from dataset_scripts.generated_long_videos import (
    DEVELOPMENT_SEED,
    HELD_OUT_SEED,
    LongVideoSettings,
    drawn_faces,
    eyelid_field,
    generate_long_videos,
    profile,
    real_face_pool,
    real_faces,
    script_video,
)
from dataset_scripts.long_videos import LONG_VIDEO_FEATURES, check_interval
from dataset_scripts.prepare import main as prepare_main
from dataset_scripts.synthetic import render_face, sample_geometry

# Tiny videos: a 64 px face crop in a 192x160 frame.
TINY = dict(frame_width=192, frame_height=160, face_size=64)


def decode(path: str) -> tuple[np.ndarray, float]:
    """All frames of a video as a (T, H, W) float32 grey array, and its frame rate."""
    capture = cv2.VideoCapture(path)
    fps = capture.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame[..., 0].astype(np.float32))
    capture.release()
    return np.stack(frames), fps


def test_profile_rests_at_both_ends_and_peaks_at_the_apex():
    values = profile(10, 13, 20)
    assert len(values) == 11 and values[0] == 0.0 and values[-1] == 0.0 and values[3] == 1.0
    assert np.all(np.diff(values[:4]) > 0) and np.all(np.diff(values[3:]) < 0)
    assert values[1:-1].min() > 0  # every frame strictly inside the interval moves


@pytest.mark.parametrize("fps", [15.0, 25.0, 30.0, 60.0])
def test_scripts_follow_the_ground_truth_rules(fps):
    settings = LongVideoSettings(fps=fps, micro_per_minute=12.0, macro_per_minute=4.0)
    gap, margin = math.ceil(1.0 * fps - 1e-6), math.ceil(0.25 * fps - 1e-6)
    for seed in range(8):
        script = script_video(np.random.default_rng([seed, 0, 0]), settings)
        assert script.num_frames == round(60 * fps) and script.head.shape == (script.num_frames, 2)
        events = script.events
        assert [e.kind for e in events].count("micro") == 12 and [e.kind for e in events].count("macro") == 4
        previous_offset = -1
        for event in events:
            check_interval(event.onset, event.apex, event.offset, event.kind, script.num_frames, f"seed {seed}")
            assert event.onset - previous_offset - 1 >= gap  # the gap before it holds at least 1 s of rest
            previous_offset = event.offset
            seconds = (event.offset - event.onset + 1) / fps
            if event.kind == "micro":
                assert 0.2 <= seconds <= 0.5 and 0.3 <= event.peak <= 1.5
            else:
                assert 1.0 <= seconds <= 3.0 and 2.0 <= event.peak <= 5.0
            fraction = (event.apex - event.onset) / (event.offset - event.onset)
            assert 0.3 - 0.5 / (event.offset - event.onset) <= fraction <= 0.6 + 0.5 / (event.offset - event.onset)
            assert tuple(event.units) in EMOTION_ACTION_UNITS[event.emotion]
        assert script.num_frames - 1 - previous_offset >= gap
        counts = [sum(e.emotion == emotion for e in events) for emotion in EMOTION_ACTION_UNITS]
        assert max(counts) - min(counts) <= 1  # emotions dealt evenly
        clear = [(e.onset - margin, e.offset + margin) for e in events]
        for blink in script.blinks:
            assert 0.1 - 1 / fps <= (blink.end - blink.start + 1) / fps <= 0.3 + 1 / fps
            assert 0.75 <= blink.closure <= 1.0 and blink.start < blink.apex < blink.end < script.num_frames
            assert not any(blink.start <= high and low <= blink.end for low, high in clear)
        for start, end in script.head_jumps:
            assert end - start in (1, 2)  # the head moves within one or two frames
            assert not any(start <= high and low <= end for low, high in clear)
            assert not any(start <= b.end + 1 and b.start - 1 <= end for b in script.blinks)
            shift = np.hypot(*(script.head[end] - script.head[start]))
            assert 1.5 <= shift <= 4.5  # 2-4 px of jump, plus at most 2 frames of drift
        assert np.abs(script.head).max() <= settings.head_drift + 4.0
        # About 15 blinks a minute in the time the events leave.
        assert 5 <= len(script.blinks) <= 20


def test_rates_of_zero_and_a_video_too_short_for_its_events():
    quiet = LongVideoSettings(duration=5.0, micro_per_minute=0.0, macro_per_minute=0.0, blinks_per_minute=0.0,
                              head_jumps_per_minute=0.0, head_drift=0.0)
    script = script_video(np.random.default_rng(0), quiet)
    assert script.events == () and script.blinks == () and script.head_jumps == () and not script.head.any()
    with pytest.raises(ValueError, match=r"2 micro and 1 macro events .* need up to 8\.0 s, more than duration=5\.0"):
        LongVideoSettings(duration=5.0, micro_per_minute=24.0, macro_per_minute=12.0)


def test_a_blink_closes_most_of_the_eye():
    size = 128
    geometry = sample_geometry(np.random.default_rng(3))
    face = render_face(geometry, np.random.default_rng(3), size)
    eye_x, eye_y = round((geometry.center[0] + geometry.eye_dx) * size), geometry.eye_y * size
    half_height = geometry.eye_axes[1] * size
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    open_white = None
    for closure in (0.0, 0.5, 0.9):
        field = eyelid_field(geometry, size, closure, size)
        assert not field[..., 0].any() and not field[: round(eye_y - 3 * half_height)].any()
        assert not field[round(eye_y + half_height) + 2:].any()  # nothing moves below the eyes
        column = field[:, eye_x, 1]
        moved = np.nonzero(column > 0)[0]
        if closure == 0.0:
            assert moved.size == 0
        else:  # the lid's new edge: closure x the opening (2 half-heights) below the upper lid
            assert abs(moved.max() - (eye_y - half_height + closure * 2 * half_height)) <= 1.5
        closed = cv2.remap(face, xs, ys - field[..., 1], cv2.INTER_LINEAR)
        box = closed[round(eye_y - half_height):round(eye_y + half_height) + 1,
                     round(eye_x - geometry.eye_axes[0] * size):round(eye_x + geometry.eye_axes[0] * size) + 1]
        white = int((box > 200).sum())  # the sclera (225) shows only where the lid does not cover it
        open_white = white if open_white is None else open_white
    # A tenth of the opening stays open, plus the sclera's blurred rim along the lower lid.
    assert white < 0.4 * open_white


def test_videos_decode_to_their_rows_deterministically(tmp_path):
    settings = LongVideoSettings(duration=4.0, fps=20.0, micro_per_minute=30.0, macro_per_minute=0.0, **TINY)
    faces = drawn_faces(2, DEVELOPMENT_SEED, settings.face_size, "s{:02d}")
    rows = list(generate_long_videos(tmp_path / "a", faces, 2, DEVELOPMENT_SEED, settings))
    again = list(generate_long_videos(tmp_path / "b", faces, 2, DEVELOPMENT_SEED, settings))
    grown = list(generate_long_videos(tmp_path / "c", faces, 3, DEVELOPMENT_SEED, settings))
    assert [row["video_id"] for row in rows] == ["s01_01", "s01_02", "s02_01", "s02_02"]
    for row, other, bigger in zip(rows, again, [grown[0], grown[1], grown[3], grown[4]]):
        assert {k: v for k, v in row.items() if k != "video"} == {k: v for k, v in other.items() if k != "video"}
        assert {k: v for k, v in row.items() if k != "video"} == {k: v for k, v in bigger.items() if k != "video"}
        frames, fps = decode(row["video"])
        assert Path(row["video"]).parent == (tmp_path / "a").absolute() and row["video"].endswith(".mp4")
        assert frames.shape == (row["num_frames"], 160, 192) and row["num_frames"] == 80 and fps == 20.0
        assert np.array_equal(frames, decode(other["video"])[0])
        assert len(row["onset"]) == 2 and set(row["kind"]) == {"micro"}
        x, y, w, h = row["face_box"]
        assert w == h == 64 and 0 <= x <= 192 - w and 0 <= y <= 160 - h
    assert rows[0]["onset"] != rows[1]["onset"]  # each video draws its own script


def one_video(folder: Path, seed: int, **settings) -> tuple[dict, np.ndarray]:
    """The row and decoded frames of one video without head drift: a 160 px face crop in a 320x320 frame at 25 fps."""
    settings = LongVideoSettings(fps=25.0, head_drift=0.0, frame_width=320, frame_height=320, face_size=160,
                                 **settings)
    row = next(generate_long_videos(folder, drawn_faces(1, seed, settings.face_size, "s{:02d}"), 1, seed, settings))
    return row, decode(row["video"])[0]


def test_frames_move_inside_the_intervals_and_rest_outside(tmp_path):
    """Without drift, blinks and jumps, the face crop changes more between onset and apex than between two frames as
    far apart outside the events (typically; for motions of 1 px and more, always), and less between onset and offset.
    The smallest micro-expressions (0.4 px here) are meant to be barely above the sensor and compression noise."""
    row, frames = one_video(tmp_path, HELD_OUT_SEED, duration=12.0, micro_per_minute=20.0, macro_per_minute=5.0,
                            blinks_per_minute=0.0, head_jumps_per_minute=0.0)
    x, y, w, h = row["face_box"]
    crop = frames[:, y:y + h, x:x + w]

    def change(a: int, b: int) -> float:  # the largest local change of the face between two frames
        return float(cv2.GaussianBlur(np.abs(crop[a] - crop[b]), (0, 0), 3.0).max())

    busy = np.zeros(len(frames), bool)
    for onset, offset in zip(row["onset"], row["offset"]):
        busy[onset:offset + 1] = True
    assert len(row["onset"]) == 5
    for onset, apex, offset, peak in zip(row["onset"], row["apex"], row["offset"], row["peak_displacement"]):
        distance = apex - onset
        rest = [change(t, t - distance) for t in range(distance, len(frames))
                if not busy[t - distance:t + 1].any()]
        moved = change(apex, onset)
        assert moved > 1.5 * np.median(rest) and change(offset, onset) < moved, (onset, moved, np.median(rest))
        if peak >= 1.0:
            assert moved > max(rest), (onset, peak, moved, max(rest))


def test_blinks_and_head_jumps_move_the_frames_where_the_rows_say(tmp_path):
    row, frames = one_video(tmp_path, DEVELOPMENT_SEED, duration=20.0, micro_per_minute=0.0, macro_per_minute=0.0,
                            blinks_per_minute=20.0, head_jumps_per_minute=12.0)
    x, y, w, h = row["face_box"]
    eyes = frames[:, y + round(0.1 * h):y + round(0.35 * h), x:x + w]
    still = float(np.median([np.abs(eyes[t] - eyes[t - 2]).mean() for t in range(2, len(eyes))]))
    assert row["blinks"] and row["head_jumps"]
    for start, end in row["blinks"]:
        middle = (start + end) // 2
        assert np.abs(eyes[middle] - eyes[start]).mean() > 2 * still
    for start, end in row["head_jumps"]:  # the face as a whole shifts by 2-4 px (x 160 / 128)
        (dx, dy), _ = cv2.phaseCorrelate(frames[start, y:y + h, x:x + w], frames[end, y:y + h, x:x + w])
        assert 2.0 * 1.25 - 0.75 <= np.hypot(dx, dy) <= 4.0 * 1.25 + 0.75, (start, end, dx, dy)


def test_loads_as_long_video_rows_with_the_videos_next_to_the_cache(tmp_path):
    options = dict(num_subjects=1, videos_per_subject=2, duration=3.0, fps=20.0, micro_per_minute=20.0,
                   macro_per_minute=0.0, cache_dir=tmp_path, **TINY)
    dataset = load_me_dataset("synthetic_long", **options)
    assert set(LONG_VIDEO_FEATURES) <= set(dataset.features)
    assert {"action_units", "peak_displacement", "blinks", "head_jumps", "face_box"} <= set(dataset.features)
    assert dataset["dataset"] == ["synthetic_long"] * 2 and dataset["subject"] == ["dev01"] * 2
    for row in dataset:
        assert Path(row["video"]).is_file() and Path(row["video"]).is_relative_to(tmp_path.absolute())
        assert len(decode(row["video"])[0]) == row["num_frames"] == 60
        for peak, kind in zip(row["peak_displacement"], row["kind"]):
            assert kind == "micro" and 0.3 * 64 / 128 - 1e-4 <= peak <= 1.5 * 64 / 128 + 1e-4
    cached = load_me_dataset("synthetic_long", **options)
    assert cached["video"] == dataset["video"] and cached["onset"] == dataset["onset"]
    held_out = load_me_dataset("synthetic_long", split="held_out", **options)
    assert DEVELOPMENT_SEED != HELD_OUT_SEED and held_out["subject"] == ["heldout01"] * 2
    assert held_out["onset"] != dataset["onset"]
    assert not np.array_equal(decode(held_out["video"][0])[0][0], decode(dataset["video"][0])[0][0])


def test_prepare_cli_writes_the_rows_and_counts_the_intervals(tmp_path, capsys):
    prepare_main(["synthetic_long", "--num_subjects", "1", "--videos_per_subject", "2", "--split", "held_out",
                  "--duration", "10", "--output", str(tmp_path / "out"), "--cache_dir", str(tmp_path / "cache")])
    saved = load_from_disk(str(tmp_path / "out"))
    assert saved["video_id"] == ["heldout01_01", "heldout01_02"] and saved["kind"] == [["micro"], ["micro"]]
    printed = capsys.readouterr().out
    assert "2 videos, 1 subjects" in printed and re.search(r"synthetic_long +micro +2\n", printed)
    assert all(Path(path).is_file() for path in saved["video"])


@pytest.mark.parametrize(("options", "message"), [
    ({"num_subjects": 0}, r"synthetic_long num_subjects must be an integer >= 1, got 0"),
    ({"videos_per_subject": 1.5}, r"videos_per_subject must be an integer >= 1, got 1.5"),
    ({"split": "test"}, r"split must be one of \('development', 'held_out'\), got 'test'"),
    ({"faces": "photos"}, r"faces must be one of \('drawn', 'real'\), got 'photos'"),
    ({"faces": "real"}, r"faces='real' needs data_dir="),
    ({"duration": 0.5}, r"duration must be a number in \[1, 3600\], got 0.5"),
    ({"fps": 10}, r"fps must be a number in \[15, 240\], got 10"),
    ({"fps": "30"}, r"fps must be a number in \[15, 240\], got '30'"),
    ({"blinks_per_minute": -1.0}, r"blinks_per_minute must be a number in \[0, 60\], got -1.0"),
    ({"frame_width": 641}, r"frame_width must be an even integer >= 128, got 641"),
    ({"face_size": 32}, r"face_size must be an even integer >= 64, got 32"),
    ({"face_size": 400}, r"face_size=400 does not fit a 640x480 frame: subject dev01's face .* needs \d+ px"),
    ({"duration": 2.0, "micro_per_minute": 60.0, "macro_per_minute": 30.0},
     r"2 micro and 1 macro events .* need up to 8\.0 s, more than duration=2\.0"),
    ({"durations": 2.0}, r"synthetic_long has no option 'durations' \(did you mean 'duration'\?\)"),
])
def test_bad_options_are_clear_errors(tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        load_me_dataset("synthetic_long", cache_dir=tmp_path, **options)


def test_data_dir_and_frames_are_refused_where_they_do_not_apply(tmp_path):
    with pytest.raises(ValueError, match="takes data_dir only with faces='real'"):
        load_me_dataset("synthetic_long", tmp_path, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="takes no frames"):
        load_me_dataset("synthetic_long", frames="raw", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="has no task '5class'"):
        load_me_dataset("synthetic_long", task="5class", cache_dir=tmp_path)


def fake_composite(root: Path, subjects: int) -> Path:
    """A folder laid out like the composite release, with drawn faces as its apex crops (two per subject)."""
    (root / "apex").mkdir(parents=True)
    rows = []
    for i in range(subjects):
        for k in range(2):
            name = f"{i:02d}_{k}.jpg"
            face = render_face(sample_geometry(np.random.default_rng([i, k])), np.random.default_rng(k), 224)
            cv2.imwrite(str(root / "apex" / name), face.astype(np.uint8))
            rows.append({"dataset": "casme2", "sub": f"sub{i:02d}", "filename_o": f"EP{k}", "label": 0,
                         "imagename": name})
    pd.DataFrame(rows).to_csv(root / "labels.csv", index=False)
    return root


def test_real_faces_come_from_disjoint_subjects_per_split(tmp_path):
    root = fake_composite(tmp_path / "composite", subjects=5)
    development, held_out = real_face_pool(root, "development"), real_face_pool(root, "held_out")
    assert [s for s, _ in development] == ["casme2/sub00", "casme2/sub02", "casme2/sub04"]
    assert [s for s, _ in held_out] == ["casme2/sub01", "casme2/sub03"]
    faces = real_faces(root, "development", 3, DEVELOPMENT_SEED, 64, "r{:02d}")
    assert [face.image.shape for face in faces] == [(64, 64)] * 3 and faces[0].crop == (0.0, 0.0, 64)
    assert faces[0].mask[32, 32] > 0.99 and faces[0].mask[0, 0] < 0.01
    dataset = load_me_dataset("synthetic_long", root, faces="real", num_subjects=2, videos_per_subject=1,
                              duration=3.0, fps=20.0, micro_per_minute=20.0, macro_per_minute=0.0,
                              cache_dir=tmp_path / "cache", **TINY)
    assert len(dataset) == 2 and all(len(decode(path)[0]) == 60 for path in dataset["video"])
    with pytest.raises(ValueError, match=r"num_subjects=3 exceeds the 2 real subjects of the held_out split"):
        load_me_dataset("synthetic_long", root, faces="real", split="held_out", num_subjects=3, duration=3.0,
                        micro_per_minute=20.0, macro_per_minute=0.0, cache_dir=tmp_path / "cache", **TINY)
    with pytest.raises(FileNotFoundError, match="labels file of the MEGC2019 composite release not found"):
        load_me_dataset("synthetic_long", tmp_path / "nowhere", faces="real", cache_dir=tmp_path / "cache")
    (root / "apex" / "00_0.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"1 apex crops listed in .*labels.csv are missing"):
        real_face_pool(root, "development")


@pytest.mark.real_data
def test_real_composite_crops_make_videos(tmp_path, composite_dir):
    development = {subject for subject, _ in real_face_pool(composite_dir, "development")}
    held_out = {subject for subject, _ in real_face_pool(composite_dir, "held_out")}
    assert len(development) + len(held_out) == 68 and not development & held_out
    dataset = load_me_dataset("synthetic_long", composite_dir, faces="real", num_subjects=2, videos_per_subject=1,
                              duration=4.0, fps=25.0, micro_per_minute=15.0, macro_per_minute=0.0,
                              frame_width=320, frame_height=320, face_size=150, cache_dir=tmp_path)
    faces = real_faces(composite_dir, "development", 2, DEVELOPMENT_SEED, 150, "dev{:02d}")
    for row, face in zip(dataset, faces):
        frames, fps = decode(row["video"])
        assert frames.shape == (100, 320, 320) and fps == 25.0
        x, y, w, h = row["face_box"]
        assert w == h == 150
        # The box holds the subject's real crop (its centre, inside the blending ellipse).
        shown, crop = frames[0, y + 30:y + 120, x + 30:x + 120], face.image[30:120, 30:120]
        assert np.corrcoef(shown.ravel(), crop.ravel())[0, 1] > 0.9

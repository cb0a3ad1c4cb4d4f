"""`epir-hf predict`: pairs, CSVs of pairs, videos and folders to one row each; resume, bad inputs, usage errors, and
the split between processes under `accelerate launch`.

Every input is generated here: onset/apex pairs of drawn faces (`dataset_scripts.synthetic`) and a short video of a
drawn face with one micro-expression (`dataset_scripts.generated_long_videos`). The model is the release checkpoint,
loaded as the command loads it (`trust_remote_code=True`).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from transformers import pipeline

from dataset_scripts.generated_long_videos import Event, LongVideoSettings, VideoScript, drawn_faces, write_video
from dataset_scripts.synthetic import synthetic_samples
from epir_hf.cli.main import main

CHECKPOINT = "checkpoints/epir-megc2019-3class"
REPO_ROOT = Path(__file__).resolve().parents[1]
LABELS = ["negative", "positive", "surprise"]
APEX = 14  # the apex frame of the generated video's micro-expression


def predict(*argv: str) -> int:
    return main(["predict", *map(str, argv), "--model", CHECKPOINT])


def read_rows(path: Path) -> list[dict]:
    if path.suffix == ".csv":
        with path.open(newline="") as handle:
            return list(csv.DictReader(handle))
    return [json.loads(line) for line in path.read_text().splitlines()]


def probabilities(row: dict) -> list[float]:
    if "probabilities" in row:
        return [row["probabilities"][label] for label in LABELS]
    return [float(row[f"p_{label}"]) for label in LABELS]


@pytest.fixture(scope="module")
def pairs(tmp_path_factory) -> list[tuple[Path, Path]]:
    """Four onset/apex pairs of drawn faces as PNG files."""
    folder = tmp_path_factory.mktemp("pairs")
    written = []
    for sample in synthetic_samples(num_subjects=1, samples_per_subject=4, seed=3, image_size=128):
        onset, apex = folder / f"{sample['sample_id']}_onset.png", folder / f"{sample['sample_id']}_apex.png"
        cv2.imwrite(str(onset), sample["onset"])
        cv2.imwrite(str(apex), sample["apex"])
        written.append((onset, apex))
    return written


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    """A 1 s video (30 frames, 30 fps) of a drawn face, still but for a micro-expression peaking at frame `APEX`."""
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    event = Event(10, APEX, 20, "micro", "positive", {"AU12": 1.0}, 2.0, 1.0)
    script = VideoScript(30, (event,), (), (), np.zeros((30, 2), np.float32))
    settings = LongVideoSettings(duration=1.0, fps=30.0, frame_width=400, frame_height=300, face_size=150,
                                 micro_per_minute=0, macro_per_minute=0, head_drift=0.0)
    write_video(path, drawn_faces(1, 11, 150, "s{:02d}")[0], script, np.random.default_rng(7), settings)
    return path


def test_pairs_a_csv_a_video_and_folders_give_one_row_each(pairs, video, tmp_path, capsys):
    (a_onset, a_apex), (b_onset, b_apex) = pairs[:2]
    sheet = tmp_path / "pairs.csv"
    shutil.copy(b_onset, tmp_path / "b_onset.png")
    shutil.copy(b_apex, tmp_path / "b_apex.png")
    sheet.write_text("id,onset,apex\nsample-b,b_onset.png,b_apex.png\n")  # paths relative to the CSV's folder
    videos = tmp_path / "videos"
    (videos / "pair_a").mkdir(parents=True)
    shutil.copy(video, videos / "clip_copy.mp4")
    shutil.copy(a_onset, videos / "pair_a" / "frame1.png")  # a folder of two frames: onset, then apex
    shutil.copy(a_apex, videos / "pair_a" / "frame2.png")
    (videos / "notes.txt").write_text("not an input")
    output = tmp_path / "predictions.jsonl"
    assert predict(a_onset, a_apex, sheet, video, videos, "--output", output) == 0
    assert "5 predicted, 0 already in" in capsys.readouterr().err
    rows = {row["id"]: row for row in read_rows(output)}
    # In the order of the inputs; the folder's entries in the natural order of their names, notes.txt left out.
    assert list(rows) == [str(a_onset), "sample-b", str(video), str(videos / "clip_copy.mp4"),
                          str(videos / "pair_a")]
    for row in rows.values():
        scores = probabilities(row)
        assert row["label"] == LABELS[int(np.argmax(scores))] and row["score"] == max(scores)
        assert abs(sum(scores) - 1) < 1e-5
    assert rows["sample-b"]["onset"] == str(tmp_path / "b_onset.png") and rows["sample-b"]["video"] == ""
    clip = rows[str(video)]
    assert clip["onset_index"] == 0 and abs(clip["apex_index"] - APEX) <= 1 and clip["reliable_motion"]
    # A copy of the video, and a folder holding a pair's two images, predict what the video and the pair do.
    assert probabilities(rows[str(videos / "clip_copy.mp4")]) == probabilities(clip)
    assert np.allclose(probabilities(rows[str(videos / "pair_a")]), probabilities(rows[str(a_onset)]), atol=1e-6)
    # The rows hold what the pipeline returns for the same inputs.
    recognize = pipeline("micro-expression-recognition", model=CHECKPOINT, trust_remote_code=True)
    expected = recognize({"onset": str(b_onset), "apex": str(b_apex)}, top_k=3)["predictions"]
    assert probabilities(rows["sample-b"]) == [next(p["score"] for p in expected if p["label"] == label)
                                               for label in LABELS]


def test_a_rerun_appends_only_new_inputs(pairs, tmp_path, capsys):
    output = tmp_path / "predictions.csv"
    first = [path for pair in pairs[:2] for path in pair]
    assert predict(*first, "--output", output) == 0
    assert [row["id"] for row in read_rows(output)] == [str(pairs[0][0]), str(pairs[1][0])]
    before = output.read_text()
    capsys.readouterr()
    assert predict(*first, "--output", output) == 0
    assert output.read_text() == before
    assert "0 predicted, 2 already in" in capsys.readouterr().err
    assert predict(*first, *pairs[2], "--output", output) == 0
    rows = read_rows(output)
    assert output.read_text().startswith(before) and [row["id"] for row in rows][2:] == [str(pairs[2][0])]
    assert list(rows[0]) == ["id", "onset", "apex", "video", "onset_index", "apex_index", "label", "score",
                             "reliable_motion", *(f"p_{label}" for label in LABELS)]
    # A last line cut off by an interruption is dropped, and its input predicted again.
    text = output.read_text()
    output.write_text(text[:-20])
    capsys.readouterr()
    assert predict(*first, *pairs[2], "--output", output) == 0
    assert "1 predicted, 2 already in" in capsys.readouterr().err
    assert output.read_text() == text


def test_a_bad_input_is_reported_and_the_others_go_on(pairs, tmp_path, capsys):
    broken = tmp_path / "broken_apex.png"
    broken.write_bytes(b"not a png")
    empty = tmp_path / "empty"
    empty.mkdir()
    sheet = tmp_path / "wrong.csv"
    sheet.write_text("first,second\na.png,b.png\n")
    output = tmp_path / "predictions.jsonl"
    inputs = [*pairs[0], pairs[1][0], broken, tmp_path / "missing.mp4", empty, sheet, *pairs[2]]
    assert predict(*inputs, "--output", output) == 1
    assert [row["id"] for row in read_rows(output)] == [str(pairs[0][0]), str(pairs[2][0])]
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("epir-hf predict: ")]
    assert f"epir-hf predict: {empty}: the folder holds no image files, no videos" in "\n".join(lines)
    assert (f"epir-hf predict: {sheet}: a CSV of pairs needs the columns onset and apex (and optionally id); it "
            "has ['first', 'second']") in lines
    assert any(line.startswith(f"epir-hf predict: {pairs[1][0]} apex: could not read an image from '{broken}'")
               for line in lines)
    assert f"epir-hf predict: {tmp_path / 'missing.mp4'}: no such video file: '{tmp_path / 'missing.mp4'}'" in lines
    assert lines[-1] == f"epir-hf predict: 2 predicted, 0 already in {output}, 4 failed"


def test_help_fits_one_screen_and_usage_errors_are_one_line(pairs, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    with pytest.raises(SystemExit) as done:
        main(["predict", "--help"])
    assert done.value.code == 0 and len(capsys.readouterr().out.splitlines()) <= 24
    onset, apex = map(str, pairs[0])
    cases = [
        ([onset, apex, "--output", str(tmp_path / "p.json")],
         f"--output {tmp_path / 'p.json'}: expected a .jsonl or .csv file"),
        ([onset, apex, "--output", str(tmp_path / "no" / "p.csv")],
         f"--output {tmp_path / 'no' / 'p.csv'}: its folder {tmp_path / 'no'} does not exist"),
        ([onset, "--output", str(tmp_path / "p.csv")],
         f"{onset}: an onset image must be followed by its apex image, got nothing"),
        ([onset, str(tmp_path), "--output", str(tmp_path / "p.csv")],
         f"{onset}: an onset image must be followed by its apex image, got {str(tmp_path)!r}"),
        ([onset, apex, "--output", str(tmp_path / "p.csv"), "--model", str(tmp_path / "nothing")],
         f"--model {tmp_path / 'nothing'}: "),
    ]
    other = tmp_path / "other.csv"
    other.write_text("video,onset_frame\n")
    cases.append(([onset, apex, "--output", str(other), "--model", CHECKPOINT],
                  f"--output {other}: its columns ['video', 'onset_frame'] are not those of this model's predictions"))
    for argv, message in cases:
        assert main(["predict", *argv]) == 2, argv
        (line,) = capsys.readouterr().err.splitlines()
        assert line.startswith(f"epir-hf predict: error: {message}")
    assert not (tmp_path / "p.csv").exists()
    done = subprocess.run([sys.executable, "-m", "epir_hf.cli", "predict", onset, apex], capture_output=True,
                          text=True, cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["epir-hf predict: error: the following arguments are required: --output"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.skipif(shutil.which("accelerate") is None, reason="the accelerate CLI is not on PATH")
def test_two_processes_share_the_inputs_and_write_one_file(pairs, tmp_path):
    """Two CPU processes over gloo (`--multi_gpu` starts them; without CUDA the command keeps them on CPU, since
    `accelerate launch --cpu --num_processes 2` would start one): each predicts its share, the main one writes."""
    inputs = [str(path) for pair in pairs[:3] for path in pair]
    two, one = tmp_path / "two.jsonl", tmp_path / "one.jsonl"
    launched = subprocess.run(
        ["accelerate", "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision",
         "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port()), "-m", "epir_hf.cli", "predict",
         *inputs, "--output", str(two), "--model", CHECKPOINT],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)})
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert launched.stderr.count("epir-hf predict: 3 predicted") == 1  # the main process alone reports
    assert predict(*inputs, "--output", one) == 0
    by_id = {row["id"]: row for row in read_rows(one)}
    rows = read_rows(two)
    # Process 0 takes pairs 0 and 1, process 1 pair 2: round 1 writes pairs 0 and 2, round 2 pair 1.
    assert [row["id"] for row in rows] == [str(pairs[0][0]), str(pairs[2][0]), str(pairs[1][0])]
    # The same model on the same pairs; the two processes run one thread each, this one its own count, so the kernels
    # may round the last digits differently.
    assert all(probabilities(row) == pytest.approx(probabilities(by_id[row["id"]]), abs=1e-5) for row in rows)

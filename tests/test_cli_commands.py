"""What every `epir-hf` command shares: `--help` fits one screen; a model it cannot have is refused in one line naming
the argument, before any work and without a Hub lookup for a name that can only be a local folder. And `epir-hf spot`
reports a bad video and goes on.

The model is the release checkpoint; the video a 1 s clip of a drawn face (`dataset_scripts.generated_long_videos`).
"""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from dataset_scripts.generated_long_videos import LongVideoSettings, drawn_faces, script_video, write_video
from dataset_scripts.synthetic import synthetic_samples
from epir_hf.cli.main import COMMANDS, cli, main

CHECKPOINT = "checkpoints/epir-megc2019-3class"


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> list[str]:
    folder = tmp_path_factory.mktemp("pair")
    sample = next(synthetic_samples(num_subjects=1, samples_per_subject=1, seed=3, image_size=128))
    paths = [folder / "onset.png", folder / "apex.png"]
    for path, frame in zip(paths, (sample["onset"], sample["apex"])):
        cv2.imwrite(str(path), frame)
    return list(map(str, paths))


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_fits_one_screen(command, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    text = capsys.readouterr().out
    assert done.value.code == 0 and len(text.splitlines()) <= 24, text


def commands(model: str, pair: list[str], out: Path) -> dict[str, list[str]]:
    """Each command's arguments with `model` as its model, and the argument that names it."""
    return {"--model": ["predict", *pair, "--output", str(out / "p.csv"), "--model", model],
            "--model ": ["spot", pair[0], "--output", str(out / "e.csv"), "--model", model],
            "--model  ": ["plot", "--model", model, "--sample", *pair, "--out", str(out / "t.png")],
            "MODEL": ["export", model, "--output", str(out / "m.onnx")]}


def run(argv: list[str], monkeypatch, capsys) -> tuple[int, str]:
    """The console script on `argv`: its exit status and its one line of error."""
    monkeypatch.setattr(sys, "argv", ["epir-hf", *argv])
    try:
        cli()
    except SystemExit as exited:
        if isinstance(exited.code, str):
            return 1, exited.code
        return exited.code, capsys.readouterr().err.strip()
    raise AssertionError(f"{argv} did not fail")


@pytest.mark.parametrize("case", ["parent exists", "not a Hub id", "no config.json", "unreadable config.json"])
def test_a_model_that_cannot_be_had_is_one_line_naming_it(case, pair, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{not json")
    model, message = {
        "parent exists": ("runs/epir", "no such folder (its parent folder runs exists here, so it is not taken for "
                                       "a Hub id)"),
        "not a Hub id": ("runs/a/b", "no such folder, and not a Hub id (name or namespace/name)"),
        "no config.json": ("empty", "not a saved model folder (it has no config.json)"),
        "unreadable config.json": ("broken", ""),
    }[case]
    for argument, argv in commands(model, pair, tmp_path).items():
        started = time.perf_counter()
        status, line = run(argv, monkeypatch, capsys)
        assert time.perf_counter() - started < 20, f"{argv[0]} asked the Hub for {model}"
        assert status in (1, 2) and "\n" not in line, (argv[0], line)
        assert f"{argument.strip()} {model}: {message}" in line, (argv[0], line)
        assert "Traceback" not in line
    assert sorted(path.name for path in tmp_path.iterdir()) == ["broken", "empty", "runs"]  # nothing written


def test_spot_reports_a_bad_video_and_goes_on(tmp_path, capsys):
    settings = LongVideoSettings(duration=1.0, frame_width=400, frame_height=300, micro_per_minute=0,
                                 macro_per_minute=0, blinks_per_minute=0, head_jumps_per_minute=0, head_drift=0)
    rng = np.random.default_rng(5)
    good = tmp_path / "still.mp4"
    write_video(good, drawn_faces(1, 5, settings.face_size, "s{}")[0], script_video(rng, settings), rng, settings)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    output = tmp_path / "events.csv"
    assert main(["spot", str(broken), str(good), "--output", str(output), "--model", CHECKPOINT]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert any(line.startswith(f"epir-hf spot: {broken}: ") for line in lines), lines
    assert f"{good}: 0 events (0 micro) in 1.0 s of video" in lines
    with output.open(newline="") as handle:
        assert list(csv.DictReader(handle)) == []
    assert output.read_text().startswith("video,onset_frame")

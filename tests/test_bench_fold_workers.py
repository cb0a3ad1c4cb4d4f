"""benchmarks/bench_fold_workers.py keeps each finished variant's timing, so a measurement of hours survives a stop.

The LOSO runs are replaced by stand-ins that write one fold: what is tested is the bookkeeping around them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _loso_testing import load_script

from epir_hf.training import select_folds

ARGUMENTS = ["--dataset", "synthetic", "--seed", "1"]


@pytest.fixture()
def bench(monkeypatch):
    bench = load_script("benchmarks/bench_fold_workers.py")
    timed, warmups = [], []

    def run(command: list[str]) -> None:  # the flow-cache warm-up
        warmups.append(command)
        Path(command[command.index("--output_dir") + 1]).mkdir(parents=True)

    def timed_workers(arguments: list[str], folder: Path, workers: int, part: int = 0, parts: int = 1) -> float:
        timed.append(workers if parts == 1 else (workers, part))
        (folder / "folds").mkdir(parents=True)
        (folder / "folds" / f"s{part + 1}.json").write_text(json.dumps({"logits": [0.5, 0.5]}))
        return 100.0 / workers + len(timed)

    monkeypatch.setattr(bench, "run", run)
    monkeypatch.setattr(bench, "timed_workers", timed_workers)
    bench.timed, bench.warmups = timed, warmups
    return bench


def test_a_rerun_keeps_finished_variants_and_retimes_an_interrupted_one(bench, tmp_path):
    output_dir = tmp_path / "bench"
    first = bench.main(["--output_dir", str(output_dir), "--workers", "1", "--", *ARGUMENTS])
    # a stop during the next variant leaves its folder behind, without a recorded time
    left_over = output_dir / "workers2" / "folds" / "s9.json"
    left_over.parent.mkdir(parents=True)
    left_over.write_text("{}")
    second = bench.main(["--output_dir", str(output_dir), "--workers", "1,2", "--", *ARGUMENTS])
    assert bench.timed == [1, 2]  # workers=1 was not timed again
    assert second["wall_s"] == {"workers=1": first["wall_s"]["workers=1"], "workers=2": 52.0}
    assert not left_over.exists()
    assert second["identical_predictions"] == {"workers=1": True, "workers=2": True}
    recorded = json.loads((output_dir / "timings.json").read_text())
    assert recorded["wall_s"] == second["wall_s"] and recorded["arguments"] == ARGUMENTS
    # with every variant recorded, a re-run only reports: nothing is trained, not even the flow-cache warm-up
    third = bench.main(["--output_dir", str(output_dir), "--workers", "1,2", "--", *ARGUMENTS])
    assert third["wall_s"] == second["wall_s"] and bench.timed == [1, 2] and len(bench.warmups) == 2


def test_refuses_timings_of_other_arguments_hardware_and_folders_that_are_not_its_own(bench, monkeypatch,
                                                                                      tmp_path):
    bench.main(["--output_dir", str(tmp_path / "bench"), "--workers", "1", "--", *ARGUMENTS])
    with pytest.raises(ValueError, match="arguments"):
        bench.main(["--output_dir", str(tmp_path / "bench"), "--workers", "1", "--", *ARGUMENTS, "--seed", "7"])
    # the same CPU name on another CPU generation (as virtual machines report it) is other hardware
    recorded = json.loads((tmp_path / "bench" / "timings.json").read_text())["hardware"]
    monkeypatch.setattr(bench, "hardware", lambda: recorded.replace(")", ", cpu family 25)"))
    with pytest.raises(ValueError, match="hardware"):
        bench.main(["--output_dir", str(tmp_path / "bench"), "--workers", "1", "--", *ARGUMENTS])
    (tmp_path / "notes" / "a.txt").parent.mkdir()
    (tmp_path / "notes" / "a.txt").write_text("a user's file")
    with pytest.raises(FileExistsError, match="timings.json"):
        bench.main(["--output_dir", str(tmp_path / "notes"), "--"])


def test_parts_are_recorded_one_by_one_and_summed(bench, tmp_path):
    output_dir = tmp_path / "bench"
    # a stop after the first part of workers=1: its time is kept, its variant is not yet complete
    timed_workers = bench.timed_workers

    def stopped_in_second_part(arguments, folder, workers, part=0, parts=1):
        if part == 1:
            raise KeyboardInterrupt
        return timed_workers(arguments, folder, workers, part=part, parts=parts)

    bench.timed_workers = stopped_in_second_part
    with pytest.raises(KeyboardInterrupt):
        bench.main(["--output_dir", str(output_dir), "--workers", "1", "--parts", "2", "--", *ARGUMENTS])
    recorded = json.loads((output_dir / "timings.json").read_text())
    assert recorded["part_s"] == {"workers=1": {"0": 101.0}} and recorded["wall_s"] == {}
    bench.timed_workers = timed_workers
    figures = bench.main(["--output_dir", str(output_dir), "--workers", "1,2", "--parts", "2", "--", *ARGUMENTS])
    assert bench.timed == [(1, 0), (1, 1), (2, 0), (2, 1)]  # the first part was not timed again
    assert figures["wall_s"] == {"workers=1": 101.0 + 102.0, "workers=2": 53.0 + 54.0}
    assert figures["identical_predictions"] == {"workers=1": True, "workers=2": True}
    assert sorted(path.name for path in (output_dir / "workers2").iterdir()) == ["part0", "part1"]
    with pytest.raises(ValueError, match="parts"):
        bench.main(["--output_dir", str(output_dir), "--workers", "1", "--", *ARGUMENTS])


def test_hand_started_shards_split_each_part_between_them(bench, monkeypatch, tmp_path):
    started = []

    class Shard:
        def __init__(self, command, **_):
            started.append(command[command.index("--fold_shard") + 1])
            self.returncode = 0

        def communicate(self):
            return "", ""

    monkeypatch.setattr(bench.subprocess, "Popen", Shard)
    for part in range(2):
        bench.timed_shards(ARGUMENTS, tmp_path / f"part{part}", shards=2, part=part, parts=2)
    assert started == ["0/4", "2/4", "1/4", "3/4"]
    # by the runner's own fold selection, the shards of each part hold exactly that part's folds
    subjects = [f"s{index:02d}" for index in range(68)]
    for part, shards in enumerate([started[:2], started[2:]]):
        held = sorted(subject for shard in shards for subject in select_folds(subjects, fold_shard=shard))
        assert held == sorted(select_folds(subjects, fold_shard=f"{part}/2"))


def test_parts_below_one_are_refused(bench, tmp_path):
    with pytest.raises(ValueError, match="--parts must be at least 1, got 0"):
        bench.main(["--output_dir", str(tmp_path / "bench"), "--parts", "0", "--", *ARGUMENTS])


def test_predictions_are_compared_on_the_folds_whose_folders_remain(bench, tmp_path):
    output_dir = tmp_path / "bench"
    bench.main(["--output_dir", str(output_dir), "--workers", "1,2,3", "--parts", "2", "--", *ARGUMENTS])
    # a recorded variant whose folders are gone is reported, not compared; a differing fold fails its variants
    for part in ("part0", "part1"):
        for fold in (output_dir / "workers1" / part / "folds").iterdir():
            fold.unlink()
    (output_dir / "workers3" / "part1" / "folds" / "s2.json").write_text(json.dumps({"logits": [0.9, 0.1]}))
    figures = bench.main(["--output_dir", str(output_dir), "--workers", "1,2,3", "--parts", "2", "--", *ARGUMENTS])
    assert figures["wall_s"]["workers=1"] == 101.0 + 102.0  # the recorded time stays
    assert figures["identical_predictions"] == {"workers=1": None, "workers=2": False, "workers=3": False}
    assert figures["compared_folds"] == {"workers=1": 0, "workers=2": 2, "workers=3": 2}
    (output_dir / "workers3" / "part1" / "folds" / "s2.json").unlink()
    figures = bench.main(["--output_dir", str(output_dir), "--workers", "1,2,3", "--parts", "2", "--", *ARGUMENTS])
    assert figures["identical_predictions"] == {"workers=1": None, "workers=2": True, "workers=3": True}
    assert figures["compared_folds"] == {"workers=1": 0, "workers=2": 1, "workers=3": 1}

"""benchmarks/bench_fold_workers.py keeps each finished variant's timing, so a measurement of hours survives a stop.

The LOSO runs are replaced by stand-ins that write one fold: what is tested is the bookkeeping around them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _loso_testing import load_script

ARGUMENTS = ["--dataset", "synthetic", "--seed", "1"]


@pytest.fixture()
def bench(monkeypatch):
    bench = load_script("benchmarks/bench_fold_workers.py")
    timed, warmups = [], []

    def run(command: list[str]) -> None:  # the flow-cache warm-up
        warmups.append(command)
        Path(command[command.index("--output_dir") + 1]).mkdir(parents=True)

    def timed_workers(arguments: list[str], folder: Path, workers: int) -> float:
        timed.append(workers)
        (folder / "folds").mkdir(parents=True)
        (folder / "folds" / "s1.json").write_text(json.dumps({"logits": [0.5, 0.5]}))
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


def test_refuses_timings_of_other_arguments_and_folders_that_are_not_its_own(bench, tmp_path):
    bench.main(["--output_dir", str(tmp_path / "bench"), "--workers", "1", "--", *ARGUMENTS])
    with pytest.raises(ValueError, match="arguments"):
        bench.main(["--output_dir", str(tmp_path / "bench"), "--workers", "1", "--", *ARGUMENTS, "--seed", "7"])
    (tmp_path / "notes" / "a.txt").parent.mkdir()
    (tmp_path / "notes" / "a.txt").write_text("a user's file")
    with pytest.raises(FileExistsError, match="timings.json"):
        bench.main(["--output_dir", str(tmp_path / "notes"), "--"])

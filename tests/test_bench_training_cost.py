"""benchmarks/bench_training_cost.py: the matrix-product FLOP count, the floor, and the scaling to a finished run."""

from __future__ import annotations

import pytest
import torch
from _loso_testing import load_script

from epir_hf.training.results import write_fold_record


@pytest.fixture(scope="module")
def bench():
    return load_script("benchmarks/bench_training_cost.py")


def test_counts_only_matrix_products_of_forward_and_backward(bench):
    layer = torch.nn.Linear(4, 3)
    inputs = torch.randn(2, 4)

    def step():
        torch.relu(layer(inputs)).sum().backward()

    # forward addmm 2·2·4·3 = 48; backward: the weight gradient (another 48), none for the input (no grad).
    assert bench.matmul_flops(step) == 96


def test_main_scales_the_step_to_a_run(bench, tmp_path, capsys):
    for subject, steps, seconds in [("a", 100, 10.0), ("b", 50, 5.0)]:
        write_fold_record(tmp_path, {"subject": subject, "global_step": steps, "time_s": seconds})
    report = bench.main(["--steps", "2", "--run_dir", str(tmp_path), "--processes", "2"])
    assert report["folds"] == 2 and report["steps"] == 150
    assert report["minutes"]["run"] == pytest.approx(15.0 / 2 / 60)
    assert report["minutes"]["floor"] == pytest.approx(report["floor_s"] * 150 / 2 / 60)
    # The floor is the matrix products at the thread's peak, so it cannot exceed the timed step.
    assert 0 < report["floor_s"] < report["step_s"]
    assert report["matmul_flops"] > 1e9  # about 5.4 GFLOP per batch of 16 for the default model
    assert "optimizer steps" in capsys.readouterr().out


def test_bad_arguments_are_named(bench, tmp_path):
    with pytest.raises(FileNotFoundError, match="holds no finished folds"):
        bench.run_steps(tmp_path)
    with pytest.raises(ValueError, match="--steps must be >= 1"):
        bench.main(["--steps", "0"])

"""benchmarks/recipe_fit.py: the training-fit check and the rule that picks the honest recipe from it."""

from __future__ import annotations

import json

import pytest
import torch
from _loso_testing import SYNTHETIC, load_script, synthetic_argv, synthetic_assets


def recipe_fit():
    return load_script("benchmarks/recipe_fit.py")


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield synthetic_assets(tmp_path_factory)
    torch.set_num_threads(threads)


def test_fit_trains_without_the_held_out_subject_and_logs_each_epoch(assets, tmp_path):
    log = tmp_path / "fit.jsonl"
    argv = synthetic_argv(assets, tmp_path / "out", epochs=3) + ["--held_out", "synth02", "--fit_log", str(log)]
    record = recipe_fit().main(argv)
    assert record["train_samples"] == (SYNTHETIC["num_subjects"] - 1) * SYNTHETIC["samples_per_subject"]
    assert len(record["train_uf1"]) == len(record["train_accuracy"]) == 3
    assert record["final_train_uf1"] == pytest.approx(record["train_uf1"][-1], abs=1e-4)
    assert "--held_out" not in record["arguments"] and record["held_out"] == "synth02"
    assert json.loads(log.read_text().splitlines()[-1]) == record


def test_unknown_held_out_subject_is_a_clear_error(assets, tmp_path):
    with pytest.raises(ValueError, match="--held_out 'nobody' is not a subject"):
        recipe_fit().main(synthetic_argv(assets, tmp_path, epochs=1) + ["--held_out", "nobody"])
    with pytest.raises(ValueError, match="--held_out SUBJECT is required"):
        recipe_fit().main(synthetic_argv(assets, tmp_path, epochs=1))


def fit_line(name: str, held_out: str, uf1: float, lr: str, batch: int, epochs: int) -> str:
    arguments = ["--learning_rate", lr, "--per_device_train_batch_size", str(batch), "--num_train_epochs", str(epochs)]
    return json.dumps({"name": name, "held_out": held_out, "arguments": arguments, "final_train_uf1": uf1})


def test_selection_takes_the_best_eligible_mean_fit(tmp_path, capsys):
    log = tmp_path / "fit.jsonl"
    log.write_text("\n".join([
        fit_line("steady", "a", 0.70, "3e-4", 32, 30), fit_line("steady", "b", 0.70, "3e-4", 32, 30),
        fit_line("uneven", "a", 0.90, "1e-3", 32, 30), fit_line("uneven", "b", 0.60, "1e-3", 32, 30),
        fit_line("too_long", "a", 0.99, "3e-4", 32, 100), fit_line("too_long", "b", 0.99, "3e-4", 32, 100),
        fit_line("one_fold", "a", 0.95, "3e-4", 16, 30),
    ]) + "\n")
    chosen = recipe_fit().summarize(log, max_epochs=40)
    assert chosen["name"] == "uneven" and chosen["mean"] == pytest.approx(0.75)
    printed = capsys.readouterr().out
    assert "selected: uneven" in printed and printed.count("not eligible") == 2
    assert recipe_fit().summarize(log, max_epochs=100)["name"] == "too_long"


def test_selection_ties_go_to_the_cheaper_recipe(tmp_path):
    log = tmp_path / "fit.jsonl"
    log.write_text("\n".join([fit_line("long", "a", 0.8, "3e-4", 32, 40), fit_line("short", "a", 0.8, "3e-4", 32, 30),
                              fit_line("small_batch", "a", 0.8, "3e-4", 16, 30)]) + "\n")
    assert recipe_fit().summarize(log, max_epochs=40)["name"] == "short"


def test_missing_fit_log_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="No fit log"):
        recipe_fit().summarize(tmp_path / "absent.jsonl", max_epochs=40)

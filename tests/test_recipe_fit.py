"""epir_hf.training.recipe_fit (`epir-recipe-fit`): the training-fit check and the rule that picks the honest recipe
from it."""

from __future__ import annotations

import json

import pytest
import torch
from _loso_testing import SYNTHETIC, synthetic_argv, synthetic_assets

from epir_hf.training import recipe_fit


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield synthetic_assets(tmp_path_factory)
    torch.set_num_threads(threads)


def test_fit_trains_without_the_held_out_subject_and_logs_each_epoch(assets, tmp_path):
    log = tmp_path / "fit.jsonl"
    argv = synthetic_argv(assets, tmp_path / "out", epochs=3) + ["--held_out", "synth02", "--fit_log", str(log)]
    record = recipe_fit.main(argv)
    assert record["train_samples"] == (SYNTHETIC["num_subjects"] - 1) * SYNTHETIC["samples_per_subject"]
    assert len(record["train_uf1"]) == len(record["train_accuracy"]) == 3
    assert record["final_train_uf1"] == pytest.approx(record["train_uf1"][-1], abs=1e-4)
    assert "--held_out" not in record["arguments"] and record["held_out"] == "synth02"
    assert json.loads(log.read_text().splitlines()[-1]) == record


def test_validation_group_is_left_out_of_training_and_scored(assets, tmp_path):
    argv = synthetic_argv(assets, tmp_path / "out", epochs=2) + ["--held_out", "synth02", "--validation_group", "1/2"]
    record = recipe_fit.main(argv)
    per_subject = SYNTHETIC["samples_per_subject"]
    # 4 training subjects dealt round robin into 2 groups: 2 are fitted, 2 validate.
    assert record["train_samples"] == record["validation_samples"] == 2 * per_subject
    assert record["validation_group"] == "1/2" and len(record["validation_uf1"]) == 2
    assert record["final_validation_uf1"] == pytest.approx(record["validation_uf1"][-1], abs=1e-4)


@pytest.mark.parametrize("group, message", [
    ("1/1", "n >= 2"), ("2/2", "0 <= g < n"), ("a/b", "'g/n'"), ("0/9", "only 4 training subjects"),
])
def test_bad_validation_group_is_a_clear_error(assets, tmp_path, group, message):
    argv = synthetic_argv(assets, tmp_path, epochs=1) + ["--held_out", "synth02", "--validation_group", group]
    with pytest.raises(ValueError, match=message):
        recipe_fit.main(argv)


def test_unknown_held_out_subject_is_a_clear_error(assets, tmp_path):
    with pytest.raises(ValueError, match="--held_out 'nobody' is not a subject"):
        recipe_fit.main(synthetic_argv(assets, tmp_path, epochs=1) + ["--held_out", "nobody"])
    with pytest.raises(ValueError, match="--held_out SUBJECT is required"):
        recipe_fit.main(synthetic_argv(assets, tmp_path, epochs=1))


def fit_line(name: str, held_out: str, uf1: float, lr: str, batch: int, epochs: int, validation_uf1=None,
             group=None, seed=None) -> str:
    arguments = ["--learning_rate", lr, "--per_device_train_batch_size", str(batch), "--num_train_epochs", str(epochs)]
    arguments += [] if seed is None else ["--seed", str(seed)]
    return json.dumps({"name": name, "held_out": held_out, "arguments": arguments, "final_train_uf1": uf1,
                       "validation_group": group, "final_validation_uf1": validation_uf1})


def test_selection_takes_the_best_eligible_mean_fit(tmp_path, capsys):
    log = tmp_path / "fit.jsonl"
    log.write_text("\n".join([
        fit_line("steady", "a", 0.70, "3e-4", 32, 30), fit_line("steady", "b", 0.70, "3e-4", 32, 30),
        fit_line("uneven", "a", 0.90, "1e-3", 32, 30), fit_line("uneven", "b", 0.60, "1e-3", 32, 30),
        fit_line("too_long", "a", 0.99, "3e-4", 32, 100), fit_line("too_long", "b", 0.99, "3e-4", 32, 100),
        fit_line("one_fold", "a", 0.95, "3e-4", 16, 30),
    ]) + "\n")
    chosen = recipe_fit.summarize(log, max_epochs=40)
    assert chosen["name"] == "uneven" and chosen["mean"] == pytest.approx(0.75)
    printed = capsys.readouterr().out
    assert "selected: uneven" in printed and printed.count("not eligible") == 2
    assert recipe_fit.summarize(log, max_epochs=100)["name"] == "too_long"


def test_selection_ties_go_to_the_cheaper_recipe(tmp_path):
    log = tmp_path / "fit.jsonl"
    log.write_text("\n".join([fit_line("long", "a", 0.8, "3e-4", 32, 40), fit_line("short", "a", 0.8, "3e-4", 32, 30),
                              fit_line("small_batch", "a", 0.8, "3e-4", 16, 30)]) + "\n")
    assert recipe_fit.summarize(log, max_epochs=40)["name"] == "short"


def test_missing_fit_log_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="No fit log"):
        recipe_fit.summarize(tmp_path / "absent.jsonl", max_epochs=40)
    with pytest.raises(ValueError, match="by must be 'fit' or 'validation'; got 'test'"):
        recipe_fit.summarize(tmp_path / "absent.jsonl", max_epochs=40, by="test")


def test_an_option_without_its_value_is_a_clear_error():
    with pytest.raises(ValueError, match="--fit_log needs a value"):
        recipe_fit.split_own_arguments(["--held_out", "sub01", "--fit_log"])


def test_selection_by_validation_averages_the_groups_and_skips_fit_only_runs(tmp_path):
    log = tmp_path / "fit.jsonl"
    log.write_text("\n".join([
        fit_line("augment", "a", 0.78, "3e-4", 16, 40, validation_uf1=0.60, group="0/2"),
        fit_line("augment", "a", 0.79, "3e-4", 16, 40, validation_uf1=0.70, group="1/2"),
        fit_line("no_augment", "a", 1.00, "3e-4", 16, 40, validation_uf1=0.50, group="0/2"),
        fit_line("no_augment", "a", 1.00, "3e-4", 16, 40, validation_uf1=0.70, group="1/2"),
        fit_line("fit_only", "a", 0.99, "3e-4", 16, 40),
    ]) + "\n")
    # By fit, every run counts, and none covers all three folds ("a", "a:0/2", "a:1/2"): no recipe qualifies.
    assert recipe_fit.summarize(log, max_epochs=40, by="fit") is None
    chosen = recipe_fit.summarize(log, max_epochs=40, by="validation")
    assert chosen["name"] == "augment" and chosen["mean"] == pytest.approx(0.65)
    assert set(chosen["scores"]) == {"a:0/2", "a:1/2"}


def test_every_seed_of_a_group_counts_and_several_logs_rank_together(tmp_path, capsys):
    pretrained, scratch = tmp_path / "pretrained.jsonl", tmp_path / "scratch.jsonl"
    pretrained.write_text("\n".join([
        fit_line("pretrained", "a", 0.9, "3e-4", 16, 60, validation_uf1=0.80, group="0/2", seed=1),
        fit_line("pretrained", "a", 0.9, "3e-4", 16, 60, validation_uf1=0.60, group="0/2", seed=2),
    ]) + "\n")
    scratch.write_text(fit_line("scratch", "a", 0.9, "3e-4", 16, 60, validation_uf1=0.75, group="0/2", seed=1) + "\n"
                       + fit_line("scratch", "a", 0.9, "3e-4", 16, 60, validation_uf1=0.75, group="0/2", seed=2) + "\n")
    chosen = recipe_fit.summarize([pretrained, scratch], max_epochs=60, by="validation")
    # seed 2 does not replace seed 1 of the same group: the means are 0.70 and 0.75
    assert chosen["name"] == "scratch" and chosen["mean"] == pytest.approx(0.75)
    assert set(chosen["scores"]) == {"a:0/2@seed1", "a:0/2@seed2"}
    printed = capsys.readouterr().out
    assert "0.8000 0.6000" in printed and "0.7500 0.7500" in printed


def test_a_second_run_of_the_same_recipe_and_fold_is_a_clear_error(tmp_path):
    log = tmp_path / "fit.jsonl"
    log.write_text("\n".join([
        fit_line("default", "a", 0.9, "3e-4", 16, 60, validation_uf1=0.70, group="0/2", seed=1),
        fit_line("default", "a", 0.9, "3e-4", 16, 60, validation_uf1=0.70, group="0/2", seed=2),
        fit_line("default", "a", 0.9, "3e-4", 16, 60, validation_uf1=0.60, group="0/2", seed=1),
    ]) + "\n")
    with pytest.raises(ValueError, match="recipe 'default' has a second run for fold a:0/2@seed1"):
        recipe_fit.summarize(log, max_epochs=60, by="validation")

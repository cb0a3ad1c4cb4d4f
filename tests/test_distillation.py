"""Distillation (epir_hf/training/distillation.py): soft labels, the loss, teachers trained on the student's own
samples only, the teacher cache, and the arguments."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from _loso_testing import SYNTHETIC, run_loso_module, synthetic_argv, synthetic_assets

from epir_hf import EPIRConfig, EPIRForImageClassification
from epir_hf.training import LOSOData, LOSOTrainer, TrainingRecipe, parse_loso_arguments, recipe_fit, trainer
from epir_hf.training.distillation import Distillation, distillation_loss, soft_labels


@pytest.fixture(scope="module")
def assets(tmp_path_factory, one_thread):
    return synthetic_assets(tmp_path_factory)


def test_soft_labels_are_the_mean_of_the_teachers_tempered_softmax():
    first, second = np.array([[2.0, 0.0, 0.0]]), np.array([[0.0, 0.0, 4.0]])
    targets = soft_labels([first, second], temperature=2.0)
    by_hand = (np.exp([1.0, 0, 0]) / np.exp([1.0, 0, 0]).sum() + np.exp([0, 0, 2.0]) / np.exp([0, 0, 2.0]).sum()) / 2
    np.testing.assert_allclose(targets.numpy(), [by_hand], rtol=1e-6)


def test_distillation_loss_is_t_squared_kl_from_the_soft_label():
    student, targets = torch.tensor([[1.0, -1.0, 0.5]]), torch.tensor([[0.2, 0.3, 0.5]])
    tempered = np.exp(np.array([1.0, -1.0, 0.5]) / 4)
    tempered /= tempered.sum()
    by_hand = 16 * np.sum(targets.numpy() * (np.log(targets.numpy()) - np.log(tempered)))
    assert distillation_loss(student, targets, temperature=4.0).item() == pytest.approx(by_hand, rel=1e-5)
    matching = torch.log(targets)
    assert distillation_loss(matching, targets, temperature=1.0).item() == pytest.approx(0.0, abs=1e-6)


def batch_loss(alpha: float, targets: torch.Tensor) -> float:
    torch.manual_seed(0)
    model = EPIRForImageClassification(EPIRConfig(num_labels=3, class_weights=[1.0, 2.0, 0.5]))
    recipe = TrainingRecipe(augmentation=None, distillation=Distillation(teachers=("sssnet",), alpha=alpha))
    loso_trainer = LOSOTrainer(model=model, args=parse_loso_arguments(["--output_dir", "unused"])[1],
                               recipe=recipe)
    generator = torch.Generator().manual_seed(1)
    inputs = {"pixel_values": torch.randn(6, 3, 28, 28, generator=generator),
              "labels": torch.tensor([0, 1, 2, 0, 1, 2]), "soft_labels": targets}
    with torch.no_grad():
        return loso_trainer.compute_loss(model.train(), inputs).item(), model(
            pixel_values=inputs["pixel_values"], labels=inputs["labels"]).loss.item()


def test_alpha_moves_the_loss_from_the_hard_label_to_the_teachers():
    targets = torch.softmax(torch.randn(6, 3, generator=torch.Generator().manual_seed(2)), -1)
    without, own = batch_loss(0.0, targets)
    assert without == pytest.approx(own, rel=1e-6)  # alpha 0: the model's own loss
    with_teachers, own = batch_loss(0.5, targets)
    assert with_teachers != pytest.approx(own, rel=1e-3)


def spy_on_training(monkeypatch) -> list[tuple[str, list[str]]]:
    """Each model trained from now on (the student's and the teachers'), as (model type, training subjects)."""
    seen = []
    train_fold = trainer.train_fold

    def spy(config, train: LOSOData, *args, **kwargs):
        seen.append((config.model_type, sorted(set(train.subjects.tolist()))))
        return train_fold(config, train, *args, **kwargs)

    monkeypatch.setattr(trainer, "train_fold", spy)
    monkeypatch.setattr(recipe_fit, "train_fold", spy)
    return seen


def test_teachers_train_on_the_students_samples_only_and_are_cached(assets, tmp_path, monkeypatch):
    seen = spy_on_training(monkeypatch)
    cache = tmp_path / "teachers"
    argv = synthetic_argv(assets, tmp_path / "out", epochs=1) + [
        "--held_out", "synth02", "--validation_group", "1/2", "--teachers", "ststnet,sssnet",
        "--teacher_cache", str(cache), "--fit_log", str(tmp_path / "fit.jsonl")]
    record = recipe_fit.main(argv)
    students = [subjects for model_type, subjects in seen if model_type == "epir"]
    teachers = [subjects for model_type, subjects in seen if model_type != "epir"]
    assert [model_type for model_type, _ in seen] == ["epir", "ststnet", "sssnet"] and teachers == students * 2
    assert "synth02" not in students[0] and len(students[0]) == 2  # held out, and the validation group, left out
    assert len(list(cache.glob("*.npy"))) == 2 and record["final_validation_uf1"] is not None
    recorded = json.loads((tmp_path / "fit.jsonl").read_text().splitlines()[-1])
    assert recorded["arguments"][-2:] == ["--teacher_cache", str(cache)]

    default = recipe_fit.main(synthetic_argv(assets, tmp_path / "out", epochs=1) + [
        "--held_out", "synth02", "--validation_group", "1/2", "--fit_log", str(tmp_path / "default.jsonl")])
    assert default["train_uf1"] != record["train_uf1"] or default["validation_uf1"] != record["validation_uf1"], (
        "the soft labels changed nothing: they did not reach the loss")

    seen.clear()
    again = recipe_fit.main(argv)
    assert [model_type for model_type, _ in seen] == ["epir"]  # both teachers read from the cache
    assert again["final_validation_uf1"] == record["final_validation_uf1"]


def test_a_fit_without_teachers_is_kept_as_the_teacher_of_its_type(assets, tmp_path, monkeypatch):
    cache = tmp_path / "teachers"
    common = synthetic_argv(assets, tmp_path / "out", epochs=1, config_overrides=None) + [
        "--held_out", "synth02", "--teacher_cache", str(cache), "--fit_log", str(tmp_path / "fit.jsonl")]
    recipe_fit.main(common)
    assert len(list(cache.glob("*.npy"))) == 1
    seen = spy_on_training(monkeypatch)
    recipe_fit.main(common + ["--teachers", "epir"])
    assert [model_type for model_type, _ in seen] == ["epir"]  # the student only: its teacher is the fit above


def test_a_distilled_loso_fold_records_its_teachers(assets, tmp_path):
    output = tmp_path / "loso"
    run_loso_module().main(synthetic_argv(assets, output, "--folds", "synth01", "--teachers", "ststnet",
                                          "--distillation_temperature", "4", "--distillation_alpha", "0.9", epochs=1))
    recorded = json.loads((output / "run_config.json").read_text())
    assert recorded["recipe"]["distillation"] == {"teachers": ["ststnet"], "temperature": 4.0, "alpha": 0.9}
    fold = json.loads((output / "folds" / "synth01.json").read_text())
    assert fold["train_subjects"] == SYNTHETIC["num_subjects"] - 1


def test_a_teacher_cache_without_teachers_is_refused_by_the_loso_runner(assets, tmp_path):
    with pytest.raises(ValueError, match="--teacher_cache keeps the predictions of --teachers"):
        run_loso_module().main(synthetic_argv(assets, tmp_path / "loso", "--teacher_cache", str(tmp_path / "t")))
    assert not (tmp_path / "loso").exists()


@pytest.mark.parametrize("argv, message", [
    (["--teachers", "htnet"], "--teachers must be different model types among epir, ststnet"),
    (["--teachers", "sssnet,sssnet"], "--teachers must be different model types"),
    (["--teachers", "sssnet", "--distillation_alpha", "1.5"], r"--distillation_alpha must be in \[0, 1\]"),
    (["--teachers", "sssnet", "--distillation_temperature", "0"], "--distillation_temperature must be a finite"),
    (["--distillation_alpha", "0.9"], "--distillation_alpha is a setting of distillation; give the teachers"),
    (["--teachers", "sssnet", "--model_type", "me-ensemble", "--members", "epir,sssnet"],
     "--teachers cannot be given with --model_type me-ensemble"),
])
def test_bad_distillation_arguments_are_refused_before_any_work(argv, message):
    with pytest.raises(ValueError, match=message):
        parse_loso_arguments(argv)

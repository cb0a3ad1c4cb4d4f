"""LOSO of an ensemble (`run_loso.py --model_type me-ensemble`), the pooling of finished runs into one
(`run_loso.py ensemble`), and `--train_full` of an ensemble, on the tiny synthetic corpus."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from _loso_testing import SYNTHETIC, TINY_MODEL, fold_records, run_loso_module, synthetic_argv, synthetic_assets
from safetensors.torch import load_file
from transformers import AutoModelForImageClassification

from epir_hf import EnsembleConfig, EnsembleForImageClassification, STSTNetConfig
from epir_hf.training import RunConfig

MEMBERS = ("epir", "ststnet")
FOLDS = ("--folds", "synth01,synth03")
SEEDS = ("--seeds", "1,2")
EPOCHS = 2


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def assets(tmp_path_factory, one_thread):
    return synthetic_assets(tmp_path_factory)


def member_argv(assets: Path, output_dir: Path, model_type: str, *extra: str, epochs: int = EPOCHS) -> list[str]:
    """A run of one member: the tiny EPIR, or a baseline at its default config."""
    return synthetic_argv(assets, output_dir, "--model_type", model_type, *extra, epochs=epochs,
                          config_overrides=TINY_MODEL if model_type == "epir" else None)


@pytest.fixture(scope="module")
def runs(assets, tmp_path_factory) -> dict[str, Path]:
    """Each member's own run (2 seeds, 2 folds), the ensemble trained by the runner, and the members' runs pooled."""
    root = tmp_path_factory.mktemp("ensemble_runs")
    for model_type in MEMBERS:
        run_loso_module().main(member_argv(assets, root / model_type, model_type, *SEEDS, *FOLDS))
    # The ensemble of those members: the EPIR member as its run recorded it (the tiny config), STSTNet's default.
    members = [RunConfig.from_output_dir(root / "epir" / "seed1").model_config, STSTNetConfig()]
    EnsembleConfig(members=members).save_pretrained(root / "config")
    run_loso_module().main(synthetic_argv(assets, root / "trained", "--config_name", str(root / "config"), *SEEDS,
                                          *FOLDS, epochs=EPOCHS, config_overrides=None))
    run_loso_module().main(["ensemble", *(str(root / model_type) for model_type in MEMBERS),
                            "--output_dir", str(root / "pooled")])
    return {"root": root, "trained": root / "trained", "pooled": root / "pooled",
            **{model_type: root / model_type for model_type in MEMBERS}}


def without_times(records: dict[str, dict]) -> dict[str, dict]:
    for record in records.values():
        for member in record["members"]:
            member.pop("time_s")
    return records


def results_of(run: Path) -> dict:
    results = json.loads((run / "results.json").read_text())
    for key in ("time_s", "versions", "pooled_from"):
        results.pop(key, None)
    return results


@pytest.mark.parametrize("seed", [1, 2])
def test_pooling_the_members_runs_equals_training_the_ensemble_bit_for_bit(runs, seed):
    trained, pooled = runs["trained"] / f"seed{seed}", runs["pooled"] / f"seed{seed}"
    assert without_times(fold_records(trained)) == without_times(fold_records(pooled))
    assert json.loads((trained / "run_config.json").read_text()) == json.loads((pooled / "run_config.json").read_text())
    assert results_of(trained) == results_of(pooled)
    # Each member inside the ensemble's fold is the member's own run's fold; the ensemble averages their probabilities.
    for subject, record in fold_records(trained).items():
        own = [fold_records(runs[model_type] / f"seed{seed}")[subject] for model_type in MEMBERS]
        assert [member["model_type"] for member in record["members"]] == list(MEMBERS)
        assert [member["logits"] for member in record["members"]] == [alone["logits"] for alone in own]
        probabilities = [torch.tensor(alone["logits"]).softmax(-1).numpy() for alone in own]
        np.testing.assert_allclose(np.exp(record["logits"]), np.mean(probabilities, axis=0), rtol=1e-6)
        assert record["predictions"] == np.argmax(record["logits"], axis=1).tolist()
    pooled_from = json.loads((pooled / "results.json").read_text())["pooled_from"]
    assert [(entry["model_type"], Path(entry["run"]).name) for entry in pooled_from] == [
        (model_type, f"seed{seed}") for model_type in MEMBERS]


def test_an_ensemble_trained_as_a_job_array_equals_the_runner_s(runs, assets, tmp_path):
    """`--executor slurm` (submitit's debug executor, in process) trains each fold's members as the runner does."""
    output_dir = tmp_path / "array"
    run_loso_module().main(synthetic_argv(assets, output_dir, "--config_name", str(runs["root"] / "config"), *SEEDS,
                                          *FOLDS, "--executor", "slurm", "--submitit_cluster", "debug",
                                          "--folds_per_task", "2", epochs=EPOCHS, config_overrides=None))
    for seed in (1, 2):
        array, trained = output_dir / f"seed{seed}", runs["trained"] / f"seed{seed}"
        assert without_times(fold_records(array)) == without_times(fold_records(trained))
        assert results_of(array) == results_of(trained)


def test_the_ensemble_run_records_its_members(runs):
    config = RunConfig.from_output_dir(runs["trained"] / "seed1")
    assert config.model_config["model_type"] == "me-ensemble"
    assert [member["model_type"] for member in config.model_config["members"]] == list(MEMBERS)
    assert config.model_config["members"][0]["hidden_size"] == TINY_MODEL["hidden_size"]
    results = json.loads((runs["trained"] / "seed1" / "results.json").read_text())
    assert results["folds_completed"] == 2 and results["seed"] == 1


def test_pooling_refuses_runs_that_are_not_one_ensemble(runs, tmp_path):
    pool = run_loso_module().main
    with pytest.raises(ValueError, match=r"cannot join .* only the model may differ between members .*seed: 1 → 2"):
        pool(["ensemble", str(runs["epir"] / "seed1"), str(runs["ststnet"] / "seed2"), "--output_dir",
              str(tmp_path / "a")])
    with pytest.raises(ValueError, match=r"seed1 holds a single run but .*epir holds the runs seed1, seed2: pool "
                                         r"folders of the same seeds, or single runs\."):
        pool(["ensemble", str(runs["epir"]), str(runs["ststnet"] / "seed1"), "--output_dir", str(tmp_path / "b")])
    with pytest.raises(ValueError, match="An ensemble pools at least 2 runs; got 1"):
        pool(["ensemble", str(runs["epir"] / "seed1"), "--output_dir", str(tmp_path / "c")])
    with pytest.raises(ValueError, match=r"model_type of epir, ststnet, offapexnet, sssnet; got a dict with model_type "
                                         r"'me-ensemble'"):
        pool(["ensemble", str(runs["epir"] / "seed1"), str(runs["trained"] / "seed1"), "--output_dir",
              str(tmp_path / "d")])
    assert not any(tmp_path.iterdir())  # nothing written for a refused pooling


def test_train_full_trains_each_member_as_alone_and_saves_one_ensemble(runs, assets, tmp_path):
    final = run_loso_module().main(synthetic_argv(assets, tmp_path / "ensemble", "--config_name",
                                                  str(runs["root"] / "config"), "--train_full", epochs=1,
                                                  config_overrides=None))
    alone = run_loso_module().main(member_argv(assets, tmp_path / "epir", "epir", "--train_full", epochs=1))
    model = AutoModelForImageClassification.from_pretrained(final)
    assert type(model) is EnsembleForImageClassification
    epir = load_file(alone / "model.safetensors")
    ensemble = load_file(final / "model.safetensors")
    assert epir and all(torch.equal(ensemble[f"members.0.{name}"], tensor) for name, tensor in epir.items())
    card = (final / "README.md").read_text()
    assert "# EPIR + STSTNet micro-expression classifier" in card and f"- **Samples**: {5 * 9}" in card
    assert SYNTHETIC == {"num_subjects": 5, "samples_per_subject": 9}

"""examples/pretrain.py on a tiny generated corpus: a multi-label AU checkpoint whose encoder every LOSO fold starts
from, resume, and clear errors for incompatible checkpoints and settings."""

from __future__ import annotations

import json

import pytest
import torch
from _loso_testing import TINY_MODEL, load_script, run_loso_module, synthetic_argv, synthetic_assets
from safetensors.torch import load_file

from dataset_scripts.action_units import ACTION_UNITS
from epir_hf import EPIRConfig
from epir_hf.training.trainer import build_model


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    return synthetic_assets(tmp_path_factory)


def pretrain_argv(assets, output_dir, *extra: str) -> list[str]:
    return ["--output_dir", str(output_dir), "--num_subjects", "2", "--samples_per_subject", "4",
            "--dataset_kwargs", json.dumps({"image_size": 64, "cache_dir": str(assets / "au_cache")}),
            "--processor_name_or_path", str(assets / "processor"), "--config_overrides", json.dumps(TINY_MODEL),
            "--num_train_epochs", "2", "--per_device_train_batch_size", "4", "--disable_tqdm", "true", *extra]


@pytest.fixture(scope="module")
def pretrained(assets, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("pretrain")
    final = load_script("examples/pretrain.py").main(pretrain_argv(assets, output_dir))
    return output_dir, final


def test_pretraining_saves_a_multi_label_au_checkpoint(pretrained):
    _, final = pretrained
    config = EPIRConfig.from_pretrained(final)
    assert config.problem_type == "multi_label_classification" and config.contrastive_weight == 0.0
    assert [config.id2label[i] for i in range(config.num_labels)] == list(ACTION_UNITS)
    assert (final / "preprocessor_config.json").is_file()


def test_rerunning_resumes_and_other_settings_are_refused(assets, pretrained):
    output_dir, final = pretrained
    before = load_file(final / "model.safetensors")
    # Finished: nothing left to train. The flow pass may use other processes: the inputs do not depend on them.
    load_script("examples/pretrain.py").main(pretrain_argv(assets, output_dir, "--preprocessing_num_workers", "2"))
    after = load_file(final / "model.safetensors")
    assert all(torch.equal(before[key], after[key]) for key in before)
    with pytest.raises(ValueError, match="already holds a pretraining with different settings.*corpus.seed: 0 → 3"):
        load_script("examples/pretrain.py").main(pretrain_argv(assets, output_dir, "--corpus_seed", "3"))



def test_a_bad_flow_pass_worker_count_is_refused_before_any_work(assets, tmp_path):
    with pytest.raises(ValueError, match=r"--preprocessing_num_workers must be >= 1 \(or left unset\); got 0"):
        load_script("examples/pretrain.py").main(pretrain_argv(assets, tmp_path, "--preprocessing_num_workers", "0"))
    assert not any(tmp_path.iterdir())

def test_every_fold_starts_from_the_pretrained_encoder_with_a_new_head(assets, pretrained, tmp_path):
    _, final = pretrained
    config = EPIRConfig(**TINY_MODEL)
    saved = load_file(final / "model.safetensors")
    model = build_model(config, seed=5, init_from=str(final))
    fresh = build_model(config, seed=5)
    for key, value in model.state_dict().items():
        if key.startswith("epir."):
            assert torch.equal(value, saved[key]), key
        else:  # the head and projection keep the seeded initialisation of a model built without a checkpoint
            assert torch.equal(value, fresh.state_dict()[key]), key
    results = run_loso_module().main(synthetic_argv(assets, tmp_path / "loso", "--model_name_or_path", str(final),
                                                    "--folds", "synth01", epochs=1))
    assert results["recipe"]["init_from"]["path"] == str(final) and len(results["recipe"]["init_from"]["sha256"]) == 64


def test_an_incompatible_checkpoint_is_refused_before_training(assets, pretrained, tmp_path):
    _, final = pretrained
    wider = json.dumps({**TINY_MODEL, "hidden_size": 96, "intermediate_size": 192})
    with pytest.raises(ValueError, match="has another encoder than this model's config"):
        run_loso_module().main(synthetic_argv(assets, tmp_path, "--model_name_or_path", str(final),
                                              "--config_overrides", wider, epochs=1))
    with pytest.raises(FileNotFoundError, match="holds no model.safetensors"):
        run_loso_module().main(synthetic_argv(assets, tmp_path, "--model_name_or_path", str(tmp_path), epochs=1))

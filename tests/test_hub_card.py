"""The model card `save_for_hub` writes: Hub metadata, what the training record says, and `--train_full`'s card."""

from __future__ import annotations

import pytest
import torch
from _loso_testing import SYNTHETIC, run_loso_module, synthetic_argv, synthetic_assets
from huggingface_hub import ModelCard

from epir_hf import EPIRConfig, EPIRForImageClassification, EPIRImageProcessor, save_for_hub
from epir_hf.hub_card import LOSO_NOTE, TrainingRecord, library_versions

RECORD = dict(
    dataset="megc2019_composite_flow", dataset_kwargs={"classes": "3"}, subjects=["sub01", "sub02", "s03"],
    num_samples=27, label_names=["negative", "positive", "surprise"], seed=123, date="2031-02-03",
    training={"num_train_epochs": 60.0, "max_steps": -1, "learning_rate": 0.001, "per_device_train_batch_size": 32,
              "global_train_batch_size": 64, "world_size": 2, "gradient_accumulation_steps": 1,
              "lr_scheduler_type": "cosine", "warmup_steps": 20, "optim": "adamw_torch", "weight_decay": 0.05,
              "max_grad_norm": 1.0},
    recipe={"balance": "loss", "augmentation": {"flip_prob": 0.5, "max_translate": 0.1, "max_scale": 0.1},
            "test_time_mirror": {"u_flip_center": 0.0}},
    versions={"torch": "2.99.0", "transformers": "5.99.0", "epir-hf": "0.9.0", "opencv": "4.99.0",
              "datasets": "9.9.0"},
)


def tiny_model() -> EPIRForImageClassification:
    torch.manual_seed(0)
    return EPIRForImageClassification(EPIRConfig(hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
                                                 intermediate_size=64, projection_dim=16)).eval()


def saved_card(folder, training: TrainingRecord | None = None) -> ModelCard:
    files = save_for_hub(tiny_model(), EPIRImageProcessor(flow_method="dis"), folder, training=training)
    assert "README.md" in files
    return ModelCard.load(folder / "README.md")


def check_metadata(card: ModelCard) -> None:
    assert card.data.library_name == "transformers"
    assert card.data.inference is False
    assert card.data.license == "apache-2.0"
    assert {"micro-expression-recognition", "optical-flow", "epir"} <= set(card.data.tags)


def test_card_without_training_record_is_generic(tmp_path):
    card = saved_card(tmp_path)
    check_metadata(card)
    assert "is not recorded" in card.text
    assert 'pipeline("micro-expression-recognition"' in card.text and "trust_remote_code=True" in card.text
    for library, version in library_versions().items():  # the environment that saved the folder
        assert f"| {library} | {version} |" in card.text
    assert "| parameters | " in card.text and "50 → 50 → 27" in card.text  # the config is described all the same


def test_card_for_a_model_type_it_does_not_describe_names_the_type():
    from transformers import ViTConfig, ViTForImageClassification

    from epir_hf.hub_card import model_card

    vit = ViTForImageClassification(ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                              intermediate_size=64, image_size=28, patch_size=7, num_channels=3))
    with pytest.raises(ValueError, match="got a model of type 'vit'"):
        model_card(vit)


def test_card_states_what_the_record_gives(tmp_path):
    card = saved_card(tmp_path, TrainingRecord(**RECORD))
    check_metadata(card)
    text = card.text
    assert "megc2019_composite_flow" in text and "classes=3" in text and "**Samples**: 27" in text
    assert "**Subjects** (3): sub01, sub02, s03" in text
    assert "| seed | 123 |" in text and "| date | 2031-02-03 |" in text
    for library, version in RECORD["versions"].items():
        assert f"| {library} | {version} |" in text
    assert "| epochs | 60 |" in text and "| learning rate | 0.001 |" in text and "| weight decay | 0.05 |" in text
    assert "64 (32 per device × 2 processes × 1 accumulation)" in text and "cosine, linear warmup over 20 steps" in text
    assert "flip_prob=0.5" in text and "| test-time flip | on" in text and "| class balance | loss |" in text
    assert "| starting weights | random initialisation |" in text
    assert LOSO_NOTE in text and "not recorded" not in text
    pretrained = {**RECORD["recipe"], "init_from": {"path": "runs/pretrain/final", "sha256": "ab" * 32}}
    text = saved_card(tmp_path / "pretrained", TrainingRecord(**{**RECORD, "recipe": pretrained})).text
    assert "| starting weights | encoder of `runs/pretrain/final` (weights sha256 abababababab…), new head |" in text


def test_card_reads_a_fractional_warmup_and_counts_blocks_from_one(tmp_path):
    """transformers reads warmup_steps < 1 as a fraction; the config's 0-based dtsm_layer is a block number + 1."""
    record = TrainingRecord(**{**RECORD, "training": {**RECORD["training"], "warmup_steps": 0.1}})
    text = saved_card(tmp_path, record).text
    config = tiny_model().config
    assert "cosine, linear warmup over 10% of the steps" in text
    assert f"after block {config.dtsm_layer + 1} of {config.num_hidden_layers}" in text


def test_record_from_run_config_keeps_what_the_card_reports():
    run_config = {"protocol": "honest", "seed": 4, "dataset": "synthetic", "dataset_kwargs": {"num_subjects": 5},
                  "subjects": ["a", "b"], "label_names": ["x", "y"], "model_config": {}, "processor": {},
                  "training": {"seed": 4, "learning_rate": 0.01}, "recipe": {"balance": "none"}}
    record = TrainingRecord.from_run_config(run_config, num_samples=9)
    assert (record.dataset, record.subjects, record.seed, record.num_samples) == ("synthetic", ["a", "b"], 4, 9)
    assert record.training["learning_rate"] == 0.01 and record.recipe == {"balance": "none"}
    assert record.versions == library_versions() and len(record.date) == 10


def test_save_for_hub_replaces_an_older_card(tmp_path):
    (tmp_path / "README.md").write_text("# a card of another checkpoint\n")
    card = saved_card(tmp_path, TrainingRecord(**RECORD))
    assert "another checkpoint" not in card.content and "| seed | 123 |" in card.text


@pytest.fixture(scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_train_full_writes_a_card_naming_subjects_and_seed(tmp_path_factory, tmp_path, one_thread):
    assets = synthetic_assets(tmp_path_factory)
    final_dir = run_loso_module().main(synthetic_argv(assets, tmp_path, "--train_full", "--seed", "7", epochs=1))
    card = ModelCard.load(final_dir / "README.md")
    check_metadata(card)
    subjects = [f"synth{index + 1:02d}" for index in range(SYNTHETIC["num_subjects"])]
    samples = SYNTHETIC["num_subjects"] * SYNTHETIC["samples_per_subject"]
    assert f"**Subjects** ({len(subjects)}): {', '.join(subjects)}" in card.text
    assert f"**Samples**: {samples}" in card.text and "**Dataset**: synthetic" in card.text
    assert "| seed | 7 |" in card.text and "| epochs | 1 |" in card.text and "| learning rate | 0.001 |" in card.text
    assert "| tokens entering each block | 17 → 9 |" in card.text
    assert LOSO_NOTE in card.text

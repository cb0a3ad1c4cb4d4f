"""The model card `save_for_hub` and `save_pretrained` write: Hub metadata, what the training record says, the pip
packages the saved code needs, and `--train_full`'s card."""

from __future__ import annotations

import importlib.metadata
import shlex
import subprocess
import sys
import tomllib

import pytest
import torch
from _loso_testing import REPO_ROOT, SYNTHETIC, run_loso_module, synthetic_argv, synthetic_assets
from huggingface_hub import ModelCard
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from epir_hf import EPIRConfig, EPIRForImageClassification, EPIRImageProcessor, save_for_hub
from epir_hf.hub_card import LOSO_NOTE, TrainingRecord, library_versions

# The ranges pyproject.toml declares, by canonical package name.
DECLARED = {canonicalize_name(Requirement(line).name): Requirement(line)
            for line in tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}

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


def test_card_for_a_model_type_it_does_not_describe_names_the_type(tmp_path):
    from transformers import ViTConfig, ViTForImageClassification

    from epir_hf.hub_card import model_card

    vit = ViTForImageClassification(ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                              intermediate_size=64, image_size=28, patch_size=7, num_channels=3))
    with pytest.raises(ValueError, match="got a model of type 'vit'"):
        model_card(vit, tmp_path)


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


def install_command(card: ModelCard) -> list[Requirement]:
    """The requirements of the card's one `pip install` line."""
    commands = [line for line in card.text.splitlines() if line.startswith("pip install ")]
    assert len(commands) == 1, commands
    return [Requirement(token) for token in shlex.split(commands[0])[2:]]


@pytest.fixture(scope="module")
def pipeline_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pipeline")
    saved_card(folder)
    return folder


@pytest.fixture
def pipeline_card(pipeline_folder) -> ModelCard:
    return ModelCard.load(pipeline_folder / "README.md")


def test_card_lists_the_pip_packages_the_pipeline_code_imports(pipeline_card):
    requirements = {canonicalize_name(requirement.name): requirement for requirement in install_command(pipeline_card)}
    # What the saved modules import (cv2, PIL, numpy, scipy, torch, tqdm, transformers, huggingface_hub), by pip name,
    # with the range pyproject.toml declares; packages the pipeline code does not import are left out.
    for name in ("opencv-contrib-python-headless", "pillow", "numpy", "scipy", "torch", "tqdm", "transformers",
                 "huggingface-hub"):
        assert requirements[name].specifier == DECLARED[name].specifier, name
    assert not {"cv2", "pil", "sklearn", "skimage", "pandas", "datasets", "accelerate"} & set(requirements)
    text = pipeline_card.text
    assert "`cv2` is `opencv-contrib-python-headless`" in text and "`PIL` is `pillow`" in text


def test_the_install_command_is_one_pip_can_satisfy(pipeline_card):
    """Every entry is a real distribution whose range the environment that runs the tests satisfies: pip resolves the
    command from the installed packages alone (no index, no network), where `pip install cv2 PIL` finds nothing."""
    command = [sys.executable, "-m", "pip", "install", "--isolated", "--no-index", "--dry-run",
               *map(str, install_command(pipeline_card))]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Would install" not in done.stdout, done.stdout[-2000:]


def test_a_plain_save_lists_what_the_model_code_alone_imports(tmp_path):
    tiny_model().save_pretrained(tmp_path)
    card = ModelCard.load(tmp_path / "README.md")
    check_metadata(card)
    names = {canonicalize_name(requirement.name) for requirement in install_command(card)}
    assert {"torch", "transformers"} <= names and not {"opencv-contrib-python-headless", "pillow"} & names
    assert "holds the model alone" in card.text


def test_requirements_without_epir_hf_metadata_keep_pip_names(pipeline_folder, monkeypatch):
    """Where epir-hf is not installed (a folder saved again by remote code) the names stay pip's, unpinned."""
    from epir_hf.hub_card import pip_requirements

    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "requires", not_installed)
    requirements = pip_requirements(pipeline_folder)
    assert requirements["cv2"] == "opencv-contrib-python-headless" and requirements["PIL"] == "pillow"


def test_a_module_not_installed_is_listed_by_name_with_a_warning(tmp_path, caplog):
    from epir_hf.hub_card import pip_requirements

    (tmp_path / "module.py").write_text("import numpy\nimport not_installed_anywhere\nfrom . import sibling\n"
                                        "try:\n    import optional_extra\nexcept ImportError:\n    pass\n")
    with caplog.at_level("WARNING", logger="epir_hf.hub_card"):
        requirements = pip_requirements(tmp_path)
    numpy = f"numpy{DECLARED['numpy'].specifier}"
    assert requirements == {"not_installed_anywhere": "not_installed_anywhere", "numpy": numpy}
    assert "imports 'not_installed_anywhere', which is not installed here" in caplog.text

"""Fine-tuning the 3-class release checkpoint to another label set: the encoder is kept, the head and the class
weights are new, and a couple of Trainer steps on the synthetic corpus's flows run and save."""

from __future__ import annotations

import logging

import pytest
import torch
from _loso_testing import SYNTHETIC, synthetic_assets
from safetensors.torch import load_file
from test_release_checkpoint import CHECKPOINT
from torch.utils.data import StackDataset
from transformers import Trainer, TrainingArguments

from dataset_scripts import load_me_dataset, prepare_model_inputs
from epir_hf import EPIRForImageClassification, EPIRImageProcessor
from epir_hf.training.trainer import balanced_class_weights

FIVE_LABELS = {index: name for index, name in enumerate(("happiness", "surprise", "disgust", "repression", "others"))}


@pytest.fixture(scope="module")
def flows(tmp_path_factory) -> torch.Tensor:
    """16 pixel values of the synthetic corpus (the LOSO tests' cached flows)."""
    assets = synthetic_assets(tmp_path_factory)
    dataset = load_me_dataset("synthetic", cache_dir=assets / "cache", **SYNTHETIC)
    prepared = prepare_model_inputs(dataset, EPIRImageProcessor.from_pretrained(assets / "processor"))
    return prepared.with_format("torch", columns=["pixel_values"])[:16]["pixel_values"].float()


def test_fine_tune_the_release_checkpoint_to_five_labels(flows, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        model = EPIRForImageClassification.from_pretrained(CHECKPOINT, num_labels=5, id2label=FIVE_LABELS,
                                                           label2id={v: k for k, v in FIVE_LABELS.items()},
                                                           ignore_mismatched_sizes=True)
    assert "num_labels=5 replaces the 3 labels of this config, so their class_weights are dropped" in caplog.text
    assert model.config.num_labels == 5 and model.config.id2label == FIVE_LABELS
    assert model.config.class_weights is None and model.classifier.out_features == 5
    released = load_file(CHECKPOINT / "model.safetensors")
    state = model.state_dict()
    encoder = [key for key in released if not key.startswith("classifier.")]
    assert encoder and all(torch.equal(state[key], released[key]) for key in encoder)

    # Labels of a made-up 5-class set: the test is about the mechanics, not what the model learns.
    labels = torch.arange(len(flows)) % 5
    model.config.class_weights = balanced_class_weights(labels, 5)
    args = TrainingArguments(output_dir=str(tmp_path / "trainer"), max_steps=2, per_device_train_batch_size=4,
                             learning_rate=1e-4, report_to="none", save_strategy="no", use_cpu=True,
                             disable_tqdm=True, dataloader_pin_memory=False)
    head_before = model.classifier.weight.detach().clone()
    output = Trainer(model=model, args=args, train_dataset=StackDataset(pixel_values=flows, labels=labels)).train()
    assert output.global_step == 2 and torch.isfinite(torch.tensor(output.training_loss))
    assert not torch.equal(model.classifier.weight, head_before)

    model.save_pretrained(tmp_path / "five")
    reloaded = EPIRForImageClassification.from_pretrained(tmp_path / "five")
    assert reloaded.config.id2label == FIVE_LABELS and reloaded.config.class_weights == model.config.class_weights
    with torch.no_grad():
        assert reloaded.eval()(pixel_values=flows[:2]).logits.shape == (2, 5)

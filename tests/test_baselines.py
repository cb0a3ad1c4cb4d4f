"""The CNN baselines (STSTNet, OFF-ApexNet, SSSNet): shapes, published sizes, save/load, remote code, determinism,
the recipe's loss, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from huggingface_hub import ModelCard
from PIL import Image
from test_modeling_epir import assert_remote_code_predicts_like
from test_optical_flow import smooth_field, warp
from transformers import AutoConfig, AutoModelForImageClassification, pipeline

from dataset_scripts.synthetic import draw_face
from epir_hf import (
    EPIRImageProcessor,
    OffApexNetConfig,
    OffApexNetForImageClassification,
    SSSNetConfig,
    SSSNetForImageClassification,
    STSTNetConfig,
    STSTNetForImageClassification,
    save_for_hub,
)

BASELINES = {
    "ststnet": (STSTNetConfig, STSTNetForImageClassification),
    "offapexnet": (OffApexNetConfig, OffApexNetForImageClassification),
    "sssnet": (SSSNetConfig, SSSNetForImageClassification),
}
# (model type, image size): the 28×28 flow of this package for every model, and MEB's 64×64 for SSSNet.
SIZES = [("ststnet", 28), ("offapexnet", 28), ("sssnet", 28), ("sssnet", 64)]


def make(model_type: str, seed: int = 0, **overrides):
    config_class, model_class = BASELINES[model_type]
    torch.manual_seed(seed)
    return model_class(config_class(**overrides)).eval()


def flows(batch: int, size: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("model_type,size", SIZES)
def test_logits_shape_for_each_input_size(model_type, size):
    model = make(model_type, image_size=size, num_labels=5)
    output = model(flows(4, size))
    assert output.logits.shape == (4, 5) and output.loss is None
    assert model(flows(4, size), labels=torch.tensor([0, 1, 4, 2])).loss.ndim == 0


@pytest.mark.parametrize("model_type,size,parameters", [
    # Counted from the layer lists in the papers and released networks (conv, batch norm and dense weights + biases).
    ("ststnet", 28, 3 * (3 * 3 * 3 + 1) + 5 * 28 + 8 * 28 + 2 * 16 + 400 * 3 + 3),
    ("offapexnet", 28, 2 * (6 * 25 + 6 + 16 * 6 * 25 + 16) + 1568 * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 * 3 + 3),
    ("sssnet", 64, 32 * 3 * 25 + 32 + 64 + 64 * 32 * 9 + 64 + 128 + 5184 * 256 + 256 + 256 * 3 + 3),
])
def test_parameter_counts_follow_the_published_layers(model_type, size, parameters):
    assert sum(p.numel() for p in make(model_type, image_size=size).parameters()) == parameters


def test_offapexnet_reads_only_u_and_v():
    model = make("offapexnet")
    pixel_values = flows(2, 28)
    changed = pixel_values.clone()
    changed[:, 2] = torch.randn(2, 28, 28)
    assert torch.equal(model(pixel_values).logits, model(changed).logits)
    changed[:, 1] += 1.0
    assert not torch.equal(model(pixel_values).logits, model(changed).logits)


@pytest.mark.parametrize("model_type", BASELINES)
def test_same_seed_same_model(model_type):
    first, second, other = make(model_type, seed=3), make(model_type, seed=3), make(model_type, seed=4)
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))
    assert torch.equal(first(flows(2, 28)).logits, second(flows(2, 28)).logits)
    assert not torch.equal(first(flows(2, 28)).logits, other(flows(2, 28)).logits)


@pytest.mark.parametrize("model_type", BASELINES)
def test_save_load_and_auto_classes(model_type, tmp_path):
    model = make(model_type)
    model.save_pretrained(tmp_path)
    assert AutoConfig.from_pretrained(tmp_path).model_type == model_type
    loaded = AutoModelForImageClassification.from_pretrained(tmp_path).eval()
    assert type(loaded) is type(model)
    assert torch.equal(loaded(flows(3, 28)).logits, model(flows(3, 28)).logits)


@pytest.mark.parametrize("model_type", BASELINES)
def test_remote_code_load_without_epir_hf(model_type, tmp_path):
    assert_remote_code_predicts_like(make(model_type), tmp_path / "ckpt", flows(2, 28))


@pytest.mark.parametrize("model_type", BASELINES)
def test_save_for_hub_writes_the_baselines_own_card_and_a_working_pipeline(model_type, tmp_path):
    model = make(model_type)
    save_for_hub(model, EPIRImageProcessor(), tmp_path)
    card = ModelCard.load(tmp_path / "README.md")
    name = {"ststnet": "STSTNet", "offapexnet": "OFF-ApexNet", "sssnet": "SSSNet"}[model_type]
    assert card.text.lstrip().startswith(f"# {name} micro-expression classifier") and "EPIR (" not in card.text
    assert model_type in card.data.tags and card.data.inference is False
    assert f"`{type(model).__name__}`" in card.text and "supervised contrastive" not in card.text
    assert f"| parameters | {sum(p.numel() for p in model.parameters()):,} |" in card.text
    # A flow image the processor computed: the pipeline refuses images that cannot be flow images (random noise too).
    face = draw_face(np.random.default_rng(0), 128)
    flow = EPIRImageProcessor(do_face_crop=False, flow_method="dis").compute_flow_image(
        face, warp(face, smooth_field(128, 1.5, 0)))
    classifier = pipeline("image-classification", model=str(tmp_path), trust_remote_code=True)
    scores = {result["label"]: result["score"] for result in classifier(Image.fromarray(flow), top_k=3)}
    assert set(scores) == set(model.config.id2label.values()) and sum(scores.values()) == pytest.approx(1.0)


@pytest.mark.parametrize("model_type", BASELINES)
def test_loss_is_the_recipes_weighted_cross_entropy(model_type):
    weights = [0.5, 1.0, 2.0]
    model = make(model_type, class_weights=weights, label_smoothing=0.1)
    labels = torch.tensor([0, 2, 1, 2])
    output = model(flows(4, 28), labels=labels)
    expected = torch.nn.functional.cross_entropy(output.logits, labels, weight=torch.tensor(weights),
                                                 label_smoothing=0.1)
    assert torch.allclose(output.loss, expected)


@pytest.mark.parametrize("model_type", BASELINES)
def test_bad_inputs_and_configs_are_named(model_type):
    model = make(model_type)
    with pytest.raises(ValueError, match=r"shape \(batch_size, 3, 28, 28\).*got \(2, 3, 32, 32\)"):
        model(flows(2, 32))
    with pytest.raises(ValueError, match="floating-point"):
        model(torch.zeros(2, 3, 28, 28, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"labels must be a \(2,\) tensor of class ids in \[0, 2\]"):
        model(flows(2, 28), labels=torch.tensor([0, 3]))
    config_class = BASELINES[model_type][0]
    with pytest.raises(ValueError, match=rf"{config_class.__name__}\.image_size must be >= "):
        config_class(image_size=2)
    with pytest.raises(ValueError, match=rf"{config_class.__name__}\.dropout must be in \[0, 1\)"):
        config_class(dropout=1.0)

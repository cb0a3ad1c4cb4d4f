"""Publishing to the Hub, offline through the mocked Hub of conftest.py: `epir_hf.push_to_hub` publishes a repository
that runs the pipelines without epir_hf; a model's own push publishes the model alone, with the package's card, and
says so. EPIR and the CNN baselines behave alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from _loso_testing import TINY_MODEL
from huggingface_hub import ModelCard
from test_baselines import BASELINES
from test_baselines import make as make_baseline
from test_pipeline import run_without_epir_hf
from transformers import AutoModelForImageClassification

import epir_hf
from epir_hf import EPIRConfig, EPIRForImageClassification, EPIRImageProcessor, save_for_hub
from epir_hf.hub_card import MODEL_DESCRIPTIONS

RELEASE_INPUTS = Path(__file__).parent / "release"  # a drawn face before and after a brow raise
PIPELINE_TASKS = {"micro-expression-recognition", "image-classification", "micro-expression-spotting"}
GENERIC_CARD_TITLE = "# Model Card for Model ID"  # transformers' template for a repository without a card
MODEL_TYPES = ["epir", *BASELINES]


def make(model_type: str):
    if model_type in BASELINES:
        return make_baseline(model_type)
    torch.manual_seed(0)
    return EPIRForImageClassification(EPIRConfig(**TINY_MODEL)).eval()


def pushed_card(snapshot: Path, model_type: str) -> ModelCard:
    """The card in `snapshot`, checked to be the package's card of a `model_type` model."""
    card = ModelCard.load(snapshot / "README.md")
    assert GENERIC_CARD_TITLE not in card.content
    assert card.text.lstrip().startswith(f"# {MODEL_DESCRIPTIONS[model_type][0]} micro-expression classifier")
    assert card.data.inference is False and model_type in card.data.tags
    return card


def test_push_to_hub_publishes_a_repository_that_runs_the_pipeline(mocked_hub, tmp_path):
    # An id without a namespace is created in the user's, and the card's example names the full id.
    epir_hf.push_to_hub(make("epir"), EPIRImageProcessor(flow_method="dis"), "epir")
    repo_id = f"{mocked_hub.USER}/epir"
    snapshot = mocked_hub.snapshot(repo_id)
    files = {path.name for path in snapshot.iterdir()}
    assert {"model.safetensors", "preprocessor_config.json", "image_processing_epir.py", "pipeline_epir.py",
            "pipeline_spotting.py"} <= files
    assert set(json.loads((snapshot / "config.json").read_text())["custom_pipelines"]) == PIPELINE_TASKS
    card = pushed_card(snapshot, "epir")
    assert f'pipeline("micro-expression-recognition", model="{repo_id}", trust_remote_code=True)' in card.text
    result = run_without_epir_hf(f"""
        import json
        from transformers import pipeline
        pipe = pipeline("micro-expression-recognition", model={str(snapshot)!r}, trust_remote_code=True)
        assert "transformers_modules" in type(pipe).__module__, type(pipe).__module__
        output = pipe({{"onset": {str(RELEASE_INPUTS / "onset.png")!r}, "apex": {str(RELEASE_INPUTS / "apex.png")!r}}})
        print("RESULT", json.dumps(output["predictions"]))
    """, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    predictions = json.loads(result.stdout.split("RESULT", 1)[1])
    assert sorted(prediction["label"] for prediction in predictions) == ["negative", "positive", "surprise"]
    assert sum(prediction["score"] for prediction in predictions) == pytest.approx(1.0, abs=1e-5)


def test_push_to_hub_of_a_model_it_cannot_export_creates_no_repository(mocked_hub):
    from transformers import ViTConfig, ViTForImageClassification

    vit = ViTForImageClassification(ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                              intermediate_size=64, image_size=28, patch_size=7, num_channels=3))
    with pytest.raises(ValueError, match="save_for_hub needs the EPIR model and image processor classes"):
        epir_hf.push_to_hub(vit, EPIRImageProcessor(), "me/vit")
    assert not mocked_hub.snapshot("me/vit").exists()


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_a_models_own_push_publishes_its_card_and_says_it_is_the_model_alone(model_type, mocked_hub, caplog):
    with caplog.at_level("WARNING", logger="epir_hf.hub_card"):
        make(model_type).push_to_hub("me/model", tags=["my-tag"])
    card = pushed_card(mocked_hub.snapshot("me/model"), model_type)
    assert "my-tag" in card.data.tags and "micro-expression-recognition" in card.data.tags
    assert 'AutoModelForImageClassification.from_pretrained("me/model", trust_remote_code=True)' in card.text
    assert "holds the model alone" in card.text
    assert "publishes the model alone" in caplog.text
    assert 'epir_hf.push_to_hub(model, image_processor, "me/model")' in caplog.text


def test_save_pretrained_with_push_to_hub_uploads_the_card(mocked_hub, tmp_path, caplog):
    with caplog.at_level("WARNING", logger="epir_hf.hub_card"):
        make("ststnet").save_pretrained(tmp_path / "ststnet", push_to_hub=True, repo_id="me/ststnet")
    snapshot = mocked_hub.snapshot("me/ststnet")
    card = pushed_card(snapshot, "ststnet")
    assert 'from_pretrained("me/ststnet"' in card.text and "publishes the model alone" in caplog.text
    assert (tmp_path / "ststnet" / "README.md").read_text() == (snapshot / "README.md").read_text()


def test_a_push_into_a_complete_folder_does_not_warn(mocked_hub, tmp_path, caplog):
    """A model saved back into its `save_for_hub` folder and pushed from there publishes a working repository."""
    folder = tmp_path / "hub_folder"
    save_for_hub(make("sssnet"), EPIRImageProcessor(flow_method="dis"), folder)
    with caplog.at_level("WARNING", logger="epir_hf.hub_card"):
        AutoModelForImageClassification.from_pretrained(folder).save_pretrained(folder, push_to_hub=True,
                                                                               repo_id="me/sssnet")
    card = pushed_card(mocked_hub.snapshot("me/sssnet"), "sssnet")
    assert 'pipeline("micro-expression-recognition", model="me/sssnet"' in card.text
    assert "publishes the model alone" not in caplog.text


def test_a_plain_save_of_a_loaded_baseline_is_described_as_the_model_alone(tmp_path):
    """Loaded from a complete folder and saved elsewhere, a baseline declares no pipeline it lacks the code of (as
    EPIR, tests/test_save_round_trip.py), and its card says the folder holds the model alone."""
    save_for_hub(make("ststnet"), EPIRImageProcessor(flow_method="dis"), tmp_path / "hub_folder")
    AutoModelForImageClassification.from_pretrained(tmp_path / "hub_folder").save_pretrained(tmp_path / "plain")
    assert "custom_pipelines" not in json.loads((tmp_path / "plain" / "config.json").read_text())
    card = ModelCard.load(tmp_path / "plain" / "README.md")
    assert "holds the model alone" in card.text and 'pipeline("micro-expression-recognition", model=' not in card.text

"""A model loaded from a `save_for_hub` folder and saved again writes a folder that transformers can use."""

from __future__ import annotations

import json

import pytest
from _loso_testing import TINY_MODEL
from transformers import AutoConfig, AutoModelForImageClassification, pipeline

from epir_hf import EPIRConfig, EPIRForImageClassification, EPIRImageProcessor, save_for_hub


@pytest.fixture(scope="module")
def hub_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hub")
    save_for_hub(EPIRForImageClassification(EPIRConfig(**TINY_MODEL)), EPIRImageProcessor(flow_method="dis"), folder)
    assert "custom_pipelines" in json.loads((folder / "config.json").read_text())
    return folder


def saved_config(folder) -> dict:
    return json.loads((folder / "config.json").read_text())


def test_plain_save_of_a_loaded_model_declares_no_pipeline(hub_dir, tmp_path):
    model = AutoModelForImageClassification.from_pretrained(hub_dir)
    model.save_pretrained(tmp_path)
    # No pipeline code and no processor in this folder: declaring the pipeline would make pipeline() fail on it.
    assert not (tmp_path / "pipeline_epir.py").exists()
    assert "custom_pipelines" not in saved_config(tmp_path)
    assert "custom_pipelines" in model.config.to_dict()  # saving does not change the model in memory
    reloaded = AutoModelForImageClassification.from_pretrained(tmp_path, trust_remote_code=True)
    assert reloaded.config.hidden_size == TINY_MODEL["hidden_size"]


def test_plain_save_of_a_loaded_config_declares_no_pipeline(hub_dir, tmp_path):
    AutoConfig.from_pretrained(hub_dir).save_pretrained(tmp_path)
    assert "custom_pipelines" not in saved_config(tmp_path)


def test_saving_back_into_the_hub_folder_keeps_it_complete(hub_dir):
    AutoModelForImageClassification.from_pretrained(hub_dir).save_pretrained(hub_dir)
    assert "custom_pipelines" in saved_config(hub_dir)
    pipe = pipeline("micro-expression-recognition", model=str(hub_dir), trust_remote_code=True)
    assert type(pipe).__name__ == "MicroExpressionRecognitionPipeline"

"""The ensemble model (`model_type="me-ensemble"`): its logits, saving and loading, remote code and both pipelines."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_pipeline import clip, run_without_epir_hf
from transformers import AutoConfig, AutoModelForImageClassification, pipeline

from epir_hf import (
    EnsembleForImageClassification,
    EPIRConfig,
    EPIRImageProcessor,
    OffApexNetConfig,
    SSSNetConfig,
    STSTNetConfig,
    push_to_hub,
    save_for_hub,
)
from epir_hf.flow_mirror import FlowMirror, average_with_mirror
from epir_hf.modeling_ensemble import mean_probability_logits

TINY_EPIR = dict(hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64, projection_dim=16)


def members() -> list:
    """One trained-looking member of each type (random weights, each from its own seed)."""
    models = []
    for seed, config in enumerate([EPIRConfig(**TINY_EPIR), STSTNetConfig(), OffApexNetConfig(), SSSNetConfig()]):
        torch.manual_seed(seed)
        models.append(AutoModelForImageClassification.from_config(config).eval())
    return models


@pytest.fixture(scope="module")
def ensemble():
    return EnsembleForImageClassification.from_members(members())


@pytest.fixture(scope="module")
def saved(ensemble, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ensemble")
    save_for_hub(ensemble, EPIRImageProcessor(flow_method="dis"), folder)
    return folder


def flows(batch: int = 4) -> torch.Tensor:
    return torch.rand(batch, 3, 28, 28, generator=torch.Generator().manual_seed(3)) * 2 - 1


def test_logits_are_the_log_of_the_members_mean_probability(ensemble):
    pixel_values = flows()
    with torch.no_grad():
        outputs = ensemble(pixel_values=pixel_values)
        alone = [member(pixel_values=pixel_values).logits for member in members()]
    probabilities = np.mean([logits.softmax(-1).numpy() for logits in alone], axis=0)
    np.testing.assert_allclose(outputs.logits.exp().numpy(), probabilities, rtol=1e-6, atol=1e-7)
    assert torch.equal(outputs.member_logits, torch.stack(alone))
    labels = torch.tensor([0, 1, 2, 0])
    loss = ensemble(pixel_values=pixel_values, labels=labels).loss
    assert loss.item() == pytest.approx(-np.log(probabilities[np.arange(4), labels.numpy()]).mean(), rel=1e-5)
    assert ensemble.config.model_type == "me-ensemble" and ensemble.config.num_labels == 3
    assert [member.model_type for member in ensemble.config.member_configs()] == ["epir", "ststnet", "offapexnet",
                                                                                   "sssnet"]


def test_the_flip_of_the_ensemble_is_each_member_with_its_own_flip(ensemble):
    """The pipelines and the LOSO runner average any model with its mirror; for the ensemble that equals averaging
    each member with its mirror (as each member's LOSO run predicts), then the members."""
    pixel_values, mirror = flows(), FlowMirror()
    with torch.no_grad():
        flipped = average_with_mirror(ensemble(pixel_values=pixel_values).logits,
                                      ensemble(pixel_values=mirror(pixel_values)).logits)
        per_member = mean_probability_logits([average_with_mirror(member(pixel_values=pixel_values).logits,
                                                                  member(pixel_values=mirror(pixel_values)).logits)
                                              for member in members()])
    np.testing.assert_allclose(flipped.exp().numpy(), per_member.exp().numpy(), rtol=1e-6, atol=1e-7)


def test_saved_folder_reloads_the_same_ensemble_and_config(ensemble, saved):
    config = json.loads((saved / "config.json").read_text())
    assert config["model_type"] == "me-ensemble"
    assert config["auto_map"]["AutoModelForImageClassification"] == "modeling_ensemble.EnsembleForImageClassification"
    assert [member["model_type"] for member in config["members"]] == ["epir", "ststnet", "offapexnet", "sssnet"]
    for module in ("configuration_ensemble", "modeling_ensemble", "modeling_epir", "ststnet", "offapexnet", "sssnet",
                   "flow_cnn", "pipeline_epir", "pipeline_spotting", "image_processing_epir"):
        assert (saved / f"{module}.py").is_file(), module
    loaded = AutoModelForImageClassification.from_pretrained(saved).eval()
    assert type(loaded) is EnsembleForImageClassification
    with torch.no_grad():
        assert torch.equal(loaded(pixel_values=flows()).logits, ensemble(pixel_values=flows()).logits)
    assert AutoConfig.from_pretrained(saved).members == ensemble.config.members
    card = (saved / "README.md").read_text()
    assert "# EPIR + STSTNet + OFF-ApexNet + SSSNet micro-expression classifier" in card
    assert "| member 2: OFF-ApexNet | 2,664,475 parameters;" in card


def test_from_members_copies_configs_and_weights():
    originals = members()
    ensemble = EnsembleForImageClassification.from_members(originals)
    for original, member in zip(originals, ensemble.members):
        assert member is not original and member.config.to_dict() == original.config.to_dict() | {
            "architectures": member.config.architectures}
        assert all(torch.equal(a, b) for a, b in zip(original.state_dict().values(), member.state_dict().values()))
    with pytest.raises(ValueError, match="EnsembleConfig.members must be a non-empty list"):
        EnsembleForImageClassification.from_members([])


def test_both_pipelines_run_the_saved_ensemble_without_epir_hf(ensemble, saved, tmp_path):
    from test_spotting import SETTINGS, micro, script, video

    from dataset_scripts.generated_long_videos import drawn_faces

    frames = clip()
    np.save(tmp_path / "onset.npy", frames[0])
    np.save(tmp_path / "apex.npy", frames[5])
    path = video(tmp_path, drawn_faces(1, 11, SETTINGS["face_size"], "s{:02d}")[0], script(90, [micro(40, 44, 50)]))
    recognize = pipeline("micro-expression-recognition", model=str(saved), trust_remote_code=True)
    spot = pipeline("micro-expression-spotting", model=str(saved), trust_remote_code=True)
    expected = [recognize({"onset": frames[0], "apex": frames[5]})["predictions"],
                spot(path, progress=False)["events"]]
    assert expected[1] and all("predictions" in event for event in expected[1] if event["kind"] == "micro")
    done = run_without_epir_hf(f"""
        import json
        import numpy as np
        from transformers import pipeline
        folder = {str(saved)!r}
        recognize = pipeline("micro-expression-recognition", model=folder, trust_remote_code=True)
        spot = pipeline("micro-expression-spotting", model=folder, trust_remote_code=True)
        assert type(recognize.model).__name__ == "EnsembleForImageClassification"
        assert "transformers_modules" in type(recognize.model).__module__
        pair = {{"onset": np.load("onset.npy"), "apex": np.load("apex.npy")}}
        print("RESULT", json.dumps([recognize(pair)["predictions"], spot({path!r}, progress=False)["events"]]))
    """, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    predictions, events = json.loads(done.stdout.split("RESULT", 1)[1])
    assert [p["label"] for p in predictions] == [p["label"] for p in expected[0]]
    assert [p["score"] for p in predictions] == pytest.approx([p["score"] for p in expected[0]], abs=1e-5)
    assert [(e["apex_frame"], e.get("predictions", [{}])[0].get("label")) for e in events] == [
        (e["apex_frame"], e.get("predictions", [{}])[0].get("label")) for e in expected[1]]


def test_push_to_hub_publishes_the_ensemble_with_its_members_code(ensemble, mocked_hub):
    push_to_hub(ensemble, EPIRImageProcessor(flow_method="dis"), "someone/ensemble")
    snapshot = mocked_hub.snapshot("someone/ensemble")
    config = json.loads((snapshot / "config.json").read_text())
    assert config["model_type"] == "me-ensemble" and "micro-expression-spotting" in config["custom_pipelines"]
    assert {"modeling_ensemble.py", "modeling_epir.py", "offapexnet.py", "pipeline_epir.py"} <= {
        path.name for path in snapshot.iterdir()}
    assert 'model="someone/ensemble"' in (snapshot / "README.md").read_text()
    reloaded = AutoModelForImageClassification.from_pretrained(snapshot).eval()
    with torch.no_grad():
        assert torch.equal(reloaded(pixel_values=flows()).logits, ensemble(pixel_values=flows()).logits)

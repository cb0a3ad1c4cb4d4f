"""`epir-hf export --format onnx`: the written graphs compute the PyTorch models' logits under onnxruntime.

EPIR (the release checkpoint, through the command) and each CNN baseline (the ensemble checkpoint's trained members)
are exported once, then run on 100 generated flows one at a time and 64 at a time: every logit is within 1e-4 of
PyTorch's. The two things EPIR's export relies on are checked on their own: the stable argsort of token integration
and DTSM keeps its order of ties in ONNX, and the model computes the same logits along the branch it takes under
torch.export. docs/cli.md's recipe for running the file reproduces the pipeline's scores. The command refuses a graph
that does not match, and bad input ends in one line.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModelForImageClassification, BertConfig

from epir_hf import (
    EnsembleForImageClassification,
    EPIRConfig,
    EPIRForImageClassification,
    EPIRImageProcessor,
    EPIRModel,
)
from epir_hf.cli.main import cli, main
from epir_hf.export import export_onnx, max_logit_difference, sample_flows
from epir_hf.export.onnx_export import TRANSLATIONS, onnx_runtime

REPO_ROOT = Path(__file__).resolve().parents[1]
EPIR_CHECKPOINT = REPO_ROOT / "checkpoints" / "epir-megc2019-3class"
ENSEMBLE_CHECKPOINT = REPO_ROOT / "checkpoints" / "megc2019-3class-ensemble"
RELEASE_PAIR = REPO_ROOT / "tests" / "release"
TOLERANCE = 1e-4
BASELINES = ("ststnet", "offapexnet", "sssnet")


@pytest.fixture(scope="module")
def flows() -> torch.Tensor:
    return sample_flows(100)


@pytest.fixture(scope="module")
def ensemble():
    return AutoModelForImageClassification.from_pretrained(ENSEMBLE_CHECKPOINT).eval()


@pytest.fixture(scope="module")
def exported_epir(tmp_path_factory) -> tuple[EPIRForImageClassification, Path]:
    """The release checkpoint, written by the command as a user runs it."""
    path = tmp_path_factory.mktemp("epir") / "model.onnx"
    assert main(["export", str(EPIR_CHECKPOINT), "--format", "onnx", "--output", str(path)]) == 0
    return AutoModelForImageClassification.from_pretrained(EPIR_CHECKPOINT).eval(), path


@pytest.fixture(scope="module", params=BASELINES)
def exported_baseline(request, ensemble, tmp_path_factory):
    member = next(model for model in ensemble.members if model.config.model_type == request.param)
    path = tmp_path_factory.mktemp(request.param) / "model.onnx"
    export_onnx(member, path)
    return member, path


@pytest.mark.parametrize("batch_size", [1, 64])
def test_epir_matches_pytorch(exported_epir, flows, batch_size):
    model, path = exported_epir
    assert max_logit_difference(model, path, flows, batch_size) <= TOLERANCE


@pytest.mark.parametrize("batch_size", [1, 64])
def test_each_baseline_matches_pytorch(exported_baseline, flows, batch_size):
    model, path = exported_baseline
    assert max_logit_difference(model, path, flows, batch_size) <= TOLERANCE


def test_an_ensemble_exports_as_one_graph(ensemble, flows, tmp_path):
    """The ensemble's logits (log of the members' mean probabilities) in one graph; two CNN members keep it quick,
    EPIR's graph is checked above."""
    members = [model for model in ensemble.members if model.config.model_type in BASELINES[:2]]
    pair = EnsembleForImageClassification.from_members(members)
    export_onnx(pair, tmp_path / "pair.onnx")
    assert max_logit_difference(pair, tmp_path / "pair.onnx", flows, 64) <= TOLERANCE


def test_the_file_says_what_it_takes_and_returns(exported_epir):
    runtime = onnx_runtime(exported_epir[1])
    (given,), (returned,) = runtime.get_inputs(), runtime.get_outputs()
    assert (given.name, given.shape, given.type) == ("pixel_values", ["batch", 3, 28, 28], "tensor(float)")
    assert (returned.name, returned.shape) == ("logits", ["batch", 3])
    metadata = runtime.get_modelmeta().custom_metadata_map
    assert metadata["model_type"] == "epir"
    assert metadata["id2label"] == '{"0": "negative", "1": "positive", "2": "surprise"}'


def test_the_docs_recipe_gives_the_pipelines_scores(exported_epir):
    """docs/cli.md's recipe (processor, the file on the flow and on its mirror, mean of the probabilities) on the
    release test pair gives the logits and the scores the release test records for PyTorch and the pipeline."""
    expected = json.loads((RELEASE_PAIR / "expected.json").read_text())
    processor = EPIRImageProcessor.from_pretrained(EPIR_CHECKPOINT)
    pixel_values = processor(images=[(str(RELEASE_PAIR / "onset.png"), str(RELEASE_PAIR / "apex.png"))],
                             return_tensors="np").pixel_values
    mirror = pixel_values[..., ::-1].copy()
    mirror[:, 0] = -mirror[:, 0]
    runtime = onnx_runtime(exported_epir[1])
    logits = [runtime.run(None, {"pixel_values": view})[0] for view in (pixel_values, mirror)]
    np.testing.assert_allclose(logits[0][0], expected["logits"], rtol=0, atol=TOLERANCE)
    probabilities = [np.exp(view) / np.exp(view).sum(-1, keepdims=True) for view in logits]
    scores = (probabilities[0] + probabilities[1])[0] / 2
    labels = exported_epir[0].config.id2label
    expected_scores = {prediction["label"]: prediction["score"] for prediction in expected["predictions"]}
    np.testing.assert_allclose(scores, [expected_scores[labels[index]] for index in range(len(labels))], rtol=0,
                               atol=TOLERANCE)


class StableRanks(torch.nn.Module):
    """The two sorts of token reduction: a stable descending argsort of scores, an ascending sort of indices."""

    def forward(self, scores: torch.Tensor):
        order = scores.argsort(dim=-1, descending=True, stable=True)
        return order, order[:, 5:].sort(dim=-1).values


def test_the_stable_argsort_keeps_the_order_of_ties_in_onnx(tmp_path):
    """Scores drawn from 4 values tie everywhere: the tokens of a tie must come in index order, as in PyTorch."""
    scores = torch.randint(0, 4, (8, 49), generator=torch.Generator().manual_seed(0)).float()
    program = torch.onnx.export(StableRanks().eval(), (scores,), dynamo=True, input_names=["scores"], verbose=False,
                                dynamic_shapes=({0: torch.export.Dim("batch")},),
                                custom_translation_table=TRANSLATIONS)
    program.save(str(tmp_path / "ranks.onnx"))
    exported = onnx_runtime(tmp_path / "ranks.onnx").run(None, {"scores": scores.numpy()})
    for onnx_result, torch_result in zip(exported, StableRanks()(scores)):
        np.testing.assert_array_equal(onnx_result, torch_result.numpy())


@pytest.mark.parametrize("overrides", [{}, {"use_self_token_suppression": False}], ids=["release", "no-suppression"])
def test_the_branch_taken_under_export_gives_the_same_logits(overrides, flows, monkeypatch):
    """Under torch.export the attention always adds its log-size bias (log 1 = 0 for unmerged tokens) and the input's
    values go unchecked; in eager mode the same model along that branch gives the same logits."""
    if overrides:
        torch.manual_seed(0)
        model = EPIRForImageClassification(EPIRConfig(**overrides)).eval()
    else:
        model = AutoModelForImageClassification.from_pretrained(EPIR_CHECKPOINT).eval()
    with torch.no_grad():
        eager = model(pixel_values=flows).logits
        monkeypatch.setattr(torch.compiler, "is_exporting", lambda: True)
        exporting = model(pixel_values=flows).logits
    torch.testing.assert_close(exporting, eager, rtol=0, atol=1e-6)


def test_the_command_refuses_a_graph_that_does_not_match(ensemble, tmp_path, monkeypatch):
    """A graph of other weights than the model's: the command fails naming the difference and writes nothing."""
    import epir_hf.export

    member = next(model for model in ensemble.members if model.config.model_type == "ststnet")
    other = copy.deepcopy(member)
    with torch.no_grad():
        for parameter in other.parameters():
            parameter.add_(0.05)
    monkeypatch.setattr(epir_hf.export, "export_onnx", lambda model, path: export_onnx(other, path))
    member.save_pretrained(tmp_path / "ststnet")
    output = tmp_path / "model.onnx"
    with pytest.raises(ValueError, match=r"does not compute what the PyTorch model computes: max \|Δlogit\| "):
        main(["export", str(tmp_path / "ststnet"), "--output", str(output), "--check_flows", "4"])
    assert sorted(path.name for path in tmp_path.iterdir()) == ["ststnet"]


@pytest.mark.parametrize("arguments, message", [
    (["{missing}", "--output", "{out}"], "MODEL {missing}: no such folder, and not a Hub id (name or namespace/name)"),
    (["{tmp}", "--output", "{out}"], "MODEL {tmp}: not a saved model folder (it has no config.json)"),
    ([str(EPIR_CHECKPOINT), "--format", "tflite", "--output", "{out}"],
     "--format 'tflite' is not supported; supported: onnx"),
    ([str(EPIR_CHECKPOINT), "--output", "{missing}/model.onnx"], "the folder of --output does not exist: {missing}"),
    ([str(EPIR_CHECKPOINT), "--output", "{out}", "--tolerance", "nan"],
     "--tolerance must be a positive number; got nan"),
    ([str(EPIR_CHECKPOINT), "--output", "{out}", "--check_flows", "0"], "--check_flows must be at least 1; got 0"),
    ([str(EPIR_CHECKPOINT), "--output", "{tmp}"],
     "--output {tmp} is a folder; give the file to write, e.g. {tmp}/model.onnx"),
    (["{bert}", "--output", "{out}"], "MODEL {bert}: a 'bert' model; this command exports the package's classifiers: "
     "epir, ststnet, offapexnet, sssnet, me-ensemble"),
    (["{encoder}", "--output", "{out}"], "MODEL {encoder}: its weights lack classifier.bias, classifier.weight, "
     "projection.dense.bias and 3 more (a bare encoder, or another model's weights); the file would hold untrained "
     "weights"),
])
def test_bad_input_ends_in_one_line(arguments, message, tmp_path, monkeypatch):
    names = {"missing": tmp_path / "missing", "tmp": tmp_path, "out": tmp_path / "model.onnx",
             "bert": tmp_path / "bert", "encoder": tmp_path / "encoder"}
    BertConfig(num_hidden_layers=1).save_pretrained(names["bert"])
    EPIRModel(EPIRConfig(hidden_size=32, num_attention_heads=2, intermediate_size=64, num_hidden_layers=3)
              ).save_pretrained(names["encoder"])
    monkeypatch.setattr(sys, "argv", ["epir-hf", "export", *(argument.format(**names) for argument in arguments)])
    with pytest.raises(SystemExit) as exited:
        cli()
    assert str(exited.value) == f"epir-hf: error: {message.format(**names)}"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["bert", "encoder"]

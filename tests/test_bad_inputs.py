"""Bad inputs at the boundaries of the model, its config and weights, the image processor, the pipelines and the flow
release: each one ends in a one-line error naming the input (argument, field, file, sample) and what was expected,
never in NaN scores, a label for a photo or a bare traceback from deep inside a library. docs/errors.md lists the
classes of bad input and what each gets.

One table per boundary, so that a new case is one row: (what is wrong, the bad input, the message expected).
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import skimage.data
import torch
from _me_fixtures import flow_release_tree
from matplotlib import cbook
from PIL import Image
from safetensors.torch import load_file, save_file
from test_optical_flow import smooth_field, warp
from test_pipeline import tiny_model
from transformers import AutoConfig, AutoModelForImageClassification, pipeline

from dataset_scripts import load_me_dataset
from dataset_scripts.synthetic import draw_face
from epir_hf import (
    EnsembleConfig,
    EPIRConfig,
    EPIRImageProcessor,
    OffApexNetConfig,
    SSSNetConfig,
    STSTNetConfig,
)
from epir_hf.pipeline_epir import TASK, FlowImageClassificationPipeline


def small_ensemble(**fields) -> EnsembleConfig:
    return EnsembleConfig(members=[STSTNetConfig(), SSSNetConfig()], **fields)


CONFIGS = {"epir": EPIRConfig, "ststnet": STSTNetConfig, "offapexnet": OffApexNetConfig, "sssnet": SSSNetConfig,
           "me-ensemble": small_ensemble}
TINY_EPIR = dict(hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64, projection_dim=16)


def make_model(model_type: str):
    torch.manual_seed(0)
    config = CONFIGS[model_type](**(TINY_EPIR if model_type == "epir" else {}))
    return AutoModelForImageClassification.from_config(config).eval()


def drawn_pair(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A drawn 128 px face and the same face under a smooth motion."""
    face = draw_face(np.random.default_rng(seed), 128)
    return face, warp(face, smooth_field(128, 1.5, seed))


def computed_flow(seed: int = 0) -> np.ndarray:
    return EPIRImageProcessor(do_face_crop=False, flow_method="dis").compute_flow_image(*drawn_pair(seed))


def naming(name: str, path, message: str) -> str:
    """A pattern for a message that starts with `name` (a pattern) and holds the file's path and `message`, in either
    order."""
    return rf"(?s)^{name}\b(?=.*{re.escape(str(path))})(?=.*{re.escape(message)})"


# ----------------------------------------------------------------------------------------- model: pixel_values

PIXEL_VALUES = [
    ("NaN", float("nan"), r"pixel_values must be finite; 1 value\(s\) are NaN or infinite \(the first at index "
                          r"\(0, 1, 2, 3\): nan\)"),
    ("+inf", float("inf"), r"pixel_values must be finite; .* \(the first at index \(0, 1, 2, 3\): inf\)"),
    ("-inf", -float("inf"), r"pixel_values must be finite; .* \(the first at index \(0, 1, 2, 3\): -inf\)"),
]


@pytest.mark.parametrize("model_type", CONFIGS)
@pytest.mark.parametrize("case, value, message", PIXEL_VALUES, ids=[row[0] for row in PIXEL_VALUES])
def test_non_finite_pixel_values(model_type, case, value, message):
    pixel_values = torch.zeros(2, 3, 28, 28)
    pixel_values[0, 1, 2, 3] = value
    with pytest.raises(ValueError, match=message):
        make_model(model_type)(pixel_values=pixel_values)


# ----------------------------------------------------------------------------------------- model: weights file

def _truncate(size_of):
    def corrupt(path):
        data = path.read_bytes()
        path.write_bytes(data[:size_of(len(data))])
    return corrupt


def _set_weight(value: float):
    def corrupt(path):
        tensors = load_file(path)
        name = sorted(tensors)[0]
        tensors[name].view(-1)[0] = value
        save_file(tensors, path, metadata={"format": "pt"})
        return name
    return corrupt


WEIGHTS_FILES = [
    ("truncated to half", _truncate(lambda size: size // 2), "the weights file is incomplete or corrupt"),
    ("truncated to 8 bytes", _truncate(lambda size: 8), "the weights file is incomplete or corrupt"),
    ("empty", _truncate(lambda size: 0), "the weights file is incomplete or corrupt"),
    ("a NaN weight", _set_weight(float("nan")), "the weights '{name}' hold NaN or infinite values"),
    ("an infinite weight", _set_weight(float("inf")), "the weights '{name}' hold NaN or infinite values"),
]


@pytest.mark.parametrize("model_type", ["epir", "ststnet", "me-ensemble"])
@pytest.mark.parametrize("case, corrupt, message", WEIGHTS_FILES, ids=[row[0] for row in WEIGHTS_FILES])
def test_unusable_weights_files_are_named(model_type, case, corrupt, message, tmp_path):
    make_model(model_type).save_pretrained(tmp_path)
    weights = tmp_path / "model.safetensors"
    name = corrupt(weights)
    expected = re.escape(f"{weights}: ") + ".*" + re.escape(message.format(name=name))
    with pytest.raises(ValueError, match=expected):
        AutoModelForImageClassification.from_pretrained(tmp_path)


# ----------------------------------------------------------------------------------------- config.json

CONFIG_FIELDS = [
    ("epir", {"hidden_size": "192"}, "EPIRConfig.hidden_size must be of type int; got '192'."),
    ("epir", {"image_size": None}, "EPIRConfig.image_size must be of type int; got None."),
    ("epir", {"num_hidden_layers": 2.5}, "EPIRConfig.num_hidden_layers must be of type int; got 2.5."),
    ("epir", {"use_dtsm": "false"}, "EPIRConfig.use_dtsm must be of type bool; got 'false'."),
    ("epir", {"dtsm_keep_ratio": "0.5"}, "EPIRConfig.dtsm_keep_ratio must be of type float; got '0.5'."),
    ("epir", {"token_merge_schedule": "8,8,6,4,0"},
     "EPIRConfig.token_merge_schedule must be of type list[int] | None; got '8,8,6,4,0'."),
    ("epir", {"class_weights": [1, "a", 2]}, "EPIRConfig.class_weights must be of type list[float] | None"),
    ("epir", {"hidden_act": "swishy"}, "EPIRConfig.hidden_act must be an activation name of transformers' ACT2FN"),
    ("epir", {"layer_norm_eps": -1}, "EPIRConfig.layer_norm_eps must be a positive number; got -1."),
    ("epir", {"intermediate_size": 0}, "EPIRConfig.intermediate_size must be a positive integer; got 0."),
    ("epir", {"class_weights": [1.0, float("inf"), 1.0]}, "EPIRConfig.class_weights must be None or 3 positive"),
    ("epir", {"id2label": ["negative", "positive", "surprise"]},
     "EPIRConfig.id2label must be a {class id: name} mapping with integer ids"),
    ("epir", {"id2label": {"a": "negative", "b": "positive"}},
     "EPIRConfig.id2label must be a {class id: name} mapping with integer ids"),
    ("epir", {"id2label": {"0": "a", "1": "b", "5": "c"}, "label2id": {"a": 0, "b": 1, "c": 5}},
     "EPIRConfig.id2label must be a {class id: name} mapping with the ids 0..2"),
    ("epir", {"id2label": {"0": "a", "1": "a", "2": "b"}, "label2id": {"a": 1, "b": 2}},
     "EPIRConfig.id2label must be a {class id: name} mapping with a distinct name"),
    ("epir", {"label2id": {"x": 0, "y": 1, "z": 2}}, "EPIRConfig.label2id must be the inverse of id2label"),
    ("ststnet", {"image_size": "28"}, "STSTNetConfig.image_size must be of type int; got '28'."),
    ("ststnet", {"stream_widths": [3, "5", 8]}, "STSTNetConfig.stream_widths must be of type list[int]"),
    ("offapexnet", {"dropout": "0.5"}, "OffApexNetConfig.dropout must be of type float; got '0.5'."),
    ("offapexnet", {"kernel_size": 5.0}, "OffApexNetConfig.kernel_size must be of type int; got 5.0."),
    ("sssnet", {"class_weights": 5}, "SSSNetConfig.class_weights must be of type list[float] | None; got 5."),
    ("sssnet", {"label2id": {"negative": "0", "positive": "1", "surprise": "2"}},
     "SSSNetConfig.label2id must be the inverse of id2label"),
    ("me-ensemble", {"members": []}, "EnsembleConfig.members must be a non-empty list of member configs (model_type "
                                     "one of epir, ststnet, offapexnet, sssnet); got []."),
    ("me-ensemble", {"members": "ststnet,sssnet"}, "EnsembleConfig.members must be of type list[dict]"),
    ("me-ensemble", {"members": [{"model_type": "vit"}]},
     "EnsembleConfig.members[0] must be a config (or config dict) with a model_type of epir, ststnet, offapexnet, "
     "sssnet; got a dict with model_type 'vit'."),
    ("me-ensemble", {"members": [{"model_type": "ststnet"}, {"model_type": "sssnet", "dropout": "0.5"}]},
     "EnsembleConfig.members[1]: SSSNetConfig.dropout must be of type float; got '0.5'."),
    ("me-ensemble", {"members": [{"model_type": "ststnet"}, {"model_type": "sssnet", "image_size": 32}]},
     "EnsembleConfig.members must read the same input: member 0 (ststnet) reads 3×28×28 flow, member 1 (sssnet) "
     "3×32×32."),
    ("me-ensemble", {"members": [{"model_type": "ststnet"}, {"model_type": "sssnet", "id2label": {"0": "a", "1": "b"},
                                                              "label2id": {"a": 0, "b": 1}}]},
     "EnsembleConfig.members must share their classes: member 0 (ststnet) has id2label {0: 'negative', 1: "
     "'positive', 2: 'surprise'}, member 1 (sssnet) has {0: 'a', 1: 'b'}."),
    ("me-ensemble", {"id2label": {"0": "x", "1": "y", "2": "z"}, "label2id": {"x": 0, "y": 1, "z": 2}},
     "EnsembleConfig.id2label must be the members' classes {0: 'negative', 1: 'positive', 2: 'surprise'}"),
]


@pytest.mark.parametrize("model_type, fields, message", CONFIG_FIELDS,
                         ids=[f"{row[0]}-{'-'.join(row[1])}" for row in CONFIG_FIELDS])
def test_bad_config_json_fields_are_named(model_type, fields, message, tmp_path):
    CONFIGS[model_type]().save_pretrained(tmp_path)
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **fields}))
    with pytest.raises(ValueError, match=re.escape(message)):
        AutoConfig.from_pretrained(tmp_path)


# ----------------------------------------------------------------------------------------- processor inputs

def _with(value: float, shape: tuple[int, ...]) -> np.ndarray:
    image = np.full(shape, 0.5, np.float32)
    image[3, 4] = value
    return image


PROCESSOR_INPUTS = [
    ("a flow with NaN", {"flows": [_with(float("nan"), (28, 28, 3))]}, "flow 0: the float image contains NaN"),
    ("a flow with inf", {"flows": [_with(float("inf"), (28, 28, 3))]}, "flow 0: the float image contains NaN"),
    ("an apex frame with NaN", {"images": [(np.full((64, 64), 0.5, np.float32), _with(float("nan"), (64, 64)))]},
     "sample 0 apex: the float image contains NaN"),
    ("a one-channel flow array", {"flows": [np.zeros((28, 28, 1), np.uint8)]},
     "flow 0: a flow image needs 3 channels (u, v, strain); this is a single-channel image"),
]


@pytest.mark.parametrize("case, inputs, message", PROCESSOR_INPUTS, ids=[row[0] for row in PROCESSOR_INPUTS])
def test_bad_processor_inputs(case, inputs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        EPIRImageProcessor(do_face_crop=False)(**inputs)


# ----------------------------------------------------------------------------------------- processor options

PROCESSOR_OPTIONS = [
    ({"image_std": [0.5, 0.0, 0.5]}, "image_std must be one number or 3 (for u, v, strain), finite and non-zero"),
    ({"image_mean": [float("nan")] * 3}, "image_mean must be one number or 3 (for u, v, strain), finite"),
    ({"rescale_factor": float("inf")}, "rescale_factor must be a finite non-zero number, got inf"),
]


@pytest.mark.parametrize("options, message", PROCESSOR_OPTIONS, ids=[next(iter(row[0])) for row in PROCESSOR_OPTIONS])
def test_scaling_options_that_make_pixel_values_non_finite(options, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        EPIRImageProcessor(**options)
    with pytest.raises(ValueError, match=re.escape(message)):
        EPIRImageProcessor()(flows=computed_flow(), **options)


# ----------------------------------------------------------------------------------------- flow image files

def _gray(mode: str = "L"):
    def write(path):
        Image.fromarray(draw_face(np.random.default_rng(1), 64)).convert(mode).save(path)
    return write


def _gray_as_rgb(path):
    Image.fromarray(np.dstack([draw_face(np.random.default_rng(1), 64)] * 3)).save(path)


def _bytes(make):
    def write(path):
        Image.fromarray(computed_flow()).save(path)
        path.write_bytes(make(path.read_bytes()))
    return write


FLOW_FILES = [
    ("grayscale PNG", _gray("L"), "a flow image needs 3 channels (u, v, strain); this is a single-channel (mode 'L')"),
    ("grayscale PNG with alpha", _gray("LA"), "this is a single-channel (mode 'LA') image"),
    ("gray image stored as RGB", _gray_as_rgb, "this is a grayscale image stored with 3 identical channels"),
    ("truncated PNG", _bytes(lambda data: data[:len(data) // 2]), "could not read an image from"),
    ("PNG signature then garbage", _bytes(lambda data: data[:8] + b"garbage" * 20), "could not read an image from"),
    ("empty file", _bytes(lambda data: b""), "could not read an image from"),
]


@pytest.mark.parametrize("case, write, message", FLOW_FILES, ids=[row[0] for row in FLOW_FILES])
def test_bad_flow_files_through_the_processor(case, write, message, tmp_path):
    path = tmp_path / "sub01_EP02_01f .png"
    write(path)
    with pytest.raises(ValueError, match=naming("flow 0", path, message)):
        EPIRImageProcessor()(flows=[str(path)])


@pytest.mark.parametrize("case, write, message", FLOW_FILES, ids=[row[0] for row in FLOW_FILES])
def test_bad_flow_files_of_the_flow_release_are_named_when_it_is_loaded(case, write, message, tmp_path):
    # The dataset keeps each flow image as bytes, so a file that is not a flow image must be named while it is still
    # a file; LOSO reads the release through this dataset.
    release = flow_release_tree(tmp_path / "release")
    path = release / "flow" / "s01_s01_sur_01 .png"
    write(path)
    with pytest.raises(ValueError, match=naming(r".*s01_s01_sur_01", path, message)):
        load_me_dataset("megc2019_composite_flow", release, cache_dir=tmp_path / "cache")
    with pytest.warns(UserWarning, match=r"skipping 1 sample\(s\) \(strict=False\)"):
        dataset = load_me_dataset("megc2019_composite_flow", release, strict=False, cache_dir=tmp_path / "cache")
    assert "s01_s01_sur_01" not in dataset["sample_id"] and len(dataset) == 4


# ----------------------------------------------------------------------------------------- image-classification

@pytest.fixture(scope="module")
def flow_classifier():
    return FlowImageClassificationPipeline(model=tiny_model(), image_processor=EPIRImageProcessor(),
                                           task="image-classification")


def _tinted_face() -> np.ndarray:
    """A drawn face in skin colours: a colour photo of a face, as far as the channels go."""
    face = draw_face(np.random.default_rng(2), 128).astype(np.float32)
    return np.clip(face[..., None] * np.array([1.0, 0.8, 0.65]) + np.array([0.0, 10.0, 20.0]), 0, 255).astype(
        np.uint8)


def _grace_hopper() -> np.ndarray:
    with cbook.get_sample_data("grace_hopper.jpg") as file:
        return np.asarray(Image.open(file).convert("RGB"))


NOT_A_FLOW = "its three channels move together"
NOT_A_STRAIN = "its third channel is not the optical strain of the first two"
NOT_FLOW_IMAGES = [
    ("colour face photo (astronaut, face)", lambda: skimage.data.astronaut()[20:220, 140:320], NOT_A_FLOW),
    ("colour portrait (Grace Hopper)", _grace_hopper, NOT_A_STRAIN),
    ("colour face crop (Grace Hopper)", lambda: _grace_hopper()[60:360, 120:400], NOT_A_STRAIN),
    ("colour photo (astronaut)", skimage.data.astronaut, NOT_A_STRAIN),
    ("colour photo (coffee)", skimage.data.coffee, NOT_A_STRAIN),
    ("colour photo of a cat", skimage.data.chelsea, NOT_A_FLOW),
    ("HSV-coded flow visualisation (colour wheel)", lambda: skimage.data.colorwheel()[..., :3], NOT_A_STRAIN),
    ("drawn face in skin colours", _tinted_face, NOT_A_FLOW),
    ("drawn face, gray stored as RGB", lambda: np.dstack([draw_face(np.random.default_rng(3), 128)] * 3),
     "this is a grayscale image stored with 3 identical channels"),
    ("random noise", lambda: np.random.default_rng(0).integers(0, 256, (28, 28, 3), dtype=np.uint8), NOT_A_STRAIN),
]


@pytest.mark.parametrize("case, image, message", NOT_FLOW_IMAGES, ids=[row[0] for row in NOT_FLOW_IMAGES])
def test_image_classification_refuses_what_cannot_be_a_flow_image(flow_classifier, case, image, message):
    pixels = image()
    for given in (Image.fromarray(pixels), pixels):
        with pytest.raises(ValueError, match=rf"^input: .*{re.escape(message)}"):
            flow_classifier(given)
    if message in (NOT_A_FLOW, NOT_A_STRAIN):
        with pytest.raises(ValueError, match="expects an onset→apex flow image .* pipeline\\('micro-expression-"
                                             "recognition', ...\\)"):
            flow_classifier(pixels)


@pytest.mark.parametrize("case, write, message", FLOW_FILES, ids=[row[0] for row in FLOW_FILES])
def test_image_classification_names_a_bad_flow_file(flow_classifier, case, write, message, tmp_path):
    path = tmp_path / "flow.png"
    write(path)
    with pytest.raises(ValueError, match=naming("input", path, message)):
        flow_classifier(str(path))


FLOW_IMAGES = [
    ("a flow the processor computed", computed_flow),
    ("the same flow enlarged 8x", lambda: np.asarray(Image.fromarray(computed_flow(1)).resize((224, 224),
                                                                                                Image.BILINEAR))),
    ("its mirror (u negated)", lambda: np.dstack([255 - computed_flow(2)[:, ::-1, 0],
                                                  computed_flow(2)[:, ::-1, 1:]])),
    ("the flow of two identical frames (all zeros)", lambda: np.zeros((28, 28, 3), np.uint8)),
]


@pytest.mark.parametrize("case, image", FLOW_IMAGES, ids=[row[0] for row in FLOW_IMAGES])
def test_image_classification_accepts_flow_images(flow_classifier, case, image):
    scores = [result["score"] for result in flow_classifier(Image.fromarray(np.ascontiguousarray(image())))]
    assert len(scores) == 3 and sum(scores) == pytest.approx(1.0)


@pytest.mark.real_data
def test_every_release_flow_passes_and_every_release_face_crop_is_refused(composite_dir):
    from epir_hf.flow_image_check import flow_image_problem
    from epir_hf.image_processing_epir import load_flow_image

    def refused(path) -> bool:
        try:
            return flow_image_problem(load_flow_image(path)) is not None
        except ValueError:  # a face crop stored with 3 identical channels
            return True

    flows, faces = sorted((composite_dir / "flow").glob("*.png")), sorted((composite_dir / "apex").glob("*.jpg"))
    assert len(flows) == len(faces) == 442
    assert [path.name for path in flows if refused(path)] == []
    assert [path.name for path in faces if not refused(path)] == []


# ----------------------------------------------------------------------------------------- recognition pipeline

@pytest.fixture(scope="module")
def recognizer():
    return pipeline(TASK, model=tiny_model(), image_processor=EPIRImageProcessor(flow_method="dis"))


def faceless_pair() -> dict:
    noise = np.random.default_rng(0).integers(0, 255, (120, 160)).astype(np.uint8)
    return {"onset": noise, "apex": np.roll(noise, 1, axis=1)}


PIPELINE_OPTIONS = [
    ({"on_no_face": "full_frame"}, "not_found"),
    ({"do_face_crop": False}, "not_cropped"),
    ({"on_no_face": "full_frame", "flow_method": "farneback", "flow_size": 64}, "not_found"),
]


@pytest.mark.parametrize("options, face_region", PIPELINE_OPTIONS, ids=["-".join(row[0]) for row in PIPELINE_OPTIONS])
def test_the_recognition_pipeline_takes_the_processors_options_per_call(recognizer, options, face_region):
    result = recognizer(faceless_pair(), **options)
    assert result["face_region"] == face_region
    configured = pipeline(TASK, model=recognizer.model,
                          image_processor=EPIRImageProcessor(**{"flow_method": "dis", **options}))
    assert result["predictions"] == configured(faceless_pair())["predictions"]
    # for that call only: the processor keeps its own options
    with pytest.raises(ValueError, match=r"input: no face found in the 160x120 onset frame\. Pass its \(x, y, w, h\) "
                                         r"box \(face_box= to the pipeline"):
        recognizer(faceless_pair())


def test_the_options_apply_to_videos_too(recognizer):
    pair = faceless_pair()
    frames = [pair["onset"], pair["apex"], np.roll(pair["onset"], 2, axis=1)]
    assert recognizer(frames, on_no_face="full_frame")["face_region"] == "not_found"
    assert recognizer(frames, do_face_crop=False)["face_region"] == "not_cropped"


BAD_PIPELINE_OPTIONS = [
    ({"on_no_face": "skip"}, "on_no_face must be one of ('error', 'full_frame'), got 'skip'"),
    ({"do_face_crop": "no"}, "do_face_crop must be True or False, got 'no'"),
    ({"flow_method": "lucas-kanade"}, "flow_method must be one of"),
    ({"flow_size": 8}, "flow_size must be an integer >= 16 (pixels), got 8"),
    ({"size": 14}, "unexpected options ['size']"),
    ({"top_k": True}, "top_k must be a positive integer, got True"),
]


@pytest.mark.parametrize("options, message", BAD_PIPELINE_OPTIONS, ids=[next(iter(row[0])) for row in
                                                                         BAD_PIPELINE_OPTIONS])
def test_bad_processor_options_of_the_recognition_pipeline(recognizer, options, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        recognizer(faceless_pair(), **options)


@pytest.mark.parametrize("model_type", ["ststnet", "me-ensemble"])
def test_a_token_map_from_a_model_without_token_selection_is_refused_before_any_work(model_type):
    message = f"needs an EPIR model with DTSM (dynamic token selection); a {model_type!r} model selects no tokens"
    recognizer = pipeline(TASK, model=make_model(model_type), image_processor=EPIRImageProcessor(flow_method="dis"))
    with pytest.raises(ValueError, match=re.escape(message)):
        recognizer({"onset": "not read", "apex": "not read"}, return_token_map=True)

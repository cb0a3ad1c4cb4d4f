"""prepare_model_inputs with the image processor, and SMIC apex spotting through the processor's module."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from _me_fixtures import flow_release_tree
from PIL import Image

from dataset_scripts import load_me_dataset, prepare_model_inputs
from dataset_scripts.synthetic import Bump, displacement_field, draw_face
from epir_hf.image_processing_epir import EPIRImageProcessor


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return load_me_dataset("synthetic", num_subjects=2, samples_per_subject=3, seed=4,
                           cache_dir=tmp_path_factory.mktemp("cache"))


def test_frames_to_pixel_values_with_face_boxes(synthetic):
    processor = EPIRImageProcessor(flow_method="dis")
    inputs = prepare_model_inputs(synthetic, processor)
    assert set(inputs.column_names) == {"sample_id", "subject", "dataset", "emotion", "label", "onset_frame",
                                        "apex_frame", "pixel_values"}
    assert inputs["sample_id"] == synthetic["sample_id"] and inputs["label"] == synthetic["label"]
    pixels = np.asarray(inputs.with_format("numpy")["pixel_values"][:])
    assert pixels.shape == (6, 3, 28, 28) and pixels.dtype == np.float32
    assert pixels.min() >= -1.0 and pixels.max() <= 1.0
    # Same as calling the processor by hand with the corpus's face box (no face detector involved).
    row = synthetic[4]
    direct = processor(images=[(row["onset"], row["apex"])], face_boxes=[row["face_box"]], return_tensors="np")
    np.testing.assert_allclose(pixels[4], direct["pixel_values"][0], atol=1e-6)


def test_inputs_are_cached_and_num_proc_gives_the_same_result(synthetic, monkeypatch):
    processor = EPIRImageProcessor(flow_method="dis")
    first = prepare_model_inputs(synthetic, processor)

    def must_not_run(*args, **kwargs):
        raise AssertionError("the cached inputs should have been reused")

    with monkeypatch.context() as patch:
        patch.setattr(EPIRImageProcessor, "__call__", must_not_run)
        cached = prepare_model_inputs(synthetic, processor)
    assert cached.cache_files == first.cache_files
    parallel = prepare_model_inputs(synthetic, EPIRImageProcessor(flow_method="dis", flow_size=96), num_proc=2)
    serial = prepare_model_inputs(synthetic, EPIRImageProcessor(flow_method="dis", flow_size=96))
    np.testing.assert_array_equal(np.asarray(parallel.with_format("numpy")["pixel_values"][:]),
                                  np.asarray(serial.with_format("numpy")["pixel_values"][:]))


def test_flow_release_to_pixel_values(tmp_path):
    root = flow_release_tree(tmp_path / "release")
    ds = load_me_dataset("megc2019_composite_flow", root, cache_dir=tmp_path / "cache")
    inputs = prepare_model_inputs(ds, EPIRImageProcessor())
    pixels = np.asarray(inputs.with_format("numpy")["pixel_values"][:])
    rgb = np.asarray(Image.open(root / "flow" / "006_006_1_2 .png").convert("RGB"), dtype=np.float32)
    index = inputs["sample_id"].index("006_006_1_2")
    np.testing.assert_allclose(pixels[index], (rgb.transpose(2, 0, 1) / 255 - 0.5) / 0.5, atol=1e-5)


def test_dataset_without_frames_is_rejected():
    from datasets import Dataset

    with pytest.raises(ValueError, match="needs a dataset with 'onset' and 'apex' frames or a 'flow'"):
        prepare_model_inputs(Dataset.from_dict({"label": [0]}), EPIRImageProcessor())


def test_smic_spotted_apex_finds_the_peak_frame(tmp_path):
    """A clip whose motion peaks at its 3rd frame: "middle" picks the 4th, "spotted" the 3rd."""
    face = draw_face(np.random.default_rng(2)).astype(np.float32)
    ys, xs = np.mgrid[0:128, 0:128].astype(np.float32)
    field = displacement_field([Bump(64, 50, 10, 0, -1), Bump(64, 88, 10, 1, 0)], 128)
    clip = tmp_path / "SMIC" / "HS" / "s3" / "micro" / "surprise" / "s3_sur_01"
    clip.mkdir(parents=True)
    for k, amplitude in enumerate([0.0, 1.0, 3.0, 1.5, 1.0, 0.5, 0.2]):
        frame = cv2.remap(face, xs - amplitude * field[..., 0], ys - amplitude * field[..., 1], cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT101)
        cv2.imwrite(str(clip / f"image{500 + k:06d}.png"), np.round(frame).astype(np.uint8))
    middle = load_me_dataset("smic", tmp_path / "SMIC", cache_dir=tmp_path / "cache")
    spotted = load_me_dataset("smic", tmp_path / "SMIC", apex="spotted", cache_dir=tmp_path / "cache")
    assert middle[0]["apex_frame"] == 503
    assert spotted[0]["apex_frame"] == 502 and spotted[0]["onset_frame"] == 500

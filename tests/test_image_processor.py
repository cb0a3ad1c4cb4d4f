"""EPIRImageProcessor: inputs, layout, face crop, precomputed flows, saving, pickling and every bad-input path."""

import json
import pickle

import numpy as np
import pytest
import torch
from PIL import Image
from test_face_crop import side_by_side, tight_crop
from test_optical_flow import face_in_frame, smooth_field, warp
from transformers import AutoImageProcessor

from dataset_scripts.synthetic import draw_face
from epir_hf import EPIRImageProcessor
from epir_hf.face_crop import expand_box
from epir_hf.facial_regions import FaceLayout, RegionalMotion


@pytest.fixture(scope="module")
def pair():
    """A drawn 128 px face (onset) and the same face under a known smooth motion (apex), uint8 grayscale."""
    face = draw_face(np.random.default_rng(11), 128)
    return face, warp(face, smooth_field(128, 1.5, 11))


@pytest.fixture(scope="module")
def frame_pair():
    """Onset/apex 640x480 frames with a face at a known place (for the face-crop path)."""
    onset = face_in_frame(12)
    apex = onset.copy()
    apex[120:320, 260:460] = warp(onset[120:320, 260:460], smooth_field(200, 1.5, 12))
    return onset, apex


def fast(**kwargs) -> EPIRImageProcessor:
    """A processor on already-cropped faces with DIS flow: exact (uint8) and quick, for format tests."""
    return EPIRImageProcessor(**{"do_face_crop": False, "flow_method": "dis", **kwargs})


def test_output_layout_and_value_range(pair):
    out = EPIRImageProcessor(do_face_crop=False)(images=[pair], return_tensors="pt")
    values = out["pixel_values"]
    assert isinstance(values, torch.Tensor) and values.dtype == torch.float32 and values.shape == (1, 3, 28, 28)
    # min–max per channel then (x/255 - 0.5)/0.5: every channel spans exactly [-1, 1]
    assert torch.equal(values.amin(dim=(0, 2, 3)), torch.full((3,), -1.0))
    assert torch.equal(values.amax(dim=(0, 2, 3)), torch.full((3,), 1.0))


def test_numpy_output_without_return_tensors(pair):
    values = fast()(images=pair)["pixel_values"]
    assert isinstance(values, np.ndarray) and values.dtype == np.float32 and values.shape == (1, 3, 28, 28)


def test_a_batch_equals_its_samples(pair):
    processor = fast()
    other = (pair[1], pair[0])
    batch = processor(images=[pair, other], return_tensors="pt").pixel_values
    assert batch.shape == (2, 3, 28, 28)
    assert torch.equal(batch[1:], processor(images=[other], return_tensors="pt").pixel_values)
    assert torch.equal(batch[:1], processor(images=pair, return_tensors="pt").pixel_values)


def test_pixel_values_follow_the_flow_image(pair):
    processor = EPIRImageProcessor(do_face_crop=False)
    flow_image = processor.compute_flow_image(*pair)
    values = processor(images=[pair]).pixel_values[0]
    assert np.allclose(values, (np.moveaxis(flow_image, -1, 0) / 255.0 - 0.5) / 0.5, rtol=0, atol=1e-6)


def test_deterministic(pair):
    processor = EPIRImageProcessor(do_face_crop=False)
    assert np.array_equal(processor(images=[pair]).pixel_values, processor(images=[pair]).pixel_values)


def as_formats(gray: np.ndarray, tmp_path, tag: str) -> dict:
    rgb = np.dstack([gray] * 3)
    path = tmp_path / f"{tag}.png"
    Image.fromarray(gray).save(path)
    return {
        "uint8 HxW": gray,
        "uint8 HxWx1": gray[:, :, None],
        "uint8 HxWx3": rgb,
        "uint8 HxWx4": np.dstack([rgb, np.full_like(gray, 255)]),
        "float 0..1": gray.astype(np.float32) / 255.0,
        "float64 0..255": gray.astype(np.float64),
        "PIL L": Image.fromarray(gray),
        "PIL RGB": Image.fromarray(rgb),
        "PIL RGBA": Image.fromarray(np.dstack([rgb, np.full_like(gray, 255)])),
        "PIL F": Image.fromarray(gray.astype(np.float32)),
        "torch CxHxW": torch.from_numpy(rgb).permute(2, 0, 1).contiguous(),
        "torch HxW": torch.from_numpy(gray),
        "path str": str(path),
        "pathlib": path,
    }


def test_every_input_format_gives_the_same_pixel_values(pair, tmp_path):
    processor = fast()
    reference = processor(images=[pair]).pixel_values
    onsets, apexes = as_formats(pair[0], tmp_path, "onset"), as_formats(pair[1], tmp_path, "apex")
    for name in onsets:
        values = processor(images=[(onsets[name], apexes[name])]).pixel_values
        assert np.array_equal(values, reference), name


def test_face_crop_matches_cropping_by_hand(frame_pair):
    processor = EPIRImageProcessor(flow_method="dis")
    result = processor.process_pair(*frame_pair)
    assert result.onset_face.shape == result.apex_face.shape == (128, 128)
    assert result.region.source == "detected"
    x, y, w, h = box = result.region.box
    assert abs(x + w / 2 - 360) < 20 and abs(y + h / 2 - 220) < 25
    by_hand = [frame[y:y + h, x:x + w] for frame in frame_pair]
    detected = processor(images=[frame_pair]).pixel_values
    assert np.array_equal(detected, fast()(images=[by_hand]).pixel_values)
    # a caller-supplied box overrides detection
    assert np.array_equal(detected, processor(images=[frame_pair], face_boxes=[box]).pixel_values)
    assert np.array_equal(detected, processor(images=frame_pair, face_boxes=box).pixel_values)
    shifted = (x - 10, y, w, h)
    assert not np.array_equal(detected, processor(images=[frame_pair], face_boxes=[shifted]).pixel_values)


def test_face_margin_grows_the_detected_box(frame_pair):
    box = EPIRImageProcessor().face_region(frame_pair[0].astype(np.float32)).box
    grown = EPIRImageProcessor(face_margin=0.2).face_region(frame_pair[0].astype(np.float32)).box
    assert grown[2] > box[2] * 1.3 and grown[0] < box[0]


@pytest.fixture(scope="module")
def two_faces():
    """A 640x480 frame holding two drawn faces side by side, a 160 px one on the left and a 270 px one on the right."""
    return side_by_side([tight_crop(4), tight_crop(10)], (160, 270))[0]


def centre_x(box) -> float:
    return box[0] + box[2] / 2


def test_several_faces_use_the_largest_and_name_them_all(two_faces, caplog):
    processor = EPIRImageProcessor(flow_method="dis")
    with caplog.at_level("WARNING", logger="epir_hf.image_processing_epir"):
        region = processor.face_region(two_faces.astype(np.float32), "clip 4")
    assert region.source == "detected" and len(region.candidates) == 2 and region.box == region.candidates[0]
    assert centre_x(region.candidates[0]) > 340 > centre_x(region.candidates[1])  # the larger face is on the right
    assert region.candidates[0][2] > region.candidates[1][2]
    assert f"clip 4: 2 faces found in the onset frame, at {list(region.candidates)}" in caplog.text
    assert f"using the largest, {region.box}" in caplog.text
    # the caller picks another face by its index, largest first: a choice made knowingly, so no warning
    caplog.clear()
    with caplog.at_level("WARNING", logger="epir_hf.image_processing_epir"):
        other = processor.face_region(two_faces, "clip 4", face_index=1)
    assert other == type(region)(region.candidates[1], "detected", region.candidates) and not caplog.text
    # face_margin grows every face alike, and a batch call reports the same choice
    grown = EPIRImageProcessor(face_margin=0.1).face_region(two_faces)
    assert grown.candidates == tuple(expand_box(box, 0.1, 480, 640) for box in region.candidates)
    with caplog.at_level("WARNING", logger="epir_hf.image_processing_epir"):
        processor(images=[(two_faces, two_faces)])
    assert "sample 0: 2 faces found in the onset frame" in caplog.text
    assert processor.process_pair(two_faces, two_faces).region == region


def test_a_single_face_is_the_only_candidate(frame_pair):
    region = EPIRImageProcessor().face_region(frame_pair[0])
    assert region.source == "detected" and region.candidates == (region.box,)
    cropped = EPIRImageProcessor().face_region(tight_crop(3))
    assert cropped.source == "already_cropped" and cropped.candidates == (cropped.box,) == ((0, 0, 224, 224),)
    assert EPIRImageProcessor(do_face_crop=False).face_region(frame_pair[0]).candidates == ()
    assert EPIRImageProcessor().face_region(frame_pair[0], face_box=(10, 10, 100, 100)).candidates == ()


@pytest.mark.parametrize("kwargs, message", [
    ({"face_index": 2}, "clip 4: face_index=2, but 2 face\\(s\\) were found in the 640x480 onset frame "
                        "\\(indices 0 to 1"),
    ({"face_index": -1}, "clip 4: face_index must be an integer >= 0"),
    ({"face_index": "1"}, "clip 4: face_index must be an integer >= 0"),
    ({"face_index": True}, "clip 4: face_index must be an integer >= 0"),
    ({"face_index": 0, "face_box": (0, 0, 64, 64)}, "clip 4: pass face_box or face_index, not both"),
    ({"face_index": 0, "settings": "not_cropped"}, "clip 4: face_index picks one of the faces found, but "
                                                   "do_face_crop=False searches for none"),
])
def test_bad_face_choices(two_faces, kwargs, message):
    processor = EPIRImageProcessor()
    if kwargs.get("settings") == "not_cropped":
        kwargs["settings"] = processor.flow_settings(do_face_crop=False)
    with pytest.raises(ValueError, match=message):
        processor.face_region(two_faces, "clip 4", **kwargs)


def test_face_index_where_no_face_was_found():
    noise = np.random.default_rng(0).integers(0, 255, (120, 160)).astype(np.uint8)
    processor = EPIRImageProcessor(on_no_face="full_frame")
    assert processor.face_region(noise) == type(processor.face_region(noise))(None, "not_found", ())
    with pytest.raises(ValueError, match="sample: face_index=0, but 0 face\\(s\\) were found in the 160x120 onset"):
        processor.face_region(noise, face_index=0)


def test_a_face_region_too_small_for_the_flow_is_warned_about(frame_pair, caplog):
    """A 40x40 face is enlarged 3.2x to the 128 px flow crop: under the 64 px minimum, so the user is told."""
    onset = tight_crop(4, side=40)
    small = (onset, warp(onset, smooth_field(40, 0.5, 4)))
    with caplog.at_level("WARNING", logger="epir_hf.image_processing_epir"):
        EPIRImageProcessor(flow_method="dis")(images=[small])
    assert ("sample 0: the face region is 40x40 px, under the minimum face size of 64 px for flow_size=128; "
            "enlarged 3.2x") in caplog.text
    assert EPIRImageProcessor().flow_settings().min_face_side == 64
    # the same whole frames without face location, and a small box given in a large frame
    caplog.clear()
    with caplog.at_level("WARNING", logger="epir_hf.image_processing_epir"):
        fast().process_pair(*small, name="crop 2")
        EPIRImageProcessor(flow_method="dis").process_pair(*frame_pair, face_box=(300, 150, 48, 60), name="box 5")
    assert "crop 2: the face region is 40x40 px" in caplog.text and "box 5: the face region is 48x60 px" in caplog.text
    # at the minimum, or with a flow_size it is not enlarged much for, nothing is said
    caplog.clear()
    onset = tight_crop(4, side=64)
    with caplog.at_level("WARNING", logger="epir_hf.image_processing_epir"):
        fast().process_pair(onset, warp(onset, smooth_field(64, 0.5, 4)))
        fast(flow_size=64).process_pair(*small)
    assert "minimum face size" not in caplog.text


def test_process_pair_returns_every_stage_consistently(frame_pair):
    """One pass gives the crops, the flow, its image and the model input, each derived from the one before."""
    processor = EPIRImageProcessor(flow_method="dis")
    result = processor.process_pair(*frame_pair, name="clip 3")
    assert result.flow.shape == (128, 128, 2) and result.flow_image.shape == (28, 28, 3)
    assert result.flow_image.dtype == np.uint8 and result.pixel_values.shape == (3, 28, 28)
    assert np.array_equal(result.pixel_values, processor(images=[frame_pair]).pixel_values[0])
    assert np.array_equal(result.flow_image, processor.compute_flow_image(*frame_pair))
    regions = RegionalMotion(FaceLayout.for_face(result.onset_face))
    assert result.motion == pytest.approx(float(regions(result.flow).max()))
    # the given region is used as is: no second detection, the same crops
    again = processor.process_pair(*frame_pair, face_box=result.region)
    assert again.region is result.region and np.array_equal(again.apex_face, result.apex_face)


def test_identical_frames_are_flagged_as_no_reliable_motion(pair, caplog):
    """Min–max normalisation stretches any residue of a still pair into a full-range input: say so instead."""
    processor = fast()
    still = processor.process_pair(pair[0], pair[0], name="still pair")
    moving = processor.process_pair(*pair)
    assert still.motion < processor.min_motion <= moving.motion
    assert not still.reliable_motion and moving.reliable_motion
    caplog.clear()
    with caplog.at_level("WARNING", logger="epir_hf.image_processing_epir"):
        processor(images=[(pair[0], pair[0])])
    assert "sample 0: no reliable motion" in caplog.text


def test_no_face_raises_or_falls_back_to_the_full_frame():
    noise = np.random.default_rng(0).integers(0, 255, (120, 160)).astype(np.uint8)
    with pytest.raises(ValueError, match="sample 0: no face found in the 160x120 onset frame"):
        EPIRImageProcessor(flow_method="dis")(images=[(noise, noise)])
    full = EPIRImageProcessor(flow_method="dis", on_no_face="full_frame")(images=[(noise, noise)]).pixel_values
    assert np.array_equal(full, fast()(images=[(noise, noise)]).pixel_values)


def test_onset_and_apex_of_different_sizes(pair, frame_pair):
    small_apex = np.array(Image.fromarray(frame_pair[1]).resize((320, 240)))
    with pytest.raises(ValueError, match="sample 0: the onset frame is 640x480 but the apex frame is 320x240"):
        EPIRImageProcessor()(images=[(frame_pair[0], small_apex)])
    # already cropped faces (do_face_crop=False) are each resized to flow_size, so their sizes may differ
    bigger_apex = np.array(Image.fromarray(pair[1]).resize((256, 256), Image.BILINEAR))
    values = fast()(images=[(pair[0], bigger_apex)]).pixel_values
    assert values.shape == (1, 3, 28, 28)


def test_precomputed_flows_reproduce_the_frame_path(pair, tmp_path):
    processor = EPIRImageProcessor(do_face_crop=False)
    path = tmp_path / "flow.png"
    Image.fromarray(processor.compute_flow_image(*pair)).save(path)
    from_frames = processor(images=[pair]).pixel_values
    for flow in (path, str(path), Image.open(path), np.array(Image.open(path))):
        assert np.array_equal(processor(flows=[flow]).pixel_values, from_frames)
    # a single bare image is read as a flow image (what the image-classification pipeline passes)
    assert np.array_equal(processor(images=Image.open(path)).pixel_values, from_frames)
    assert np.array_equal(processor(Image.open(path)).pixel_values, from_frames)


def test_larger_flow_images_are_resized_and_renormalised():
    flow = np.random.default_rng(0).uniform(10, 200, (56, 56, 3)).astype(np.float32)
    values = EPIRImageProcessor()(flows=flow).pixel_values
    assert values.shape == (1, 3, 28, 28)
    assert values.min() == -1.0 and values.max() == 1.0


@pytest.mark.real_data
def test_composite_pngs_keep_their_rgb_channel_order(composite_dir):
    pngs = sorted((composite_dir / "flow").glob("*.png"))[:8]
    processor = EPIRImageProcessor()
    values = processor(flows=[Image.open(png) for png in pngs], return_tensors="pt").pixel_values
    for png, sample in zip(pngs, values):
        rgb = torch.from_numpy(np.array(Image.open(png).convert("RGB"))).permute(2, 0, 1).float()
        assert torch.allclose(sample, (rgb / 255.0 - 0.5) / 0.5, rtol=0, atol=1e-6), png.name


def test_per_call_options_match_constructor_options(pair):
    default = EPIRImageProcessor(do_face_crop=False)
    assert np.array_equal(default(images=[pair], flow_method="dis", size=14).pixel_values,
                          fast(size={"height": 14, "width": 14})(images=[pair]).pixel_values)
    assert default.flow_method == "tvl1"


def test_save_and_load_with_auto_image_processor(tmp_path):
    processor = EPIRImageProcessor(flow_method="farneback", face_margin=0.1, on_no_face="full_frame", flow_size=96)
    processor.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert saved["auto_map"] == {"AutoImageProcessor": "image_processing_epir.EPIRImageProcessor"}
    assert (tmp_path / "image_processing_epir.py").is_file() and (tmp_path / "optical_flow.py").is_file()
    assert (tmp_path / "face_crop.py").is_file()
    loaded = AutoImageProcessor.from_pretrained(tmp_path)
    assert type(loaded) is EPIRImageProcessor
    assert loaded.flow_settings() == processor.flow_settings()
    assert loaded.to_dict() == processor.to_dict()


def test_pickle_roundtrip_after_use_keeps_behaviour(frame_pair):
    processor = EPIRImageProcessor(flow_method="dis", face_margin=0.05)
    expected = processor(images=[frame_pair]).pixel_values  # the face detector is now loaded (cached per thread)
    clone = pickle.loads(pickle.dumps(processor))
    assert np.array_equal(clone(images=[frame_pair]).pixel_values, expected)
    assert json.loads(processor.to_json_string())["face_margin"] == 0.05  # no OpenCV object in the instance state


def test_usable_from_datasets_map_with_several_processes(pair):
    from datasets import Dataset

    processor = EPIRImageProcessor(flow_method="dis")
    frames = [face_in_frame(seed) for seed in range(4)]
    dataset = Dataset.from_dict({"onset": frames, "apex": frames[1:] + frames[:1]})

    def to_pixels(batch):
        pairs = list(zip(np.asarray(batch["onset"], np.uint8), np.asarray(batch["apex"], np.uint8)))
        return {"pixel_values": processor(images=pairs).pixel_values}

    mapped = dataset.map(to_pixels, batched=True, batch_size=2, num_proc=2, remove_columns=["onset", "apex"])
    expected = processor(images=list(zip(frames, frames[1:] + frames[:1]))).pixel_values
    assert np.allclose(np.asarray(mapped["pixel_values"], np.float32), expected)


# ---------------------------------------------------------------- bad input: a clear error naming the sample


def test_missing_file(pair, tmp_path):
    with pytest.raises(FileNotFoundError, match="sample 1 apex: no such image file: .*missing.png"):
        fast()(images=[pair, (pair[0], tmp_path / "missing.png")])


def test_unreadable_file(pair, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    with pytest.raises(ValueError, match="sample 0 onset: could not read an image from .*broken.png"):
        fast()(images=[(broken, pair[1])])


@pytest.mark.parametrize("array, message", [
    (np.zeros((64, 64), np.int64), "unsupported dtype int64"),
    (np.zeros((64, 64), np.uint16), "unsupported dtype uint16"),
    (np.zeros((64, 64), bool), "unsupported dtype bool"),
    (np.zeros((64, 64, 2), np.uint8), r"unsupported image shape \(64, 64, 2\)"),
    (np.zeros((2, 64, 64, 3), np.uint8), r"unsupported image shape \(2, 64, 64, 3\)"),
    (np.zeros(64, np.uint8), r"unsupported image shape \(64,\)"),
    (np.zeros((8, 8), np.uint8), "8x8 px; at least 16x16"),
    (np.full((64, 64), np.nan, np.float32), "NaN or infinite"),
    (np.full((64, 64), -1.0, np.float32), "expected 0..1 or 0..255"),
    (np.full((64, 64), 300.0, np.float32), "expected 0..1 or 0..255"),
    (Image.new("I;16", (64, 64)), "unsupported PIL image mode 'I;16'"),
    (42, "expected a PIL image, a numpy array, a torch tensor or an image file path, got int"),
])
def test_unsupported_frames(pair, array, message):
    with pytest.raises(ValueError, match="sample 0 apex: .*" + message):
        fast()(images=[(pair[0], array)])


def test_a_pair_given_as_a_bare_image(pair):
    with pytest.raises(ValueError, match="sample 1: expected an \\(onset, apex\\) pair of frames, got a single image"):
        fast()(images=[pair, pair[0]])
    with pytest.raises(ValueError, match="sample 0: expected an \\(onset, apex\\) pair of frames, got a single image"):
        fast()(images=[pair[0]])
    with pytest.raises(ValueError, match="sample 0: expected an \\(onset, apex\\) pair of frames, got a tuple of 3"):
        fast()(images=[(pair[0], pair[1], pair[1])])


@pytest.mark.parametrize("kwargs, message", [
    ({}, "exactly one of them"),
    ({"images": "BOTH"}, "exactly one of them"),
    ({"images": []}, "expects an \\(onset, apex\\) pair or a list of pairs"),
    ({"flows": []}, "flows= is empty"),
    ({"flows": np.zeros((28, 28), np.uint8)}, "flow 0: a flow image needs 3 channels"),
    ({"flows": np.zeros((28, 28, 3), np.uint8), "face_boxes": [(0, 0, 9, 9)]}, "face_boxes= applies to frame pairs"),
])
def test_bad_call_structure(pair, kwargs, message):
    if kwargs.get("images") == "BOTH":
        kwargs = {"images": [pair], "flows": [np.zeros((28, 28, 3), np.uint8)]}
    with pytest.raises(ValueError, match=message):
        fast()(**kwargs)


def test_bad_face_boxes(pair):
    with pytest.raises(ValueError, match="face_boxes= has 1 entries for 2 pairs"):
        EPIRImageProcessor()(images=[pair, pair], face_boxes=[(0, 0, 64, 64)])
    with pytest.raises(ValueError, match="sample 0 face box: .* must lie inside the 128x128 frame"):
        EPIRImageProcessor()(images=[pair], face_boxes=[(100, 100, 64, 64)])


@pytest.mark.parametrize("kwargs, message", [
    ({"flow_method": "lucas-kanade"}, "flow_method must be one of"),
    ({"on_no_face": "skip"}, "on_no_face must be one of"),
    ({"flow_size": 8}, "flow_size must be an integer >= 16"),
    ({"face_margin": -0.1}, "face_margin must be a fraction"),
    ({"do_face_crop": "yes"}, "do_face_crop must be True or False"),
    ({"size": {"height": 0, "width": 28}}, "size must give a positive height and width"),
    ({"min_motion": -0.5}, "min_motion must be a regional flow magnitude"),
    ({"min_motion": float("nan")}, "min_motion must be a regional flow magnitude"),
])
def test_bad_options_at_construction_and_per_call(pair, kwargs, message):
    with pytest.raises(ValueError, match=message):
        EPIRImageProcessor(**kwargs)
    with pytest.raises(ValueError, match=message):
        fast()(images=[pair], **kwargs)

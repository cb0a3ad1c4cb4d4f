"""The micro-expression-recognition pipeline: pairs, videos, apex spotting, token maps, remote code, bad input."""

import json
import os
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from test_face_crop import side_by_side, tight_crop
from test_optical_flow import RAMP, face_in_frame, smooth_field, warp
from transformers import pipeline

from epir_hf import EPIRConfig, EPIRForImageClassification, EPIRImageProcessor, save_for_hub
from epir_hf.pipeline_epir import TASK, MicroExpressionRecognitionPipeline

FACE = (slice(120, 320), slice(260, 460))  # where face_in_frame draws the 200 px face (rows, columns)


def tiny_model(**overrides) -> EPIRForImageClassification:
    torch.manual_seed(0)
    config = EPIRConfig(hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64,
                        projection_dim=16, **overrides)
    return EPIRForImageClassification(config).eval()


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny random EPIR model saved with its processor and pipeline by save_for_hub, plus the live objects."""
    folder = tmp_path_factory.mktemp("epir")
    model, processor = tiny_model(), EPIRImageProcessor(flow_method="dis")
    save_for_hub(model, processor, folder)
    return folder, model, processor


@pytest.fixture(scope="module")
def pipe(saved):
    return pipeline(TASK, model=str(saved[0]), trust_remote_code=True)


def clip(seed: int = 21, amplitudes=RAMP) -> list[np.ndarray]:
    """640x480 frames; the face region moves by a smooth field scaled by `amplitudes` (apex of RAMP: frame 5)."""
    onset = face_in_frame(seed)
    field = smooth_field(200, 1.0, seed)
    frames = []
    for amplitude in amplitudes:
        frame = onset.copy()
        frame[FACE] = warp(onset[FACE], field * amplitude)
        frames.append(frame)
    return frames


def expected_scores(model, processor, onset, apex, test_time_flip: bool = True) -> dict[str, float]:
    """The model's class probabilities, averaged with those of the mirrored flow (u negated) by default."""
    pixel_values = processor(images=[(onset, apex)], return_tensors="pt").pixel_values
    views = [pixel_values]
    if test_time_flip:
        mirrored = pixel_values.flip(-1)
        mirrored[:, 0] = -mirrored[:, 0]  # the default processor maps u to [-1, 1], so -u is the mirrored u
        views.append(mirrored)
    with torch.no_grad():
        probabilities = torch.stack([model(pixel_values=view).logits[0].softmax(-1) for view in views]).mean(0)
    return {model.config.id2label[i]: score for i, score in enumerate(probabilities.tolist())}


def test_save_for_hub_writes_a_remote_code_folder(saved):
    folder, model, _ = saved
    config = json.loads((folder / "config.json").read_text())
    assert config["custom_pipelines"][TASK]["impl"] == "pipeline_epir.MicroExpressionRecognitionPipeline"
    assert config["custom_pipelines"][TASK]["pt"] == ["AutoModelForImageClassification"]
    assert config["auto_map"]["AutoModelForImageClassification"] == "modeling_epir.EPIRForImageClassification"
    processor_config = json.loads((folder / "preprocessor_config.json").read_text())
    assert processor_config["auto_map"]["AutoImageProcessor"] == "image_processing_epir.EPIRImageProcessor"
    for module in ("pipeline_epir", "image_processing_epir", "optical_flow", "face_crop", "apex_spotting",
                   "flow_mirror", "modeling_epir", "configuration_epir"):
        assert (folder / f"{module}.py").is_file(), module
    assert not hasattr(model.config, "custom_pipelines")  # the caller's model is left as it was


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_saved_files_follow_the_umask(tmp_path, umask):
    previous = os.umask(umask)
    try:
        save_for_hub(tiny_model(), EPIRImageProcessor(flow_method="dis"), tmp_path)
    finally:
        os.umask(previous)
    modes = {path.name: path.stat().st_mode & 0o777 for path in tmp_path.iterdir()}
    assert modes["model.safetensors"] == modes["config.json"] == modes["README.md"] == 0o666 & ~umask


def test_pair_prediction_matches_the_model(saved, pipe):
    _, model, processor = saved
    onset, apex = clip()[0], clip()[5]
    output = pipe({"onset": onset, "apex": apex})
    result = output["predictions"]
    expected = expected_scores(model, processor, onset, apex)
    assert [item["label"] for item in result] == sorted(expected, key=expected.get, reverse=True)
    for item in result:
        assert item["score"] == pytest.approx(expected[item["label"]], abs=1e-6)
    top = pipe({"onset": onset, "apex": apex}, top_k=1)["predictions"]
    assert [item["label"] for item in top] == [result[0]["label"]]
    # what the processor saw comes with the scores
    seen = processor.process_pair(onset, apex)
    assert output["face_box"] == list(seen.region.box) and output["face_region"] == "detected"
    assert output["face_boxes"] == [output["face_box"]]  # one face in the frame
    assert output["motion"] == pytest.approx(seen.motion) and output["reliable_motion"] is True


def test_test_time_flip_false_scores_the_flow_alone(saved, pipe):
    _, model, processor = saved
    onset, apex = clip()[0], clip()[5]
    result = pipe({"onset": onset, "apex": apex}, test_time_flip=False)["predictions"]
    expected = expected_scores(model, processor, onset, apex, test_time_flip=False)
    for item in result:
        assert item["score"] == pytest.approx(expected[item["label"]], abs=1e-6)
    # The two views disagree for this random model, so the default average really differs from the single view.
    flipped = pipe({"onset": onset, "apex": apex})["predictions"]
    assert {r["label"]: r["score"] for r in flipped} != pytest.approx(expected, abs=1e-4)
    with pytest.raises(ValueError, match="test_time_flip must be True or False, got 'false'"):
        pipe({"onset": onset, "apex": apex}, test_time_flip="false")


def test_registry_pipeline_from_live_objects(saved):
    _, model, processor = saved
    local = pipeline(TASK, model=model, image_processor=processor, device="cpu")
    assert type(local) is MicroExpressionRecognitionPipeline and local.device.type == "cpu"
    onset, apex = clip()[0], clip()[5]
    result = local({"onset": onset, "apex": apex}, top_k=2)["predictions"]
    expected = expected_scores(model, processor, onset, apex)
    assert len(result) == 2 and result[0]["score"] == pytest.approx(max(expected.values()), abs=1e-6)


def test_a_batch_equals_single_calls(pipe):
    frames = clip()
    samples = [{"onset": frames[0], "apex": frames[index]} for index in (2, 5, 8)]
    batched = pipe(samples, batch_size=2)
    assert len(batched) == 3
    for sample, result in zip(samples, batched):
        single = pipe(sample)["predictions"]
        assert [r["label"] for r in result["predictions"]] == [s["label"] for s in single]
        assert [r["score"] for r in result["predictions"]] == pytest.approx([s["score"] for s in single], abs=1e-6)


def test_video_frames_spot_the_apex_and_match_the_pair(pipe):
    frames = clip()
    result = pipe(frames)
    assert result["onset_index"] == 0 and result["apex_index"] == 5
    assert len(result["apex_scores"]) == len(frames) and np.argmax(result["apex_scores"]) == 5
    assert result["window"] == [0, len(frames)]
    pair = pipe({"onset": frames[0], "apex": frames[5]})["predictions"]
    assert [p["label"] for p in result["predictions"]] == [p["label"] for p in pair]
    assert [p["score"] for p in result["predictions"]] == pytest.approx([p["score"] for p in pair], abs=1e-6)


def test_video_file_and_indices(pipe, tmp_path):
    frames = clip()
    path = str(tmp_path / "clip.mp4")
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), 30, (640, 480), isColor=False)
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()
    assert pipe(path)["apex_index"] == 5
    chosen = pipe(path, apex_index=3, onset_index=1)
    assert (chosen["onset_index"], chosen["apex_index"]) == (1, 3) and "apex_scores" not in chosen
    batch = pipe([path, {"video": frames, "name": "clip-b"}], apex_score="magnitude")
    assert [result["apex_index"] for result in batch] == [5, 5]


def test_token_map_shows_the_patches_dtsm_kept(saved, pipe):
    _, model, processor = saved
    onset, apex = clip()[0], clip()[5]
    result = pipe({"onset": onset, "apex": apex}, return_token_map=True)
    with pytest.raises(ValueError, match="return_token_map must be True or False, got 'false'"):
        pipe({"onset": onset, "apex": apex}, return_token_map="false")
    token_map, face = result["token_map"], result["face"]
    assert token_map.shape == face.shape == (128, 128) and face.dtype == np.uint8
    assert set(np.unique(token_map)) <= {0.0, 1.0}
    with torch.no_grad():
        kept = model(**processor(images=[(onset, apex)], return_tensors="pt")).kept_patch_mask[0].reshape(7, 7)
    # each 28/7 = 4 px patch of the flow image covers a 128/7 px cell of the face crop
    cells = np.array([[token_map[int((r + 0.5) * 128 / 7), int((c + 0.5) * 128 / 7)] for c in range(7)]
                      for r in range(7)])
    assert np.array_equal(cells, kept.float().numpy())
    assert 0 < token_map.mean() < 1
    seen = processor.process_pair(onset, apex)
    assert np.array_equal(face, np.rint(seen.apex_face).astype(np.uint8))
    assert np.array_equal(result["flow_image"], seen.flow_image)
    assert result["flow"].shape == (128, 128, 2) and np.array_equal(result["flow"], seen.flow)


def test_token_map_needs_dtsm(tmp_path):
    model = tiny_model(use_dtsm=False)
    local = pipeline(TASK, model=model, image_processor=EPIRImageProcessor(flow_method="dis"))
    frames = clip()
    assert len(local({"onset": frames[0], "apex": frames[5]})["predictions"]) == 3
    with pytest.raises(ValueError, match=r"needs DTSM enabled \(config.use_dtsm=True\); this EPIR model keeps every"):
        local({"onset": frames[0], "apex": frames[5]}, return_token_map=True)


def test_image_classification_pipeline_on_a_precomputed_flow_image(saved, pipe, tmp_path):
    folder, _, processor = saved
    frames = clip()
    flow_png = tmp_path / "flow.png"
    Image.fromarray(processor.compute_flow_image(frames[0], frames[5])).save(flow_png)
    classifier = pipeline("image-classification", model=str(folder), trust_remote_code=True)
    assert type(classifier).__name__ == "FlowImageClassificationPipeline"
    for flip in (True, False):  # scored as the micro-expression pipeline scores the same flow
        from_flow = classifier(str(flow_png), test_time_flip=flip)
        from_frames = pipe({"onset": frames[0], "apex": frames[5]}, test_time_flip=flip)["predictions"]
        assert [r["label"] for r in from_flow] == [r["label"] for r in from_frames]
        assert [r["score"] for r in from_flow] == pytest.approx([r["score"] for r in from_frames], abs=1e-6)
    assert classifier(Image.open(flow_png)) == classifier(str(flow_png))
    with pytest.raises(FileNotFoundError, match="input: no such image file: .*missing.png"):
        classifier(str(tmp_path / "missing.png"))
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(ValueError, match="input: could not read an image from .*notes.txt"):
        classifier(str(tmp_path / "notes.txt"))


def run_without_epir_hf(script: str, cwd) -> subprocess.CompletedProcess:
    """Run `script` in a fresh interpreter where `epir_hf` and `dataset_scripts` cannot be imported."""
    guard = textwrap.dedent("""
        import sys
        sys.modules["epir_hf"] = None  # an installed-but-absent package: importing it raises ImportError
        sys.modules["dataset_scripts"] = None
        try:
            import epir_hf
        except ImportError:
            pass
        else:
            raise SystemExit("epir_hf is importable")
    """)
    (cwd / "remote_user.py").write_text(guard + textwrap.dedent(script))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(cwd / "modules"),
           "TRANSFORMERS_VERBOSITY": "error"}
    return subprocess.run([sys.executable, "remote_user.py"], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_remote_code_user_without_epir_hf(saved, pipe, tmp_path):
    folder = saved[0]
    frames = clip()
    np.save(tmp_path / "onset.npy", frames[0])
    np.save(tmp_path / "apex.npy", frames[5])
    expected = pipe({"onset": frames[0], "apex": frames[5]})["predictions"]
    pixel_values = saved[2](images=[(frames[0], frames[5])]).pixel_values
    np.save(tmp_path / "pixel_values.npy", pixel_values)
    Image.fromarray(saved[2].compute_flow_image(frames[0], frames[5])).save(tmp_path / "flow.png")
    result = run_without_epir_hf(f"""
        import json
        import numpy as np
        from transformers import AutoImageProcessor, pipeline
        folder = {str(folder)!r}
        onset, apex = np.load("onset.npy"), np.load("apex.npy")
        processor = AutoImageProcessor.from_pretrained(folder, trust_remote_code=True)
        assert "transformers_modules" in type(processor).__module__, type(processor).__module__
        assert np.allclose(processor(images=[(onset, apex)]).pixel_values, np.load("pixel_values.npy"), atol=1e-6)
        pipe = pipeline("micro-expression-recognition", model=folder, trust_remote_code=True)
        assert "transformers_modules" in type(pipe).__module__
        classifier = pipeline("image-classification", model=folder, trust_remote_code=True)
        print("RESULT", json.dumps([pipe({{"onset": onset, "apex": apex}})["predictions"],
                                    pipe([onset, apex])["predictions"],
                                    classifier("flow.png")]))
    """, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    outputs = json.loads(result.stdout.split("RESULT", 1)[1])
    for output in outputs:  # the pair, the frame list and the flow image score alike
        assert [r["label"] for r in output] == [r["label"] for r in expected]
        assert [r["score"] for r in output] == pytest.approx([r["score"] for r in expected], abs=1e-5)


def test_plot_command_writes_the_kept_token_map_of_a_pair(saved, pipe, tmp_path, capsys):
    from epir_hf.cli.main import main

    frames = clip()
    for index in (0, 5):
        Image.fromarray(frames[index]).save(tmp_path / f"frame{index}.png")
    out = tmp_path / "overlay.png"
    assert main(["plot", "--model", str(saved[0]), "--sample", str(tmp_path / "frame0.png"),
                 str(tmp_path / "frame5.png"), "--out", str(out)]) == 0
    best = pipe({"onset": frames[0], "apex": frames[5]})["predictions"][0]
    assert capsys.readouterr().out.startswith(f"{best['label']} ({best['score']:.2f})")
    image = np.array(Image.open(out))
    assert image.shape == (340, 960, 4) and image[..., :3].std() > 10  # 9.6 x 3.4 inches at 100 dpi, not blank


# ---------------------------------------------------------------- bad input: a clear error naming the sample


def test_a_single_bare_image_is_not_a_pair(pipe, tmp_path):
    frame = clip()[0]
    Image.fromarray(frame).save(tmp_path / "frame.png")
    for bare in (frame, Image.fromarray(frame), str(tmp_path / "frame.png"), torch.from_numpy(frame)):
        with pytest.raises(ValueError, match="input: got a single image, but a micro-expression needs motion"):
            pipe(bare)
    with pytest.raises(ValueError, match="input 1: got a single image"):
        pipe([{"onset": frame, "apex": frame}, np.dstack([frame] * 3)])


def test_videos_with_fewer_than_two_frames(pipe, tmp_path):
    frame = clip()[0]
    with pytest.raises(ValueError, match="input: a video needs at least 2 frames"):
        pipe({"video": [frame]})
    path = str(tmp_path / "one.mp4")
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), 30, (640, 480), isColor=False)
    writer.write(frame)
    writer.release()
    with pytest.raises(ValueError, match="input: a video needs at least 2 frames .* 1-frame video"):
        pipe(path)


def test_missing_and_unreadable_videos(pipe, tmp_path):
    with pytest.raises(FileNotFoundError, match="input 1: no such video file: .*nothing.mp4"):
        pipe([{"onset": clip()[0], "apex": clip()[1]}, str(tmp_path / "nothing.mp4")])
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    with pytest.raises(ValueError, match="input: OpenCV could not open .*broken.mp4.* as a video"):
        pipe(str(tmp_path / "broken.mp4"))
    (tmp_path / "frames").mkdir()
    with pytest.raises(ValueError, match="input: the folder .*frames' holds no image files to read as frames"):
        pipe(str(tmp_path / "frames"))


def test_unreadable_frames_are_named(pipe, tmp_path):
    frame = clip()[0]
    with pytest.raises(FileNotFoundError, match="input 0 apex: no such image file"):
        pipe([{"onset": frame, "apex": str(tmp_path / "missing.png")}])
    with pytest.raises(ValueError, match="clip-7 frame 1: unsupported dtype int64"):
        pipe({"video": [frame, frame.astype(np.int64)], "name": "clip-7"})
    with pytest.raises(ValueError, match="input frame 2: is 320x240 but the onset frame 0 is 640x480"):
        pipe([frame, frame, frame[:240, :320]])


def test_several_faces_the_largest_by_default_or_the_one_asked_for(pipe, caplog):
    """A 160 px face on the left and a 270 px face on the right of a 640x480 frame; the right one moves."""
    frame = side_by_side([tight_crop(4), tight_crop(10)], (160, 270))[0]
    moved = frame.copy()
    moved[105:375, 340:610] = warp(frame[105:375, 340:610], smooth_field(270, 1.0, 3))
    with caplog.at_level("WARNING"):
        largest = pipe({"onset": frame, "apex": moved, "name": "two people"})
    boxes = largest["face_boxes"]
    assert len(boxes) == 2 and largest["face_box"] == boxes[0] and boxes[0][2] > boxes[1][2]
    assert boxes[0][0] > 320 > boxes[1][0] + boxes[1][2] / 2  # largest first: the right-hand face
    assert f"two people: 2 faces found in the onset frame, at {[tuple(box) for box in boxes]}" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        other = pipe({"onset": frame, "apex": moved}, face_index=1)
    assert other["face_box"] == boxes[1] and other["face_boxes"] == boxes and "faces found" not in caplog.text
    assert other["motion"] < largest["motion"]  # the face that did not move
    # a video: the face is chosen on the onset and kept for the apex search
    video = pipe([frame, frame, moved, frame], face_index=1)
    assert video["face_box"] == boxes[1] and video["face_boxes"] == boxes
    assert pipe([frame, frame, moved, frame])["apex_index"] == 2
    with pytest.raises(ValueError, match="input: face_index=2, but 2 face\\(s\\) were found in the 640x480 onset"):
        pipe({"onset": frame, "apex": moved}, face_index=2)
    with pytest.raises(ValueError, match="clip-9: face_index=2, but 2 face\\(s\\) were found"):
        pipe({"video": [frame, moved], "name": "clip-9"}, face_index=2)
    given = pipe({"onset": frame, "apex": moved}, face_box=boxes[1])
    assert (given["face_box"], given["face_boxes"], given["face_region"]) == (boxes[1], [], "given")


@pytest.mark.parametrize("kwargs, message", [
    ({"face_index": -1}, "face_index must be an integer >= 0"),
    ({"face_index": 1.0}, "face_index must be an integer >= 0"),
    ({"face_index": 0, "face_box": (0, 0, 64, 64)}, "pass face_box \\(a box\\) or face_index"),
])
def test_bad_face_choices_fail_before_any_work(pipe, kwargs, message):
    with pytest.raises(ValueError, match=message):
        pipe([np.zeros((64, 64), np.uint8)] * 2, **kwargs)


def test_a_face_too_small_for_the_flow_is_warned_about(pipe, caplog):
    onset = tight_crop(4, side=40)
    with caplog.at_level("WARNING"):
        result = pipe({"onset": onset, "apex": warp(onset, smooth_field(40, 0.5, 4)), "name": "tiny"})
    assert result["face_region"] == "already_cropped" and result["face_box"] == [0, 0, 40, 40]
    assert "tiny: the face region is 40x40 px, under the minimum face size of 64 px for flow_size=128" in caplog.text


def test_no_face_in_the_onset(pipe):
    noise = np.random.default_rng(0).integers(0, 255, (240, 320)).astype(np.uint8)
    with pytest.raises(ValueError, match="input: no face found in the 320x240 onset frame"):
        pipe([noise, noise, noise])
    with pytest.raises(ValueError, match="input: no face found"):
        pipe({"onset": noise, "apex": noise})


@pytest.mark.parametrize("kwargs, message", [
    ({"apex_index": 9}, "apex_index=9 is not a frame index of this 9-frame video"),
    ({"onset_index": -1}, "onset_index must be a frame index >= 0, got -1"),
    ({"max_frames": 1}, "max_frames must be an integer >= 2"),
    ({"start_frame": 8}, "the window \\[8, 9\\) of this 9-frame video holds 1 frame"),
    ({"start_time": 0.1}, "start_time / end_time need a video file with a frame rate"),
    ({"apex_index": 3, "max_frames": 4}, "max_frames select the frames searched for the apex; with apex_index"),
    ({"window_size": 3}, "unexpected options \\['window_size'\\]"),
    ({"apex_index": 0}, "apex_index and onset_index are both 0"),
    ({"apex_score": "energy"}, "apex_score must be one of"),
    ({"top_k": 0}, "top_k must be a positive integer"),
    ({"face_box": (600, 0, 100, 100)}, "input face box: .* must lie inside the 640x480 frame"),
])
def test_bad_video_options(pipe, kwargs, message):
    with pytest.raises(ValueError, match=message):
        pipe(clip(), **kwargs)


def test_bad_sample_structure(pipe):
    frame = clip()[0]
    with pytest.raises(ValueError, match="input: onset_index, apex_index and .* apply to videos"):
        pipe({"onset": frame, "apex": frame}, apex_index=1)
    with pytest.raises(ValueError, match="input: onset_index, apex_index and .* apply to videos"):
        pipe({"onset": frame, "apex": frame}, max_frames=5)
    with pytest.raises(ValueError, match="a dict input needs the keys 'onset' and 'apex' .* got keys \\['onset'\\]"):
        pipe({"onset": frame})
    with pytest.raises(ValueError, match="input 0: expected .* got int"):
        pipe([3, {"onset": frame, "apex": frame}])
    with pytest.raises(ValueError, match="input: the batch is empty"):
        pipe([])


def test_pipeline_needs_the_epir_processor(saved):
    from transformers import ViTImageProcessor

    with pytest.raises(ValueError, match="needs the EPIR image processor"):
        pipeline(TASK, model=saved[1], image_processor=ViTImageProcessor())


# ---------------------------------------------------------------- long videos: streamed, windowed, bounded


def write_video(path, frames, fps: int = 30) -> str:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, frames[0].shape[::-1], isColor=False)
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()
    return str(path)


@pytest.fixture
def decoded(monkeypatch):
    """Counts the frames a video file decodes."""
    from epir_hf.video_frames import VideoFrames

    reads = []
    original = VideoFrames._read

    def counting(self, index):
        reads.append(index)
        return original(self, index)

    monkeypatch.setattr(VideoFrames, "_read", counting)
    return reads


def test_given_onset_and_apex_decode_only_those_frames(saved, decoded, tmp_path):
    """With both indices known, a long recording costs two decoded frames, not the whole clip."""
    _, model, processor = saved
    frames = clip()
    path = write_video(tmp_path / "long.mp4", [frames[0]] * 20 + frames)
    local = pipeline(TASK, model=model, image_processor=processor)
    result = local(path, onset_index=20, apex_index=25)
    assert sorted(decoded) == [20, 25]
    assert (result["onset_index"], result["apex_index"]) == (20, 25) and "apex_scores" not in result
    # seeking lands on the same frames as decoding the file from its start
    capture, sequential = cv2.VideoCapture(path), []
    while len(sequential) < 26:
        sequential.append(cv2.cvtColor(capture.read()[1], cv2.COLOR_BGR2GRAY))
    capture.release()
    by_hand = local({"onset": sequential[20], "apex": sequential[25]})
    assert result["motion"] == pytest.approx(by_hand["motion"], abs=1e-6)
    assert result["predictions"] == by_hand["predictions"]


def test_a_window_limits_the_apex_search(saved, decoded, tmp_path):
    _, model, processor = saved
    frames = clip()
    still, moving = [frames[0]] * 30, frames  # the motion happens in frames 30..38 (apex at 35)
    path = write_video(tmp_path / "windowed.mp4", still + moving, fps=10)
    local = pipeline(TASK, model=model, image_processor=processor)
    by_frames = local(path, start_frame=28, end_frame=38)
    assert by_frames["onset_index"] == 28 and by_frames["apex_index"] == 35 and by_frames["window"] == [28, 38]
    assert len(by_frames["apex_scores"]) == 10 and max(decoded) == 37
    by_time = local(path, start_time=2.8, end_time=3.8)  # 10 frames per second
    assert by_time["window"] == [28, 38] and by_time["apex_index"] == 35
    capped = local(path, start_frame=28, max_frames=4)
    assert capped["window"] == [28, 32] and capped["apex_index"] in (30, 31)


def test_identical_frames_are_flagged_not_labelled_silently(pipe, caplog):
    frame = clip()[0]
    with caplog.at_level("WARNING"):
        result = pipe({"onset": frame, "apex": frame.copy(), "name": "still"})
    assert result["motion"] == 0.0 and result["reliable_motion"] is False
    assert "still: no reliable motion" in caplog.text
    moving = pipe({"onset": frame, "apex": clip()[5]})
    assert moving["reliable_motion"] is True and moving["motion"] > result["motion"]

"""`micro-expression-recognition` pipeline: (onset, apex) frames or a whole clip → emotion scores.

Why: the most common request of micro-expression users is "how do I get from my own frames or video to a
prediction". This pipeline wraps the EPIR image processor (face crop + optical flow) and the model behind
transformers' `pipeline()`, spots the apex of a clip automatically, and can return DTSM's kept-token map so a
user sees which facial regions drove the prediction. `save_for_hub` writes a folder that works with
`trust_remote_code=True` for users who do not have `epir_hf` installed; `push_to_hub` publishes that folder.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import cv2
import numpy as np
import torch
from huggingface_hub import CommitInfo, HfApi
from PIL import Image
from tqdm.auto import tqdm
from transformers import BaseImageProcessor, ImageClassificationPipeline, Pipeline, PreTrainedModel
from transformers.dynamic_module_utils import custom_object_save
from transformers.image_utils import load_image

from .apex_spotting import APEX_SCORES, ApexScorer
from .face_crop import check_face_index
from .face_registration import FaceTracker
from .flow_image_check import check_flow_image
from .flow_mirror import FlowMirror, average_with_mirror
from .hub_card import TrainingRecord, write_model_card
from .image_processing_epir import PAIR_OPTIONS, FaceRegion, FlowSettings, load_flow_image, load_frame
from .motion_signal import SPOTTING_SIDE
from .video_frames import VideoFrames

TASK = "micro-expression-recognition"
FLOW_TASK = "image-classification"
WINDOW_OPTIONS = ("start_frame", "end_frame", "start_time", "end_time", "max_frames")
_IMAGE_EXTENSIONS = frozenset(Image.registered_extensions())


def _is_frame(obj: Any) -> bool:
    """One frame: a PIL image, a 2-D/3-D array or tensor, or an image file path."""
    if isinstance(obj, (str, os.PathLike)):
        return os.path.splitext(os.fspath(obj))[1].lower() in _IMAGE_EXTENSIONS
    if isinstance(obj, Image.Image):
        return True
    return isinstance(obj, (np.ndarray, torch.Tensor)) and obj.ndim in (2, 3)


def _bool_flag(name: str, value: Any) -> bool:
    """`value` if it is a bool; a string such as "false" would otherwise switch the option on."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def _top_k(value: Any) -> int:
    """`top_k=`: how many predictions to return, a positive integer (not a bool, which Python counts as one)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"top_k must be a positive integer, got {value!r}")
    return value


def _predictions(logits: torch.Tensor, id2label: dict[int, str], top_k: int) -> list[dict[str, Any]]:
    """The `top_k` best labels of one sample's `logits`, best first, each with its class probability."""
    scores = logits.float().softmax(-1).numpy()
    order = np.argsort(-scores, kind="stable")[:min(top_k, len(id2label))]
    return [{"label": id2label[int(index)], "score": float(scores[index])} for index in order]


def _as_sample(item: Any, name: str) -> dict[str, Any]:
    """One pipeline input as {"onset", "apex", "name"} or {"video", "name"}; a `ValueError` says what is wrong."""
    if isinstance(item, dict):
        unknown = set(item) - {"onset", "apex", "video", "name"}
        is_pair, is_video = {"onset", "apex"} <= item.keys(), "video" in item
        if unknown or is_pair == is_video:
            raise ValueError(f"{name}: a dict input needs the keys 'onset' and 'apex' (a frame pair) or 'video' "
                             f"(and optionally 'name'); got keys {sorted(item)}")
        if is_video:
            return _as_sample(item["video"], str(item.get("name", name)))
        return {"name": name, **item}
    if isinstance(item, (str, os.PathLike)) and not _is_frame(item):
        if os.path.isdir(item):
            return {"video": item, "name": name}  # a folder of frame images
        if not os.path.isfile(item):
            raise FileNotFoundError(f"{name}: no such video file: {os.fspath(item)!r}")
        return {"video": item, "name": name}
    if isinstance(item, (np.ndarray, torch.Tensor)) and item.ndim == 4:
        return {"video": item, "name": name}
    if isinstance(item, (list, tuple)) and all(_is_frame(frame) for frame in item):
        return {"video": list(item), "name": name}
    if _is_frame(item):
        raise ValueError(
            f"{name}: got a single image, but a micro-expression needs motion: pass {{'onset': ..., 'apex': ...}}, "
            "a list of frames or a video file. For a precomputed flow image use the image-classification pipeline."
        )
    raise ValueError(f"{name}: expected {{'onset': frame, 'apex': frame}}, a video path, a list of frames or a "
                     f"(T, H, W[, C]) array, got {type(item).__name__}")


def _check_frame_size(name: str, index: int, frame: np.ndarray, onset_index: int, onset: np.ndarray) -> None:
    """The onset's face box is cut from every frame, so all frames of a video must have the onset's size."""
    if frame.shape != onset.shape:
        raise ValueError(f"{name} frame {index}: is {frame.shape[1]}x{frame.shape[0]} but the onset frame "
                         f"{onset_index} is {onset.shape[1]}x{onset.shape[0]}; all frames of a video must match")


class EPIRFlowPipeline(Pipeline):
    """What the pipelines that read frames through the EPIR image processor share: they load that processor alone,
    refuse any other (they need its `process_pair`), and score flows averaged with their mirror (`FlowMirror`)."""

    task_name = TASK
    _load_processor = False
    _load_image_processor = True
    _load_video_processor = False
    _load_feature_extractor = False
    _load_tokenizer = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not hasattr(self.image_processor, "process_pair"):
            raise ValueError(f"The {self.task_name} pipeline needs the EPIR image processor (EPIRImageProcessor), got "
                             f"{type(self.image_processor).__name__}.")
        self.mirror = FlowMirror.from_image_processor(self.image_processor)


class MicroExpressionRecognitionPipeline(EPIRFlowPipeline):
    r"""
    Micro-expression recognition with EPIR from raw frames or a clip.

    Inputs (one sample, or a list of samples for a batch):

    - `{"onset": frame, "apex": frame}`: a pair of frames (PIL image, array, tensor or image path).
    - a video: a video file path (`"clip.mp4"`), a folder of frame images (read in the natural order of their
      names), a list of frames, a (T, H, W[, C]) array, or `{"video": ...}`.
      A video file is decoded as a stream: with `onset_index` and `apex_index` (absolute frame indices) only those
      two frames are read; otherwise the apex is spotted as the frame whose face, aligned to the onset's, moved
      most from it in some facial region (`apex_score="regional"`; or the mean optical strain, "strain", or mean
      flow magnitude, "magnitude", on 64 px crops), scoring one frame at a time, so memory does not grow with the
      video's length. The search window is the whole video, or
      `start_frame` / `end_frame` (frames [start, end)) or `start_time` / `end_time` (seconds), capped at
      `max_frames` frames; the onset defaults to the window's first frame.
    - any dict input may carry a `"name"` (e.g. a sample id) that error messages use.

    A single bare image is rejected: one frame holds no motion. For a precomputed flow image use
    `pipeline("image-classification", model=..., trust_remote_code=True)`: transformers' stock pipeline, which
    scores the flow alone — without the mirror average below — so its scores differ from this pipeline's and from
    the LOSO evaluation's for the same flow.

    By default the scores average the class probabilities of the flow and of its mirror (u negated), as the LOSO
    benchmark predicts (`run_loso.py --test_time_flip`); `test_time_flip=False` scores the flow alone.

    The face is located on the onset frame. Of several faces the largest is used (the subject sits closest to the
    camera) and a warning names them all; `face_index=` picks another (an index into `face_boxes`, largest first),
    `face_box=` gives the box outright. A face region whose shorter side is under the processor's minimum face size
    (`flow_size / 2`, 64 px by default) gets a warning naming its size: it is enlarged too much for the flow.

    The image processor's options that decide how the frames become a flow image (`PAIR_OPTIONS`: `do_face_crop`,
    `face_margin`, `on_no_face`, `flow_method`, `flow_size`, `min_motion`, `align_face`, `match_lighting`) can be
    given per call and apply to that call only, e.g. `on_no_face="full_frame"` for frames where no face is found or
    `do_face_crop=False` for frames that are already face crops; a bad value raises the processor's `ValueError`
    before any work. The model's input size and scaling stay the processor's.

    Output per sample: a dict with `predictions` (`[{"label": ..., "score": ...}, ...]`, best first, `top_k` of
    them); `face_box` (x, y, w, h of the frames, or None for whole frames), `face_boxes` (every face found, largest
    first: `face_box` is one of them; empty when the box was given or no face was searched for or found) and
    `face_region` (how the face was found: "detected", "already_cropped" when the frames are face crops and are
    used whole, "given", "not_cropped" or "not_found"); `motion` (the motion of the most moving facial region in
    pixels of the `flow_size` face crop, see `facial_regions`) and `reliable_motion` (False below the processor's
    `min_motion`: the pair shows no motion the flow can tell from noise, so the scores mean nothing; a warning is
    logged too). Videos add `onset_index`, `apex_index` and, when spotted, `apex_scores` (one per frame of `window`,
    the [first, last + 1) frames searched).
    `return_token_map=True` adds `token_map` (float32 0/1 mask of the patches DTSM kept, upsampled to the
    `flow_size` face crop), `face` (that apex face crop, uint8), `flow_image` (the uint8 (u, v, strain) image
    the model read) and `flow` (the float32 (u, v) onset→apex flow in pixels of the `flow_size` face crop, before
    the flow image's per-channel min–max scaling, which hides where the flow is zero).

    Example:

    ```python
    >>> pipe = pipeline("micro-expression-recognition", model="path/to/epir", trust_remote_code=True)
    >>> pipe({"onset": "onset.png", "apex": "apex.png"}, top_k=1)["predictions"]
    [{'label': 'surprise', 'score': 0.91}]
    >>> pipe("clip.mp4", max_frames=300)["apex_index"]
    17
    >>> pipe({"onset": "two_people_onset.png", "apex": "two_people_apex.png"}, face_index=1)["face_box"]
    [412, 160, 118, 118]
    >>> pipe({"onset": "onset.png", "apex": "apex.png"}, on_no_face="full_frame", flow_method="dis")["face_region"]
    'not_found'
    ```
    """

    def __call__(self, inputs: Any, **kwargs: Any) -> Any:
        """Classify a pair dict, a video (path, frame list or array) or a list of those; see the class doc."""
        if isinstance(inputs, (list, tuple)) and inputs and all(_is_frame(item) for item in inputs):
            inputs = _as_sample(inputs, "input")
        elif isinstance(inputs, (list, tuple)):
            if not inputs:
                raise ValueError("input: the batch is empty")
            # Every sample is checked before any work starts, so a bad one fails the call with nothing half-done.
            inputs = [_as_sample(item, f"input {index}") for index, item in enumerate(inputs)]
        else:
            inputs = _as_sample(inputs, "input")
        return super().__call__(inputs, **kwargs)

    def _sanitize_parameters(self, top_k: int | None = None, onset_index: int | None = None,
                             apex_index: int | None = None, apex_score: str | None = None,
                             face_box: Any = None, face_index: int | None = None,
                             return_token_map: bool | None = None, test_time_flip: bool | None = None, **options: Any):
        unknown = sorted(set(options) - set(WINDOW_OPTIONS) - set(PAIR_OPTIONS))
        if unknown:
            raise ValueError(f"the {TASK} pipeline got unexpected options {unknown}; its video window options are "
                             f"{list(WINDOW_OPTIONS)} and its image processor options {list(PAIR_OPTIONS)}")
        window = {key: options[key] for key in WINDOW_OPTIONS if options.get(key) is not None}
        processor_options = {key: options[key] for key in PAIR_OPTIONS if options.get(key) is not None}
        if processor_options:
            self.image_processor.flow_settings(**processor_options)  # a ValueError names a bad one before any work
        if face_index is not None:
            face_index = check_face_index(face_index)
            if face_box is not None:
                raise ValueError("pass face_box (a box) or face_index (one of the faces found), not both")
        preprocess_params = {key: value for key, value in (("onset_index", onset_index), ("apex_index", apex_index),
                                                           ("apex_score", apex_score), ("face_box", face_box),
                                                           ("face_index", face_index))
                             if value is not None}
        if window:
            preprocess_params["window"] = window
        if apex_score is not None and apex_score not in APEX_SCORES:
            raise ValueError(f"apex_score must be one of {APEX_SCORES}, got {apex_score!r}")
        if return_token_map is not None:
            preprocess_params["return_token_map"] = _bool_flag("return_token_map", return_token_map)
            if return_token_map and not getattr(self.model.config, "use_dtsm", False):
                raise ValueError(_no_token_map(self.model.config))
        if processor_options:
            preprocess_params["processor_options"] = processor_options
        postprocess_params = {}
        if top_k is not None:
            postprocess_params["top_k"] = _top_k(top_k)
        forward_params = {}
        if test_time_flip is not None:
            forward_params["test_time_flip"] = _bool_flag("test_time_flip", test_time_flip)
        return preprocess_params, forward_params, postprocess_params

    def preprocess(self, inputs: Any, onset_index: int | None = None, apex_index: int | None = None,
                   apex_score: str = "regional", face_box: Any = None, face_index: int | None = None,
                   return_token_map: bool = False, window: dict[str, Any] | None = None,
                   processor_options: dict[str, Any] | None = None) -> dict[str, Any]:
        sample = _as_sample(inputs, "input")
        name = sample["name"]
        processor_options = processor_options or {}
        settings = self.image_processor.flow_settings(**processor_options)
        if "video" in sample:
            with VideoFrames(sample["video"], name) as video:
                onset, apex, face_box, meta = self._choose_pair(video, onset_index, apex_index, apex_score,
                                                               face_box, face_index, window or {}, settings)
        elif onset_index is not None or apex_index is not None or window:
            raise ValueError(f"{name}: onset_index, apex_index and {', '.join(WINDOW_OPTIONS)} apply to videos; "
                             "this is an (onset, apex) pair")
        else:
            onset, apex, meta = sample["onset"], sample["apex"], {}
            if face_index is not None:
                # process_pair still reads the onset as the caller gave it: a grayscale copy whose values all lie
                # in 0..1 would be read on the 0..1 scale.
                face_box = self.image_processor.face_region(load_frame(onset, f"{name} onset"), name, settings,
                                                            face_index=face_index)
        pair = self.image_processor.process_pair(onset, apex, face_box, name, **processor_options)
        meta.update(face_box=None if pair.region.box is None else list(pair.region.box),
                    face_boxes=[list(box) for box in pair.region.candidates], face_region=pair.region.source,
                    motion=pair.motion, reliable_motion=pair.reliable_motion)
        if return_token_map:
            meta["face"] = np.clip(np.rint(pair.apex_face), 0, 255).astype(np.uint8)
            meta["flow_image"] = pair.flow_image
            meta["flow"] = pair.flow
        pixel_values = torch.from_numpy(pair.pixel_values[None]).to(self.dtype)
        return {"pixel_values": pixel_values, "meta": meta}

    def _choose_pair(self, video: VideoFrames, onset_index: int | None, apex_index: int | None, apex_score: str,
                     face_box: Any, face_index: int | None, window: dict[str, Any], settings: FlowSettings):
        """Onset frame, apex frame (spotted unless given), the face region used for both, and what was chosen.

        Only the onset and apex frames are kept: spotting streams the window and scores each frame's small face
        crop as it is decoded, so memory does not grow with the length of the video.
        """
        name = video.name
        if apex_index is not None and window:
            raise ValueError(f"{name}: {', '.join(sorted(window))} select the frames searched for the apex; with "
                             "apex_index given there is no search")
        start, stop = (0, video.count) if apex_index is not None else video.window(**window)
        onset_index = video.check_index(start if onset_index is None else onset_index, "onset_index")
        onset = video.frame(onset_index)
        region = self.image_processor.face_region(onset, name, settings, face_box=face_box, face_index=face_index)
        meta = {"onset_index": onset_index}
        if apex_index is not None:
            apex_index = video.check_index(apex_index, "apex_index")
            if apex_index == onset_index:
                raise ValueError(f"{name}: apex_index and onset_index are both {onset_index}; they must differ")
            if apex_index < onset_index:
                raise ValueError(f"{name}: apex_index {apex_index} comes before onset_index {onset_index}; the apex "
                                 "is the peak of the motion that starts at the onset, so it must come after it")
            apex = video.frame(apex_index)
        else:
            apex_index, apex, meta["apex_scores"] = self._spot_apex(video, onset, onset_index, region, apex_score,
                                                                    start, stop)
            meta["window"] = [start, start + len(meta["apex_scores"])]
        _check_frame_size(name, apex_index, apex, onset_index, onset)
        meta["apex_index"] = apex_index
        return onset, apex, region, meta

    @staticmethod
    def _spot_apex(video: VideoFrames, onset: np.ndarray, onset_index: int, region: FaceRegion, apex_score: str,
                   start: int, stop: int | None) -> tuple[int, np.ndarray, list[float]]:
        """The frame of [start, stop) that moved most from the onset: its index, the frame, and every score.

        Each frame's face is aligned to the onset's as the clip streams, so a head that drifts through the clip is
        followed; frames whose face cannot be aligned score 0 (they are not the apex of this face).
        """
        height, width = onset.shape
        tracker = FaceTracker(onset, region.box or (0, 0, width, height), SPOTTING_SIDE)
        scorer = ApexScorer(tracker.reference_face, apex_score, layout=tracker.layout)
        scores, apex_index, apex = [], None, None
        total = None if stop is None else stop - start
        for index, frame in tqdm(video.frames(start, stop), total=total, desc=f"{video.name}: apex spotting",
                                 leave=False, disable=total is not None and total < 100):
            _check_frame_size(video.name, index, frame, onset_index, onset)
            aligned = tracker.align(frame) if index != onset_index else None
            scores.append(scorer(aligned.face) if aligned is not None and aligned.aligned else 0.0)
            if index != onset_index and (apex is None or scores[-1] > scores[apex_index - start]):
                apex_index, apex = index, frame
        if apex is None:
            raise ValueError(f"{video.name}: a video needs at least 2 frames (onset and apex); the frames searched "
                             f"from {start} held {len(scores)}")
        return apex_index, apex, scores

    def _forward(self, model_inputs: dict[str, Any], test_time_flip: bool = True) -> dict[str, Any]:
        meta = model_inputs.pop("meta")
        outputs, logits = _classify(self.model, self.mirror, model_inputs["pixel_values"], test_time_flip)
        # The token map shows the unmirrored view: the one whose patches line up with the face crop.
        return {"logits": logits, "kept_patch_mask": getattr(outputs, "kept_patch_mask", None), "meta": meta}

    def postprocess(self, model_outputs: dict[str, Any], top_k: int = 5) -> dict[str, Any]:
        predictions = _predictions(model_outputs["logits"][0], self.model.config.id2label, top_k)
        meta = dict(model_outputs["meta"])
        if "face" in meta:
            meta["token_map"] = self._token_map(model_outputs["kept_patch_mask"], meta["face"].shape)
        return {"predictions": predictions, **meta}

    def _token_map(self, kept_patch_mask: torch.Tensor | None, face_shape: tuple[int, int]) -> np.ndarray:
        if kept_patch_mask is None:
            raise ValueError(_no_token_map(self.model.config))
        grid = self.model.config.image_size // self.model.config.patch_size
        mask = kept_patch_mask[0].reshape(grid, grid).float().numpy()
        return cv2.resize(mask, (face_shape[1], face_shape[0]), interpolation=cv2.INTER_NEAREST)


def _no_token_map(config: Any) -> str:
    """Why `return_token_map=True` cannot be served: the token map is EPIR's DTSM selection, which only an EPIR model
    with `use_dtsm=True` makes."""
    if config.model_type == "epir":
        return ("return_token_map=True needs DTSM enabled (config.use_dtsm=True); this EPIR model keeps every token, "
                "so there is no token map")
    return (f"return_token_map=True needs an EPIR model with DTSM (dynamic token selection); a {config.model_type!r} "
            "model selects no tokens, so there is no token map")


def _classify(model, mirror: FlowMirror, pixel_values: torch.Tensor, test_time_flip: bool):
    """The model's outputs on `pixel_values`, and the logits to score: averaged with the mirror's by default."""
    outputs = model(pixel_values=pixel_values)
    if not test_time_flip:
        return outputs, outputs.logits
    return outputs, average_with_mirror(outputs.logits, model(pixel_values=mirror(pixel_values)).logits)


class FlowImageClassificationPipeline(ImageClassificationPipeline):
    r"""
    `image-classification` of a precomputed flow image with EPIR, scored as the rest of the package scores it.

    A folder written by `save_for_hub` declares this class for the `image-classification` task, so
    `pipeline("image-classification", model=folder, trust_remote_code=True)` uses it instead of transformers' stock
    pipeline. Why: the stock pipeline scores the flow alone, so its scores would differ from those of the
    `micro-expression-recognition` pipeline and of the LOSO evaluation for the same flow; and it reports a missing
    file as a failed base64 decoding. This one averages the class probabilities of the flow and of its mirror (u
    negated) unless `test_time_flip=False`, and names a missing or unreadable file. Input: a flow image (RGB = u, v,
    strain) as a file path, a PIL image or an array, or a list of them; output as the stock pipeline's.

    An image that cannot be a flow image is refused with a `ValueError` naming it: a grayscale image (one channel,
    or three identical ones), and a photo, told apart by `flow_image_check` (its channels move together, or its
    third channel is not the optical strain of the first two). Frames and videos go to the
    `micro-expression-recognition` pipeline.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.mirror = FlowMirror.from_image_processor(self.image_processor)

    def _sanitize_parameters(self, test_time_flip: bool | None = None, **kwargs: Any):
        preprocess_params, forward_params, postprocess_params = super()._sanitize_parameters(**kwargs)
        if test_time_flip is not None:
            forward_params["test_time_flip"] = _bool_flag("test_time_flip", test_time_flip)
        return preprocess_params, forward_params, postprocess_params

    def preprocess(self, image: Any, timeout: float | None = None):
        if isinstance(image, str) and image.startswith(("http://", "https://")):
            image = load_image(image, timeout=timeout)
        name = f"input {os.fspath(image)!r}" if isinstance(image, (str, os.PathLike)) else "input"
        flow = load_flow_image(image, "input")
        check_flow_image(flow, name)
        return super().preprocess(flow, timeout=timeout)

    def _forward(self, model_inputs: dict[str, Any], test_time_flip: bool = True) -> dict[str, Any]:
        return {"logits": _classify(self.model, self.mirror, model_inputs["pixel_values"], test_time_flip)[1]}


def save_for_hub(model: PreTrainedModel, image_processor: BaseImageProcessor, save_directory: str | os.PathLike,
                 training: TrainingRecord | None = None, repo_id: str | None = None) -> list[str]:
    """Save model, image processor, this pipeline and a model card so the folder works with `trust_remote_code=True`.

    Writes the weights, `config.json` (with `auto_map` and `custom_pipelines`), `preprocessor_config.json` and the
    Python files of the model, processor and pipelines, so that without `epir_hf` installed
    `pipeline("micro-expression-recognition", model=dir, trust_remote_code=True)`,
    `pipeline("micro-expression-spotting", model=dir, trust_remote_code=True)`,
    `pipeline("image-classification", model=dir, trust_remote_code=True)` (`FlowImageClassificationPipeline`),
    `AutoImageProcessor.from_pretrained(dir, trust_remote_code=True)` and
    `AutoModelForImageClassification.from_pretrained(dir, trust_remote_code=True)` all work.
    `README.md` is the model card (`epir_hf.hub_card`): what `training` records (data, subjects, recipe, seed, date,
    versions), or a card saying the training is not recorded; the pip command that installs what the saved code
    imports; a usage example naming `repo_id` (else `training.hub_model_id`). It replaces any README.md in the
    folder, since a card left from an earlier save would describe another checkpoint. The in-memory model is left as
    it was (its config does not keep `custom_pipelines`). Returns the file names.
    """
    if getattr(type(model), "_auto_class", None) is None or getattr(type(image_processor), "_auto_class", None) is None:
        raise ValueError("save_for_hub needs the EPIR model and image processor classes registered for remote-code "
                         "export, which `import epir_hf` does")
    pipe = MicroExpressionRecognitionPipeline(model=model, image_processor=image_processor, device=model.device,
                                              task=TASK)
    had_custom_pipelines = hasattr(model.config, "custom_pipelines")
    previous = getattr(model.config, "custom_pipelines", None)
    try:
        pipe.save_pretrained(save_directory)
        # The flow-image task is declared next to the pipeline's own (same module, same model class), so that
        # `pipeline("image-classification", ...)` on the folder scores flows as the rest of the package does; the
        # spotting pipeline's module (and the modules it imports) is copied beside it.
        from .pipeline_spotting import TASK as SPOTTING_TASK
        from .pipeline_spotting import MicroExpressionSpottingPipeline

        declared = model.config.custom_pipelines
        module = declared[TASK]["impl"].rpartition(".")[0]
        custom_object_save(MicroExpressionSpottingPipeline, save_directory)
        spotting_module = MicroExpressionSpottingPipeline.__module__.rpartition(".")[2]
        model.config.custom_pipelines = {
            **declared, FLOW_TASK: {**declared[TASK], "impl": f"{module}.{FlowImageClassificationPipeline.__name__}"},
            SPOTTING_TASK: {**declared[TASK], "impl": f"{spotting_module}.{MicroExpressionSpottingPipeline.__name__}",
                            "type": "video"}}
        model.config.save_pretrained(save_directory)
    finally:
        if had_custom_pipelines:
            model.config.custom_pipelines = previous
        elif hasattr(model.config, "custom_pipelines"):
            del model.config.custom_pipelines
    write_model_card(save_directory, model, image_processor, training, repo_id)
    _follow_umask(save_directory)
    return sorted(os.listdir(save_directory))


def push_to_hub(model: PreTrainedModel, image_processor: BaseImageProcessor, repo_id: str,
                training: TrainingRecord | None = None, *, private: bool | None = None, token: str | bool | None = None,
                commit_message: str | None = None, revision: str | None = None, create_pr: bool = False) -> CommitInfo:
    """Publish to the Hub repository `repo_id` what `save_for_hub` saves: weights, config with the three pipelines,
    image processor, code and card, so that `pipeline("micro-expression-recognition", model=repo_id,
    trust_remote_code=True)` runs from it without `epir_hf`.

    Why a function of the model and its image processor: the repository runs the pipeline only with the processor
    the model was trained with, and a model does not own one. `model.push_to_hub` therefore publishes the model alone
    (with its card) and warns so. The folder is saved before the repository is created, so a model or processor that
    cannot be exported leaves nothing behind on the Hub. `private`, `token`, `commit_message`, `revision` and
    `create_pr` are those of `huggingface_hub.HfApi`. Returns the upload's `CommitInfo`.
    """
    with tempfile.TemporaryDirectory() as folder:
        save_for_hub(model, image_processor, folder, training, repo_id)
        return upload_saved_folder(folder, model, image_processor, repo_id, training, private=private, token=token,
                                   commit_message=commit_message, revision=revision, create_pr=create_pr)


def upload_saved_folder(folder: str | os.PathLike, model: PreTrainedModel, image_processor: BaseImageProcessor,
                        repo_id: str, training: TrainingRecord | None = None, *, private: bool | None = None,
                        token: str | bool | None = None, commit_message: str | None = None,
                        revision: str | None = None, create_pr: bool = False) -> CommitInfo:
    """Create the Hub repository `repo_id` if needed and upload `folder`, which `save_for_hub(model, image_processor,
    folder, training)` wrote. When the Hub adds the user's namespace to `repo_id`, the card is written again first,
    so that its usage example names the full id."""
    api = HfApi(token=token)
    created = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
    if created != repo_id:
        write_model_card(folder, model, image_processor, training, created)
    return api.upload_folder(repo_id=created, folder_path=folder, revision=revision, create_pr=create_pr,
                             commit_message=commit_message or "Upload model, image processor and pipelines")


def _follow_umask(folder: str | os.PathLike) -> None:
    """Give the saved files the mode any file the user creates gets: the weights are written through a private
    temporary file (mode 0600), which would hide them from the user's group whatever the umask says."""
    umask = os.umask(0)
    os.umask(umask)
    for entry in os.scandir(folder):
        if entry.is_file(follow_symlinks=False):
            os.chmod(entry.path, 0o666 & ~umask)

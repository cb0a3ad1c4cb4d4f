"""`micro-expression-spotting` pipeline: a long video → every facial event in it, each micro-expression classified.

Why: real recordings last minutes and hold zero to many micro-expressions among blinks, head moves and ordinary
(macro) expressions, while a recognition model reads one onset→apex pair. This pipeline streams the video once,
follows and aligns the face, measures its regional motion against the resting face (`video_motion`), finds the
events (`spotting`), and classifies each micro-expression on its own onset→apex pair with the model — what the MEGC
challenges score as "spot then recognise". A folder written by `save_for_hub` declares it, so it runs from a saved
checkpoint with `trust_remote_code=True`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, fields, is_dataclass
from typing import Any

import numpy as np
import torch
from transformers.utils import logging

from .face_crop import check_face_index
from .motion_signal import SPOTTING_SIDE
from .pipeline_epir import (
    WINDOW_OPTIONS,
    EPIRFlowPipeline,
    _as_sample,
    _bool_flag,
    _classify,
    _is_frame,
    _predictions,
    _top_k,
)
from .spotting import SpottingThresholds, event_signal, find_events
from .video_frames import TRUNCATION_POLICIES, VideoFrames
from .video_motion import first_face_frame, measure_video_motion

logger = logging.get_logger(__name__)

TASK = "micro-expression-spotting"
THRESHOLD_OPTIONS = tuple(field.name for field in fields(SpottingThresholds))


def _thresholds(value: Any) -> SpottingThresholds:
    """`thresholds=`: a `SpottingThresholds`, or a dict of some of its fields (the others keep their defaults).

    A `SpottingThresholds` from the installed package is taken too when this pipeline runs as remote code from a
    saved folder, where its own copy of the class is a different type with the same fields.
    """
    if isinstance(value, SpottingThresholds):
        return value
    if is_dataclass(value) and type(value).__name__ == SpottingThresholds.__name__:
        value = asdict(value)
    if not isinstance(value, dict) or set(value) - set(THRESHOLD_OPTIONS):
        raise ValueError(f"thresholds must be a SpottingThresholds or a dict with keys among {list(THRESHOLD_OPTIONS)},"
                         f" got {value!r}")
    return SpottingThresholds(**value)


def _fps(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"fps must be a positive number of frames per second, got {value!r}")
    return float(value)


class MicroExpressionSpottingPipeline(EPIRFlowPipeline):
    r"""
    Micro-expression spotting (and recognition of each micro-expression) in a long video with EPIR.

    Input (one video, or a list of videos): a video file path, a folder of frame images (natural order of their
    names), a list of frames, a (T, H, W[, C]) array, or `{"video": ..., "name": ...}`.

    Options:

    - `start_frame` / `end_frame` (frames [start, end)) or `start_time` / `end_time` (seconds), and `max_frames`:
      spot a window of the video.
    - `fps`: the frame rate, for frames in memory or a folder, or to override a container's.
    - `face_box` (x, y, w, h in the window's first frame) or `face_index` (one of the faces found, largest first; by
      default the largest, with a warning when there are several). The face is searched for in the window's first
      2 s, in the first frame where the detector finds one.
    - `thresholds`: a `SpottingThresholds` or a dict of some of its fields — `peak` (the apex's z-score, in noise
      units of the video), `boundary` (fraction of the peak where an event starts and ends), `min_motion` (pixels the
      strongest facial region must move, of a 128 px face), `blink` (grey levels both eyes must change for a blink)
      and `merge_seconds`. The defaults and how they were chosen: docs/spotting.md.
    - `classify` (default True): classify each micro-expression on its onset→apex pair; `top_k` predictions,
      `test_time_flip` as in the recognition pipeline.
    - `on_truncated`: `"warn"` (default) or `"error"` when a video file stops decoding before its announced end.
    - `progress` (default True): a progress bar per video, with its rate and time left.

    Output per video: a dict with `events` (in time order, each with `onset_frame`, `apex_frame`, `offset_frame`
    (included), `start_time`, `end_time` (seconds: the onset's start and the offset's end), `kind` ("micro", at most
    0.5 s, or "macro"), `score` (the apex's z-score), `region` (the facial region that moved most), `face_box`, and
    for micro events `predictions`, best first, and `reliable_motion` of their pair); `fps`; `num_frames` (frames
    decoded in the window); `window` ([first, last + 1) frames); `motion` (one value per frame of the window: the
    z-score of the strongest facial region, None where the face was lost — the signal the events are peaks of);
    `face_box` and `face_boxes` (the window's first frame); `lost` ([first, last] frames without a tracked face);
    `truncated`; and `seconds`, the time each stage took (decoding, face alignment, motion signal, events with the
    classification pairs, model).

    Example:

    ```python
    >>> spot = pipeline("micro-expression-spotting", model="path/to/epir", trust_remote_code=True)
    >>> result = spot("interview.mp4")
    >>> [(e["start_time"], e["kind"], e["predictions"][0]["label"]) for e in result["events"] if e["kind"] == "micro"]
    [(12.4, 'micro', 'negative'), (47.9, 'micro', 'surprise')]
    ```
    """

    task_name = TASK

    def __call__(self, inputs: Any, **kwargs: Any) -> Any:
        """Spot one video or a list of videos; see the class doc."""
        if isinstance(inputs, (list, tuple)) and inputs and all(_is_frame(item) for item in inputs):
            inputs = self._video(inputs, "input")  # a list of frames is one video
        elif isinstance(inputs, (list, tuple)):
            if not inputs:
                raise ValueError("input: the batch is empty")
            inputs = [self._video(item, f"input {index}") for index, item in enumerate(inputs)]
        else:
            inputs = self._video(inputs, "input")
        return super().__call__(inputs, **kwargs)

    @staticmethod
    def _video(item: Any, name: str) -> dict[str, Any]:
        sample = _as_sample(item, name)
        if "video" not in sample:
            raise ValueError(f"{name}: spotting reads a whole video (a file, a folder of frames, a list of frames or "
                             "an array), not an (onset, apex) pair; use the micro-expression-recognition pipeline "
                             "for a pair")
        return sample

    def _sanitize_parameters(self, fps: Any = None, face_box: Any = None, face_index: Any = None,
                             thresholds: Any = None, classify: Any = None, top_k: Any = None,
                             test_time_flip: Any = None, on_truncated: Any = None, progress: Any = None,
                             **window: Any):
        unknown = sorted(set(window) - set(WINDOW_OPTIONS))
        if unknown:
            raise ValueError(f"the {TASK} pipeline got unexpected options {unknown}; its options are fps, face_box, "
                             "face_index, thresholds, classify, top_k, test_time_flip, on_truncated, progress and "
                             f"the window options {list(WINDOW_OPTIONS)}")
        preprocess: dict[str, Any] = {"window": {key: value for key, value in window.items() if value is not None}}
        if fps is not None:
            preprocess["fps"] = _fps(fps)
        if face_index is not None:
            preprocess["face_index"] = check_face_index(face_index)
            if face_box is not None:
                raise ValueError("pass face_box (a box) or face_index (one of the faces found), not both")
        if face_box is not None:
            preprocess["face_box"] = face_box
        if thresholds is not None:
            preprocess["thresholds"] = _thresholds(thresholds)
        if classify is not None:
            preprocess["classify"] = _bool_flag("classify", classify)
        if on_truncated is not None:
            if on_truncated not in TRUNCATION_POLICIES:
                raise ValueError(f"on_truncated must be one of {TRUNCATION_POLICIES}, got {on_truncated!r}")
            preprocess["on_truncated"] = on_truncated
        if progress is not None:
            preprocess["progress"] = _bool_flag("progress", progress)
        forward = {} if test_time_flip is None else {"test_time_flip": _bool_flag("test_time_flip", test_time_flip)}
        postprocess = {} if top_k is None else {"top_k": _top_k(top_k)}
        return preprocess, forward, postprocess

    def preprocess(self, inputs: dict[str, Any], window: dict[str, Any], fps: float | None = None,
                   face_box: Any = None, face_index: int | None = None,
                   thresholds: SpottingThresholds = SpottingThresholds(), classify: bool = True,
                   on_truncated: str = "warn", progress: bool = True) -> dict[str, Any]:
        name = inputs["name"]
        with VideoFrames(inputs["video"], name, fps=fps, on_truncated=on_truncated) as video:
            start, stop = video.window(**window)
            located = start if face_box is not None else first_face_frame(video, start, stop)
            first = video.frame(located)
            region = self.image_processor.face_region(first, name, face_box=face_box, face_index=face_index)
            height, width = first.shape
            box = region.box or (0, 0, width, height)
            motion = measure_video_motion(video, box, start, stop, side=SPOTTING_SIDE, progress=progress)
            clock = time.perf_counter()
            scored = event_signal(motion.motion, motion.fps, thresholds)
            events = find_events(motion.motion, motion.fps, thresholds, scored=scored)
            signal = scored[0]
            pairs = []
            for index, event in enumerate(events):
                onset, apex = start + event.onset_frame, start + event.apex_frame
                if classify and event.kind == "micro":
                    pairs.append((index, self.image_processor.process_pair(
                        video.frame(onset), video.frame(apex), motion.box_at(onset), f"{name} event at frame {onset}")))
        motion.seconds["events"] = time.perf_counter() - clock
        if motion.lost:
            spans = ", ".join(f"{first_lost}-{last_lost}" for first_lost, last_lost in motion.lost)
            logger.warning(f"{name}: the face was lost in frames {spans}; no event is spotted there")
        pixel_values = torch.from_numpy(np.stack([pair.pixel_values for _, pair in pairs])) if pairs else None
        meta = {"name": name, "events": events, "start": start, "motion": motion, "signal": signal,
                "pairs": [(index, pair.reliable_motion) for index, pair in pairs],
                "face_box": list(box),
                "face_boxes": [list(candidate) for candidate in region.candidates] or [list(box)]}
        return {"pixel_values": None if pixel_values is None else pixel_values.to(self.dtype), "meta": meta}

    def _forward(self, model_inputs: dict[str, Any], test_time_flip: bool = True) -> dict[str, Any]:
        clock = time.perf_counter()
        pixel_values = model_inputs["pixel_values"]
        logits = None if pixel_values is None else _classify(self.model, self.mirror, pixel_values, test_time_flip)[1]
        model_inputs["meta"]["motion"].seconds["model"] = time.perf_counter() - clock
        return {"logits": logits, "meta": model_inputs["meta"]}

    def postprocess(self, model_outputs: dict[str, Any], top_k: int = 5) -> dict[str, Any]:
        meta, logits = model_outputs["meta"], model_outputs["logits"]
        motion, start = meta["motion"], meta["start"]
        events = []
        for event in meta["events"]:
            found = asdict(event)
            found.update({key: start + found[key] for key in ("onset_frame", "apex_frame", "offset_frame")})
            found.update(start_time=found["onset_frame"] / motion.fps,
                         end_time=(found["offset_frame"] + 1) / motion.fps,
                         face_box=list(motion.box_at(found["onset_frame"])))
            events.append(found)
        for row, (index, reliable) in enumerate(meta["pairs"]):
            events[index]["predictions"] = _predictions(logits[row], self.model.config.id2label, top_k)
            events[index]["reliable_motion"] = reliable
        signal = meta["signal"]
        return {"events": events, "fps": motion.fps, "num_frames": motion.num_frames,
                "window": [start, start + motion.num_frames],
                "motion": [None if np.isnan(value) else round(float(value), 3) for value in signal],
                "face_box": meta["face_box"], "face_boxes": meta["face_boxes"], "lost": motion.lost,
                "truncated": motion.truncated,
                "seconds": {stage: round(seconds, 3) for stage, seconds in motion.seconds.items()}}


__all__ = ["MicroExpressionSpottingPipeline", "TASK"]

"""What the demo computes for one input: epir_hf's recognition and spotting pipelines on the release checkpoint.

Why a module of its own: the page (app.py) only lays out what this returns, so the same analysis is what a test or a
benchmark checks without a browser. A frame pair goes through the `micro-expression-recognition` pipeline; a video
through the `micro-expression-spotting` pipeline first (every event), and then each micro-expression through the
recognition pipeline, on the very pair and face box the spotter classifies (so its labels are the spotter's), which
also returns what only that pipeline gives for the strongest one: the kept patches, the face crop and the flow.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from transformers import AutoImageProcessor, AutoModelForImageClassification, pipeline

from epir_hf.cli.release import RELEASE_CHECKPOINT
from epir_hf.image_processing_epir import load_frame  # importing epir_hf registers the model and both pipelines
from epir_hf.video_frames import VideoFrames

MODEL_ENV = "EPIR_DEMO_MODEL"


def model_folder() -> Path:
    """The release checkpoint: `$EPIR_DEMO_MODEL`, else a copy beside app.py (a Space), else the source checkout's
    (the one the command line uses)."""
    if os.environ.get(MODEL_ENV):
        candidates = [Path(os.environ[MODEL_ENV])]
    else:
        candidates = [Path(__file__).resolve().parent / RELEASE_CHECKPOINT.name, RELEASE_CHECKPOINT]
    for folder in candidates:
        if (folder / "config.json").is_file():
            return folder
    raise FileNotFoundError(f"no EPIR checkpoint (config.json) in {' or '.join(map(str, candidates))}; set "
                            f"{MODEL_ENV} to the folder of checkpoints/{RELEASE_CHECKPOINT.name}")


@dataclass(frozen=True)
class Analysis:
    """One input's results: `recognition` is the recognition pipeline's output (with `return_token_map=True`) for
    the pair shown, `onset` / `apex` its grayscale frames; for a video, `spotting` is the spotting pipeline's output
    and `event` the index in its events of the micro-expression shown (None when it found none, and the pair is then
    the clip's first frame and the frame that moved most from it)."""

    recognition: dict[str, Any]
    onset: np.ndarray
    apex: np.ndarray
    spotting: dict[str, Any] | None = None
    event: int | None = None


class Analyzer:
    """Both pipelines on one loaded copy of the checkpoint (the package's own pipeline classes, no remote code)."""

    def __init__(self, folder: str | os.PathLike | None = None) -> None:
        folder = model_folder() if folder is None else folder
        model = AutoModelForImageClassification.from_pretrained(folder).eval()
        processor = AutoImageProcessor.from_pretrained(folder)
        self.recognize = pipeline("micro-expression-recognition", model=model, image_processor=processor)
        self.spot = pipeline("micro-expression-spotting", model=model, image_processor=processor)
        self.class_names = [model.config.id2label[index] for index in sorted(model.config.id2label)]
        self.patch_grid = model.config.image_size // model.config.patch_size  # patches per side of the flow image

    def pair(self, onset: Any, apex: Any) -> Analysis:
        """An (onset, apex) pair of frames (arrays or image paths)."""
        result = self.recognize({"onset": onset, "apex": apex}, return_token_map=True, top_k=len(self.class_names))
        return Analysis(result, load_frame(onset, "onset"), load_frame(apex, "apex"))

    def video(self, path: str | os.PathLike, end_time: float) -> Analysis:
        """A video file, up to `end_time` seconds: spot its events, then show its strongest micro-expression.

        The spotter runs without classifying; each micro-expression is then classified here by the recognition
        pipeline on the very frames and face box the spotter would use, which gives the spotter's labels and what
        only the recognition pipeline returns (kept patches, face crop, flow) from one optical flow per event."""
        top_k, path = len(self.class_names), os.fspath(path)
        spotted = self.spot(path, end_time=end_time, progress=False, classify=False)
        events = spotted["events"]
        micro = [index for index, event in enumerate(events) if event["kind"] == "micro"]
        chosen = max(micro, key=lambda index: events[index]["score"]) if micro else None
        with VideoFrames(path) as video:
            if chosen is None:
                result = self.recognize(path, end_time=end_time, return_token_map=True, top_k=top_k)
                return Analysis(result, video.frame(result["onset_index"]), video.frame(result["apex_index"]),
                                spotted, None)
            for index in micro:
                event = events[index]
                onset, apex = video.frame(event["onset_frame"]), video.frame(event["apex_frame"])
                recognized = self.recognize({"onset": onset, "apex": apex}, face_box=event["face_box"],
                                            return_token_map=index == chosen, top_k=top_k)
                event.update(predictions=recognized["predictions"], reliable_motion=recognized["reliable_motion"])
                if index == chosen:
                    shown = Analysis(recognized, onset, apex, spotted, chosen)
        return shown

"""Leave-one-subject-out evaluation of spotting (and spot-then-recognise) on a long-video corpus.

Why a harness: the spotter's thresholds, and the baseline's, are fitted numbers, and a spotting F1 means something only
when they were fitted without the videos it is measured on. Each video's motion signal (and the MEGC2019 LBP
baseline's feature difference, read from the very same aligned faces) is computed once and kept on disk; for each
subject the thresholds that give the best micro-expression F1 on the other subjects' videos are applied to that
subject's videos; every micro-expression spotted is then classified by the model on its onset→apex pair. Per subject,
the events are written as `folds/<subject>.json`, like the LOSO runner's folds, and `results.json` pools them with
the MEGC spotting metric and STRS.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import transformers
from tqdm.auto import tqdm
from transformers.utils import logging

from ..face_crop import locate_face
from ..metrics import SPOT_THEN_RECOGNIZE_PATH, load_in_memory
from ..metrics.spotting import match_intervals, spotting_scores
from ..motion_signal import SIGNAL_COLUMNS
from ..spotting import SpottedEvent, SpottingThresholds, find_events
from ..video_frames import VideoFrames
from ..video_motion import first_face_frame, measure_video_motion, shifted_box
from .megc2019_baseline import LBPFeatureDifference, spot

logger = logging.get_logger(__name__)

PEAK_GRID = (3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 12.0, 15.0)
BOUNDARY_GRID = (0.1, 0.2, 0.3, 0.4, 0.5)
LBP_P_GRID = tuple(round(0.05 * step, 2) for step in range(21))
NUISANCE_MARGIN_SECONDS = 0.2
"""A false positive within this much of a blink or a head jump of the generated corpus is counted as caused by it."""


@dataclass
class VideoSignals:
    """What the evaluation keeps of one video: its ground truth and the two spotting signals."""

    video_id: str
    subject: str
    video: str
    fps: float
    motion: np.ndarray
    lbp: np.ndarray
    face_box: list[int]
    shifts: np.ndarray
    references: dict[str, list]
    nuisances: list[list[int]]

    @property
    def minutes(self) -> float:
        return len(self.motion) / self.fps / 60.0

    def intervals(self, kind: str | None = None) -> list[list[int]]:
        refs = self.references
        return [[onset, offset] for onset, offset, found in zip(refs["onset"], refs["offset"], refs["kind"])
                if kind is None or found == kind]


def _save(path: Path, signals: VideoSignals) -> None:
    """Write atomically: an interrupted run leaves either the whole file or none."""
    meta = {key: value for key, value in asdict(signals).items() if key not in ("motion", "lbp", "shifts")}
    temporary = path.with_suffix(".tmp.npz")
    np.savez(temporary, motion=signals.motion, lbp=signals.lbp, shifts=signals.shifts, meta=json.dumps(meta))
    os.replace(temporary, path)


def _load(path: Path) -> VideoSignals:
    with np.load(path) as stored:
        meta = json.loads(str(stored["meta"]))
        return VideoSignals(motion=stored["motion"], lbp=stored["lbp"], shifts=stored["shifts"], **meta)


def measure_video(row: dict, cache: Path, progress: bool = True) -> VideoSignals:
    """The signals of one long-video row (`dataset_scripts.long_videos` layout), from `cache` when already there.

    The face is located as the spotting pipeline locates it (the largest face of the first frame of the first 2 s in
    which one is found); the motion signal and the LBP feature difference are computed from the same aligned faces in
    one pass. A frame whose face was lost repeats the last face for the baseline, which has no notion of a lost face.
    A video in which no face is found keeps no signal (`face_box` empty): both methods spot nothing there.
    """
    path = cache / f"{row['video_id']}.npz"
    if path.is_file():
        return _load(path)
    baseline = LBPFeatureDifference(float(row["fps"]))
    last: list[np.ndarray] = []

    def to_baseline(face: np.ndarray | None) -> None:
        if face is not None:
            last[:] = [face]
        if last:
            baseline.add(last[0])

    with VideoFrames(row["video"], row["video_id"], fps=float(row["fps"])) as video:
        detection = locate_face(video.frame(first_face_frame(video)))
        if detection is None:
            # What the pipeline answers with an error: no event can be spotted, and every one is missed.
            logger.warning(f"{row['video_id']}: no face found in its first 2 seconds; it counts with no events")
            frames = int(row["num_frames"])
            measured = (np.full((frames, len(SIGNAL_COLUMNS)), np.nan, np.float32), np.zeros(frames),
                        np.full((frames, 2), np.nan, np.float32), [])
        else:
            motion = measure_video_motion(video, detection.box, progress=progress, on_face=to_baseline)
            measured = motion.motion, baseline.finish(), motion.shifts, list(detection.box)
    nuisances = [list(span) for key in ("blinks", "head_jumps") for span in row.get(key, [])]
    signals = VideoSignals(
        video_id=row["video_id"], subject=row["subject"], video=row["video"], fps=float(row["fps"]),
        motion=measured[0], lbp=measured[1], shifts=measured[2], face_box=measured[3],
        references={key: list(row[key]) for key in ("onset", "apex", "offset", "kind", "emotion")},
        nuisances=nuisances)
    cache.mkdir(parents=True, exist_ok=True)
    _save(path, signals)
    return signals


def spotted_events(signals: VideoSignals, thresholds: SpottingThresholds) -> list[SpottedEvent]:
    return find_events(signals.motion, signals.fps, thresholds)


def baseline_intervals(signals: VideoSignals, p: float) -> list[list[int]]:
    """The LBP baseline's intervals ([peak − k, peak + k], all taken as micro-expressions) at threshold `p`."""
    k = LBPFeatureDifference(signals.fps).k
    if len(signals.lbp) < 2 * k + 1:
        return []
    return [[onset, offset] for onset, _, offset in spot(signals.lbp, p, k)]


def micro_f1(predictions: Sequence[Sequence[list[int]]], videos: Sequence[VideoSignals]) -> float:
    """Micro-expression F1 (MEGC, IoU >= 0.5) of predicted micro intervals against the micro ground truths."""
    return spotting_scores([list(video) for video in predictions], [video.intervals("micro") for video in videos])["f1"]


def _micro_intervals(events: list[SpottedEvent]) -> list[list[int]]:
    return [[event.onset_frame, event.offset_frame] for event in events if event.kind == "micro"]


def fit_thresholds(videos: Sequence[VideoSignals], base: SpottingThresholds = SpottingThresholds()
                   ) -> SpottingThresholds:
    """The `peak` and `boundary` (from `PEAK_GRID` × `BOUNDARY_GRID`) with the best pooled micro F1 on `videos`;
    ties go to the earlier grid point, so the result is deterministic."""
    best, best_f1 = base, -1.0
    for peak, boundary in itertools.product(PEAK_GRID, BOUNDARY_GRID):
        candidate = replace(base, peak=peak, boundary=boundary)
        f1 = micro_f1([_micro_intervals(spotted_events(video, candidate)) for video in videos], videos)
        if f1 > best_f1:
            best, best_f1 = candidate, f1
    return best


def fit_baseline(videos: Sequence[VideoSignals]) -> float:
    """The LBP baseline's `p` (from `LBP_P_GRID`) with the best pooled micro F1 on `videos`."""
    scores = [micro_f1([baseline_intervals(video, p) for video in videos], videos) for p in LBP_P_GRID]
    return LBP_P_GRID[int(np.argmax(scores))]


def _caused_by_nuisance(interval: list[int], signals: VideoSignals) -> bool:
    margin = round(NUISANCE_MARGIN_SECONDS * signals.fps)
    return any(interval[0] <= last + margin and first - margin <= interval[1] for first, last in signals.nuisances)


Classifier = Callable[[VideoSignals, list[SpottedEvent]], list[list[dict]]]


def recogniser(pipe: Callable[..., dict]) -> Classifier:
    """A `Classifier` that reads each event's onset and apex frames from the video and passes them, with the face box
    where the face was at the onset, to `pipe` (a `micro-expression-recognition` pipeline)."""
    def classify(video: VideoSignals, events: list[SpottedEvent]) -> list[list[dict]]:
        with VideoFrames(video.video, video.video_id, fps=video.fps) as frames:
            return [pipe({"onset": frames.frame(event.onset_frame), "apex": frames.frame(event.apex_frame),
                          "name": f"{video.video_id} event at frame {event.onset_frame}"},
                         face_box=shifted_box(video.face_box, video.shifts[event.onset_frame]))["predictions"]
                    for event in events]

    return classify


def evaluate_corpus(rows: Sequence[dict], output_dir: str | os.PathLike, classify: Classifier | None = None,
                    cache_dir: str | os.PathLike | None = None, progress: bool = True,
                    invocation: dict[str, Any] | None = None) -> dict:
    """Measure every video, fit per held-out subject, write `folds/<subject>.json` and `results.json`; returns the
    results. `classify(signals, events)` returns the predictions (best first) of each micro event, or None to skip
    recognition."""
    output = Path(output_dir)
    cache = Path(cache_dir) if cache_dir is not None else output / "signals"
    started = time.perf_counter()
    videos = [measure_video(row, cache, progress) for row in tqdm(rows, desc="videos", unit="video",
                                                                  disable=not progress)]
    subjects = sorted({video.subject for video in videos})
    if len(subjects) < 2:
        raise ValueError(f"leave-one-subject-out needs videos of at least 2 subjects, got {subjects}")
    (output / "folds").mkdir(parents=True, exist_ok=True)
    per_video: dict[str, dict] = {}
    for subject in tqdm(subjects, desc="folds", unit="subject", disable=not progress):
        training = [video for video in videos if video.subject != subject]
        thresholds, p = fit_thresholds(training), fit_baseline(training)
        fold = []
        for video in (video for video in videos if video.subject == subject):
            events = spotted_events(video, thresholds)
            micro = [event for event in events if event.kind == "micro"]
            predictions = classify(video, micro) if classify is not None else [[] for _ in micro]
            labelled = iter(predictions)
            record = {"video_id": video.video_id, "fps": video.fps, "num_frames": len(video.motion),
                      "references": video.references,
                      "events": [{**asdict(event), **({"predictions": next(labelled)} if event.kind == "micro" else {})}
                                 for event in events],
                      "baseline": baseline_intervals(video, p)}
            fold.append(record)
            per_video[video.video_id] = record
        (output / "folds" / f"{subject}.json").write_text(json.dumps(
            {"subject": subject, "thresholds": asdict(thresholds), "baseline_p": p, "videos": fold}, indent=1))
    results = score(videos, per_video, recognised=classify is not None)
    # What a corpus used for development alone would set as the spotter's defaults: the same fit on every video.
    results["thresholds_all"], results["baseline_p_all"] = asdict(fit_thresholds(videos)), fit_baseline(videos)
    results["how"] = {**(invocation or {}), "seconds": round(time.perf_counter() - started, 1),
                      "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
                      "python": platform.python_version(), "transformers": transformers.__version__,
                      "numpy": np.__version__}
    (output / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    return results


def score(videos: Sequence[VideoSignals], records: dict[str, dict], recognised: bool) -> dict:
    """The pooled figures of a finished evaluation (see `evaluate_corpus`)."""
    events = [records[video.video_id]["events"] for video in videos]
    spotting = spotting_scores([[[e["onset_frame"], e["offset_frame"]] for e in found] for found in events],
                               [video.intervals() for video in videos],
                               [[e["kind"] for e in found] for found in events],
                               [video.references["kind"] for video in videos])
    baseline = micro_f1([records[video.video_id]["baseline"] for video in videos], videos)
    minutes = sum(video.minutes for video in videos)
    false_positives = nuisance_fps = 0
    for video, found in zip(videos, events):
        intervals = [[event["onset_frame"], event["offset_frame"]] for event in found]
        matched = {prediction for prediction, _ in match_intervals(intervals, video.intervals())}
        unmatched = [interval for index, interval in enumerate(intervals) if index not in matched]
        false_positives += len(unmatched)
        nuisance_fps += sum(_caused_by_nuisance(interval, video) for interval in unmatched)
    results = {"videos": len(videos), "subjects": len({video.subject for video in videos}),
               "videos_without_face": [video.video_id for video in videos if not video.face_box],
               "minutes": round(minutes, 2), "spotting": spotting,
               "baseline_micro_f1": baseline, "micro_f1_over_baseline": spotting["micro_f1"] - baseline,
               "false_positives_per_minute": false_positives / minutes if minutes else math.nan,
               "nuisance_false_positives": nuisance_fps,
               "nuisance_false_positives_per_minute": nuisance_fps / minutes if minutes else math.nan}
    if recognised:
        micro = [[e for e in found if e["kind"] == "micro"] for found in events]
        strs = load_in_memory(SPOT_THEN_RECOGNIZE_PATH).compute(
            predictions=[[[e["onset_frame"], e["offset_frame"]] for e in found] for found in micro],
            references=[video.intervals("micro") for video in videos],
            prediction_labels=[[e["predictions"][0]["label"] for e in found] for found in micro],
            reference_labels=[[emotion for emotion, kind in zip(video.references["emotion"], video.references["kind"])
                               if kind == "micro"] for video in videos])
        results["strs"] = strs
    return results


__all__ = ["BOUNDARY_GRID", "LBP_P_GRID", "PEAK_GRID", "VideoSignals", "baseline_intervals", "evaluate_corpus",
           "fit_baseline", "fit_thresholds", "measure_video", "micro_f1", "recogniser", "score", "spotted_events"]

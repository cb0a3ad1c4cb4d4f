"""Follow the face through a long video and measure its regional motion, frame by frame, in bounded memory.

Why a stage of its own: spotting (`spotting.find_events`) and the evaluation of spotting thresholds both start from
the same per-frame motion signal, and computing it — decoding, aligning and a flow per frame — is the whole cost.
The signal is computed once per video, while thresholds can then be fitted and applied at no cost.

A face that cannot be aligned (it turned away, was covered or left the frame) leaves its frames without a signal.
After half a second of such frames the face is searched for again every half second, and once found it is followed
from there with a fresh reference; the frames in between are reported as lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from .face_crop import FaceBox, locate_face
from .face_registration import FaceTracker
from .facial_regions import RegionalMotion
from .motion_signal import SPOTTING_SIDE, MotionSignal
from .video_frames import VideoFrames

_RELOCATE_SECONDS = 0.5
"""After this long without an aligned face, and then this often, the face is searched for again."""
_SEARCH_SECONDS = 2.0
_SEARCH_STEP_SECONDS = 0.2
JUMP_FRACTION = 0.005
"""A face that moves by more than this fraction of its box's width from one frame to the next (0.75 px for a
150 px face; a slow drift moves it a hundredth of a pixel) has jumped: the motion signal's resting face restarts
there (`MotionSignal.add(cut=True)`)."""


@dataclass
class VideoMotion:
    """The motion signal of the frames [start, start + len(motion)) of a video (see `measure_video_motion`).

    `motion` is float32 (frames, regions) in pixels of the `side` aligned face (NaN rows where the face was lost),
    `shifts` the face's displacement from `face_box` in frame pixels (x, y) per frame, `lost` the [first, last]
    frames (absolute indices) without an aligned face, `truncated` whether the video stopped decoding before the
    frame count its container announced, and `seconds` the time spent per stage ("decode", "align", "motion").
    """

    motion: np.ndarray
    fps: float
    start: int
    face_box: FaceBox
    shifts: np.ndarray
    lost: list[list[int]] = field(default_factory=list)
    truncated: bool = False
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return len(self.motion)

    def box_at(self, index: int) -> FaceBox:
        """The face box of frame `index` (absolute): the first box moved by the face's displacement there."""
        return shifted_box(self.face_box, self.shifts[index - self.start])


def shifted_box(box: FaceBox, shift: np.ndarray) -> FaceBox:
    """`box` moved by `shift` (x, y) frame pixels, rounded; a NaN shift (face lost) leaves it where it was."""
    x, y, w, h = box
    dx, dy = np.nan_to_num(shift).round().astype(int)
    return (int(x + dx), int(y + dy), int(w), int(h))


def _lost_spans(aligned: np.ndarray, start: int) -> list[list[int]]:
    edges = np.flatnonzero(np.diff(np.concatenate([[1], aligned.astype(np.int8), [1]])))
    return [[start + int(first), start + int(last) - 1] for first, last in zip(edges[::2], edges[1::2])]


def first_face_frame(video: VideoFrames, start: int = 0, stop: int | None = None, fps: float | None = None) -> int:
    """The first frame of [start, stop) in which `locate_face` finds a face, looking at one frame every 0.2 s of the
    first 2 s (a face detector misses a face in some frames that it finds in the next); `start` when none has one,
    so that the caller's error names the window's first frame.

    Why not only the first frame: the spotting follows the face from the box found, and a box found a few frames
    later fits the first frame as well, since a face moves little in two seconds.
    """
    fps = fps or video.fps or 30.0
    step = max(1, round(_SEARCH_STEP_SECONDS * fps))
    last = start + round(_SEARCH_SECONDS * fps)
    if stop is not None:
        last = min(last, stop - 1)
    if video.count is not None:
        last = min(last, video.count - 1)
    for index in range(start, last + 1, step):
        if locate_face(video.frame(index)) is not None:
            return index
    return start


def measure_video_motion(video: VideoFrames, face_box: FaceBox, start: int = 0, stop: int | None = None,
                         fps: float | None = None, side: int = SPOTTING_SIDE, progress: bool = True,
                         on_face: Callable[[np.ndarray | None], None] | None = None) -> VideoMotion:
    """Stream the frames [start, stop) of `video`, follow the face from `face_box` (a box of frame `start`) and
    measure each frame's regional motion against the resting face (`MotionSignal`).

    `on_face`, when given, is called with each frame's aligned face (None where it was lost), so that another method
    can read the very same faces in the same pass (the spotting evaluation runs its baseline so).

    `fps` defaults to the video's own; a `ValueError` says so when neither is known. Frames of another size than the
    first are a `ValueError` naming the frame.
    """
    fps = fps or video.fps
    if fps is None:
        raise ValueError(f"{video.name}: the video has no usable frame rate; pass fps= (frames per second)")
    total = None if stop is None else stop - start
    seconds = {"decode": 0.0, "align": 0.0, "motion": 0.0}
    signals: list[np.ndarray] = []
    signal, tracker, first_shape, origin = None, None, None, np.zeros(2)
    shifts, aligned_frames, missing, previous = [], [], 0, None
    relocate = max(1, round(_RELOCATE_SECONDS * fps))
    frames = video.frames(start, stop)
    bar = tqdm(total=total, desc=f"{video.name}: spotting", unit="frame", disable=not progress, leave=False)
    clock = time.perf_counter()
    for index, frame in frames:
        now = time.perf_counter()
        seconds["decode"] += now - clock
        if first_shape is None:
            first_shape = frame.shape
        elif frame.shape != first_shape:
            raise ValueError(f"{video.name} frame {index}: is {frame.shape[1]}x{frame.shape[0]} but frame {start} is "
                             f"{first_shape[1]}x{first_shape[0]}; all frames of a video must have one size")
        if tracker is None:
            tracker = FaceTracker(frame, face_box, side)
            signal = MotionSignal(fps, RegionalMotion(tracker.layout))
        face = tracker.align(frame)
        if not face.aligned:
            missing += 1
            if missing % relocate == 0 and (found := locate_face(frame)) is not None:
                # Found again: follow it from here, against a resting face of its own.
                signals.append(signal.finish())
                tracker = FaceTracker(frame, found.box, side)
                signal = MotionSignal(fps, RegionalMotion(tracker.layout))
                origin = np.subtract(found.box[:2], face_box[:2])
                face, missing, previous = tracker.align(frame), 0, None
        else:
            missing = 0
        clock = time.perf_counter()
        seconds["align"] += clock - now
        shift = origin + face.shift if face.aligned else None
        jumped = shift is not None and previous is not None and bool(
            np.hypot(*(shift - previous)) > JUMP_FRACTION * tracker.box[2])
        previous = shift if shift is not None else previous
        signal.add(face.face if face.aligned else None, cut=jumped)
        if on_face is not None:
            on_face(face.face if face.aligned else None)
        shifts.append((np.nan, np.nan) if shift is None else shift)
        aligned_frames.append(face.aligned)
        now = time.perf_counter()
        seconds["motion"] += now - clock
        clock = now
        bar.update()
    bar.close()
    if tracker is None:
        raise ValueError(f"{video.name}: no frame could be decoded from frame {start} on")
    clock = time.perf_counter()
    signals.append(signal.finish())
    seconds["motion"] += time.perf_counter() - clock
    return VideoMotion(motion=np.concatenate(signals), fps=float(fps), start=start, face_box=face_box,
                       shifts=np.array(shifts, dtype=np.float32), lost=_lost_spans(np.array(aligned_frames), start),
                       truncated=video.truncated, seconds=seconds)


__all__ = ["VideoMotion", "first_face_frame", "measure_video_motion", "shifted_box"]

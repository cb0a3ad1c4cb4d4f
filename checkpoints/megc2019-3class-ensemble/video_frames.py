"""Frame access to a clip that decodes one frame at a time.

Why: a micro-expression lasts under half a second, but users hand the pipeline whole recordings. Decoding every
frame of a 10-minute 1080p video into memory takes hundreds of gigabytes, while the pipeline needs only two
frames (onset and apex) and, for apex spotting, one small face crop at a time. `VideoFrames` reads a video file
through OpenCV's `VideoCapture` as a stream — seeking to single frames when their indices are known — and gives
frame lists, arrays already in memory and folders of frame images the same interface.

A container announces how many frames it holds, but a damaged file stops decoding early: the frames actually
decoded are counted, and a stop before the announced end is reported (a warning, or an error with
`on_truncated="error"`) instead of passing for the end of the video.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np
from PIL import Image
from transformers.utils import logging

from .image_processing_epir import load_frame

logger = logging.get_logger(__name__)

TRUNCATION_POLICIES = ("warn", "error")
_IMAGE_EXTENSIONS = frozenset(Image.registered_extensions())


def natural_key(name: str) -> list:
    """Sort key that orders "img2.jpg" before "img10.jpg", as corpora number their frames."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def frame_files(folder: str | os.PathLike, name: str = "video") -> list[str]:
    """The image files of `folder` in the natural order of their names; a ValueError when it holds none."""
    files = sorted((entry.name for entry in os.scandir(folder)
                    if entry.is_file() and os.path.splitext(entry.name)[1].lower() in _IMAGE_EXTENSIONS),
                   key=natural_key)
    if not files:
        raise ValueError(f"{name}: the folder {os.fspath(folder)!r} holds no image files to read as frames")
    return [os.path.join(folder, file) for file in files]


def _frame_index(value: Any, label: str, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name}: {label} must be a frame index >= 0, got {value!r}")
    return int(value)


def _seconds(value: Any, label: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name}: {label} must be a time in seconds >= 0, got {value!r}")
    return float(value)


class VideoFrames:
    """The grayscale frames (2-D float32, 0..255) of a video file, a folder of frame images, a list of frames or a
    (T, H, W[, C]) array.

    Use as a context manager so that a video file is closed. `count` is the number of frames when the source
    says (a container's count can be missing), `fps` the frame rate: the container's for a video file, or `fps`
    when given (which overrides it; frames in memory and folders have none otherwise). The frames of a folder are
    its image files in the natural order of their names ("img2" before "img10").

    `decoded` counts the frames read so far in order; when a video file stops decoding before the `count` its
    container announced, `truncated` becomes True and, by `on_truncated`, a warning is logged ("warn") or a
    `ValueError` is raised ("error").
    """

    def __init__(self, source: Any, name: str = "video", fps: float | None = None, on_truncated: str = "warn"):
        self.name = name
        if on_truncated not in TRUNCATION_POLICIES:
            raise ValueError(f"{name}: on_truncated must be one of {TRUNCATION_POLICIES}, got {on_truncated!r}")
        if fps is not None and (isinstance(fps, bool) or not isinstance(fps, (int, float)) or not math.isfinite(fps)
                                or fps <= 0):
            raise ValueError(f"{name}: fps must be a positive number of frames per second, got {fps!r}")
        self.on_truncated, self.decoded, self.truncated = on_truncated, 0, False
        self._capture = None
        self._position = None  # index of the frame the capture reads next
        if isinstance(source, (str, os.PathLike)) and os.path.isdir(source):
            source = frame_files(source, name)
        if isinstance(source, (str, os.PathLike)):
            path = os.fspath(source)
            if not os.path.isfile(path):
                raise FileNotFoundError(f"{name}: no such video file: {path!r}")
            capture = cv2.VideoCapture(path)
            if not capture.isOpened():
                capture.release()
                raise ValueError(f"{name}: OpenCV could not open {path!r} as a video")
            self._capture, self._position = capture, 0
            count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
            container_fps = float(capture.get(cv2.CAP_PROP_FPS))
            self.count = count if count > 0 else None
            self.fps = fps if fps is not None else container_fps if math.isfinite(container_fps) and container_fps > 0 \
                else None
            self._source = path
        else:
            self._frames = source
            self.count, self.fps = len(source), fps
            self._source = None

    def __enter__(self) -> VideoFrames:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    def check_index(self, index: Any, label: str) -> int:
        """`index` as an int if it is a frame of this video; a `ValueError` naming `label` otherwise."""
        index = _frame_index(index, label, self.name)
        if self.count is not None and index >= self.count:
            raise ValueError(f"{self.name}: {label}={index} is not a frame index of this {self.count}-frame video")
        return index

    def window(self, start_frame: int | None = None, end_frame: int | None = None, start_time: float | None = None,
               end_time: float | None = None, max_frames: int | None = None) -> tuple[int, int | None]:
        """The frames [start, stop) to read: by index or by time (seconds), at most `max_frames` of them.

        `stop` is None when the video does not say how many frames it has; reading then ends at its last frame.
        """
        if start_frame is not None and start_time is not None or end_frame is not None and end_time is not None:
            raise ValueError(f"{self.name}: give a window's start and end either in frames or in seconds, not both")
        if (start_time is not None or end_time is not None) and self.fps is None:
            raise ValueError(f"{self.name}: start_time / end_time need a video file with a frame rate; for frames "
                             "in memory use start_frame / end_frame")
        start = (_frame_index(start_frame, "start_frame", self.name) if start_frame is not None else
                 round(_seconds(start_time, "start_time", self.name) * self.fps) if start_time is not None else 0)
        stop = (_frame_index(end_frame, "end_frame", self.name) if end_frame is not None else
                round(_seconds(end_time, "end_time", self.name) * self.fps) if end_time is not None else self.count)
        if max_frames is not None:
            if isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 2:
                raise ValueError(f"{self.name}: max_frames must be an integer >= 2 (onset and apex), got "
                                 f"{max_frames!r}")
            stop = start + max_frames if stop is None else min(stop, start + max_frames)
        if self.count is not None:
            stop = self.count if stop is None else min(stop, self.count)
        if stop is not None and stop - start < 2:
            raise ValueError(f"{self.name}: a video needs at least 2 frames (onset and apex); the window [{start}, "
                             f"{stop}) of this {self.count}-frame video holds {max(stop - start, 0)} frame(s)")
        return start, stop

    def frame(self, index: int) -> np.ndarray:
        """The frame at `index`, decoded on its own (a video file seeks to it)."""
        if self._capture is None:
            return load_frame(self._frames[index], f"{self.name} frame {index}")
        frame = self._read(index)
        if frame is None:
            raise ValueError(f"{self.name}: frame {index} could not be decoded from {self._source!r}"
                             + (f" ({self.count} frames)" if self.count is not None else ""))
        return frame

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """(index, frame) for the frames [start, stop) in order, one decoded at a time."""
        index = start
        while stop is None or index < stop:
            if self._capture is None:
                if index >= self.count:
                    return
                frame = self.frame(index)
            else:
                frame = self._read(index)
                if frame is None:
                    self._stopped(index)
                    return
            self.decoded = max(self.decoded, index + 1)
            yield index, frame
            index += 1

    def _stopped(self, index: int) -> None:
        """Decoding ended at `index`: the end of the video, or a damaged file if its container announced more."""
        if self.count is None or index >= self.count:
            return
        self.truncated = True
        message = (f"{self.name}: decoding stopped at frame {index} of the {self.count} frames its container "
                   f"announces ({self._source!r} is damaged or incomplete); frames {index} to {self.count - 1} are "
                   "missing")
        if self.on_truncated == "error":
            raise ValueError(message)
        logger.warning(message + "; the result covers the frames decoded")

    def _read(self, index: int) -> np.ndarray | None:
        """Frame `index` of the video file as grayscale float32, or None past its end; seeks only when the capture
        is not already there, so reading frames in order decodes each once."""
        if index != self._position:
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, index)
            self._position = index
        ok, frame = self._capture.read()
        if not ok:
            return None
        self._position += 1
        gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        return gray.astype(np.float32)


__all__ = ["TRUNCATION_POLICIES", "VideoFrames", "frame_files", "natural_key"]

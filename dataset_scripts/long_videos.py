"""The row layout shared by every long-video corpus: one row per recording, with all of its annotated intervals.

Why one layout: spotting is evaluated per video (MEGC2019 onwards), so a long-video corpus is a list of recordings
each holding zero to many intervals, unlike the recognition corpora's one row per clip. CAS(ME)², SAMM Long Videos,
CAS(ME)³ part A and the generated long videos all load into these features, so that the spotting harness, the
metrics and the command line read any of them the same way.

Frame positions are 0-based positions in the video as `epir_hf.video_frames.VideoFrames` reads it (for a folder of
frame images: the position in the natural order of their names), and intervals include both ends.
"""

from __future__ import annotations

from collections.abc import Sequence

from datasets import Features, List, Value

from epir_hf.spotting import EVENT_KINDS as INTERVAL_KINDS

NO_APEX = -1
"""The `apex` of an interval whose annotation gives none."""

LONG_VIDEO_FEATURES = Features({
    "video_id": Value("string"),
    "subject": Value("string"),
    "dataset": Value("string"),
    "video": Value("string"),  # a video file, or a folder of frame images
    "fps": Value("float32"),
    "num_frames": Value("int32"),
    "onset": List(Value("int32")),
    "apex": List(Value("int32")),
    "offset": List(Value("int32")),
    "kind": List(Value("string")),
    "emotion": List(Value("string")),  # the corpus' own emotion word, "" where none is given
})


def check_interval(onset: int, apex: int, offset: int, kind: str, num_frames: int, where: str) -> None:
    """A ValueError naming `where` (file and row) unless onset <= apex <= offset lie in the video and `kind` is known.

    `apex` may be `NO_APEX`.
    """
    if kind not in INTERVAL_KINDS:
        raise ValueError(f"{where}: kind {kind!r} is not one of {INTERVAL_KINDS}")
    if not 0 <= onset <= offset:
        raise ValueError(f"{where}: offset {offset} comes before onset {onset} (or onset is negative)")
    if apex != NO_APEX and not onset <= apex <= offset:
        raise ValueError(f"{where}: apex {apex} lies outside the interval [{onset}, {offset}]")
    if offset >= num_frames:
        raise ValueError(f"{where}: offset {offset} is past the last frame of the video ({num_frames} frames)")


def intervals(row: dict, kinds: Sequence[str] = INTERVAL_KINDS) -> list[list[int]]:
    """The [onset, offset] intervals of a long-video row whose kind is one of `kinds`."""
    return [[onset, offset] for onset, offset, kind in zip(row["onset"], row["offset"], row["kind"]) if kind in kinds]


__all__ = ["INTERVAL_KINDS", "LONG_VIDEO_FEATURES", "NO_APEX", "check_interval", "intervals"]

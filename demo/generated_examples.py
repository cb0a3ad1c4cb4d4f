"""The demo's examples, generated at start-up from the package's drawn faces; no image of a real person ships.

Why generated: the micro-expression corpora are licensed and their faces may not be shown, yet a visitor needs an
input to try. The pairs are drawn faces of `dataset_scripts.synthetic` (one per class the generator draws), the clip
a 10-s 640×480 video of `dataset_scripts.generated_long_videos` (the held-out seed's first drawn subject) with two
micro- and one macro-expression among blinks and head drift: the first of that subject's scripts whose
micro-expressions all peak at `CLIP_MIN_PEAK` px or more (the larger part of the generator's 0.3–1.5 px), so that the
example moves the face by more than the flow can tell from noise. The script is chosen by its drawn motion alone, not
by what the model predicts on it. They are written once into a folder of the temp dir
named by a digest of the code that draws them, so a restart reuses them and start-up stays fast; `EPIR_DEMO_CACHE`
names another folder. Drawing them needs only dataset_scripts' generators, not the model package, so the page can
be served before the model has loaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from dataset_scripts.generated_long_videos import (
    HELD_OUT_SEED,
    LongVideoSettings,
    VideoScript,
    drawn_faces,
    script_video,
    write_video,
)
from dataset_scripts.synthetic import synthetic_samples

CACHE_ENV = "EPIR_DEMO_CACHE"
PAIR_SIZE = 224  # the side of the composite's face crops
CLIP = LongVideoSettings(duration=10.0, micro_per_minute=12.0, macro_per_minute=6.0)
CLIP_MIN_PEAK = 1.0  # px at a 128 px face crop, twice the recognition pipeline's min_motion
_INDEX = "examples.json"


@dataclass(frozen=True)
class PairExample:
    onset: str
    apex: str
    drawn: str  # the class whose action units the generator drew


@dataclass(frozen=True)
class Examples:
    pairs: tuple[PairExample, ...]
    clip: str
    clip_events: tuple[dict, ...]  # the generator's script: onset, apex, offset, kind, emotion


def cache_folder() -> Path:
    """Where the examples live: `$EPIR_DEMO_CACHE`, else a folder of the temp dir named after a digest of the code
    that draws them (this module and dataset_scripts' sources), so that a change to a generator draws them anew."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    generators = Path(importlib.util.find_spec("dataset_scripts").origin).parent  # found, not imported
    digest = hashlib.sha1()
    for source in [Path(__file__), *sorted(generators.glob("*.py"))]:
        digest.update(source.read_bytes())
    return Path(tempfile.gettempdir()) / f"epir-demo-examples-{digest.hexdigest()[:12]}"


def load_examples(folder: Path | None = None) -> Examples:
    """The examples in `folder` (default `cache_folder()`), generated first unless an earlier start left them.

    They are written into a sibling folder and renamed into place, so a start that is interrupted, or two that run
    at once, never leave a half-written folder that a later start would trust.
    """
    folder = cache_folder() if folder is None else folder
    if not (folder / _INDEX).is_file():
        folder.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
        try:
            _write_examples(scratch)
            os.replace(scratch, folder)
        except OSError as error:
            if not (folder / _INDEX).is_file():  # not another start's finished folder
                raise OSError(f"the demo's examples cannot be written to {folder} ({error}); remove that folder or "
                              f"set {CACHE_ENV} to another one") from error
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    index = json.loads((folder / _INDEX).read_text())
    return Examples(pairs=tuple(PairExample(str(folder / pair["onset"]), str(folder / pair["apex"]), pair["drawn"])
                                for pair in index["pairs"]),
                    clip=str(folder / index["clip"]), clip_events=tuple(index["clip_events"]))


def _write_examples(folder: Path) -> None:
    pairs = []
    for sample in synthetic_samples(num_subjects=1, samples_per_subject=3, seed=HELD_OUT_SEED, image_size=PAIR_SIZE):
        entry = {"drawn": sample["emotion"]}
        for frame in ("onset", "apex"):
            entry[frame] = f"{sample['emotion']}_{frame}.png"
            if not cv2.imwrite(str(folder / entry[frame]), sample[frame]):
                raise OSError(f"could not write the example image {folder / entry[frame]}")
        pairs.append(entry)
    face = drawn_faces(1, HELD_OUT_SEED, CLIP.face_size, "heldout{:02d}")[0]
    video, script = _clip_script()
    write_video(folder / "clip.mp4", face, script, np.random.default_rng([HELD_OUT_SEED, 0, video, 1]), CLIP)
    events = [{"onset": event.onset, "apex": event.apex, "offset": event.offset, "kind": event.kind,
               "emotion": event.emotion} for event in script.events]
    (folder / _INDEX).write_text(json.dumps({"pairs": pairs, "clip": "clip.mp4", "clip_events": events}, indent=1))


def _clip_script() -> tuple[int, VideoScript]:
    """The first script of the held-out seed's first subject (video index, script) whose micro-expressions all peak
    at `CLIP_MIN_PEAK` px or more; the generator seeds video k of subject 0 by (seed, 0, k)."""
    for video in itertools.count():
        script = script_video(np.random.default_rng([HELD_OUT_SEED, 0, video]), CLIP)
        if all(event.peak >= CLIP_MIN_PEAK for event in script.events if event.kind == "micro"):
            return video, script

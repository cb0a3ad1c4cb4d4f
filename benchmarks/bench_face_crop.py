"""Accuracy and speed of `epir_hf.face_crop.locate_faces` on real faces, cropped and in full frames.

Run: python benchmarks/bench_face_crop.py --data_dir $EPIR_COMPOSITE_DIR [--limit 442] [--seed 0]

Two measurements on the real 224×224 apex face crops of the MEGC2019 composite (CASME II, SAMM and SMIC faces as
the corpora crop them):

- crops: each crop as it is. The frame *is* the face, so the returned box should be the frame: a hit is a box
  with IoU >= 0.7 with the whole frame. Also reported: the smallest box side as a fraction of the frame side.
- composites: each crop resized to a random width of 15-60% of a 640×480 frame (the size of CASME II / SAMM
  recordings) and pasted at a random place, fully inside. A hit is a box with IoU >= 0.7 with the pasted square.
  The background is clutter made of the same kind of image: a mosaic of 40-120 px tiles, each cut from a random
  window of at most a third of the side of another subject's crop (so a tile holds at most one eye, never a whole
  face), rotated by a random multiple of 90°, plus blotchy illumination (noise blurred at 8 px, sd 40 grey levels
  before blurring) and sensor noise (sd 4). Skin, eyes, brows and lips all around the face make false detections
  and badly placed boxes far likelier than on a plain wall.

Every frame holds one face, so the box scored is the one the processor uses (the largest face found), and any
further face reported is clutter taken for a face: the frames with more than one are counted and listed.

Targets: crops >= 97% hits and no box side under half the frame's; composites >= 95% hits. Times are the median
wall time of one `locate_faces` call; failures are listed by sample id (the apex file name).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from epir_hf.face_crop import FaceBox, locate_faces

FRAME_SHAPE = (480, 640)
FACE_WIDTH_RANGE = (0.15, 0.60)
HIT_IOU = 0.7
QUANTILES = (0.0, 0.01, 0.05, 0.5)


class Outcome(NamedTuple):
    """One frame's result: the sample id, the true and found boxes, their IoU, the call's wall time and how many
    faces were found."""

    sample: str
    truth: FaceBox
    found: FaceBox | None
    whole_frame: bool
    found_by: str  # "<cascade> x<votes>", or "none"
    iou: float
    seconds: float
    faces: int


def iou(a: FaceBox | None, b: FaceBox) -> float:
    """Intersection over union of two (x, y, w, h) boxes; 0 when `a` is None."""
    if a is None:
        return 0.0
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(0, width) * max(0, height)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def load_crops(data_dir: Path, limit: int | None = None) -> tuple[list[str], list[str], list[np.ndarray]]:
    """Sample ids, subject ids and grayscale apex crops of the composite release, in labels.csv order."""
    labels = pd.read_csv(data_dir / "labels.csv")[:limit]
    crops = []
    for name in labels["imagename"]:
        image = cv2.imread(str(data_dir / "apex" / name), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise FileNotFoundError(f"could not read {name!r} in {data_dir / 'apex'}")
        crops.append(image)
    samples = [Path(name).stem for name in labels["imagename"]]
    subjects = [f"{dataset}/{sub}" for dataset, sub in zip(labels["dataset"], labels["sub"])]
    return samples, subjects, crops


def clutter(donors: list[np.ndarray], rng: np.random.Generator, shape: tuple[int, int] = FRAME_SHAPE) -> np.ndarray:
    """A uint8 background of face-part tiles from `donors` with blotchy lighting and sensor noise (module doc)."""
    height, width = shape
    canvas = np.zeros(shape, np.float32)
    top = 0
    while top < height:
        row_height, left = int(rng.integers(40, 121)), 0
        while left < width:
            tile_width = int(rng.integers(40, 121))
            donor = donors[int(rng.integers(len(donors)))]
            side = int(rng.integers(min(donor.shape) // 9, min(donor.shape) // 3 + 1))
            y, x = (int(rng.integers(0, extent - side + 1)) for extent in donor.shape)
            tile = np.rot90(donor[y:y + side, x:x + side], int(rng.integers(4)))
            tile = cv2.resize(np.ascontiguousarray(tile), (tile_width, row_height), interpolation=cv2.INTER_LINEAR)
            canvas[top:top + row_height, left:left + tile_width] = tile[:height - top, :width - left]
            left += tile_width
        top += row_height
    lighting = cv2.GaussianBlur(rng.normal(0.0, 40.0, shape).astype(np.float32), (0, 0), 8.0)
    return np.clip(canvas + lighting + rng.normal(0.0, 4.0, shape), 0, 255).astype(np.uint8)


def composite(face: np.ndarray, donors: list[np.ndarray], rng: np.random.Generator,
              shape: tuple[int, int] = FRAME_SHAPE) -> tuple[np.ndarray, FaceBox]:
    """`face` resized to a random width of 15-60% of the frame, pasted at a random place into `clutter`."""
    frame = clutter(donors, rng, shape)
    height, width = shape
    side = min(height, round(width * rng.uniform(*FACE_WIDTH_RANGE)))
    x, y = int(rng.integers(0, width - side + 1)), int(rng.integers(0, height - side + 1))
    interpolation = cv2.INTER_AREA if side < face.shape[0] else cv2.INTER_CUBIC
    frame[y:y + side, x:x + side] = cv2.resize(face, (side, side), interpolation=interpolation)
    return frame, (x, y, side, side)


def composites(samples: list[str], subjects: list[str], crops: list[np.ndarray], seed: int, donors_per_frame: int = 8
               ) -> list[tuple[str, np.ndarray, FaceBox]]:
    """One composite per crop: (sample id, frame, pasted box); donors are crops of other subjects."""
    frames = []
    for index, (sample, subject, face) in enumerate(zip(samples, subjects, crops)):
        rng = np.random.default_rng([seed, index])
        others = [other for other, owner in enumerate(subjects) if owner != subject]
        donors = [crops[other] for other in rng.choice(others, size=min(donors_per_frame, len(others)),
                                                       replace=False)]
        frame, box = composite(face, donors, rng)
        frames.append((sample, frame, box))
    return frames


def measure(sample: str, frame: np.ndarray, truth: FaceBox) -> Outcome:
    started = time.perf_counter()
    faces = locate_faces(frame)
    seconds = time.perf_counter() - started
    if not faces:
        return Outcome(sample, truth, None, False, "none", 0.0, seconds, 0)
    detection = faces[0]
    found_by = f"{detection.cascade} x{detection.votes}"
    return Outcome(sample, truth, detection.box, detection.whole_frame, found_by, iou(detection.box, truth), seconds,
                   len(faces))


def min_side_fraction(outcome: Outcome, shape: tuple[int, int]) -> float:
    """The found box's smaller side as a fraction of the frame's matching side (0 when nothing was found)."""
    if outcome.found is None:
        return 0.0
    return min(outcome.found[2] / shape[1], outcome.found[3] / shape[0])


def report(title: str, outcomes: list[Outcome], frame_size: str) -> float:
    """Print the summary and failures of one measurement; return its hit rate."""
    ious = np.array([outcome.iou for outcome in outcomes])
    hits = ious >= HIT_IOU
    found = sum(outcome.found is not None for outcome in outcomes)
    whole = sum(outcome.whole_frame for outcome in outcomes)
    quantiles = ", ".join(f"q{q:.2f} {np.quantile(ious, q):.3f}" for q in QUANTILES)
    milliseconds = 1000 * np.median([outcome.seconds for outcome in outcomes])
    print(f"\n{title}: {len(outcomes)} frames ({frame_size}); face found in {found}, whole frame in {whole}; "
          f"IoU >= {HIT_IOU} in {hits.sum()} ({hits.mean():.1%})")
    print(f"  IoU {quantiles}; median {milliseconds:.1f} ms per frame")
    found_by = Counter(outcome.found_by for outcome in outcomes)
    print("  found by (cascade x votes): " + ", ".join(f"{key} {count}" for key, count in sorted(found_by.items())))
    failures = [outcome for outcome, hit in zip(outcomes, hits) if not hit]
    for outcome in failures:
        print(f"  miss {outcome.sample}: truth {outcome.truth}, found {outcome.found} ({outcome.found_by}), "
              f"IoU {outcome.iou:.2f}")
    several = [outcome for outcome in outcomes if outcome.faces > 1]
    print(f"  more than one face found in {len(several)}" + "".join(
        f"\n  {outcome.faces} faces in {outcome.sample}" for outcome in several))
    return float(hits.mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", default=os.environ.get("EPIR_COMPOSITE_DIR"),
                        help="the MEGC2019 composite release (default: $EPIR_COMPOSITE_DIR)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N samples")
    parser.add_argument("--seed", type=int, default=0, help="seed of the composites' placement and background")
    args = parser.parse_args()
    if args.data_dir is None or not (Path(args.data_dir) / "labels.csv").is_file():
        parser.error(f"--data_dir (or EPIR_COMPOSITE_DIR) must be the composite release with labels.csv; got "
                     f"{args.data_dir!r}")
    samples, subjects, crops = load_crops(Path(args.data_dir), args.limit)
    crop_outcomes = [measure(sample, crop, (0, 0, crop.shape[1], crop.shape[0]))
                     for sample, crop in tqdm(list(zip(samples, crops)), desc="crops")]
    frames = composites(samples, subjects, crops, args.seed)
    composite_outcomes = [measure(sample, frame, box) for sample, frame, box in tqdm(frames, desc="composites")]

    print(f"OpenCV {cv2.__version__}, {cv2.getNumThreads()} OpenCV threads, {os.cpu_count()} CPU cores "
          f"({platform.processor() or platform.machine()}); seed {args.seed}")
    crop_rate = report("crops", crop_outcomes, "224×224 apex crops")
    smallest = min(min_side_fraction(outcome, crop.shape) for outcome, crop in zip(crop_outcomes, crops))
    print(f"  smallest box side: {smallest:.2f} of the frame side")
    composite_rate = report("composites", composite_outcomes, f"{FRAME_SHAPE[1]}×{FRAME_SHAPE[0]}, face width "
                            f"{FACE_WIDTH_RANGE[0]:.0%}-{FACE_WIDTH_RANGE[1]:.0%} of the frame, face-part clutter")
    met = crop_rate >= 0.97 and smallest >= 0.5 and composite_rate >= 0.95
    print(f"\ntargets (crops >= 97% and no box side < 0.5, composites >= 95%): {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()

"""Where to put `min_motion`: the mean flow magnitude of still pairs against that of the weakest micro-motions.

Run: python benchmarks/bench_motion_threshold.py --data_dir $EPIR_COMPOSITE_DIR [--limit 442] [--seed 0]

The image processor min–max normalises each flow channel, so even a pair with no motion at all reaches the model
as a full-range input and gets a confident label. `min_motion` flags such pairs by the mean flow magnitude of the
face crop (pixels at `flow_size` = 128, TV-L1, as the processor computes it). This benchmark measures that figure
on the real apex face crops of the MEGC2019 composite:

- still pairs: the crop against itself; against itself with independent sensor noise (Gaussian, sigma 1.5 and 3
  grey levels) on both frames; against its JPEG re-encoding (quality 75);
- the weakest micro-motions: the same crop warped by the action-unit displacement of each emotion
  (`dataset_scripts.synthetic.action_unit_bumps` on a face geometry drawn per sample) with a peak of 0.25, 0.5 and
  1 px at 128 px, with sensor noise sigma 1.5 on both frames.

The release holds min–max normalised flows and no onset frames, so the pixel magnitude of its real motions cannot
be recovered; the moving pairs therefore use real faces with generated motion of a known size. Each row prints
the quantiles of the mean magnitude and the share of pairs at or above `--threshold` (default: the processor's
`min_motion`). The last line applies the rule of experiment E26 (docs/experiments.md): the larger of the 99th
percentiles of "sensor noise 1.5" and "JPEG q75", rounded up to a multiple of 0.005 px.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from dataset_scripts.synthetic import SYNTHETIC_CLASSES, action_unit_bumps, displacement_field, sample_geometry
from epir_hf import EPIRImageProcessor

QUANTILES = (0.0, 0.01, 0.5, 0.99, 1.0)


def noisy(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    return np.clip(image + rng.normal(0.0, sigma, image.shape), 0, 255).astype(np.float32)


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    ok, encoded = cv2.imencode(".jpg", np.clip(np.rint(image), 0, 255).astype(np.uint8),
                               [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE).astype(np.float32)


def warped(face: np.ndarray, field: np.ndarray) -> np.ndarray:
    """apex(x) = onset(x - field(x)): the face after the displacement `field` (same size as the face)."""
    ys, xs = np.mgrid[0:face.shape[0], 0:face.shape[1]].astype(np.float32)
    return cv2.remap(face, xs - field[..., 0], ys - field[..., 1], cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


def pairs(face: np.ndarray, rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The still and moving variants of one 128 px face crop, by row name."""
    variants = {
        "still: identical frames": (face, face),
        "still: sensor noise 1.5": (noisy(face, 1.5, rng), noisy(face, 1.5, rng)),
        "still: sensor noise 3": (noisy(face, 3.0, rng), noisy(face, 3.0, rng)),
        "still: JPEG q75": (face, jpeg(face, 75)),
    }
    geometry, emotion = sample_geometry(rng), SYNTHETIC_CLASSES[rng.integers(len(SYNTHETIC_CLASSES))]
    unit = displacement_field(action_unit_bumps(geometry, emotion, face.shape[0], 1.0), face.shape[0])
    unit /= float(np.hypot(unit[..., 0], unit[..., 1]).max())
    for peak in (0.25, 0.5, 1.0):
        apex = warped(face, unit * peak)
        variants[f"moving: AU peak {peak} px"] = (noisy(face, 1.5, rng), noisy(apex, 1.5, rng))
    return variants


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", default=os.environ.get("EPIR_COMPOSITE_DIR"),
                        help="the MEGC2019 composite release (default: $EPIR_COMPOSITE_DIR)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N samples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threshold", type=float, default=EPIRImageProcessor.min_motion,
                        help="min_motion to report the pass rates for (default: the processor's)")
    args = parser.parse_args()
    if args.data_dir is None or not (Path(args.data_dir) / "labels.csv").is_file():
        parser.error(f"--data_dir (or EPIR_COMPOSITE_DIR) must be the composite release with labels.csv; got "
                     f"{args.data_dir!r}")
    labels = pd.read_csv(Path(args.data_dir) / "labels.csv")
    names = list(labels["imagename"])[:args.limit]
    processor = EPIRImageProcessor(do_face_crop=False)
    side = processor.flow_size
    rng = np.random.default_rng(args.seed)
    motions: dict[str, list[float]] = {}
    started = time.perf_counter()
    for name in tqdm(names, desc="apex crops"):
        image = cv2.imread(str(Path(args.data_dir) / "apex" / name), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise SystemExit(f"bench_motion_threshold.py: error: could not read {name!r} in apex/")
        face = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA).astype(np.float32)
        for row, (onset, apex) in pairs(face, rng).items():
            motions.setdefault(row, []).append(processor.process_pair(onset, apex).motion)
    elapsed = time.perf_counter() - started
    print(f"{len(names)} real apex crops, each resized to {side} px; TV-L1 flow (the processor's default); mean flow "
          f"magnitude in px at {side} px; seed {args.seed}; {elapsed:.0f} s on {os.cpu_count()} CPU cores "
          f"({platform.processor() or platform.machine()})")
    header = " | ".join(f"q{q:.2f}" for q in QUANTILES)
    print(f"| pairs | {header} | >= {args.threshold} |")
    print("|---|" + "---:|" * (len(QUANTILES) + 1))
    for row, values in motions.items():
        values = np.asarray(values)
        cells = " | ".join(f"{np.quantile(values, q):.4f}" for q in QUANTILES)
        print(f"| {row} | {cells} | {np.mean(values >= args.threshold):.1%} |")
    noise_floor = max(np.quantile(motions[row], 0.99) for row in ("still: sensor noise 1.5", "still: JPEG q75"))
    print(f"E26 rule: max(q0.99 of sensor noise 1.5, JPEG q75) = {noise_floor:.4f} px -> min_motion "
          f"{math.ceil(noise_floor / 0.005) * 0.005:.3f} px (the processor's default: {EPIRImageProcessor.min_motion})")


if __name__ == "__main__":
    main()

"""Where to put `min_motion`: the regional motion of still pairs against that of real-sized facial motions.

Run: python benchmarks/bench_motion_threshold.py --data_dir $EPIR_COMPOSITE_DIR [--limit 442] [--seed 0]

The image processor min–max normalises each flow channel, so even a pair with no motion at all reaches the model
as a full-range input and gets a confident label. `min_motion` flags such pairs by the motion of the most moving
facial region (`epir_hf.facial_regions`: per region, the 90th percentile of the smoothed TV-L1 flow's magnitude, in
pixels of the 128 px crop), measured after the apex is aligned to the onset and given its lighting, as
`EPIRImageProcessor.process_pair` computes it. This benchmark measures that figure on the real apex face crops of
the MEGC2019 composite, each resized to 128 px, every change applied at 128 px and every frame rounded to 8 bits:

- still pairs: the crop against itself; with independent sensor noise (Gaussian, sigma 1.5 and 3 grey levels) on
  both frames; against its JPEG re-encoding (quality 75); with noise 1.5 and the apex one or two grey levels
  brighter, a ±2-level flicker, an exposure step (gain 1.1 and 0.9) or a lighting gradient (gain 0.95 to 1.05 across
  the width, plus 2 levels);
- real-sized motions, sensor noise 1.5 on both frames: an AU12 lip-corner pull of 1.2 px on the 224 px crop
  (`dataset_scripts.action_units.action_unit_motion` on a drawn face geometry framed like the crop), then resized;
  and the action-unit displacement of a random emotion (`dataset_scripts.synthetic.action_unit_bumps`) with a peak of
  0.25, 0.5 and 1 px at 128 px.

The release holds min–max normalised flows and no onset frames, so the pixel magnitude of its real motions cannot
be recovered; the moving pairs therefore use real faces with generated motion of a known size. Each row prints
the quantiles of the motion and the share of pairs at or above `--threshold` (default: the processor's
`min_motion`). The last line applies the rule of experiment E32 (docs/experiments.md): the largest 99th percentile
of the still rows other than "identical frames" and "sensor noise 3", rounded up to a multiple of 0.005 px.
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
from bench_fold_workers import hardware
from tqdm.auto import tqdm
from transformers.utils import logging

from dataset_scripts.action_units import action_unit_motion, corpus_framed
from dataset_scripts.synthetic import SYNTHETIC_CLASSES, action_unit_bumps, displacement_field, sample_geometry
from epir_hf import EPIRImageProcessor
from epir_hf.optical_flow import resize_to

QUANTILES = (0.0, 0.01, 0.5, 0.99, 1.0)
CROP_SIDE = 224
"""The side of the composite's apex crops, at which the AU12 pull is sized."""
AU12_PEAK = 1.2
"""The AU12 lip-corner pull's largest displacement in pixels of the 224 px crop: a real AU12 magnitude."""
AU_PEAKS = (0.25, 0.5, 1.0)
NOISE = 1.5
RULE_ROWS = ("still: sensor noise 1.5", "still: JPEG q75", "still: +1 grey level", "still: +2 grey levels",
             "still: flicker ±2", "still: exposure ×1.1", "still: exposure ×0.9", "still: lighting gradient")
"""The still rows whose 99th percentiles set `min_motion` (E32); "sensor noise 3" is reported only, as in E26."""
AU12_ROW = f"moving: AU12 {AU12_PEAK} px at {CROP_SIDE}"
STEP = 0.005


def eight_bit(image: np.ndarray) -> np.ndarray:
    """A frame as a camera or an image file delivers it: rounded and clipped to 0..255, uint8."""
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    _, encoded = cv2.imencode(".jpg", eight_bit(image), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)


def warped(face: np.ndarray, field: np.ndarray) -> np.ndarray:
    """apex(x) = onset(x - field(x)): the face after the displacement `field` (same size as the face)."""
    ys, xs = np.mgrid[0:face.shape[0], 0:face.shape[1]].astype(np.float32)
    return cv2.remap(face, xs - field[..., 0], ys - field[..., 1], cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


def unit_peak(field: np.ndarray) -> np.ndarray:
    """`field` scaled so that its largest displacement is 1 px."""
    return field / float(np.hypot(field[..., 0], field[..., 1]).max())


def au12_field(rng: np.random.Generator, side: int) -> np.ndarray:
    """The AU12 lip-corner pull of both corners, at most 1 px, on a drawn face geometry framed like a corpus crop."""
    geometry = corpus_framed(sample_geometry(rng))
    return unit_peak(displacement_field(action_unit_motion(geometry, {"AU12": 1.0}, side), side))


def pairs(crop: np.ndarray, side: int, rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The still and moving 8-bit variants of one face crop (`crop`, float32 at its own size) at `side` px."""
    face = resize_to(crop, side, side)

    def camera(image: np.ndarray, sigma: float = NOISE) -> np.ndarray:
        return eight_bit(image + rng.normal(0.0, sigma, image.shape))

    gradient = np.linspace(0.95, 1.05, side, dtype=np.float32)[None, :]
    variants = {
        "still: identical frames": (eight_bit(face), eight_bit(face)),
        "still: sensor noise 1.5": (camera(face), camera(face)),
        "still: sensor noise 3": (camera(face, 3.0), camera(face, 3.0)),
        "still: JPEG q75": (eight_bit(face), jpeg(face, 75)),
        "still: +1 grey level": (camera(face), camera(face + 1.0)),
        "still: +2 grey levels": (camera(face), camera(face + 2.0)),
        "still: flicker ±2": (camera(face - 2.0), camera(face + 2.0)),
        "still: exposure ×1.1": (camera(face), camera(1.1 * face)),
        "still: exposure ×0.9": (camera(face), camera(0.9 * face)),
        "still: lighting gradient": (camera(face), camera(gradient * face + 2.0)),
    }
    pull = au12_field(rng, crop.shape[0]) * AU12_PEAK
    variants[AU12_ROW] = (camera(face), camera(resize_to(warped(crop, pull), side, side)))
    geometry, emotion = sample_geometry(rng), SYNTHETIC_CLASSES[rng.integers(len(SYNTHETIC_CLASSES))]
    unit = unit_peak(displacement_field(action_unit_bumps(geometry, emotion, side, 1.0), side))
    for peak in AU_PEAKS:
        variants[f"moving: AU peak {peak} px at {side}"] = (camera(face), camera(warped(face, unit * peak)))
    return variants


def rounded_up(value: float) -> float:
    """`value` rounded up to a multiple of `STEP` (a value on the grid stays)."""
    return round(math.ceil(round(value / STEP, 6)) * STEP, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", default=os.environ.get("EPIR_COMPOSITE_DIR"),
                        help="the MEGC2019 composite release (default: $EPIR_COMPOSITE_DIR)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N samples")
    parser.add_argument("--seed", type=int, default=0, help="crop i draws its noise and motions from rng([seed, i])")
    parser.add_argument("--threshold", type=float, default=EPIRImageProcessor.min_motion,
                        help="min_motion to report the pass rates for (default: the processor's)")
    parser.add_argument("--motions_csv", type=Path, default=None,
                        help="also write every pair's motion (crop, row, motion) to this CSV, to read the rows at "
                             "other thresholds; it is derived from the licensed crops, so keep it out of the repo")
    args = parser.parse_args()
    if args.data_dir is None or not (Path(args.data_dir) / "labels.csv").is_file():
        parser.error(f"--data_dir (or EPIR_COMPOSITE_DIR) must be the composite release with labels.csv; got "
                     f"{args.data_dir!r}")
    labels = pd.read_csv(Path(args.data_dir) / "labels.csv")
    names = list(labels["imagename"])[:args.limit]
    processor = EPIRImageProcessor(do_face_crop=False)
    logging.get_logger("epir_hf.image_processing_epir").setLevel(logging.ERROR)  # most still pairs warn, by design
    side = processor.flow_size
    motions: dict[str, list[float]] = {}
    measured = []
    started = time.perf_counter()
    for index, name in enumerate(tqdm(names, desc="apex crops")):
        crop = cv2.imread(str(Path(args.data_dir) / "apex" / name), cv2.IMREAD_GRAYSCALE)
        if crop is None:
            raise SystemExit(f"bench_motion_threshold.py: error: could not read {name!r} in apex/")
        if crop.shape != (CROP_SIDE, CROP_SIDE):
            raise SystemExit(f"bench_motion_threshold.py: error: {name!r} in apex/ is {crop.shape[1]}x"
                             f"{crop.shape[0]} px; the composite's crops are {CROP_SIDE}x{CROP_SIDE}")
        rng = np.random.default_rng([args.seed, index])
        for row, (onset, apex) in pairs(crop.astype(np.float32), side, rng).items():
            motions.setdefault(row, []).append(processor.process_pair(onset, apex, name=name).motion)
            measured.append((name, row, motions[row][-1]))
    elapsed = time.perf_counter() - started
    if args.motions_csv is not None:
        pd.DataFrame(measured, columns=["crop", "row", "motion"]).to_csv(args.motions_csv, index=False)
    print(f"{len(names)} real apex crops, each resized to {side} px, frames rounded to 8 bits; TV-L1 flow, apex "
          f"aligned to the onset and lit like it (the processor's defaults); motion of the most moving facial region "
          f"in px at {side} px; seed {args.seed}")
    print(f"{elapsed:.0f} s on {hardware()}, {cv2.getNumThreads()} OpenCV threads; Python "
          f"{platform.python_version()}, OpenCV {cv2.__version__}, numpy {np.__version__}")
    header = " | ".join(f"q{q:.2f}" for q in QUANTILES)
    print(f"| pairs | {header} | >= {args.threshold} |")
    print("|---|" + "---:|" * (len(QUANTILES) + 1))
    for row, values in motions.items():
        values = np.asarray(values)
        cells = " | ".join(f"{np.quantile(values, q):.4f}" for q in QUANTILES)
        print(f"| {row} | {cells} | {np.mean(values >= args.threshold):.1%} |")
    floors = {row: float(np.quantile(motions[row], 0.99)) for row in RULE_ROWS}
    highest = max(floors, key=floors.get)
    chosen = rounded_up(floors[highest])
    au12_share = float(np.mean(np.asarray(motions[AU12_ROW]) >= chosen))
    print(f"E32 rule: the largest q0.99 of the still rows {', '.join(RULE_ROWS)} is {floors[highest]:.4f} px "
          f"({highest}) -> min_motion {chosen:.3f} px (the processor's default: {EPIRImageProcessor.min_motion}); "
          f"{AU12_ROW} passes it in {au12_share:.1%} (criterion >= 95%: {'met' if au12_share >= 0.95 else 'NOT met'})")


if __name__ == "__main__":
    main()

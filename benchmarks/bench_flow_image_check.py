"""Where the flow-image check (`epir_hf.flow_image_check`) puts its thresholds: flow images against photos.

Run: python benchmarks/bench_flow_image_check.py --data_dir $EPIR_COMPOSITE_DIR

The `image-classification` pipeline refuses an image that cannot be a precomputed flow image. Two statistics, read at
28×28, decide: the lowest pairwise correlation of the three channels (a photo's colours move together) and the
correlation of the third channel with the optical strain recomputed from the first two (a flow's third channel is
that strain). This prints, per set of images, the range of both statistics and how many the check refuses:

- flow images: the 442 PNGs of the MEGC2019 composite release as released, enlarged 8x (bilinear), mirrored (u
  negated), and re-encoded as JPEG (quality 90, which mixes the channels: a flow stored as JPEG is damaged);
- photos: the 442 apex face crops of the release, colour photos bundled with scikit-image and matplotlib (faces,
  a cat, a cup, a colour wheel, a galaxy field, a stained tissue) and drawn faces (`dataset_scripts.synthetic`),
  gray and in skin colours.

The thresholds sit between the extremes of the flow images and of the photos; the script fails when a released flow
is refused or a face crop is accepted.
"""

from __future__ import annotations

import argparse
import io
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import skimage.data
from matplotlib import cbook
from PIL import Image

from dataset_scripts.synthetic import draw_face
from epir_hf.flow_image_check import (
    CHECK_SIDE,
    MAX_CHANNEL_CORRELATION,
    MIN_STRAIN_AGREEMENT,
    channel_correlation,
    flow_image_problem,
    strain_agreement,
)
from epir_hf.image_processing_epir import load_flow_image
from epir_hf.optical_flow import resize_to


def statistics(image: np.ndarray) -> tuple[float, float, bool]:
    """Lowest channel correlation, strain agreement (NaN where a channel is constant) and whether it is refused."""
    try:
        flow = load_flow_image(image)
    except ValueError:  # one channel, or three identical ones: refused before any statistic
        return float("nan"), float("nan"), True
    small = resize_to(flow, CHECK_SIDE, CHECK_SIDE)
    correlation, agreement = channel_correlation(small), strain_agreement(small)
    return (float("nan") if correlation is None else correlation, float("nan") if agreement is None else agreement,
            flow_image_problem(flow) is not None)


def report(name: str, images: Iterable[np.ndarray]) -> np.ndarray:
    rows = np.array([statistics(image) for image in images], dtype=np.float64).reshape(-1, 3)
    correlation, agreement, refused = rows[:, 0], rows[:, 1], rows[:, 2].astype(bool)

    def span(values: np.ndarray) -> str:
        values = values[np.isfinite(values)]
        return f"{values.min():6.3f} .. {values.max():6.3f}" if len(values) else f"{'—':^16}"

    print(f"| {name:<44} | {len(rows):>4} | {span(correlation)} | {span(agreement)} | {refused.sum():>7} |")
    return refused


def jpeg(image: np.ndarray, quality: int = 90) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer))


def photos() -> dict[str, list[np.ndarray]]:
    with cbook.get_sample_data("grace_hopper.jpg") as file:
        hopper = np.asarray(Image.open(file).convert("RGB"))
    astronaut = skimage.data.astronaut()
    rng = np.random.default_rng(0)
    gray_faces = [draw_face(rng, 128) for _ in range(20)]
    return {
        "portrait (matplotlib grace_hopper), whole": [hopper],
        "portrait (matplotlib grace_hopper), face": [hopper[60:360, 120:400]],
        "photo (scikit-image astronaut), whole": [astronaut],
        "photo (scikit-image astronaut), face": [astronaut[20:220, 140:320]],
        "scikit-image coffee, chelsea (cat), rocket": [skimage.data.coffee(), skimage.data.chelsea(),
                                                       skimage.data.rocket()],
        "scikit-image colorwheel (HSV-coded)": [skimage.data.colorwheel()[..., :3]],
        "scikit-image hubble_deep_field, ihc, retina": [skimage.data.hubble_deep_field(),
                                                        skimage.data.immunohistochemistry(), skimage.data.retina()],
        "drawn faces, gray stored as RGB (20)": [np.dstack([face] * 3) for face in gray_faces],
        "drawn faces in skin colours (20)": [
            np.clip(face[..., None] * np.array([1.0, 0.8, 0.65]) + np.array([0, 10, 20]), 0, 255).astype(np.uint8)
            for face in gray_faces],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", default=os.environ.get("EPIR_COMPOSITE_DIR"),
                        help="the MEGC2019 composite release (default: $EPIR_COMPOSITE_DIR)")
    args = parser.parse_args()
    if not args.data_dir or not (Path(args.data_dir) / "flow").is_dir():
        parser.error(f"--data_dir must be the MEGC2019 composite release (with flow/ and apex/); got {args.data_dir!r}")
    root = Path(args.data_dir)
    flows = [np.asarray(Image.open(path).convert("RGB")) for path in sorted((root / "flow").glob("*.png"))]
    faces = [np.asarray(Image.open(path).convert("RGB")) for path in sorted((root / "apex").glob("*.jpg"))]
    print(f"thresholds: refused when the lowest channel correlation >= {MAX_CHANNEL_CORRELATION} or the strain "
          f"agreement < {MIN_STRAIN_AGREEMENT} (statistics at {CHECK_SIDE}x{CHECK_SIDE})\n")
    print(f"| {'images':<44} | {'n':>4} | {'channel corr.':<16} | {'strain agreement':<16} | refused |")
    print(f"|{'-' * 46}|{'-' * 5}:|{'-' * 18}|{'-' * 18}|{'-' * 8}:|")
    released = report("release flows", flows)
    report("release flows, enlarged 8x (bilinear)",
           (np.asarray(Image.fromarray(flow).resize((224, 224), Image.BILINEAR)) for flow in flows))
    report("release flows, mirrored (u negated)",
           (np.dstack([255 - flow[:, ::-1, 0], flow[:, ::-1, 1:]]) for flow in flows))
    report("release flows, JPEG q90 (damaged)", (jpeg(flow) for flow in flows))
    crops = report("release apex face crops", faces)
    for name, images in photos().items():
        report(name, images)
    if released.any() or not crops.all():
        raise SystemExit(f"the check refuses {released.sum()} released flow(s) and accepts {(~crops).sum()} face "
                         "crop(s): the thresholds no longer separate them")


if __name__ == "__main__":
    main()

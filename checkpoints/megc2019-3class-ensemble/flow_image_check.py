"""Whether an RGB image can be a precomputed flow image (u, v, optical strain) or is a photo.

Why: the `image-classification` pipeline scores whatever RGB image it is given, and EPIR returns a confident label
for a face photo as readily as for a flow image. Two properties of a flow image, read at the model's input size,
tell the two apart:

1. Its channels do not move together. u and v are two independent motion components and the strain is a magnitude
   of their derivatives, while the colour channels of a photo follow the same light and shading. A photo is an image
   whose three channels are all pairwise correlated at `MAX_CHANNEL_CORRELATION` or more (a grayscale or
   near-grayscale photo, as the face crops of the corpora are).
2. Its third channel is the optical strain of the first two. Each channel was min–max normalised on its own, so the
   strain cannot be recomputed exactly, but the strain of the normalised u and v still follows the third channel:
   an image whose third channel correlates with it below `MIN_STRAIN_AGREEMENT` is not a flow image (a colour photo,
   an HSV-coded flow visualisation).

A channel that is constant gives no evidence either way (the flow image of two identical frames is all zeros).

The thresholds were measured with `benchmarks/bench_flow_image_check.py` at 28×28 (docs/errors.md): on the 442 flow
images of the MEGC2019 composite release the lowest pairwise correlation is at most 0.614 (0.668 after an 8x
bilinear enlargement) and the strain agreement at least 0.340 (0.319 enlarged); on the 442 apex face crops of the
same release the lowest pairwise correlation is at least 0.835 (133 of them are stored with three identical
channels, which `load_flow_image` refuses first); on the colour photos whose channels move together less (a
portrait, a photo of an astronaut, a cup, a rocket, a colour wheel of the sample images of matplotlib and
scikit-image) the strain agreement is at most 0.072. This is a plausibility check, not a proof: it catches photos,
not every image that is not a flow.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from .optical_flow import optical_strain, resize_to

MAX_CHANNEL_CORRELATION = 0.75
"""Lowest pairwise correlation of the three channels at or above which an image is a photo (channels moving
together); flow images of the release stay at or below 0.67, its face crops at or above 0.83."""
MIN_STRAIN_AGREEMENT = 0.2
"""Correlation between the third channel and the strain of the first two below which the third channel is not an
optical strain; flow images of the release stay at or above 0.32, colour photos at or below 0.07."""
CHECK_SIDE = 28
"""Side of the square the statistics are measured at: the model's input size, where the thresholds were set."""


def _correlation(a: np.ndarray, b: np.ndarray) -> float | None:
    """Pearson correlation of two arrays; None when either is constant."""
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    norm = float(np.sqrt((a @ a) * (b @ b)))
    return float(a @ b) / norm if norm > 0 else None


def channel_correlation(flow: np.ndarray) -> float | None:
    """The lowest pairwise correlation of the three channels of a float [H, W, 3] image; None when a channel is
    constant."""
    correlations = [_correlation(flow[..., i], flow[..., j]) for i, j in combinations(range(3), 2)]
    return None if None in correlations else min(correlations)


def strain_agreement(flow: np.ndarray) -> float | None:
    """Correlation between the third channel of a float [H, W, 3] image and the optical strain of its first two;
    None when either is constant."""
    return _correlation(flow[..., 2], optical_strain(np.ascontiguousarray(flow[..., :2])))


def flow_image_problem(flow: np.ndarray) -> str | None:
    """Why a float [H, W, 3] image (u, v, strain on 0..255, as `load_flow_image` returns it) cannot be a flow image,
    or None when it can; measured at `CHECK_SIDE`."""
    small = resize_to(np.asarray(flow, dtype=np.float32), CHECK_SIDE, CHECK_SIDE)
    correlation = channel_correlation(small)
    if correlation is not None and correlation >= MAX_CHANNEL_CORRELATION:
        return (f"its three channels move together (lowest pairwise correlation {correlation:.2f} >= "
                f"{MAX_CHANNEL_CORRELATION}), as the colours of a photo do")
    agreement = strain_agreement(small)
    if agreement is not None and agreement < MIN_STRAIN_AGREEMENT:
        return (f"its third channel is not the optical strain of the first two (correlation {agreement:.2f} < "
                f"{MIN_STRAIN_AGREEMENT})")
    return None


def check_flow_image(flow: np.ndarray, name: str) -> None:
    """Raise a `ValueError` naming `name` when `flow_image_problem` finds that the image is not a flow image."""
    problem = flow_image_problem(flow)
    if problem is not None:
        raise ValueError(
            f"{name}: this does not look like a precomputed flow image: {problem}. The image-classification task "
            "expects an onset→apex flow image (RGB = u, v, optical strain, each min–max normalised, e.g. a PNG of the "
            "MEGC2019 composite release or EPIRImageProcessor.compute_flow_image); for face frames or a video use "
            "pipeline('micro-expression-recognition', ...)."
        )


__all__ = ["CHECK_SIDE", "MAX_CHANNEL_CORRELATION", "MIN_STRAIN_AGREEMENT", "channel_correlation",
           "check_flow_image", "flow_image_problem", "strain_agreement"]

"""Augmentation of optical-flow images that keeps what the channels mean.

A flow image is not a photograph: channel 0 is the horizontal displacement u, channel 1 the vertical one v and
channel 2 the optical strain. Mirroring the face left-right therefore also reverses every horizontal motion, so a
horizontal flip must negate u; strain (a magnitude) and v are unchanged. Small zooms and shifts keep all three
channels valid because each channel is min-max normalised per sample (a zoom scales u and v uniformly, which that
normalisation cancels, and strain is a ratio of displacements to distances, so it does not change). Rotations
would mix u and v, and the true zero of a min-max normalised channel is unknown, so they are not offered; nor are
vertical flips (faces are not symmetric top to bottom) or colour jitter (the channels are measurements).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..flow_mirror import FlowMirror


@dataclass
class FlowAugmentation:
    """Random horizontal flip (negating u), translation and zoom of a batch of flow `pixel_values` [B, 3, H, W].

    Args:
        flip_prob: probability of mirroring each sample.
        max_translate: largest shift, as a fraction of the image side, drawn uniformly per axis and sample.
        max_scale: zoom factors are drawn uniformly from [1 - max_scale, 1 + max_scale].
        mirror: how a sample is mirrored (where the negated u lands); build it with
            `FlowMirror.from_image_processor` for a processor other than the default.
    """

    flip_prob: float = 0.5
    max_translate: float = 0.1
    max_scale: float = 0.1
    mirror: FlowMirror = field(default_factory=FlowMirror)

    def __post_init__(self):
        if not 0.0 <= self.flip_prob <= 1.0:
            raise ValueError(f"flip_prob must be in [0, 1]; got {self.flip_prob}.")
        if not 0.0 <= self.max_translate < 0.5:
            raise ValueError("max_translate must be in [0, 0.5) (a fraction of the image side); "
                             f"got {self.max_translate}.")
        if not 0.0 <= self.max_scale < 1.0:
            raise ValueError(f"max_scale must be in [0, 1); got {self.max_scale}.")

    def __call__(self, pixel_values: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Return an augmented copy. Random draws come from `generator` (a CPU generator) for reproducibility."""
        if pixel_values.ndim != 4 or pixel_values.shape[1] < 2:
            raise ValueError(f"FlowAugmentation expects pixel_values [B, 3, H, W]; got {tuple(pixel_values.shape)}.")
        batch = pixel_values.shape[0]
        flip = torch.rand(batch, generator=generator) < self.flip_prob
        scale = 1.0 + (2.0 * torch.rand(batch, generator=generator) - 1.0) * self.max_scale
        # affine_grid works in [-1, 1] coordinates, so a shift of a fraction t of the side is 2t.
        shift = (2.0 * torch.rand(batch, 2, generator=generator) - 1.0) * self.max_translate * 2.0

        augmented = pixel_values.clone()
        flip = flip.to(pixel_values.device)
        augmented[flip] = self.mirror(augmented[flip])
        if self.max_scale == 0.0 and self.max_translate == 0.0:
            return augmented
        # The grid maps output to input coordinates: sampling at x / scale - shift zooms by `scale` and moves the
        # content by `shift`. Border padding repeats edge values instead of inventing a flow value.
        theta = torch.zeros(batch, 2, 3)
        theta[:, 0, 0] = theta[:, 1, 1] = 1.0 / scale
        theta[:, :, 2] = -shift
        grid = F.affine_grid(theta.to(augmented), list(augmented.shape), align_corners=False)
        return F.grid_sample(augmented, grid, mode="bilinear", padding_mode="border", align_corners=False)


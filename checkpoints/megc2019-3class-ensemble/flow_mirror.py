"""The left-right mirror of an optical-flow image, which must also reverse horizontal motion.

Mirroring a face turns every rightward displacement into a leftward one, so the mirror of a flow image flips it
and negates u (channel 0); v and the strain magnitude only move with the pixels. Training augmentation draws
random mirrors, and prediction can average a sample with its mirror (a face and its mirror show the same
expression), so both use this one definition.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from transformers import BaseImageProcessor


@dataclass(frozen=True)
class FlowMirror:
    """Mirror flow `pixel_values` [B, C, H, W] (C >= 2) left-right, negating u.

    Args:
        u_flip_center: the value `c` with `-u == c - u_pixel` in pixel_values units, i.e. where the min-max
            normalised u of the mirrored image lands. 0 for the default processor (mean = std = 0.5); see
            `from_image_processor`.
    """

    u_flip_center: float = 0.0

    @classmethod
    def from_image_processor(cls, image_processor: BaseImageProcessor) -> FlowMirror:
        """Derive `u_flip_center` from the processor's rescale/normalise settings for channel 0.

        The processor maps a 0..255 value f to x = (r * f - m) / s; the mirrored u is 255 - f, i.e.
        x' = (255 r - 2 m) / s - x.
        """
        rescale = image_processor.rescale_factor if getattr(image_processor, "do_rescale", False) else 1.0
        mean, std = 0.0, 1.0
        if getattr(image_processor, "do_normalize", False):
            mean, std = _first(image_processor.image_mean), _first(image_processor.image_std)
        return cls(u_flip_center=(255.0 * rescale - 2.0 * mean) / std)

    def __call__(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Return the mirrored copy."""
        if pixel_values.ndim != 4 or pixel_values.shape[1] < 2:
            raise ValueError(f"FlowMirror expects flow pixel_values [B, 3, H, W]; got {tuple(pixel_values.shape)}.")
        mirrored = pixel_values.flip(-1)
        mirrored[:, 0] = self.u_flip_center - mirrored[:, 0]
        return mirrored


def average_with_mirror(logits: torch.Tensor, mirrored_logits: torch.Tensor) -> torch.Tensor:
    """Logits whose softmax is the mean of the two views' class probabilities (log of that mean).

    Probabilities rather than logits are averaged so that one over-confident view cannot outvote the other.
    """
    views = torch.stack([logits.float().log_softmax(-1), mirrored_logits.float().log_softmax(-1)])
    return views.logsumexp(0) - math.log(2.0)


def _first(value) -> float:
    return float(value[0]) if isinstance(value, (list, tuple)) else float(value)


__all__ = ["FlowMirror", "average_with_mirror"]

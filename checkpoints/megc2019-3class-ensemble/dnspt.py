"""Dual-norm shifted patch tokenization (DNSPT).

A 28×28 flow image gives only 49 patches, so each patch sees very little context. Concatenating the input with
spatially shifted copies lets every patch vector also carry its neighbours' motion, which widens the receptive
field of the tokens without more tokens. A LayerNorm before and after the projection keeps the scale of
the concatenated raw flow and of the resulting tokens stable, which matters when training from scratch on a few
hundred samples.
"""

import torch
from torch import nn

DIAGONAL_SHIFTS = ((-1, -1), (-1, 1), (1, -1), (1, 1))
AXIAL_SHIFTS = ((-1, 0), (1, 0), (0, -1), (0, 1))


def shift_directions(count: int) -> tuple[tuple[int, int], ...]:
    """Unit (dy, dx) translations: 4 = the diagonals (SPT), 8 = diagonals + axial ("refined" transformation)."""
    if count not in (4, 8):
        raise ValueError(f"shift_directions must be 4 or 8; got {count!r}.")
    return DIAGONAL_SHIFTS if count == 4 else DIAGONAL_SHIFTS + AXIAL_SHIFTS


def translate(images: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Translate (B, C, H, W) images by (dy, dx) pixels, filling the uncovered border with zeros."""
    height, width = images.shape[-2:]
    padded = nn.functional.pad(images, (max(dx, 0), max(-dx, 0), max(dy, 0), max(-dy, 0)))
    top, left = max(-dy, 0), max(-dx, 0)
    return padded[..., top : top + height, left : left + width]


class DualNormShiftedPatchTokenizer(nn.Module):
    """Input ⊕ shifted copies → non-overlapping patches → LayerNorm → Linear → LayerNorm."""

    def __init__(self, num_channels: int, patch_size: int, hidden_size: int, directions: int, shift: int,
                 eps: float = 1e-6):
        super().__init__()
        self.patch_size = patch_size
        self.offsets = tuple((dy * shift, dx * shift) for dy, dx in shift_directions(directions))
        patch_dim = num_channels * (1 + len(self.offsets)) * patch_size**2
        self.input_norm = nn.LayerNorm(patch_dim, eps=eps)
        self.projection = nn.Linear(patch_dim, hidden_size)
        self.output_norm = nn.LayerNorm(hidden_size, eps=eps)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        stacked = torch.cat([pixel_values] + [translate(pixel_values, dy, dx) for dy, dx in self.offsets], dim=1)
        return self.output_norm(self.projection(self.input_norm(patchify(stacked, self.patch_size))))


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(B, C, H, W) → (B, H·W / p², C·p²) non-overlapping patch vectors, row-major over the patch grid."""
    batch, channels, height, width = images.shape
    grid = images.reshape(batch, channels, height // patch_size, patch_size, width // patch_size, patch_size)
    return grid.permute(0, 2, 4, 1, 3, 5).reshape(batch, -1, channels * patch_size**2)

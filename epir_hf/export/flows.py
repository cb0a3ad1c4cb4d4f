"""Flow inputs for checking an exported model: random facial motions, made into `pixel_values` by the processor.

Why not `torch.randn`: an exported model should be checked on what it will be fed. These pass through the same steps
as a real onset→apex flow from the flow on (optical strain, resize to the model's size, per-channel min–max,
rescale to [-1, 1]), so their values lie on the processor's grid and range, and their maps are smooth regional
motions, as a brow raise or a lip-corner pull gives, rather than noise.
"""

from __future__ import annotations

import numpy as np
import torch

from ..image_processing_epir import EPIRImageProcessor
from ..optical_flow import flow_to_image

FLOW_SIZE = 64
"""Side (px) of the drawn flow fields, about a face crop's flow after the processor's resizing."""


def motion_field(rng: np.random.Generator, size: int = FLOW_SIZE) -> np.ndarray:
    """A `[size, size, 2]` flow (u, v, px): 1 to 4 Gaussian patches of displacement (facial parts that moved) plus a
    little per-pixel noise (the optical flow's own)."""
    grid_y, grid_x = np.mgrid[0:size, 0:size].astype(np.float64)
    flow = rng.normal(0.0, 0.02, (size, size, 2))
    for _ in range(rng.integers(1, 5)):
        center_x, center_y = rng.uniform(0.2, 0.8, 2) * size
        spread = rng.uniform(0.05, 0.15) * size
        weight = np.exp(-((grid_x - center_x) ** 2 + (grid_y - center_y) ** 2) / (2 * spread**2))
        flow += weight[..., None] * rng.normal(0.0, 1.0, 2)
    return flow.astype(np.float32)


def sample_flows(count: int, image_size: int = 28, seed: int = 0) -> torch.Tensor:
    """`count` processor outputs `(count, 3, image_size, image_size)`, deterministic under `seed`. The first is a
    still face (zero flow: every channel constant, all values -1), the input a model sees most."""
    if count < 1:
        raise ValueError(f"count must be at least 1; got {count}")
    rng = np.random.default_rng(seed)
    fields = [np.zeros((FLOW_SIZE, FLOW_SIZE, 2), np.float32)] + [motion_field(rng) for _ in range(count - 1)]
    processor = EPIRImageProcessor(size={"height": image_size, "width": image_size})
    images = [flow_to_image(field, image_size, image_size) for field in fields]
    return processor(flows=images, return_tensors="pt").pixel_values

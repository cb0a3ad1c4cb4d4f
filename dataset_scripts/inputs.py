"""`prepare_model_inputs`: any loaded corpus -> EPIR `pixel_values` with the image processor.

Why a `.map`: datasets caches the result next to the source dataset (keyed on the processor's
settings), runs it on several processes with `num_proc`, and shows a progress bar, which is what
an optical-flow pass over a corpus needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from datasets import Array3D, Dataset, Features

if TYPE_CHECKING:
    from transformers import BaseImageProcessor

IMAGE_COLUMNS = ("onset", "apex", "flow", "face_box")


def _pixel_size(image_processor) -> tuple[int, int]:
    size = image_processor.size
    size = size if isinstance(size, dict) else dict(size)
    return int(size["height"]), int(size["width"])


def prepare_model_inputs(dataset: Dataset, image_processor: BaseImageProcessor, num_proc: int | None = None,
                         batch_size: int = 16) -> Dataset:
    """Replace the frames (or precomputed flow) of `dataset` by the model's `pixel_values`.

    Frame datasets go through `image_processor(images=[(onset, apex), ...])` (with their
    `face_box` column as `face_boxes=` when they have one, e.g. the synthetic corpus); the
    precomputed flow release goes through `image_processor(flows=[...])`. Every other column
    (label, subject, dataset, sample_id, emotion, frame indices) is kept.

    Returns a dataset with `pixel_values` float32 [3, height, width] (the processor's `size`).
    """
    columns = set(dataset.column_names)
    if "flow" in columns:
        use_flows = True
    elif {"onset", "apex"} <= columns:
        use_flows = False
    else:
        raise ValueError(f"prepare_model_inputs needs a dataset with 'onset' and 'apex' frames or a 'flow' image "
                         f"column (as returned by load_me_dataset); got columns {sorted(columns)}")
    with_boxes = "face_box" in columns
    height, width = _pixel_size(image_processor)
    features = Features({name: feature for name, feature in dataset.features.items() if name not in IMAGE_COLUMNS})
    features["pixel_values"] = Array3D(shape=(3, height, width), dtype="float32")

    def to_pixel_values(batch: dict) -> dict:
        if use_flows:
            encoded = image_processor(flows=batch["flow"], return_tensors="np")
        else:
            encoded = image_processor(images=list(zip(batch["onset"], batch["apex"])),
                                      face_boxes=batch["face_box"] if with_boxes else None, return_tensors="np")
        return {"pixel_values": np.asarray(encoded["pixel_values"], dtype=np.float32)}

    return dataset.map(to_pixel_values, batched=True, batch_size=batch_size, num_proc=num_proc,
                       remove_columns=[c for c in IMAGE_COLUMNS if c in columns], features=features,
                       desc="Computing EPIR inputs (optical flow)")

"""Starting every fold from a pretrained EPIR backbone (`run_loso.py --model_name_or_path`).

A checkpoint pretrained on another task (e.g. action units of generated motion, `examples/pretrain.py`) has the same
encoder but another head. Each fold builds its freshly seeded model as usual, then copies the checkpoint's encoder
weights into it; the classification head (and the contrastive projection) keep their seeded initialisation, so folds
stay independent and deterministic.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from safetensors.torch import load_file

WEIGHTS_NAME = "model.safetensors"


def pretrained_weights(name_or_path: str) -> Path:
    """The weights file of a `save_pretrained` folder, or a FileNotFoundError naming `--model_name_or_path`."""
    path = Path(name_or_path) / WEIGHTS_NAME
    if not path.is_file():
        raise FileNotFoundError(f"--model_name_or_path {name_or_path!r} holds no {WEIGHTS_NAME} (expected a folder "
                                "written by save_pretrained, e.g. examples/pretrain.py's OUTPUT_DIR/final).")
    return path


def weights_digest(name_or_path: str) -> str:
    """SHA-256 of the checkpoint's weights: recorded with a run, so that resuming with other weights is refused."""
    return hashlib.sha256(pretrained_weights(name_or_path).read_bytes()).hexdigest()


def load_backbone(model: torch.nn.Module, name_or_path: str) -> None:
    """Copy the encoder weights (`model.base_model_prefix`) of the checkpoint into `model`; heads stay as they are.

    Raises a ValueError naming the checkpoint and the first differing weights when its encoder is not the model's
    (another model type, width, depth or image size).
    """
    prefix = f"{model.base_model_prefix}."
    if getattr(model.config, "model_type", None) != "epir":
        raise ValueError(f"--model_name_or_path starts EPIR's encoder from a checkpoint; the model here is "
                         f"{model.config.model_type!r}.")
    saved = {key: value for key, value in load_file(pretrained_weights(name_or_path)).items() if key.startswith(prefix)}
    own = {key: value for key, value in model.state_dict().items() if key.startswith(prefix)}
    missing = sorted(set(own) - set(saved))
    unexpected = sorted(set(saved) - set(own))
    mismatched = sorted(key for key in set(own) & set(saved) if own[key].shape != saved[key].shape)
    if missing or unexpected or mismatched:
        details = [f"{len(missing)} encoder weights missing (e.g. {missing[:2]})" if missing else "",
                   f"{len(unexpected)} unexpected (e.g. {unexpected[:2]})" if unexpected else "",
                   f"other shapes: {[(key, tuple(saved[key].shape), tuple(own[key].shape)) for key in mismatched[:2]]}"
                   if mismatched else ""]
        raise ValueError(f"--model_name_or_path {name_or_path!r} has another encoder than this model's config "
                         f"({'; '.join(detail for detail in details if detail)}). Pretrain with the same config.")
    model.load_state_dict(saved, strict=False)

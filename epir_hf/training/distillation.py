"""Distilling an ensemble into one model: the teachers' soft labels, the loss that learns from them, and a store
of the teachers' predictions.

Why: the ensemble of the four models is the most accurate honest model, but a user who wants EPIR's size and speed
needs one model. A student trained on the teachers' class probabilities also learns which samples the teachers find
ambiguous, which a hard label does not say. The teachers of a run are trained on exactly the samples the student
trains on, never on its validation or test subjects, so distillation reads no held-out label.

A teacher's soft label of a sample is its softmax at temperature T of the test-time-flip logits (the log of the mean
class probabilities of the sample and its mirror), computed once on the un-augmented flow after the teacher is
trained; the student's augmentations keep the sample's soft label (a mirrored face shows the same class).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedConfig, TrainingArguments

from ..configuration_ensemble import MEMBER_CONFIGS
from .signature import training_signature


@dataclass(frozen=True)
class Distillation:
    """How a student learns from its teachers.

    Args:
        teachers: the teachers' model types (members of an ensemble: epir, ststnet, offapexnet, sssnet), each
            trained at its default config with the student's recipe, seed and training samples.
        temperature: T of the soft labels and of the student's distilled softmax.
        alpha: the loss is (1 - alpha) x the student's cross-entropy on the hard label + alpha x T² x
            KL(soft label ‖ student's softmax at T), plus the student's other terms (EPIR's contrastive term).
        teacher_cache: a folder that keeps each trained teacher's predictions, keyed by everything that determines
            them (config, training arguments, recipe, training samples), so that variants sharing a teacher train
            it once; None trains every teacher in every run.
    """

    teachers: tuple[str, ...]
    temperature: float = 2.0
    alpha: float = 0.5
    teacher_cache: str | None = None

    def __post_init__(self):
        known = list(MEMBER_CONFIGS)
        if not self.teachers or len(set(self.teachers)) != len(self.teachers) or any(
                teacher not in known for teacher in self.teachers):
            raise ValueError(f"--teachers must be different model types among {', '.join(known)}, comma-separated; "
                             f"got {','.join(self.teachers) or 'none'}.")
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(f"--distillation_temperature must be a finite number > 0; got {self.temperature}.")
        if not (math.isfinite(self.alpha) and 0 <= self.alpha <= 1):
            raise ValueError(f"--distillation_alpha must be in [0, 1]; got {self.alpha}.")

    def to_dict(self) -> dict:
        """What a run records of it (the cache is where predictions are kept, not how the student learns)."""
        return {"teachers": list(self.teachers), "temperature": self.temperature, "alpha": self.alpha}


def soft_labels(teacher_logits: Sequence[np.ndarray], temperature: float) -> torch.Tensor:
    """The mean over the teachers of their softmax at `temperature`: a (samples, classes) float tensor."""
    probabilities = [torch.softmax(torch.as_tensor(logits, dtype=torch.float32) / temperature, dim=-1)
                     for logits in teacher_logits]
    return torch.stack(probabilities).mean(dim=0)


def distillation_loss(student_logits: torch.Tensor, targets: torch.Tensor, temperature: float) -> torch.Tensor:
    """T² x KL(targets ‖ softmax(student_logits / T)), averaged over the batch. The T² keeps the gradient's scale
    independent of T (Hinton et al., 2015), so alpha weighs the two terms alike at any temperature."""
    log_student = nn.functional.log_softmax(student_logits.float() / temperature, dim=-1)
    return temperature**2 * nn.functional.kl_div(log_student, targets.to(log_student), reduction="batchmean")


def teacher_key(config: PreTrainedConfig, args: TrainingArguments, recipe: dict, pixel_values: torch.Tensor,
                labels: torch.Tensor) -> str:
    """A digest of everything that determines a trained teacher's predictions of its own training samples."""
    settings = config.to_dict()
    settings.pop("transformers_version", None)
    digest = hashlib.sha256(json.dumps({"config": settings, "training": training_signature(args), "recipe": recipe},
                                       sort_keys=True, default=str).encode())
    digest.update(pixel_values.contiguous().numpy().tobytes())
    digest.update(labels.contiguous().numpy().tobytes())
    return digest.hexdigest()


def cached_teacher_logits(cache_dir: str | Path, key: str) -> np.ndarray | None:
    """The stored predictions under `key`, or None when there is no such teacher yet."""
    if not (Path(cache_dir) / f"{key}.npy").is_file():
        return None
    return np.load(Path(cache_dir) / f"{key}.npy")


def store_teacher_logits(cache_dir: str | Path, key: str, logits: np.ndarray) -> None:
    """Keep a trained teacher's predictions under `key` (written whole, then renamed: an interrupted write leaves no
    partial entry behind)."""
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    partial = Path(cache_dir) / f"{key}.partial.npy"
    np.save(partial, logits)
    partial.replace(Path(cache_dir) / f"{key}.npy")


__all__ = ["Distillation", "cached_teacher_logits", "distillation_loss", "soft_labels", "store_teacher_logits",
           "teacher_key"]

"""Training one LOSO fold with `transformers.Trainer`.

The recipe for small, imbalanced micro-expression data adds to the stock Trainer only what it lacks: a
class-balanced sampler (or class weights in the model's loss), flow-aware augmentation applied to each training
batch, predictions averaged over each sample and its mirror, and a callback that predicts the held-out subject at
every epoch end for the protocols that pick an epoch (so choosing an epoch never costs a second training run).
Everything else (AdamW, warmup + cosine schedule, seeding, DDP through accelerate) is the Trainer's own.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import Sampler, StackDataset, WeightedRandomSampler
from transformers import (
    AutoModelForImageClassification,
    BaseImageProcessor,
    PreTrainedConfig,
    Trainer,
    TrainerCallback,
    TrainerControl,
    TrainerState,
    TrainingArguments,
    set_seed,
)
from transformers.trainer_callback import PrinterCallback

from .. import CONFIG_CLASSES
from ..flow_classification import weighted_cross_entropy
from ..flow_mirror import FlowMirror, average_with_mirror
from .augmentation import FlowAugmentation
from .distillation import (
    Distillation,
    cached_teacher_logits,
    distillation_loss,
    soft_labels,
    store_teacher_logits,
    teacher_key,
)
from .pretrained import load_backbone, weights_digest

if TYPE_CHECKING:
    from datasets import Dataset


@dataclass
class LOSOData:
    """A prepared corpus held in memory as tensors: fold subsets are cheap views, and a training step reads
    tensors instead of decoding Arrow rows (which would cost more than the model itself at this size)."""

    pixel_values: torch.Tensor
    labels: torch.Tensor
    subjects: np.ndarray
    corpora: np.ndarray
    sample_ids: list[str]
    fold_by: str = "subject"
    soft_labels: torch.Tensor | None = None
    """(samples, classes) class probabilities of a distillation's teachers, or None."""

    def __post_init__(self):
        if self.fold_by not in ("subject", "dataset"):
            raise ValueError(f"fold_by must be 'subject' or 'dataset'; got {self.fold_by!r}.")

    @property
    def fold_groups(self) -> np.ndarray:
        """What each sample's fold is: its subject (leave-one-subject-out), or its corpus (leave-one-database-out)."""
        return self.corpora if self.fold_by == "dataset" else self.subjects

    @classmethod
    def from_dataset(cls, dataset: Dataset) -> LOSOData:
        """From a `datasets.Dataset` with `pixel_values`, `label`, `subject`, `dataset` and `sample_id` columns."""
        missing = {"pixel_values", "label", "subject", "dataset", "sample_id"} - set(dataset.column_names)
        if missing:
            raise ValueError(f"The prepared dataset lacks the columns {sorted(missing)}; "
                             "build it with dataset_scripts.prepare_model_inputs.")
        if len(dataset) == 0:
            raise ValueError("The dataset is empty: there is nothing to train or evaluate on.")
        tensors = dataset.with_format("torch", columns=["pixel_values", "label"])[:]
        return cls(pixel_values=tensors["pixel_values"].float(), labels=tensors["label"].long(),
                   subjects=np.asarray(dataset["subject"], dtype=str),
                   corpora=np.asarray(dataset["dataset"], dtype=str),
                   sample_ids=[str(sample_id) for sample_id in dataset["sample_id"]])

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, mask: np.ndarray) -> LOSOData:
        index = np.flatnonzero(mask)
        selector = torch.from_numpy(index)
        return LOSOData(self.pixel_values[selector], self.labels[selector], self.subjects[index],
                        self.corpora[index], [self.sample_ids[i] for i in index], self.fold_by,
                        None if self.soft_labels is None else self.soft_labels[selector])

    def torch_dataset(self) -> StackDataset:
        """Items as `{"pixel_values", "labels"}` dicts, the names the model's forward takes, plus `soft_labels`
        when a distillation's teachers have labelled the samples."""
        if self.soft_labels is None:
            return StackDataset(pixel_values=self.pixel_values, labels=self.labels)
        return StackDataset(pixel_values=self.pixel_values, labels=self.labels, soft_labels=self.soft_labels)


@dataclass
class TrainingRecipe:
    """The switchable parts of the recipe that TrainingArguments and EPIRConfig do not already hold.

    Args:
        balance: "sampler" (class-balanced sampling with replacement), "loss" (balanced class weights in the
            cross-entropy) or "none".
        augmentation: flow-aware batch augmentation, or None.
        test_time_mirror: when set, a prediction averages the class probabilities of each sample and of its
            mirror (the model learns from mirrored samples, so the two views are equally valid and averaging
            removes some of the model's variance); None predicts each sample once.
        init_from: a pretrained checkpoint folder whose encoder every fold starts from (`pretrained.py`), or None.
        distillation: teachers trained on the same samples, whose soft labels the model also learns from
            (`distillation.py`), or None.
    """

    balance: str = "loss"
    augmentation: FlowAugmentation | None = field(default_factory=FlowAugmentation)
    test_time_mirror: FlowMirror | None = field(default_factory=FlowMirror)
    init_from: str | None = None
    distillation: Distillation | None = None

    def __post_init__(self):
        if self.balance not in ("sampler", "loss", "none"):
            raise ValueError(f"balance must be 'sampler', 'loss' or 'none'; got {self.balance!r}.")

    def to_dict(self) -> dict:
        """The recipe as a run records it and a model card reports it (a starting checkpoint by its weights'
        digest, so that other weights under the same path never resume the run)."""
        record = {"balance": self.balance,
                  "augmentation": dataclasses.asdict(self.augmentation) if self.augmentation else None,
                  "test_time_mirror": dataclasses.asdict(self.test_time_mirror) if self.test_time_mirror else None}
        if self.init_from is not None:
            record["init_from"] = {"path": self.init_from, "sha256": weights_digest(self.init_from)}
        if self.distillation is not None:
            record["distillation"] = self.distillation.to_dict()
        return record


def balanced_class_weights(labels: torch.Tensor, num_labels: int) -> list[float]:
    """scikit-learn's "balanced" weights n / (k * n_c) for the classes present; absent classes never weigh in
    the loss, and get 1.0 only because the model's config needs a positive number for every class."""
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(labels.numpy())
    weights = np.ones(num_labels)
    weights[present] = compute_class_weight("balanced", classes=present, y=labels.numpy())
    return weights.tolist()


class LOSOTrainer(Trainer):
    """`Trainer` plus a class-balanced sampler and flow-aware augmentation of training batches."""

    def __init__(self, *args: Any, recipe: TrainingRecipe, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.recipe = recipe
        if self.args.disable_tqdm and self.args.logging_strategy == "no":
            # Without bars Trainer prints each training's closing metrics: one line per fold, interleaved with the
            # runner's own bar, and already in the fold record (train_loss, global_step, time_s).
            self.remove_callback(PrinterCallback)
        # One stream per rank, so the ranks of a data-parallel run do not augment their shards identically.
        self.augmentation_generator = torch.Generator().manual_seed(self.args.seed + self.args.process_index)
        self.samples_seen = 0

    def _get_train_sampler(self, train_dataset: StackDataset | None = None) -> Sampler | None:
        if self.recipe.balance != "sampler":
            return super()._get_train_sampler(train_dataset)
        labels = (train_dataset if train_dataset is not None else self.train_dataset).datasets["labels"]
        counts = torch.bincount(labels)
        seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
        # Every rank draws the same sequence from the same seed; accelerate then gives each rank its batches.
        return WeightedRandomSampler(1.0 / counts[labels].double(), num_samples=len(labels), replacement=True,
                                     generator=torch.Generator().manual_seed(seed))

    def _set_signature_columns_if_needed(self) -> None:
        # Trainer drops the batch keys that the model's forward does not take; the teachers' soft labels are read by
        # compute_loss instead, and must reach it.
        super()._set_signature_columns_if_needed()
        if "soft_labels" not in self._signature_columns:
            self._signature_columns = [*self._signature_columns, "soft_labels"]

    def compute_loss(self, model: torch.nn.Module, inputs: dict[str, torch.Tensor], return_outputs: bool = False,
                     num_items_in_batch: torch.Tensor | int | None = None) -> torch.Tensor | tuple[torch.Tensor, Any]:
        inputs = dict(inputs)
        targets = inputs.pop("soft_labels", None)
        if model.training:
            self.samples_seen += len(inputs["pixel_values"])
            if self.recipe.augmentation is not None:
                inputs["pixel_values"] = self.recipe.augmentation(inputs["pixel_values"], self.augmentation_generator)
        if targets is None and self.recipe.distillation is not None and model.training:
            raise RuntimeError("A distillation batch reached the loss without the teachers' soft labels: the model "
                               "would learn from the hard labels alone.")
        if targets is None or self.recipe.distillation is None:
            return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                        num_items_in_batch=num_items_in_batch)
        # The model's own loss with alpha of its cross-entropy handed to the distillation term; the rest of it (EPIR's
        # contrastive term) is kept whole.
        outputs = model(**inputs)
        config = self.accelerator.unwrap_model(model).config
        distillation = self.recipe.distillation
        hard = weighted_cross_entropy(outputs.logits, inputs["labels"], config.class_weights, config.label_smoothing)
        soft = distillation_loss(outputs.logits, targets, distillation.temperature)
        loss = outputs.loss + distillation.alpha * (soft - hard)
        return (loss, outputs) if return_outputs else loss


@torch.no_grad()
def predict_logits(model: torch.nn.Module, pixel_values: torch.Tensor, batch_size: int,
                   mirror: FlowMirror | None = None) -> np.ndarray:
    """Logits of `model` in eval mode; restores the previous train/eval mode.

    With `mirror`, the result is the log of the mean class probabilities of each sample and of its mirror.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    logits = []
    for batch in pixel_values.split(batch_size):
        batch = batch.to(device)
        batch_logits = model(pixel_values=batch).logits.float()
        if mirror is not None:
            batch_logits = average_with_mirror(batch_logits, model(pixel_values=mirror(batch)).logits)
        logits.append(batch_logits.cpu())
    model.train(was_training)
    return torch.cat(logits).numpy()


class EpochPredictionCallback(TrainerCallback):
    """Predicts the held-out samples at each epoch end; can stop training after a chosen epoch.

    Under data-parallel training every rank holds the same weights, so each rank predicts the (small) held-out
    set itself and no gathering is needed.
    """

    def __init__(self, pixel_values: torch.Tensor, batch_size: int, stop_after_epoch: int | None = None,
                 mirror: FlowMirror | None = None):
        self.pixel_values = pixel_values
        self.batch_size = batch_size
        self.mirror = mirror
        self.stop_after_epoch = stop_after_epoch
        self.epoch_logits: list[np.ndarray] = []

    def on_epoch_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                     model: torch.nn.Module | None = None, **kwargs: Any) -> TrainerControl:
        self.epoch_logits.append(predict_logits(model, self.pixel_values, self.batch_size, self.mirror))
        if self.stop_after_epoch is not None and len(self.epoch_logits) >= self.stop_after_epoch:
            control.should_training_stop = True
        return control


@dataclass
class FoldTraining:
    """What one training run returns: final logits, per-epoch logits (when recorded) and the trainer."""

    logits: np.ndarray | None
    epoch_logits: list[np.ndarray]
    trainer: LOSOTrainer
    global_step: int
    train_loss: float

    @property
    def epochs(self) -> int:
        return round(self.trainer.state.epoch or 0)

    @property
    def samples_seen(self) -> int:
        return self.trainer.samples_seen


def build_model(config: PreTrainedConfig, seed: int, init_from: str | None = None) -> torch.nn.Module:
    """A freshly initialised classifier for `config` (EPIR or a baseline), identical for identical seeds; with
    `init_from`, its encoder is then replaced by that checkpoint's."""
    set_seed(seed)
    model = AutoModelForImageClassification.from_config(config)
    if init_from is not None:
        load_backbone(model, init_from)
    return model


def train_fold(config: PreTrainedConfig, train: LOSOData, test_pixel_values: torch.Tensor | None,
               args: TrainingArguments, recipe: TrainingRecipe, record_epochs: bool = False,
               stop_after_epoch: int | None = None,
               processing_class: BaseImageProcessor | None = None) -> FoldTraining:
    """Train a fresh seeded model on `train`; predict `test_pixel_values` after the last (or each) epoch.

    With `recipe.balance == "loss"` the model's config gets balanced class weights of `train`'s labels. With
    `recipe.distillation`, its teachers are trained on `train` first (or read from its teacher cache).
    """
    if recipe.distillation is not None and train.soft_labels is None:
        train = dataclasses.replace(train, soft_labels=teacher_soft_labels(config, train, args, recipe))
    config = copy.deepcopy(config)
    if recipe.balance == "loss":
        config.class_weights = balanced_class_weights(train.labels, config.num_labels)
    model = build_model(config, args.seed, recipe.init_from)
    callback = None
    if record_epochs and test_pixel_values is not None:
        callback = EpochPredictionCallback(test_pixel_values, args.per_device_eval_batch_size, stop_after_epoch,
                                           recipe.test_time_mirror)
    trainer = LOSOTrainer(model=model, args=args, train_dataset=train.torch_dataset(), recipe=recipe,
                          processing_class=processing_class, callbacks=[callback] if callback is not None else None)
    output = trainer.train()
    logits = None
    if callback is not None:
        logits = callback.epoch_logits[-1]
    elif test_pixel_values is not None:
        logits = predict_logits(trainer.model, test_pixel_values, args.per_device_eval_batch_size,
                                recipe.test_time_mirror)
    return FoldTraining(logits=logits, epoch_logits=callback.epoch_logits if callback is not None else [],
                        trainer=trainer, global_step=output.global_step, train_loss=float(output.training_loss))


def teacher_config(model_type: str, student: PreTrainedConfig) -> PreTrainedConfig:
    """The default config of `model_type` with the student's classes: a teacher as its own LOSO run would build it."""
    defaults = CONFIG_CLASSES[model_type]().to_dict()
    return CONFIG_CLASSES[model_type].from_dict({**defaults, "class_weights": None, "id2label": student.id2label,
                                                 "label2id": student.label2id})


def teacher_soft_labels(config: PreTrainedConfig, train: LOSOData, args: TrainingArguments,
                        recipe: TrainingRecipe) -> torch.Tensor:
    """The soft labels of `train` from `recipe.distillation`'s teachers, each trained on `train` with the recipe
    (without distillation) and seed of the student, then predicting `train` un-augmented with the test-time flip."""
    distillation = recipe.distillation
    teacher_recipe = dataclasses.replace(recipe, distillation=None)
    logits = []
    for model_type in distillation.teachers:
        teacher, cache, predicted = teacher_config(model_type, config), distillation.teacher_cache, None
        if cache is not None:  # the digest reads every training sample: only worth it when there is a store
            key = teacher_key(teacher, args, teacher_recipe.to_dict(), train.pixel_values, train.labels)
            predicted = cached_teacher_logits(cache, key)
        if predicted is None:
            predicted = train_fold(teacher, train, train.pixel_values, args, teacher_recipe).logits
            if cache is not None:
                store_teacher_logits(cache, key, predicted)
        logits.append(predicted)
    return soft_labels(logits, distillation.temperature)

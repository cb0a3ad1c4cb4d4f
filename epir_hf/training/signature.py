"""What a training run learns from, as a comparable record: the training arguments that change the weights.

Kept apart from the argument parser so that the trainer (which the parser imports) can key what it stores by it.
"""

from __future__ import annotations

from transformers import TrainingArguments

TRAINING_SIGNATURE_FIELDS = (
    "seed", "data_seed", "num_train_epochs", "max_steps", "per_device_train_batch_size",
    "gradient_accumulation_steps", "learning_rate", "lr_scheduler_type", "lr_scheduler_kwargs", "warmup_steps",
    "optim", "weight_decay", "adam_beta1", "adam_beta2", "adam_epsilon", "max_grad_norm",
)
"""The TrainingArguments that change what a fold learns: recorded in every output and compared on resume/merge."""


def training_signature(args: TrainingArguments, world_size: int | None = None) -> dict:
    """The TRAINING_SIGNATURE_FIELDS of `args`, with the number of processes that train each fold (`world_size`,
    default: `args.world_size`) and the global batch it makes."""
    signature = {name: getattr(args, name) for name in TRAINING_SIGNATURE_FIELDS}
    signature = {name: value.value if hasattr(value, "value") else value for name, value in signature.items()}
    signature["world_size"] = args.world_size if world_size is None else world_size
    signature["global_train_batch_size"] = (args.per_device_train_batch_size * signature["world_size"]
                                            * args.gradient_accumulation_steps)
    return signature

#!/usr/bin/env python
"""Pretrain EPIR on generated facial motion: one output per action unit, over the `synthetic_au` corpus.

The composite has 442 labelled samples, too few for a Transformer trained from scratch; the generator makes as many
onset/apex pairs with known action units (AUs) as wanted. The model is an `EPIRConfig` (the default, or
`--config_overrides`) with a multi-label head and binary cross-entropy per AU; its flows are made by the processor's
own path (face crop, TV-L1 at 128 px, strain, 28×28). The encoder is what fine-tuning keeps:

    python examples/pretrain.py --output_dir runs/pretrain --num_subjects 200 --samples_per_subject 40
    python examples/run_loso.py --dataset megc2019_composite_flow --data_dir $EPIR_COMPOSITE_DIR \\
        --model_name_or_path runs/pretrain/final --output_dir runs/composite-pretrained --seeds 1,2,3

Arguments: ours (`PretrainArguments`) plus every `transformers.TrainingArguments` option. A checkpoint is written
every epoch, so re-running the same command resumes an interrupted pretraining; an `--output_dir` that holds a
pretraining with other settings is refused. The model and processor are saved to `OUTPUT_DIR/final`.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import StackDataset
from transformers import HfArgumentParser, Trainer, TrainingArguments, set_seed
from transformers.trainer_utils import IntervalStrategy, SaveStrategy, SchedulerType, get_last_checkpoint

from dataset_scripts import load_me_dataset, prepare_model_inputs
from dataset_scripts.action_units import ACTION_UNITS
from epir_hf import EPIRConfig, EPIRForImageClassification, EPIRImageProcessor
from epir_hf.training.arguments import PREPROCESSING_WORKERS_HELP, check_preprocessing_workers, json_object_argument
from epir_hf.training.cli import run_command
from epir_hf.training.experiment import check_output_dir, load_pretrained, main_process_first
from epir_hf.training.run_config import record_settings

SETTINGS_FILENAME = "pretrain_config.json"


@dataclass
class PretrainArguments:
    """The generated corpus and the model; see the module docstring."""

    num_subjects: int = field(default=200, metadata={"help": "Generated subjects (faces)."})
    samples_per_subject: int = field(default=40, metadata={"help": "Generated onset/apex pairs per subject."})
    corpus_seed: int = field(default=0, metadata={"help": "Seed of the generated corpus (not of the training)."})
    dataset_kwargs: str | None = field(default=None, metadata={
        "help": "JSON object of other synthetic_au options, e.g. '{\"random_fraction\": 0.5}'."})
    config_overrides: str | None = field(default=None, metadata={
        "help": "JSON object of EPIRConfig changes, e.g. '{\"hidden_size\": 128}': fine-tune with the same ones."})
    processor_name_or_path: str | None = field(default=None, metadata={
        "help": "EPIRImageProcessor to compute the flows with (a folder or Hub id); default: EPIRImageProcessor()."})
    preprocessing_num_workers: int | None = field(default=None, metadata={"help": PREPROCESSING_WORKERS_HELP})
    cpu_threads: int = field(default=1, metadata={"help": "torch intra-op threads (torch.set_num_threads)."})

    def __post_init__(self):
        check_preprocessing_workers(self.preprocessing_num_workers)


@dataclass
class PretrainTrainingArguments(TrainingArguments):
    """`TrainingArguments` with the pretraining defaults: checkpoints every epoch (resume), one kept."""

    output_dir: str | None = field(default="pretrain_output", metadata={"help": "Checkpoints and OUTPUT_DIR/final."})
    num_train_epochs: float = field(default=20.0, metadata={"help": "Epochs over the generated corpus."})
    per_device_train_batch_size: int = field(default=64, metadata={"help": "Training batch size per device."})
    learning_rate: float = field(default=3e-4, metadata={"help": "Peak AdamW learning rate."})
    weight_decay: float = field(default=0.05, metadata={"help": "AdamW weight decay."})
    lr_scheduler_type: SchedulerType | str = field(default="cosine", metadata={"help": "Learning-rate schedule."})
    warmup_steps: float = field(default=0.1, metadata={"help": "Warmup: steps, or a ratio of all steps if < 1."})
    logging_strategy: IntervalStrategy | str = field(default="epoch", metadata={"help": "'no', 'epoch' or 'steps'."})
    save_strategy: SaveStrategy | str = field(default="epoch", metadata={"help": "Checkpoint every epoch."})
    save_total_limit: int | None = field(default=1, metadata={"help": "Checkpoints kept."})
    report_to: None | str | list[str] = field(default="none", metadata={"help": "Experiment trackers: none."})
    dataloader_pin_memory: bool = field(default=False, metadata={"help": "Pinned memory (tensors are tiny)."})


def pretrain_config(arguments: PretrainArguments) -> EPIRConfig:
    """EPIR with one sigmoid output per action unit and no contrastive term (it needs one class per sample)."""
    overrides = {}
    if arguments.config_overrides:
        overrides = json_object_argument("--config_overrides", arguments.config_overrides)
    return EPIRConfig(**{**overrides, "id2label": dict(enumerate(ACTION_UNITS)), "num_labels": len(ACTION_UNITS),
                         "problem_type": "multi_label_classification", "contrastive_weight": 0.0})


def main(argv: list[str] | None = None) -> Path:
    """Pretrain; returns the folder of the saved model and processor."""
    parser = HfArgumentParser((PretrainArguments, PretrainTrainingArguments))
    arguments, training_args = parser.parse_args_into_dataclasses(args=sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(arguments.cpu_threads)
    processor = (load_pretrained(EPIRImageProcessor.from_pretrained, "--processor_name_or_path",
                                 arguments.processor_name_or_path)
                 if arguments.processor_name_or_path else EPIRImageProcessor())
    config = pretrain_config(arguments)
    check_output_dir(training_args.output_dir)
    output_dir = Path(training_args.output_dir)
    corpus = {"num_subjects": arguments.num_subjects, "samples_per_subject": arguments.samples_per_subject,
              "seed": arguments.corpus_seed,
              **(json_object_argument("--dataset_kwargs", arguments.dataset_kwargs) if arguments.dataset_kwargs
                 else {})}
    model_config = config.to_dict()
    model_config.pop("transformers_version", None)
    settings = {"corpus": corpus, "model_config": model_config, "processor": json.loads(processor.to_json_string()),
                "seed": training_args.seed, "epochs": training_args.num_train_epochs,
                "batch_size": training_args.per_device_train_batch_size, "learning_rate": training_args.learning_rate}
    record_settings(output_dir / SETTINGS_FILENAME, settings, "a pretraining")

    with main_process_first():  # under several processes, one computes the flows
        prepared = prepare_model_inputs(load_me_dataset("synthetic_au", **corpus), processor,
                                        num_proc=arguments.preprocessing_num_workers)
    tensors = prepared.with_format("torch", columns=["pixel_values", "action_units"])[:]
    train = StackDataset(pixel_values=tensors["pixel_values"].float(), labels=tensors["action_units"].float())
    set_seed(training_args.seed)
    model = EPIRForImageClassification(config)
    trainer = Trainer(model=model, args=training_args, train_dataset=train)
    last = get_last_checkpoint(output_dir) if output_dir.is_dir() else None
    trainer.train(resume_from_checkpoint=last)
    final = output_dir / "final"
    trainer.save_model(final)
    processor.save_pretrained(final)
    print(f"Pretrained on {len(train)} generated pairs ({arguments.num_subjects} subjects, {len(ACTION_UNITS)} action "
          f"units); model and processor saved to {final}", flush=True)
    return final


if __name__ == "__main__":
    run_command(main, "pretrain.py", errors=(ValueError, OSError))

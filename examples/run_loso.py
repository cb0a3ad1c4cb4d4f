#!/usr/bin/env python
"""Leave-one-subject-out (LOSO) evaluation of EPIR, the protocol micro-expression results are reported under.

For each subject, a freshly seeded EPIR model is trained with `transformers.Trainer` on all other subjects and
predicts the held-out one; UF1 / UAR / accuracy are computed on the predictions pooled over all folds.

    # built-in synthetic corpus, no data needed
    python examples/run_loso.py --output_dir runs/synthetic
    # the MEGC2019 composite (precomputed flow release), honest protocol, on 2 GPUs / 2 CPU ranks
    accelerate launch examples/run_loso.py --dataset megc2019_composite_flow \\
        --data_dir ../shared/data/megc2019_composite --output_dir runs/composite --seed 1
    # split the folds over machines, then pool them
    python examples/run_loso.py ... --fold_shard 0/2 --output_dir runs/a   (and 1/2 -> runs/b)
    python examples/run_loso.py merge runs/a runs/b --output_dir runs/composite
    # one model on all subjects, saved (and optionally pushed) with its processor
    python examples/run_loso.py --dataset ... --train_full --output_dir runs/full [--push_to_hub --hub_model_id ID]

Arguments: ours (`epir_hf.training.LOSOArguments`) plus every `transformers.TrainingArguments` option, with
the recipe's defaults (`LOSOTrainingArguments`). A single `.json` argument is read as a file of arguments.
Re-running with the same `--output_dir` skips the folds already finished.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path

import torch
from accelerate import PartialState
from transformers import HfArgumentParser

from epir_hf import EPIRConfig
from epir_hf.image_processing_epir import EPIRImageProcessor
from epir_hf.training import (
    LOSOArguments,
    LOSOData,
    LOSOTrainingArguments,
    loso_subjects,
    merge_runs,
    run_loso,
    train_full_model,
    training_signature,
)
from epir_hf.training.results import summary_line


def build_config(loso_args: LOSOArguments, label_names: list[str]) -> EPIRConfig:
    """The model config: `--config_name` or the defaults, the overrides, and the dataset's classes."""
    config = EPIRConfig.from_pretrained(loso_args.config_name) if loso_args.config_name else EPIRConfig()
    overrides = {}
    if loso_args.config_overrides and loso_args.config_overrides.lstrip().startswith("{"):
        overrides = loso_args.config_overrides_dict()
    elif loso_args.config_overrides:
        config.update_from_string(loso_args.config_overrides)
    if loso_args.label_smoothing is not None:
        overrides["label_smoothing"] = loso_args.label_smoothing
    if loso_args.contrastive_weight is not None:
        overrides["contrastive_weight"] = loso_args.contrastive_weight
    overrides["id2label"] = dict(enumerate(label_names))
    overrides["label2id"] = {name: index for index, name in enumerate(label_names)}
    # Rebuilt rather than patched, so that the config validates the combination (and derived fields such as the
    # merge schedule are recomputed when an override sets them to null).
    return EPIRConfig.from_dict({**config.to_dict(), **overrides})


def load_data(loso_args: LOSOArguments, image_processor) -> tuple[LOSOData, list[str]]:
    """Load the corpus, turn it into model inputs with the processor, and hold it in memory."""
    from dataset_scripts import load_me_dataset, prepare_model_inputs

    if loso_args.data_dir is not None and not Path(loso_args.data_dir).is_dir():
        raise FileNotFoundError(f"--data_dir {loso_args.data_dir!r} does not exist or is not a folder "
                                f"(expected the {loso_args.dataset} corpus there).")
    # Under several processes, the main process builds the cache and the others then read it.
    with PartialState().main_process_first():
        dataset = load_me_dataset(loso_args.dataset, data_dir=loso_args.data_dir, **loso_args.load_kwargs())
        prepared = prepare_model_inputs(dataset, image_processor)
    return LOSOData.from_dataset(prepared), list(prepared.features["label"].names)


def run_config_for(loso_args: LOSOArguments, training_args: LOSOTrainingArguments, config: EPIRConfig,
                   image_processor, recipe, data: LOSOData, label_names: list[str]) -> dict:
    """Everything that determines the numbers: stored with the run and compared on resume and merge."""
    model_config = config.to_dict()
    model_config.pop("transformers_version", None)
    recipe_record = {"balance": recipe.balance,
                     "augmentation": dataclasses.asdict(recipe.augmentation) if recipe.augmentation else None,
                     "test_time_mirror": dataclasses.asdict(recipe.test_time_mirror) if recipe.test_time_mirror
                     else None}
    if loso_args.protocol == "inner-val":
        recipe_record["inner_folds"] = loso_args.inner_folds
    return {
        "protocol": loso_args.protocol,
        "seed": training_args.seed,
        "dataset": loso_args.dataset,
        # Where the cache lives does not change the data, and differs between machines that run shards.
        "dataset_kwargs": {key: value for key, value in loso_args.load_kwargs().items()
                           if key not in ("cache_dir", "use_cache")},
        "subjects": loso_subjects(data.subjects),
        "label_names": label_names,
        "model_config": model_config,
        "processor": json.loads(image_processor.to_json_string()),
        "training": training_signature(training_args),
        "recipe": recipe_record,
    }


def parse_arguments(argv: list[str]) -> tuple[LOSOArguments, LOSOTrainingArguments]:
    parser = HfArgumentParser((LOSOArguments, LOSOTrainingArguments))
    if len(argv) == 1 and argv[0].endswith(".json"):
        return parser.parse_json_file(json_file=argv[0])
    return parser.parse_args_into_dataclasses(args=argv)


def merge_main(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="run_loso.py merge",
                                     description="Pool the folds of several LOSO output dirs (e.g. shards).")
    parser.add_argument("inputs", nargs="+", help="output dirs of the runs to pool")
    parser.add_argument("--output_dir", required=True, help="where the pooled folds and results are written")
    args = parser.parse_args(argv)
    results = merge_runs(args.inputs, args.output_dir)
    print(summary_line(results, args.output_dir), flush=True)
    return results


def main(argv: list[str] | None = None) -> dict | Path | None:
    """Run LOSO (or `--train_full`, or `merge`); returns the results on the main process."""
    started_at = time.perf_counter()
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["merge"]:
        return merge_main(argv[1:])
    loso_args, training_args = parse_arguments(argv)
    training_logger = logging.getLogger("epir_hf.training")
    if not training_logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        training_logger.addHandler(handler)
        training_logger.setLevel(logging.INFO)

    torch.set_num_threads(loso_args.cpu_threads)
    image_processor = (EPIRImageProcessor.from_pretrained(loso_args.processor_name_or_path)
                       if loso_args.processor_name_or_path else EPIRImageProcessor())
    data, label_names = load_data(loso_args, image_processor)
    config = build_config(loso_args, label_names)
    recipe = loso_args.recipe(image_processor)
    if loso_args.train_full:
        return train_full_model(data, config, training_args, recipe, image_processor, training_args.output_dir)
    run_config = run_config_for(loso_args, training_args, config, image_processor, recipe, data, label_names)
    return run_loso(data, config, training_args, recipe, run_config, training_args.output_dir,
                    folds=loso_args.folds, fold_shard=loso_args.fold_shard, inner_folds=loso_args.inner_folds,
                    started_at=started_at)


if __name__ == "__main__":
    try:
        main()
    except (ValueError, FileNotFoundError) as error:
        sys.exit(f"run_loso.py: error: {error}")

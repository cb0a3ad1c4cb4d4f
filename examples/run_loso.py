#!/usr/bin/env python
"""Leave-one-subject-out (LOSO) evaluation of EPIR, the protocol micro-expression results are reported under.

For each subject, a freshly seeded EPIR model is trained with `transformers.Trainer` on all other subjects and
predicts the held-out one; UF1 / UAR / accuracy are computed on the predictions pooled over all folds.

    # built-in synthetic corpus, no data needed
    python examples/run_loso.py --output_dir runs/synthetic
    # the MEGC2019 composite (precomputed flow release), honest protocol, three seeds, folds in parallel on every
    # core (or --folds_per_device folds on each GPU); the mean ± std over seeds goes to runs/composite/summary.json
    python examples/run_loso.py --dataset megc2019_composite_flow \\
        --data_dir $EPIR_COMPOSITE_DIR --output_dir runs/composite --seeds 1,2,3
    # split the folds over machines, then pool them
    python examples/run_loso.py ... --fold_shard 0/2 --output_dir runs/a   (and 1/2 -> runs/b)
    python examples/run_loso.py merge runs/a runs/b --output_dir runs/composite
    # one model on all subjects, saved (and optionally pushed) with its processor
    python examples/run_loso.py --dataset ... --train_full --output_dir runs/full [--push_to_hub --hub_model_id ID]

Arguments: ours (`epir_hf.training.LOSOArguments`) plus every `transformers.TrainingArguments` option, with
the recipe's defaults (`LOSOTrainingArguments`). A single `.json` argument is read as a file of arguments.
Re-running with the same `--output_dir` skips the folds already finished.
Folds run in parallel worker processes (`--fold_workers auto`); `--fold_workers 1` runs them one by one in process.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from accelerate import PartialState
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id
from transformers import HfArgumentParser

from epir_hf import EPIRConfig
from epir_hf.image_processing_epir import EPIRImageProcessor
from epir_hf.training import (
    FoldError,
    FoldWorkers,
    LOSOArguments,
    LOSOData,
    LOSORun,
    LOSOTrainingArguments,
    loso_subjects,
    merge_runs,
    resolve_fold_workers,
    run_loso_runs,
    select_folds,
    train_full_model,
    training_signature,
)
from epir_hf.training.results import summary_line
from epir_hf.training.seed_table import write_seed_summary


def load_pretrained(load: Callable[[str], Any], flag: str, name_or_path: str) -> Any:
    """`load(name_or_path)`, failing with an error that names `flag` when nothing exists at that path.

    transformers reads a path that does not exist as a Hub id: it then complains about the form of the id, or
    (offline) about the connection, neither of which says that the folder is missing.
    """
    local = Path(name_or_path).exists()
    if not local:
        try:
            validate_repo_id(name_or_path)
        except HFValidationError:
            raise FileNotFoundError(f"{flag} {name_or_path!r} does not exist (expected a folder written by "
                                    "save_pretrained, or a Hub id).") from None
    try:
        return load(name_or_path)
    except OSError as error:
        if local:
            raise  # transformers names the file it could not read
        raise FileNotFoundError(f"{flag} {name_or_path!r} is not a folder here, and loading it as a Hub id failed: "
                                f"{str(error).strip().splitlines()[0]}") from None


def load_processor(loso_args: LOSOArguments) -> EPIRImageProcessor:
    """`--processor_name_or_path`, or the default processor."""
    if not loso_args.processor_name_or_path:
        return EPIRImageProcessor()
    return load_pretrained(EPIRImageProcessor.from_pretrained, "--processor_name_or_path",
                           loso_args.processor_name_or_path)


def load_starting_config(loso_args: LOSOArguments) -> EPIRConfig:
    """`--config_name`, or the default config."""
    if not loso_args.config_name:
        return EPIRConfig()
    return load_pretrained(EPIRConfig.from_pretrained, "--config_name", loso_args.config_name)


def build_config(loso_args: LOSOArguments, label_names: list[str], config: EPIRConfig | None = None) -> EPIRConfig:
    """The model config: `config` (default: `load_starting_config`), the overrides, and the dataset's classes."""
    config = copy.deepcopy(config) if config is not None else load_starting_config(loso_args)
    overrides = {}
    if loso_args.config_overrides_are_json():
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
    if not loso_args.train_full:
        # The subjects are known now: a bad --folds fails before the flow pass, which can take hours.
        select_folds(loso_subjects(dataset["subject"]), loso_args.folds, loso_args.fold_shard)
    with PartialState().main_process_first():
        prepared = prepare_model_inputs(dataset, image_processor)
    if loso_args.train_full:
        # Recorded after the flows are prepared: the processor is part of their cache key.
        image_processor.training_inputs = describe_training_inputs(loso_args.dataset, dataset.features)
    return LOSOData.from_dataset(prepared), list(prepared.features["label"].names)


def describe_training_inputs(dataset_name: str, features) -> str:
    """What a `--train_full` model is trained on, for its saved processor: which inputs the checkpoint expects."""
    if "flow" in features:
        return (f"{dataset_name}: precomputed onset-apex flow images of the corpus' own face crops, used as they "
                "are. Frames given to the processor are face-located first; a frame that is already a face crop "
                "is used whole, as those flows were.")
    return f"{dataset_name}: onset-apex flows computed by this processor from the corpus' frames"


def check_output_dir(output_dir: str) -> None:
    """Create `--output_dir` up front, so that an unusable path fails before the flows and the training."""
    path = Path(output_dir)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"--output_dir {output_dir!r} is a file, not a folder.")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        message = f"--output_dir {output_dir!r} cannot be created ({error.strerror}: {error.filename})."
        raise type(error)(message) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise PermissionError(f"--output_dir {output_dir!r} is not writable.")


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


def fold_workers_for(loso_args: LOSOArguments, training_args: LOSOTrainingArguments) -> FoldWorkers:
    """The worker processes folds run in. Under `accelerate launch` with several processes every fold is trained by
    all ranks together (DDP), so each rank runs the folds in process."""
    if PartialState().num_processes > 1:
        if loso_args.fold_workers not in ("auto", "1"):
            raise ValueError(f"--fold_workers {loso_args.fold_workers} cannot be combined with accelerate launch "
                             "--num_processes > 1, where the ranks train each fold together; leave it at auto.")
        return FoldWorkers(cpu_threads=loso_args.cpu_threads)
    return resolve_fold_workers(loso_args.fold_workers, loso_args.cpu_threads, loso_args.folds_per_device,
                                use_cpu=training_args.use_cpu)


def loso_runs(loso_args: LOSOArguments, training_args: LOSOTrainingArguments, config: EPIRConfig, image_processor,
              recipe, data: LOSOData, label_names: list[str]) -> list[LOSORun]:
    """One run in `--output_dir`, or with `--seeds` one per seed in `--output_dir/seed<s>`."""
    if not loso_args.seeds:
        run_config = run_config_for(loso_args, training_args, config, image_processor, recipe, data, label_names)
        return [LOSORun(training_args, run_config, Path(training_args.output_dir))]
    runs = []
    for seed in loso_args.seed_list():
        args = dataclasses.replace(training_args, seed=seed)
        run_config = run_config_for(loso_args, args, config, image_processor, recipe, data, label_names)
        runs.append(LOSORun(args, run_config, Path(training_args.output_dir) / f"seed{seed}"))
    return runs


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
    check_output_dir(args.output_dir)
    results = merge_runs(args.inputs, args.output_dir)
    print(summary_line(results, args.output_dir), flush=True)
    return results


def main(argv: list[str] | None = None) -> dict | Path | None:
    """Run LOSO (or `--train_full`, or `merge`); returns the results on the main process (with `--seeds`: each
    seed's results and the summary)."""
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
    # Everything named on the command line is opened before the data: the flow pass can take hours.
    image_processor = load_processor(loso_args)
    starting_config = load_starting_config(loso_args)
    check_output_dir(training_args.output_dir)
    workers = fold_workers_for(loso_args, training_args)
    data, label_names = load_data(loso_args, image_processor)
    config = build_config(loso_args, label_names, starting_config)
    recipe = loso_args.recipe(image_processor)
    if loso_args.train_full:
        run_config = run_config_for(loso_args, training_args, config, image_processor, recipe, data, label_names)
        return train_full_model(data, config, training_args, recipe, image_processor, run_config,
                                training_args.output_dir)
    runs = loso_runs(loso_args, training_args, config, image_processor, recipe, data, label_names)
    results = run_loso_runs(data, config, recipe, runs, folds=loso_args.folds, fold_shard=loso_args.fold_shard,
                            inner_folds=loso_args.inner_folds, started_at=started_at, workers=workers)
    if results is None:
        return None
    if not loso_args.seeds:
        return results[0]
    summary = None
    if all(run_results["complete"] for run_results in results):
        summary = write_seed_summary(training_args.output_dir, [run.output_dir for run in runs])
    else:
        print("summary.json is written once every seed's folds are done (resume, or merge the shards per seed).",
              flush=True)
    return {"seeds": results, "summary": summary}


if __name__ == "__main__":
    try:
        main()
    # What the user can fix: bad arguments or data (ValueError), and paths that are missing, unreadable or
    # unwritable (OSError; the message names the path). Anything else is a bug and keeps its traceback.
    # A fold that failed in a worker process (FoldError) names its subject and seed; the finished folds are kept.
    except (ValueError, OSError, FoldError) as error:
        sys.exit(f"run_loso.py: error: {error}")
    except KeyboardInterrupt:
        print("run_loso.py: interrupted; the finished folds are kept, and re-running resumes.", file=sys.stderr)
        sys.exit(130)

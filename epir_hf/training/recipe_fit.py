"""How well a training recipe fits the training subjects: an optimisation check that never reads a test subject.

A recipe that cannot fit the subjects it trains on cannot generalise to a new one, and measuring the fit needs
no held-out labels. So the recipe's optimisation settings (learning rate, batch size, epochs) can be chosen on
this check without touching the LOSO test predictions, which keeps the `honest` protocol honest.

    epir-recipe-fit --dataset megc2019_composite_flow --data_dir $EPIR_COMPOSITE_DIR \\
        --held_out sub01 --output_dir runs/fit [any run_loso.py argument, e.g. --learning_rate 3e-4]

For the fold of `--held_out`, a fresh seeded model trains exactly as a LOSO fold would (same Trainer, recipe and
augmentation) on every other subject; after each epoch it predicts its own training samples without
augmentation (averaged with the mirror, as the runner predicts, unless `--test_time_flip false`). The held-out
subject is dropped before training and never predicted. One JSON line per run goes to
`--fit_log` (default OUTPUT_DIR/fit.jsonl): the per-epoch training UF1 and accuracy, the final epoch's, and the
training time.

Regularisers (augmentation, dropout, label smoothing) lower the fit on purpose, so the fit cannot judge them:
`--validation_group g/n` also deals the fold's training subjects round robin into n groups, leaves group g out of
training and scores it after each epoch (`validation_uf1`). Those subjects are test subjects of their own LOSO folds,
so a choice made on them carries a little of the optimism that nested selection inside every fold would avoid.

    epir-recipe-fit summarize runs/fit/fit.jsonl [more logs] [--max_epochs 40] [--by validation]

ranks the recipes of the logs by their final-epoch training UF1 (or validation UF1), averaged over the folds (and
validation groups and seeds) each was run for, and names the one the selection rule picks: the best mean among
recipes run for every fold of the logs and costing at most `--max_epochs` epochs (ties: fewer epochs, then the
larger batch, which is cheaper per epoch).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..image_processing_epir import EPIRImageProcessor
from .arguments import LOSOTrainingArguments, parse_loso_arguments
from .cli import run_command
from .distillation import store_teacher_logits, teacher_key
from .experiment import build_config, load_data
from .folds import loso_subjects, parse_fold_shard
from .results import load_metric
from .trainer import LOSOData, train_fold

if TYPE_CHECKING:
    from evaluate import EvaluationModule


def split_own_arguments(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    """Take our own options (`--held_out`, `--validation_group`, `--fit_log`, `--name`) out of `argv`; the rest
    are run_loso.py arguments."""
    own, rest, index = {}, [], 0
    while index < len(argv):
        if argv[index] in ("--held_out", "--validation_group", "--fit_log", "--name"):
            if index + 1 >= len(argv):
                raise ValueError(f"{argv[index]} needs a value.")
            own[argv[index][2:]] = argv[index + 1]
            index += 2
        else:
            rest.append(argv[index])
            index += 1
    if "held_out" not in own:
        raise ValueError("--held_out SUBJECT is required: the fold whose training subjects are fitted.")
    return own, rest


DEFAULTS = {field.name: field.default for field in dataclasses.fields(LOSOTrainingArguments)}


def argument_value(arguments: list[str], name: str, default: str) -> str:
    """The last value given for `name` in a run_loso.py argument list (argparse keeps the last one)."""
    positions = [index for index, item in enumerate(arguments[:-1]) if item == name]
    return arguments[positions[-1] + 1] if positions else default


def parse_validation_group(text: str) -> tuple[int, int]:
    """'g/n' -> (g, n) with 0 <= g < n and n >= 2: a fold shard's syntax, with at least two groups."""
    try:
        group, groups = parse_fold_shard(text)
    except ValueError:
        group, groups = -1, 0
    if groups < 2 or not 0 <= group < groups:
        raise ValueError(f"--validation_group must be 'g/n' with n >= 2 and 0 <= g < n; got {text!r}.")
    return group, groups


def split_validation(train: LOSOData, text: str | None) -> tuple[LOSOData, LOSOData | None]:
    """The fit set and the validation subjects (group g of n, dealt round robin in LOSO order), or no validation."""
    if text is None:
        return train, None
    group, groups = parse_validation_group(text)
    subjects = loso_subjects(train.subjects)
    if groups > len(subjects):
        raise ValueError(f"--validation_group {text}: only {len(subjects)} training subjects to deal into groups.")
    held_out = np.isin(train.subjects, subjects[group::groups])
    return train.subset(~held_out), train.subset(held_out)


def summarize(log_paths: str | Path | list[str | Path], max_epochs: float, by: str = "fit") -> dict | None:
    """Print the recipes of one or more fit logs ranked by mean final training (or validation) UF1; return the
    selected row. Every recipe's scores are printed in the same fold order, so two recipes compare pair by pair."""
    if by not in ("fit", "validation"):
        raise ValueError(f"by must be 'fit' or 'validation'; got {by!r}.")
    score_key = "final_train_uf1" if by == "fit" else "final_validation_uf1"
    records = []
    for path in map(Path, log_paths if isinstance(log_paths, list) else [log_paths]):
        if not path.is_file():
            raise FileNotFoundError(f"No fit log at {path}; write one with epir-recipe-fit --fit_log {path} ...")
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        records += [(path, record) for record in lines if record.get(score_key) is not None]
    table: dict[str, dict] = {}
    for path, record in records:
        row = table.setdefault(record["name"], {"name": record["name"], "scores": {}, "arguments": record["arguments"]})
        fold = fold_key(record)
        if fold in row["scores"]:
            # A second run of the same recipe and fold (a screen resumed twice) would silently replace the first.
            raise ValueError(f"{path}: recipe {record['name']!r} has a second run for fold {fold}; keep one line per "
                             "recipe and fold, or give the rerun another --name.")
        row["scores"][fold] = record[score_key]
    folds = sorted({fold for row in table.values() for fold in row["scores"]})
    rows = []
    for row in table.values():
        arguments = row["arguments"]
        row["epochs"] = float(argument_value(arguments, "--num_train_epochs", str(DEFAULTS["num_train_epochs"])))
        row["batch"] = int(argument_value(arguments, "--per_device_train_batch_size",
                                          str(DEFAULTS["per_device_train_batch_size"])))
        row["mean"] = float(np.mean(list(row["scores"].values())))
        row["eligible"] = set(row["scores"]) == set(folds) and row["epochs"] <= max_epochs
        rows.append(row)
    rows.sort(key=lambda row: (not row["eligible"], -row["mean"], row["epochs"], -row["batch"]))
    what = "training UF1 on the fitted" if by == "fit" else "validation UF1 on the left-out"
    print(f"final-epoch {what} subjects of folds {folds} (mean over folds):")
    for row in rows:
        per_fold = " ".join(f"{row['scores'].get(fold, float('nan')):.4f}" for fold in folds)
        note = "" if row["eligible"] else f"  (not eligible: > {max_epochs:g} epochs or folds missing)"
        print(f"  {row['name']:<28} {row['mean']:.4f}  [{per_fold}]{note}")
    chosen = rows[0] if rows and rows[0]["eligible"] else None
    print(f"selected: {chosen['name'] if chosen else 'none (no eligible recipe)'}")
    return chosen


def fold_key(record: dict) -> str:
    """The held-out subject, plus the validation group and the seed when the run names them: a recipe run with two
    seeds on the same group scores twice, and both count."""
    group, seed = record.get("validation_group"), argument_value(record["arguments"], "--seed", "")
    return record["held_out"] + (f":{group}" if group is not None else "") + (f"@seed{seed}" if seed else "")


def uf1_per_epoch(metric: EvaluationModule, epoch_logits: list[np.ndarray], references: np.ndarray,
                  num_labels: int) -> list[dict]:
    return [metric.compute(predictions=logits.argmax(-1), references=references, num_labels=num_labels)
            for logits in epoch_logits]


def main(argv: list[str] | None = None) -> dict | None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["summarize"]:
        parser = argparse.ArgumentParser(prog="epir-recipe-fit summarize", description=summarize.__doc__)
        parser.add_argument("fit_log", nargs="+", help="one or more fit logs (JSON lines of epir-recipe-fit)")
        parser.add_argument("--max_epochs", type=float, default=40.0, help="most epochs a selectable recipe may use")
        parser.add_argument("--by", choices=("fit", "validation"), default="fit",
                            help="rank by training fit (optimisation settings) or validation UF1 (regularisers)")
        options = parser.parse_args(argv[1:])
        return summarize(options.fit_log, options.max_epochs, options.by)
    own, run_loso_argv = split_own_arguments(argv)
    loso_args, training_args = parse_loso_arguments(run_loso_argv)
    torch.set_num_threads(loso_args.cpu_threads)
    image_processor = EPIRImageProcessor()
    data, label_names = load_data(loso_args, image_processor)
    if own["held_out"] not in set(data.subjects.tolist()):
        raise ValueError(f"--held_out {own['held_out']!r} is not a subject of {loso_args.dataset}; "
                         f"subjects: {sorted(set(data.subjects.tolist()))}.")
    config = build_config(loso_args, label_names)
    train, validation = split_validation(data.subset(data.subjects != own["held_out"]), own.get("validation_group"))
    fit_args = dataclasses.replace(training_args, save_strategy="no", push_to_hub=False)
    recipe = loso_args.recipe(image_processor)
    started = time.perf_counter()
    # One prediction pass per epoch over the fit set followed by the validation subjects, split afterwards.
    scored = train.pixel_values if validation is None else torch.cat([train.pixel_values, validation.pixel_values])
    run = train_fold(config, train, scored, fit_args, recipe, record_epochs=True)
    metric = load_metric()
    fit_logits = [logits[: len(train)] for logits in run.epoch_logits]
    if recipe.distillation is None and loso_args.teacher_cache is not None:
        # This model is the teacher of its type that a distillation on the same samples and seed would train.
        store_teacher_logits(loso_args.teacher_cache, teacher_key(config, fit_args, recipe.to_dict(),
                                                                  train.pixel_values, train.labels), fit_logits[-1])
    scores = uf1_per_epoch(metric, fit_logits, train.labels.numpy(), config.num_labels)
    record = {
        "name": own.get("name", " ".join(run_loso_argv)),
        "held_out": own["held_out"],
        "validation_group": own.get("validation_group"),
        "arguments": run_loso_argv,
        "train_samples": len(train),
        "global_step": run.global_step,
        "train_uf1": [round(score["uf1"], 4) for score in scores],
        "train_accuracy": [round(score["accuracy"], 4) for score in scores],
        "final_train_uf1": scores[-1]["uf1"],
        "validation_samples": 0 if validation is None else len(validation),
        "validation_uf1": None,
        "final_validation_uf1": None,
        "time_s": time.perf_counter() - started,
        "device": str(next(run.trainer.model.parameters()).device),
    }
    if validation is not None:
        validation_scores = uf1_per_epoch(metric, [logits[len(train):] for logits in run.epoch_logits],
                                          validation.labels.numpy(), config.num_labels)
        record["validation_uf1"] = [round(score["uf1"], 4) for score in validation_scores]
        record["final_validation_uf1"] = validation_scores[-1]["uf1"]
    log_path = Path(own.get("fit_log", Path(training_args.output_dir) / "fit.jsonl"))
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a") as log:
        log.write(json.dumps(record) + "\n")
    validation_text = ("" if validation is None else
                       f" validation {record['validation_group']} UF1={record['final_validation_uf1']:.4f}")
    print(f"fit[{record['name']}] held_out={record['held_out']} final train UF1={record['final_train_uf1']:.4f} "
          f"(best epoch {int(np.argmax(record['train_uf1'])) + 1}){validation_text} in {record['time_s']:.0f}s "
          f"-> {log_path}", flush=True)
    return record


def cli() -> None:
    """The `epir-recipe-fit` command."""
    run_command(main, "epir-recipe-fit")

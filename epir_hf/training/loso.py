"""The leave-one-subject-out loop and its three protocols.

Every fold starts from a freshly seeded model, so folds do not depend on each other or on their order: that is
what makes resume, `--folds` and `--fold_shard` give the same numbers as one uninterrupted run, and what lets whole
folds run at once in worker processes (`parallel.py`) with the same predictions as one after the other. Under
`accelerate launch` with several processes the ranks split the folds between them (`--parallel folds`), or each
fold is trained data-parallel by all ranks (`--parallel ddp`: Trainer + DDP; all ranks hold the same weights
afterwards and compute the same predictions, and only the main process writes).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from accelerate import PartialState
from accelerate.utils import broadcast_object_list
from tqdm.auto import tqdm
from transformers import BaseImageProcessor, PreTrainedConfig, PreTrainedModel, TrainingArguments

from ..configuration_ensemble import EnsembleConfig
from ..modeling_ensemble import EnsembleForImageClassification
from .cluster import ArraySettings, run_in_array
from .ensemble import ensemble_fold_record
from .files import read_json
from .folds import completed_folds, fold_path, loso_subjects, select_folds
from .parallel import FoldError, FoldWorkers, describe_task, run_in_workers
from .progress import FoldProgress
from .results import (
    RESULTS_FILENAME,
    compute_results,
    cpu_capability,
    load_metric,
    read_fold_records,
    summary_line,
    write_fold_record,
    write_results,
)
from .run_config import FINAL_DIRNAME, RUN_CONFIG_FILENAME, LOSORun, RunConfig
from .trainer import LOSOData, TrainingRecipe, train_fold

if TYPE_CHECKING:
    from evaluate import EvaluationModule

logger = logging.getLogger(__name__)


def _accuracy(logits: np.ndarray, references: np.ndarray) -> float:
    return float((logits.argmax(-1) == references).mean())


def _main_process_choice(value: int) -> int:
    """The main process's value on every rank, so that all ranks stop training after the same epoch."""
    return broadcast_object_list([value])[0] if PartialState().num_processes > 1 else value


def choose_epoch_inner(config: PreTrainedConfig, train: LOSOData, args: TrainingArguments, recipe: TrainingRecipe,
                       inner_folds: int, metric: EvaluationModule) -> tuple[int, list[float]]:
    """The epoch with the best pooled UF1 over an inner leave-subjects-out split of the training subjects.

    Subjects are dealt round robin into `inner_folds` groups (0: one group per subject); each group is held out
    once while a model trains on the rest. Ties go to the earliest epoch.
    """
    subjects = loso_subjects(train.subjects)
    groups = len(subjects) if inner_folds == 0 else min(inner_folds, len(subjects))
    references, epoch_predictions = [], []
    for group in range(groups):
        held_out = np.isin(train.subjects, subjects[group::groups])
        run = train_fold(config, train.subset(~held_out), train.pixel_values[held_out], args, recipe,
                         record_epochs=True)
        references.append(train.labels[held_out].numpy())
        epoch_predictions.append([logits.argmax(-1) for logits in run.epoch_logits])
    references = np.concatenate(references)
    scores = [
        metric.compute(predictions=np.concatenate([preds[epoch] for preds in epoch_predictions]),
                       references=references, num_labels=config.num_labels)["uf1"]
        for epoch in range(len(epoch_predictions[0]))
    ]
    return _main_process_choice(int(np.argmax(scores)) + 1), scores


def run_fold(subject: str, data: LOSOData, config: PreTrainedConfig, args: TrainingArguments,
             recipe: TrainingRecipe, protocol: str, inner_folds: int, metric: EvaluationModule) -> dict:
    """Train on every subject but `subject`, predict `subject` under `protocol`; returns the fold record. An
    ensemble's fold trains each member as the member's own run would (`ensemble.ensemble_fold_record`)."""
    if isinstance(config, EnsembleConfig):
        members = config.member_configs()
        return ensemble_fold_record([run_fold(subject, data, member, args, recipe, protocol, inner_folds, metric)
                                     for member in members], [member.model_type for member in members])
    start = time.perf_counter()
    held_out = data.fold_groups == subject
    train, test = data.subset(~held_out), data.subset(held_out)
    references = test.labels.numpy()
    extra = {}
    if protocol == "honest":
        run = train_fold(config, train, test.pixel_values, args, recipe)
        epoch, logits = run.epochs, run.logits
    elif protocol == "oracle-epoch":
        run = train_fold(config, train, test.pixel_values, args, recipe, record_epochs=True)
        accuracies = [_accuracy(logits, references) for logits in run.epoch_logits]
        # The reference code keeps the latest epoch among equally accurate ones (it updates on `<=`).
        epoch = len(accuracies) - int(np.argmax(accuracies[::-1]))
        logits = run.epoch_logits[epoch - 1]
        extra["epoch_test_accuracy"] = accuracies
        # The same models without the choice: what the honest protocol reports, so one run shows the gap.
        extra["last_epoch_predictions"] = run.epoch_logits[-1].argmax(-1).tolist()
    elif protocol == "inner-val":
        epoch, scores = choose_epoch_inner(config, train, args, recipe, inner_folds, metric)
        run = train_fold(config, train, test.pixel_values, args, recipe, record_epochs=True, stop_after_epoch=epoch)
        logits = run.epoch_logits[epoch - 1]
        extra["inner_val_uf1"] = scores
    else:
        raise ValueError(f"Unknown protocol {protocol!r}; expected honest, inner-val or oracle-epoch.")
    state = PartialState()
    if state.num_processes > 1:
        logger.info("[rank %d/%d] fold %s: %d optimizer steps, %d training samples seen on this rank",
                    state.process_index, state.num_processes, subject, run.global_step, run.samples_seen)
    return {
        "subject": subject,
        "protocol": protocol,
        "epoch": int(epoch),
        "epochs_trained": run.epochs,
        "sample_ids": test.sample_ids,
        "datasets": test.corpora.tolist(),
        "references": references.tolist(),
        "predictions": logits.argmax(-1).tolist(),
        "logits": logits.tolist(),
        "train_samples": len(train),
        "train_subjects": len(set(train.subjects.tolist())),
        "global_step": run.global_step,
        "train_loss": run.train_loss,
        "world_size": state.num_processes,
        "cpu_capability": cpu_capability(),
        "time_s": time.perf_counter() - start,
        **extra,
    }


def fold_training_arguments(args: TrainingArguments, output_dir: str | Path) -> TrainingArguments:
    """Fold trainers never push or save: the LOSO outputs are the predictions, written by the loop."""
    return dataclasses.replace(args, output_dir=str(output_dir), push_to_hub=False, save_strategy="no")


@dataclass
class FoldContext:
    """What every fold of an invocation shares; sent once to each worker process."""

    data: LOSOData
    config: PreTrainedConfig
    recipe: TrainingRecipe
    protocol: str
    inner_folds: int


@dataclass
class FoldTask:
    """One fold of one run: the held-out subject, the run's TrainingArguments, its output dir and its settings."""

    subject: str
    args: TrainingArguments
    output_dir: Path
    run_config: RunConfig

    @property
    def seed(self) -> int:
        return self.args.seed


def run_task(task: FoldTask, context: FoldContext) -> dict:
    """Train and predict one fold and return its record.

    `run_tasks` writes the record, in the process that started the fold workers: a worker can be stopped from
    outside at any moment (the pool terminates every worker when one dies; Ctrl-C terminates them all), and one
    stopped while writing would leave a stray temporary file and lose a fold that had finished.
    """
    metric = load_metric() if context.protocol == "inner-val" else None
    return run_fold(task.subject, context.data, context.config, fold_training_arguments(task.args, task.output_dir),
                    context.recipe, context.protocol, context.inner_folds, metric)


def run_loso(data: LOSOData, config: PreTrainedConfig, args: TrainingArguments, recipe: TrainingRecipe,
             run_config: RunConfig, output_dir: str | Path, folds: str | None = None, fold_shard: str | None = None,
             inner_folds: int = 5, started_at: float | None = None,
             workers: FoldWorkers = FoldWorkers(), array: ArraySettings | None = None) -> dict | None:
    """`run_loso_runs` for a single run; returns its results (main process) or None (other ranks)."""
    results = run_loso_runs(data, config, recipe, [LOSORun(args, run_config, Path(output_dir))], folds=folds,
                            fold_shard=fold_shard, inner_folds=inner_folds, started_at=started_at, workers=workers,
                            array=array)
    return None if results is None else results[0]


def run_loso_runs(data: LOSOData, config: PreTrainedConfig, recipe: TrainingRecipe, runs: list[LOSORun],
                  folds: str | None = None, fold_shard: str | None = None, inner_folds: int = 5,
                  started_at: float | None = None, workers: FoldWorkers = FoldWorkers(),
                  array: ArraySettings | None = None) -> list[dict] | None:
    """Run the selected folds of every run (e.g. one per seed) that are not on disk yet, then score each run from
    all its folds on disk.

    The folds of all runs share `workers`, so several seeds keep the machine as busy as one. Under a multi-process
    launch with `workers.split_ranks`, each rank trains its share of the folds in its own workers and the main
    process waits for the others' folds on disk (the output dir must be shared); otherwise every rank trains every
    fold together (DDP). Returns the runs' results (main process) or None (other ranks). Raises ValueError on bad
    fold selections and on an output dir that holds a run with other settings, and `FoldError` when a fold fails in a
    worker process.
    """
    started_at = time.perf_counter() if started_at is None else started_at
    protocol = runs[0].run_config.protocol
    if protocol != "honest" and runs[0].args.max_steps > 0:
        raise ValueError(f"The {protocol} protocol chooses an epoch, so it needs --num_train_epochs, not --max_steps.")
    state = PartialState()
    selected = select_folds(loso_subjects(data.fold_groups), folds, fold_shard)
    tasks = []
    for run in runs:
        run.run_config.record_in(run.output_dir, write=state.is_main_process)
        done = completed_folds(run.output_dir, selected)
        if done:
            logger.info("Resuming: %d of %d selected folds are already in %s.", len(done), len(selected),
                        run.output_dir)
        tasks += [FoldTask(subject, run.args, run.output_dir, run.run_config) for subject in selected
                  if subject not in done]
    state.wait_for_everyone()  # every rank decided what to skip before any fold is written
    split = workers.split_ranks and state.num_processes > 1
    own = tasks[state.process_index::state.num_processes] if split else tasks
    if split:
        logger.info("[rank %d/%d] trains %d of the %d folds to train", state.process_index, state.num_processes,
                    len(own), len(tasks))
    metric = load_metric() if state.is_main_process else None
    results_by_dir: dict[Path, dict] = {}

    def score(run: LOSORun) -> None:
        results = compute_results(read_fold_records(run.output_dir), run.run_config, metric=metric)
        previous = previous_results(run.output_dir, tasks)
        if previous is None:
            results["time_s"]["this_invocation"] = time.perf_counter() - started_at
        else:
            results["time_s"]["this_invocation"] = previous["time_s"]["this_invocation"]
            results["versions"] = previous["versions"]
        write_results(run.output_dir, results)
        with tqdm.external_write_mode():  # above the progress bar, not through it
            print(summary_line(results, run.output_dir), flush=True)
        results_by_dir[run.output_dir] = results

    # A run whose folds are all trained is scored at once, so that an interrupted multi-seed command keeps the
    # results of its finished seeds. Under split ranks no rank sees all folds end, so scoring waits for the end.
    remaining = {run.output_dir: sum(task.output_dir == run.output_dir for task in own) for run in runs}
    runs_by_dir = {run.output_dir: run for run in runs}

    def score_when_finished(task: FoldTask) -> None:
        remaining[task.output_dir] -= 1
        if remaining[task.output_dir] == 0:
            score(runs_by_dir[task.output_dir])

    on_fold = score_when_finished if state.is_main_process and not split and array is None else None

    at_once = workers.count if array is None else array_concurrency(array, len(own))
    progress = FoldProgress(total=len(tasks), desc=f"LOSO folds [{protocol}]", unit="fold",
                            disable=not state.is_main_process, workers=min(at_once, max(len(own), 1)), own=len(own))
    context = FoldContext(data, config, recipe, protocol, inner_folds)
    with progress:
        if array is not None and own:
            counted: set[Path] = set()
            if not run_in_array(train_tasks, own, context, array, is_done=fold_on_disk,
                                on_progress=lambda done: show_folds_on_disk(done, progress, counted)):
                return None
        else:
            run_tasks(own, context, workers, progress, on_disk=tasks if split else None, on_fold=on_fold)
        if split and state.is_main_process:
            wait_for_folds(tasks, progress)
    if not split:
        state.wait_for_everyone()
    if not state.is_main_process:
        return None
    for run in runs:
        if run.output_dir not in results_by_dir:
            score(run)
    return [results_by_dir[run.output_dir] for run in runs]


def previous_results(output_dir: Path, tasks: list[FoldTask]) -> dict | None:
    """The run's readable `results.json` when this invocation trained none of that run's folds, else None.

    Re-running a finished run (or resuming another seed of the same command) then leaves its results as they were:
    the invocation time and the library versions and CPU stay those of the invocation that trained its folds.
    """
    previous = output_dir / RESULTS_FILENAME
    if not previous.is_file() or any(task.output_dir == output_dir for task in tasks):
        return None
    try:
        recorded = read_json(previous)
        kept = (isinstance(recorded["time_s"]["this_invocation"], (int, float))
                and isinstance(recorded["versions"], dict))
    except (ValueError, KeyError, TypeError):  # a damaged results.json is rewritten whole
        return None
    return recorded if kept else None


def fold_on_disk(task: FoldTask) -> bool:
    return fold_path(task.output_dir, task.subject).is_file()


def array_concurrency(array: ArraySettings, tasks: int) -> int:
    """Folds trained at once by a job array of `tasks` folds, for the time-left estimate: one per running task
    (a task's own fold workers are on its node, unknown here)."""
    return max(1, min(array.array_parallelism, -(-tasks // array.folds_per_task)))


def show_folds_on_disk(done: list[FoldTask], progress: FoldProgress, counted: set[Path]) -> None:
    """Count the folds that array tasks have written, each new one (not in `counted`) with its training time for
    the time-left estimate."""
    for path in (fold_path(task.output_dir, task.subject) for task in done):
        if path not in counted:
            counted.add(path)
            progress.fold_finished(read_json(path)["time_s"])
    progress.n = len(done)
    progress.refresh()


def folds_on_disk(tasks: list[FoldTask]) -> int:
    """How many of `tasks` have their fold record on disk (written by any process)."""
    return sum(map(fold_on_disk, tasks))


def wait_for_folds(tasks: list[FoldTask], progress: FoldProgress, poll_s: float = 2.0) -> None:
    """Wait until every task's fold is on disk, written by this or another rank.

    The ranks do not meet in a collective here: one rank's share can take hours longer than another's, far beyond a
    process group's timeout. A rank that fails stops the launch (accelerate's launcher ends every rank), so this
    never waits for a fold nobody trains.
    """
    while (count := folds_on_disk(tasks)) < len(tasks):
        progress.n = count
        progress.refresh()
        time.sleep(poll_s)
    progress.n = len(tasks)
    progress.refresh()


def run_tasks(tasks: list[FoldTask], context: FoldContext, workers: FoldWorkers, progress: FoldProgress,
              on_disk: list[FoldTask] | None = None, on_fold: Callable[[FoldTask], None] | None = None) -> None:
    """Every task, in this process or in `workers`; `progress` counts folds and shows the pooled accuracy so far.

    With `on_disk`, the count is of those tasks' folds on disk: other ranks train some of them. `on_fold(task)` is
    called in this process after each task's fold record is written.
    """
    if not tasks:
        return
    scored = np.zeros(2)  # correct predictions, predictions
    # Under split ranks each rank writes its own folds; otherwise every rank trains every fold and the main one writes.
    writes = workers.split_ranks or PartialState().is_main_process

    def done(task: FoldTask, record: dict) -> None:
        if writes:
            task.run_config.check_recorded(task.output_dir)
            write_fold_record(task.output_dir, record)
        scored[:] += [np.sum(np.asarray(record["predictions"]) == np.asarray(record["references"])),
                      len(record["references"])]
        progress.fold_finished(record["time_s"])
        if on_disk is None:
            progress.update()
        else:
            progress.n = folds_on_disk(on_disk)
        progress.set_postfix(subject=task.subject, seed=task.seed, accuracy=f"{scored[0] / scored[1]:.3f}")
        if on_fold is not None:
            on_fold(task)

    if workers.split_ranks or (workers.count > 1 and len(tasks) > 1):
        # Trainer bars of several workers would overwrite each other (and this bar).
        parallel = [dataclasses.replace(task, args=dataclasses.replace(task.args, disable_tqdm=True))
                    for task in tasks]
        run_in_workers(run_task, parallel, context, workers, done)
    else:
        for task in tasks:
            done(task, run_task(task, context))


def train_tasks(tasks: list[FoldTask], context: FoldContext, workers: FoldWorkers) -> None:
    """An array task: its folds, trained and written as this machine's fold workers do (`run_tasks`). A failure
    is a `FoldError` naming the fold, as in fold workers; folds run here one by one, in order, so the one that
    failed is the first whose record is missing."""
    with FoldProgress(total=len(tasks), disable=True) as progress:
        try:
            run_tasks(tasks, context, workers, progress)
        except FoldError:
            raise
        except Exception as error:
            failed = next(task for task in tasks if not fold_on_disk(task))
            raise FoldError(f"{describe_task(failed)} failed: {type(error).__name__}: {error}") from error


def train_full_model(data: LOSOData, config: PreTrainedConfig, args: TrainingArguments, recipe: TrainingRecipe,
                     image_processor: BaseImageProcessor, run_config: RunConfig, output_dir: str | Path) -> Path:
    """Train one model on every subject; save model, processor and pipeline code to `output_dir/final`.

    The folder loads with `trust_remote_code=True` where epir_hf is not installed, and its README.md is a model card
    naming the data, subjects, recipe, seed, date and library versions. With `args.push_to_hub` it is
    uploaded to `args.hub_model_id`. `run_config` is recorded in `output_dir` as a LOSO run's is, and the same rule
    holds: an output dir whose recorded settings differ is refused (a model released next to LOSO numbers must be
    the recipe those numbers measure), while the same settings train again and replace `final` (training is seeded,
    so it is the same model, and a `final` left half-written by an interrupted save is repaired).
    """
    from ..hub_card import TrainingRecord
    from ..pipeline_epir import save_for_hub, upload_saved_folder

    if args.push_to_hub and not args.hub_model_id:
        raise ValueError("--push_to_hub needs --hub_model_id (e.g. your-name/epir-megc2019).")
    final_dir = Path(output_dir) / FINAL_DIRNAME
    if final_dir.exists() and not (Path(output_dir) / RUN_CONFIG_FILENAME).is_file():
        raise ValueError(f"{final_dir} already holds a model whose settings were not recorded, so they cannot be "
                         "compared with these. Use a new --output_dir, or remove that folder.")
    state = PartialState()
    run_config.record_in(output_dir, write=state.is_main_process)
    # The fold trainer must not push: it would upload its own save, without the processor and pipeline code.
    model = train_on_all(config, data, fold_training_arguments(args, output_dir), recipe)
    if state.is_main_process:
        # The run's record already holds the seed, training signature and recipe (the starting weights' digest
        # included); the subjects and sample count come from the data training used.
        record = TrainingRecord.from_run_config(
            run_config.to_dict(), subjects=loso_subjects(data.subjects), num_samples=len(data),
            hub_model_id=args.hub_model_id if args.push_to_hub else None)
        save_for_hub(model, image_processor, final_dir, training=record)
        print(f"Trained on all {len(data)} samples ({len(set(data.subjects.tolist()))} subjects); "
              f"model, processor and pipeline code saved to {final_dir}", flush=True)
        if args.push_to_hub:
            upload_saved_folder(final_dir, model, image_processor, args.hub_model_id, record,
                                private=args.hub_private_repo, token=args.hub_token,
                                commit_message=f"{type(model).__name__} trained on all subjects (examples/run_loso.py "
                                               "--train_full)")
            print(f"Pushed {final_dir} to https://huggingface.co/{args.hub_model_id}", flush=True)
    state.wait_for_everyone()
    return final_dir


def train_on_all(config: PreTrainedConfig, data: LOSOData, args: TrainingArguments,
                 recipe: TrainingRecipe) -> PreTrainedModel:
    """The model of `config` trained on all of `data`; an ensemble's members are trained one by one, each as a
    model of its own would be, then joined."""
    if isinstance(config, EnsembleConfig):
        return EnsembleForImageClassification.from_members([train_on_all(member, data, args, recipe)
                                                            for member in config.member_configs()])
    return train_fold(config, data, None, args, recipe).trainer.model

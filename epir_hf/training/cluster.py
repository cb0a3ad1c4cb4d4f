"""Whole LOSO folds as the tasks of a SLURM job array, submitted through submitit.

A LOSO study is many small independent trainings (one tiny model per fold, seed and model), so beyond one machine it
needs more machines, not a bigger one: a job array, one task per chunk of `folds_per_task` folds, is that shape.
submitit submits Python functions as arrays; its `local` executor runs the same array as local subprocesses (how it
is tested without SLURM) and its `debug` executor runs it in this process. Each task trains its folds as this
machine's fold workers would and writes their records into the run folder (a filesystem every node shares), so a
re-run finds them there and submits only the folds that are missing; the submitting process only counts them.
"""

from __future__ import annotations

import pickle
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .parallel import FoldError, FoldWorkers, describe_task, resolve_fold_workers, terminate_as_interrupt

CLUSTER_EXTRA = 'pip install "epir-hf[cluster]"'
FOLD_ERROR_PREFIX = f"{FoldError.__module__}.{FoldError.__name__}: "
"""How a `FoldError` raised in a task ends its traceback."""
LOGS_DIRNAME = "submitit_logs"
"""Under `--output_dir`: submitit's scripts and pickles, and each task's log."""


def import_submitit() -> Any:
    """submitit, or a ValueError saying how to install the optional extra that brings it."""
    try:
        import submitit
    except ImportError:
        raise ValueError(f"--executor slurm needs submitit, which is not installed: {CLUSTER_EXTRA}") from None
    return submitit


@dataclass(frozen=True)
class ArraySettings:
    """How fold tasks are submitted: submitit's `cluster` (slurm, local or debug), `folds_per_task` folds per array
    task, the SLURM resources of a task, and the fold workers each task runs its folds in (`fold_workers`, as
    `--fold_workers`, resolved on the node that runs the task: its cores and GPUs are not this machine's)."""

    log_dir: Path
    cluster: str = "slurm"
    folds_per_task: int = 1
    partition: str | None = None
    gpus_per_task: int | None = None
    cpus_per_task: int | None = None
    time_min: int = 240
    array_parallelism: int = 256
    additional_parameters: dict = field(default_factory=dict)
    fold_workers: str = "1"
    folds_per_device: int = 4
    cpu_threads: int = 1
    use_cpu: bool = False
    wait: bool = True
    command: str = "the same command"

    def executor(self) -> Any:
        """A submitit executor with these settings (the SLURM ones are ignored by the local and debug executors)."""
        submitit = import_submitit()
        executor = submitit.AutoExecutor(folder=self.log_dir, cluster=self.cluster)
        slurm = {"slurm_partition": self.partition, "slurm_gpus_per_task": self.gpus_per_task,
                 "slurm_cpus_per_task": self.cpus_per_task, "slurm_time": self.time_min,
                 "slurm_array_parallelism": self.array_parallelism,
                 "slurm_additional_parameters": self.additional_parameters or None}
        executor.update_parameters(name="loso", timeout_min=self.time_min,
                                   **{key: value for key, value in slurm.items() if value is not None})
        return executor

    def polling_interval(self) -> float:
        """Seconds between looks at the tasks: SLURM's accounting is asked once per look, so not every second."""
        return 15.0 if self.cluster == "slurm" else 0.5


def chunks(tasks: Sequence[Any], size: int) -> list[list[Any]]:
    """Consecutive chunks of `size` tasks: one array task each."""
    return [list(tasks[start:start + size]) for start in range(0, len(tasks), size)]


def _array_task(function: Callable[[list[Any], Any, FoldWorkers], None], tasks: list[Any], context_path: str,
                settings: ArraySettings) -> None:
    """What an array task runs: its folds, in the fold workers of its own node."""
    torch.set_num_threads(settings.cpu_threads)
    with open(context_path, "rb") as handle:
        context = pickle.load(handle)
    workers = resolve_fold_workers(settings.fold_workers, settings.cpu_threads, settings.folds_per_device,
                                   use_cpu=settings.use_cpu)
    function(tasks, context, workers)


def _error_line(error: BaseException) -> str:
    """The last line of a task's traceback: submitit's error message holds the whole traceback between two rules
    of dashes, then where the task's logs are."""
    sections = str(error).split("----------------------")
    text = sections[1] if len(sections) >= 3 else sections[0]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def failure_message(failures: list[tuple[list[Any], BaseException, Path]], is_done: Callable[[Any], bool]) -> str:
    """One line naming each failed fold (subject and seed), why, and the log of its task. A task names the fold
    that failed itself (a `FoldError`); one that died without saying names the folds it had not finished."""
    parts = []
    for tasks, error, log in failures:
        line = _error_line(error)
        if line.startswith(FOLD_ERROR_PREFIX):
            parts.append(f"{line.removeprefix(FOLD_ERROR_PREFIX)} (log: {log})")
        else:
            names = ", ".join(describe_task(task) for task in tasks if not is_done(task)) or "its folds"
            parts.append(f"{names} failed: {line} (log: {log})")
    return "; ".join(parts)


def _job_error(job: Any) -> BaseException | None:
    """The error of a finished task, or None; a task that never completed (cancelled, timed out) is an error too."""
    try:
        return job.exception()
    except Exception as error:  # submitit raises UncompletedJobError for those
        return error


def _task_ids(jobs: Sequence[Any]) -> str:
    array_ids = sorted({re.sub(r"_\d+$", "", str(job.job_id)) for job in jobs})
    return ", ".join(array_ids)


@terminate_as_interrupt()
def run_in_array(function: Callable[[list[Any], Any, FoldWorkers], None], tasks: Sequence[Any], context: Any,
                 settings: ArraySettings, is_done: Callable[[Any], bool],
                 on_progress: Callable[[list[Any]], None]) -> bool:
    """`function(chunk, context, workers)` for every chunk of `settings.folds_per_task` fold tasks, as a job array.

    The context (the prepared data) is written once into the log folder, not pickled into every task. Unless
    `settings.wait` is off, this waits for the array, calling `on_progress(the tasks done so far)` at each look
    (a task is done when `is_done(task)`: its fold record is on disk), and returns True; then `FoldError` names every
    fold whose task failed, with its log. Without waiting it prints how to pool later and returns False. Ctrl-C or
    SIGTERM while waiting cancels the array's tasks.
    """
    executor = settings.executor()
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    context_path = settings.log_dir / f"context-{uuid.uuid4().hex}.pkl"
    with open(context_path, "wb") as handle:
        pickle.dump(context, handle)
    parts = chunks(tasks, settings.folds_per_task)
    jobs = executor.map_array(_array_task, [function] * len(parts), parts, [str(context_path)] * len(parts),
                              [settings] * len(parts))
    print(f"Submitted {len(parts)} array task(s) for {len(tasks)} fold(s) ({settings.cluster} job {_task_ids(jobs)}); "
          f"logs in {settings.log_dir}", flush=True)
    if not settings.wait:
        print(f"When the tasks have finished (squeue shows none), pool the folds with the same command, which "
              f"submits only the folds still missing, and pools when none is: {settings.command}", flush=True)
        return False
    running, failures = list(zip(parts, jobs)), []
    try:
        while running:
            still = []
            for part, job in running:
                if not job.done():
                    still.append((part, job))
                elif (error := _job_error(job)) is not None:
                    failures.append((part, error, Path(job.paths.stderr)))
            running = still
            on_progress([task for task in tasks if is_done(task)])
            if running:
                time.sleep(settings.polling_interval())
    except BaseException:
        for _, job in running:
            job.cancel(check=False)
        print(f"Cancelled the array's unfinished tasks ({settings.cluster} job {_task_ids(jobs)}); the finished folds "
              "are kept, and the same command resubmits the rest.", flush=True)
        raise
    finally:
        context_path.unlink(missing_ok=True)
    if failures:
        raise FoldError(failure_message(failures, is_done))
    return True

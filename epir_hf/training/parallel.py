"""Whole LOSO folds in parallel worker processes.

A fold of EPIR (about 2M parameters) keeps one CPU core, or a fraction of a GPU, busy: its matrices are too small
for more threads or a whole device to help. Folds are independent, so the machine is used by training several folds
at once. Workers are started with `spawn`, because forking a process that already runs torch threads (or CUDA) can
deadlock; each receives the prepared data once, when it starts, and then trains the folds it is handed.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

import torch

SPAWN = multiprocessing.get_context("spawn")


@dataclass(frozen=True)
class FoldWorkers:
    """How folds are run: `count` worker processes (1: in this process), each pinned to one of `devices` (CUDA
    device ids, dealt round robin; empty: CPU), each with `cpu_threads` torch threads."""

    count: int = 1
    devices: tuple[str, ...] = ()
    cpu_threads: int = 1


class FoldError(RuntimeError):
    """A fold failed in a worker process; the message names its subject and seed."""


def available_cpus() -> int:
    """The cores this process may run on (its affinity mask, which a container or `taskset` narrows)."""
    return len(os.sched_getaffinity(0))


def visible_cuda_devices() -> list[str]:
    """The CUDA devices this process sees, by the ids `CUDA_VISIBLE_DEVICES` gives them (or their indices)."""
    if not torch.cuda.is_available():
        return []
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    names = [name.strip() for name in visible.split(",") if name.strip()] if visible else []
    return names[:torch.cuda.device_count()] or [str(index) for index in range(torch.cuda.device_count())]


def resolve_fold_workers(fold_workers: str, cpu_threads: int, folds_per_device: int,
                         use_cpu: bool = False) -> FoldWorkers:
    """`--fold_workers auto|N` as a `FoldWorkers`.

    `auto` fills the machine: `folds_per_device` workers per visible GPU, or, on CPU, one worker per `cpu_threads`
    available cores (at least one).
    """
    devices = [] if use_cpu else visible_cuda_devices()
    if fold_workers == "auto":
        count = len(devices) * folds_per_device if devices else max(1, available_cpus() // cpu_threads)
    else:
        count = int(fold_workers)
    return FoldWorkers(count=count, devices=tuple(devices), cpu_threads=cpu_threads)


_context: Any = None


def _start_worker(context: Any, devices: Any, cpu_threads: int) -> None:
    global _context
    # Ctrl-C reaches every process of the terminal's group; the main process handles it by stopping the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if devices is not None:
        # Before CUDA starts, so that the worker (and Trainer) sees one device and never wraps it in DataParallel.
        os.environ["CUDA_VISIBLE_DEVICES"] = devices.get()
    torch.set_num_threads(cpu_threads)
    _context = context


def _run_task(function: Callable[[Any, Any], Any], task: Any) -> Any:
    return function(task, _context)


def describe_failure(error: BaseException) -> str:
    if isinstance(error, BrokenProcessPool):
        return "its worker process died (killed, out of memory, or a crash outside Python)"
    return f"{type(error).__name__}: {error}"


def run_in_workers(function: Callable[[Any, Any], Any], tasks: Sequence[Any], context: Any, workers: FoldWorkers,
                   on_done: Callable[[Any, Any], None]) -> None:
    """`function(task, context)` for every fold task in `workers.count` spawned processes; `on_done(task, result)`
    in this process as each one finishes.

    `context` is pickled once per worker. When a fold fails, the folds not yet started are dropped, those running
    are left to finish (their records are kept, so a re-run repeats only what did not finish), and `FoldError`
    names the failed fold by `task.subject` and `task.seed`. Anything else that stops this process (Ctrl-C)
    terminates the workers at once; fold records are written atomically, so none is left half-written.
    """
    count = min(workers.count, len(tasks))
    devices = None
    if workers.devices:
        devices = SPAWN.Queue()
        for index in range(count):
            devices.put(workers.devices[index % len(workers.devices)])
    executor = ProcessPoolExecutor(count, mp_context=SPAWN, initializer=_start_worker,
                                   initargs=(context, devices, workers.cpu_threads))
    try:
        pending = {executor.submit(_run_task, function, task): task for task in tasks}
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            failures = []
            for future in finished:
                task = pending.pop(future)
                if future.exception() is None:
                    on_done(task, future.result())
                else:
                    failures.append((task, future.exception()))
            if failures:
                # A fold's own error first: a broken pool fails every fold that was waiting, not only the culprit.
                task, error = min(failures, key=lambda failure: isinstance(failure[1], BrokenProcessPool))
                executor.shutdown(wait=True, cancel_futures=True)
                raise FoldError(f"fold {task.subject} (seed {task.seed}) failed: {describe_failure(error)}") from error
    except BaseException:
        for process in list((executor._processes or {}).values()):  # no public way to stop running workers
            process.terminate()
        raise
    finally:
        executor.shutdown(wait=True, cancel_futures=True)

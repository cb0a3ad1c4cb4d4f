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
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

SPAWN = multiprocessing.get_context("spawn")


@dataclass(frozen=True)
class FoldWorkers:
    """How folds are run: `count` worker processes (1: in this process), each pinned to one of `devices` (CUDA
    device ids, dealt round robin; empty: CPU), each with `cpu_threads` torch threads.

    `split_ranks`: under a multi-process launch, each rank trains its own share of the folds in its own workers
    (started even when there is one), and those workers leave the ranks' process group: a fold trained by one
    rank alone must not wait on the others in a collective.
    """

    count: int = 1
    devices: tuple[str, ...] = ()
    cpu_threads: int = 1
    split_ranks: bool = False


DISTRIBUTED_ENVIRONMENT = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "GROUP_WORLD_SIZE",
                           "ROLE_RANK", "ROLE_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RUN_ID")
"""What torch.distributed launchers set, and accelerate reads to join a process group."""


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


def resolve_fold_workers(fold_workers: str, cpu_threads: int, folds_per_device: int, use_cpu: bool = False,
                         local_ranks: int = 1, local_rank: int | None = None) -> FoldWorkers:
    """`--fold_workers auto|N` as a `FoldWorkers`.

    `auto` fills the machine: `folds_per_device` workers per visible GPU, or, on CPU, one worker per `cpu_threads`
    available cores (at least one). With `local_rank` (a rank of a multi-process launch that splits the folds
    between ranks, `local_ranks` of them on this machine), the workers are that rank's: on its own GPU, or on its
    share of the cores.
    """
    devices = [] if use_cpu else visible_cuda_devices()
    if local_rank is not None and devices:
        devices = [devices[local_rank % len(devices)]]
    if fold_workers == "auto":
        if devices:
            count = len(devices) * folds_per_device
        else:
            count = max(1, available_cpus() // cpu_threads // local_ranks)
    else:
        count = int(fold_workers)
    return FoldWorkers(count=count, devices=tuple(devices), cpu_threads=cpu_threads,
                       split_ranks=local_rank is not None)


_context: Any = None
_started: Any = None  # a queue of (worker pid, task index), put as a worker starts each task


def _start_worker(context: Any, devices: Any, cpu_threads: int, leave_process_group: bool, started: Any) -> None:
    global _context, _started
    # Ctrl-C reaches every process of the terminal's group; the main process handles it by stopping the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if leave_process_group:
        for name in DISTRIBUTED_ENVIRONMENT:
            os.environ.pop(name, None)
    if devices is not None:
        # Before CUDA starts, so that the worker (and Trainer) sees one device and never wraps it in DataParallel.
        os.environ["CUDA_VISIBLE_DEVICES"] = devices.get()
    torch.set_num_threads(cpu_threads)
    _context, _started = context, started


def _run_task(function: Callable[[Any, Any], Any], index: int, task: Any) -> Any:
    _started.put((os.getpid(), index))
    return function(task, _context)


def describe_task(task: Any) -> str:
    """How a failure names a fold task."""
    return f"fold {task.subject} (seed {task.seed})"


def _describe_exit(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"killed by {signal.Signals(-exitcode).name}: stopped from outside, out of memory, or a crash"
    return f"exit code {exitcode}: a crash outside Python"


def dead_worker_message(tasks: Sequence[Any], started: Any, processes: dict[int, Any], finished: set[int]) -> str:
    """Which fold's worker died, for `FoldError`.

    A dying worker breaks the whole pool, which then stops the other workers with SIGTERM and fails every fold
    still queued; the fold to name is the one the dead worker had started. It is found by the worker's exit code
    when that tells it apart from the pool's own SIGTERM; otherwise every fold running at that moment is named.
    """
    running = {}
    while not started.empty():
        pid, index = started.get()
        running[pid] = index
    running = {pid: index for pid, index in running.items() if index not in finished}
    for process in processes.values():
        process.join(timeout=10)
    died = [pid for pid in running if processes[pid].exitcode not in (None, -signal.SIGTERM)]
    if len(died) == 1:
        pid = died[0]
        return f"{describe_task(tasks[running[pid]])} failed: its worker process died " \
               f"({_describe_exit(processes[pid].exitcode)})"
    names = ", ".join(describe_task(tasks[index]) for index in sorted(running.values()))
    return f"a worker process died while these folds were running: {names or 'none'} " \
           "(stopped from outside, out of memory, or a crash)"


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (`kill`, `timeout`, a scheduler's time limit, `docker stop`) raised as KeyboardInterrupt, in the main
    thread, while the workers run.

    Python's default SIGTERM ends this process at once, without the clean-up that stops the workers: they would
    train on as orphans, and a re-run would find them still writing into its folder. Signal handlers belong to the
    main thread, so in any other thread nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"stopped by {signal.Signals(signum).name}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@terminate_as_interrupt()
def run_in_workers(function: Callable[[Any, Any], Any], tasks: Sequence[Any], context: Any, workers: FoldWorkers,
                   on_done: Callable[[Any, Any], None]) -> None:
    """`function(task, context)` for every fold task in `workers.count` spawned processes; `on_done(task, result)`
    in this process as each one finishes.

    `context` is pickled once per worker. When a fold fails, the folds not yet started are dropped, those running
    are left to finish (`on_done` still gets them, so a re-run repeats only what did not finish), and `FoldError`
    names the failed fold by `task.subject` and `task.seed`. Anything else that stops this process (Ctrl-C,
    SIGTERM) terminates the workers at once; fold records are written atomically, so none is left half-written.
    """
    count = min(workers.count, len(tasks))
    devices = None
    if workers.devices:
        devices = SPAWN.Queue()
        for index in range(count):
            devices.put(workers.devices[index % len(workers.devices)])
    started = SPAWN.SimpleQueue()
    executor = ProcessPoolExecutor(count, mp_context=SPAWN, initializer=_start_worker,
                                   initargs=(context, devices, workers.cpu_threads, workers.split_ranks, started))
    try:
        pending = {executor.submit(_run_task, function, index, task): index for index, task in enumerate(tasks)}
        processes = dict(executor._processes)  # kept here: a broken pool forgets its workers
        done: set[int] = set()

        def drain(futures: Sequence[Future]) -> None:
            for future in futures:
                index = pending.pop(future)
                if not future.cancelled() and future.exception() is None:
                    done.add(index)
                    on_done(tasks[index], future.result())

        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            failures = [(pending[future], future.exception()) for future in finished if future.exception() is not None]
            drain(list(finished))
            if failures:
                # A fold's own error first: a broken pool fails every fold that was waiting, not only the culprit.
                index, error = min(failures, key=lambda failure: isinstance(failure[1], BrokenProcessPool))
                executor.shutdown(wait=True, cancel_futures=True)
                drain(list(pending))  # the folds that were running have finished; the rest were cancelled
                if isinstance(error, BrokenProcessPool):
                    raise FoldError(dead_worker_message(tasks, started, processes, done)) from error
                raise FoldError(f"{describe_task(tasks[index])} failed: {type(error).__name__}: {error}") from error
    except BaseException:
        for process in list((executor._processes or {}).values()):  # no public way to stop running workers
            process.terminate()
        raise
    finally:
        executor.shutdown(wait=True, cancel_futures=True)

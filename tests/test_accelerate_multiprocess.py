"""Multi-process LOSO through `accelerate launch`, proven on CPU with two ranks over gloo: by default the ranks split
the folds between them (`--parallel folds`); with `--parallel ddp` they train every fold together.

`--multi_gpu --num_processes 2` starts two ranks with torch.distributed; the script's own `--use_cpu`
(TrainingArguments) keeps them on CPU, so DDP runs over gloo. (`accelerate launch --cpu --num_processes 2` would
silently start one process.)
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import socket
import subprocess

import pytest
import torch
from _loso_testing import (
    RUN_LOSO,
    SYNTHETIC,
    fold_records,
    run_loso_module,
    structure,
    synthetic_argv,
    synthetic_assets,
)

FOLDS = ["synth01", "synth02"]
EPOCHS = 8
BATCH = 8


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _launch_two_ranks(argv: list[str]) -> subprocess.CompletedProcess:
    command = ["accelerate", "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
               str(RUN_LOSO), *argv]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def _one_process(argv: list[str]) -> dict:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return run_loso_module().main(argv)
    finally:
        torch.set_num_threads(threads)


needs_accelerate = pytest.mark.skipif(shutil.which("accelerate") is None, reason="the accelerate CLI is not on PATH")


@needs_accelerate
def test_two_ranks_split_the_folds_and_predict_like_one_process(tmp_path, tmp_path_factory):
    assets = synthetic_assets(tmp_path_factory)
    folds = ("--folds", ",".join([*FOLDS, "synth03"]), "--use_cpu", "true")
    two_dir, one_dir = tmp_path / "two_ranks", tmp_path / "one_process"
    # The argv's --fold_workers 1 is each rank's own pool: a rank trains its share alone.
    result = _launch_two_ranks(synthetic_argv(assets, two_dir, *folds, epochs=EPOCHS))
    assert re.search(r"\[rank 0/2\] trains 2 of the 3 folds", result.stderr), result.stderr[-3000:]
    assert re.search(r"\[rank 1/2\] trains 1 of the 3 folds", result.stderr), result.stderr[-3000:]
    assert len(re.findall(r"^LOSO\[honest\]", result.stdout, flags=re.MULTILINE)) == 1  # main process only
    one = _one_process(synthetic_argv(assets, one_dir, *folds, epochs=EPOCHS))
    # Each fold was trained by one process, with the single-process batch: the same folds, bit for bit, and the
    # run records itself as a single-process one (so runs launched either way resume and merge together).
    assert fold_records(two_dir) == fold_records(one_dir)
    two = json.loads((two_dir / "results.json").read_text())
    assert two["training"] == one["training"] and two["training"]["world_size"] == 1
    assert two["metrics"] == one["metrics"]
    # Resume under the launcher: only the missing fold is trained again.
    (two_dir / "folds" / "synth02.json").unlink()
    result = _launch_two_ranks(synthetic_argv(assets, two_dir, *folds, epochs=EPOCHS))
    assert re.search(r"\[rank 0/2\] trains 1 of the 1 folds", result.stderr), result.stderr[-3000:]
    assert fold_records(two_dir) == fold_records(one_dir)


@needs_accelerate
def test_two_ranks_train_each_fold_data_parallel_and_pool_like_one_process(tmp_path, tmp_path_factory):
    assets = synthetic_assets(tmp_path_factory)
    extra = ("--folds", ",".join(FOLDS), "--use_cpu", "true")
    two_dir, one_dir = tmp_path / "two_ranks", tmp_path / "one_process"
    result = _launch_two_ranks(synthetic_argv(assets, two_dir, *extra, "--parallel", "ddp", epochs=EPOCHS))

    train_samples = SYNTHETIC["samples_per_subject"] * (SYNTHETIC["num_subjects"] - 1)
    # Each optimizer step consumes one batch per rank: the global batch is 2 x BATCH.
    steps_per_epoch = math.ceil(math.ceil(train_samples / BATCH) / 2)
    for subject in FOLDS:
        seen = []
        for rank in (0, 1):
            match = re.search(rf"\[rank {rank}/2\] fold {subject}: (\d+) optimizer steps, (\d+) training samples",
                              result.stderr)
            assert match, f"rank {rank} did not report training fold {subject}:\n{result.stderr[-3000:]}"
            assert int(match.group(1)) == EPOCHS * steps_per_epoch
            seen.append(int(match.group(2)))
        # Each rank saw about half of the data, not all of it: the fold was trained data-parallel.
        assert all(EPOCHS * train_samples / 2 <= count < EPOCHS * train_samples for count in seen), seen
    assert len(re.findall(r"^LOSO\[honest\]", result.stdout, flags=re.MULTILINE)) == 1  # main process only

    one = _one_process(synthetic_argv(assets, one_dir, *extra, epochs=EPOCHS))
    two = json.loads((two_dir / "results.json").read_text())
    assert structure(two) == structure(json.loads((one_dir / "results.json").read_text()))
    assert two["training"]["world_size"] == 2 and one["training"]["world_size"] == 1
    assert two["training"]["global_train_batch_size"] == 2 * one["training"]["global_train_batch_size"]
    assert two["folds_completed"] == one["folds_completed"] == len(FOLDS)
    assert two["metrics"]["overall"]["num_samples"] == one["metrics"]["overall"]["num_samples"]
    two_records, one_records = fold_records(two_dir), fold_records(one_dir)
    assert {subject: structure(record) for subject, record in two_records.items()} == {
        subject: structure(record) for subject, record in one_records.items()}
    for subject in FOLDS:
        assert two_records[subject]["world_size"] == 2
        assert two_records[subject]["sample_ids"] == one_records[subject]["sample_ids"]
        assert two_records[subject]["global_step"] == EPOCHS * steps_per_epoch
        assert one_records[subject]["global_step"] == EPOCHS * math.ceil(train_samples / BATCH)


def _rank_waiting_for_a_slow_main_process(rank: int, port: int, outcomes) -> None:
    """One of two gloo ranks whose process group times out after 2 s; the main process takes 5 s to prepare."""
    import time
    from datetime import timedelta

    import torch.distributed as dist
    from accelerate import PartialState

    from epir_hf.training.experiment import main_process_first

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2",
                      LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE="2")
    dist.init_process_group("gloo", rank=rank, world_size=2, timeout=timedelta(seconds=2))
    state = PartialState(cpu=True)
    try:
        with main_process_first():
            if state.is_main_process:
                time.sleep(5)
        outcomes[rank] = "passed"
    except RuntimeError as error:
        outcomes[rank] = f"failed: {error}"


def test_other_ranks_wait_for_the_inputs_longer_than_the_process_group_timeout():
    """The main process prepares the inputs (a flow pass can take hours) while the others wait; that wait is
    `main_process_first`'s own, not the process group's timeout (here 2 s), which would end them first."""
    context = torch.multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        outcomes = manager.dict()
        port = _free_port()
        processes = [context.Process(target=_rank_waiting_for_a_slow_main_process,
                                     args=(rank, port, outcomes)) for rank in (0, 1)]
        for process in processes:
            process.start()
        for process in processes:
            process.join(timeout=120)
        result = dict(outcomes)
    assert result == {0: "passed", 1: "passed"}, result

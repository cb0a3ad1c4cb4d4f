"""Multi-process LOSO through `accelerate launch`, proven on CPU: two ranks over gloo train every fold together.

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
from _loso_testing import (RUN_LOSO, SYNTHETIC, fold_records, run_loso_module, structure, synthetic_argv,
                           synthetic_assets)

FOLDS = ["synth01", "synth02"]
EPOCHS = 8
BATCH = 8


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.skipif(shutil.which("accelerate") is None, reason="the accelerate CLI is not on PATH")
def test_two_ranks_train_each_fold_data_parallel_and_pool_like_one_process(tmp_path, tmp_path_factory):
    assets = synthetic_assets(tmp_path_factory)
    extra = ("--folds", ",".join(FOLDS), "--use_cpu", "true")
    two_dir, one_dir = tmp_path / "two_ranks", tmp_path / "one_process"
    command = ["accelerate", "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
               str(RUN_LOSO), *synthetic_argv(assets, two_dir, *extra, epochs=EPOCHS)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-4000:]

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

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        one = run_loso_module().main(synthetic_argv(assets, one_dir, *extra, epochs=EPOCHS))
    finally:
        torch.set_num_threads(threads)
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

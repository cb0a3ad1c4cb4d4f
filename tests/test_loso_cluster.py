"""LOSO folds as a SLURM job array (`--executor slurm`), run on submitit's local executor (the same array as local
subprocesses) and its debug executor (in process), so that no SLURM is needed."""

from __future__ import annotations

import os
import shlex
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from _loso_testing import (
    REPO_ROOT,
    TINY_MODEL,
    FailingFoldData,
    fold_records,
    record_trained_folds,
    results_without_timing,
    run_loso_module,
    synthetic_argv,
    synthetic_assets,
)
from test_loso import _handmade_data, _handmade_run_config

from epir_hf import EPIRConfig
from epir_hf.training import FoldError, TrainingRecipe, parse_loso_arguments, run_loso
from epir_hf.training.arguments import LOSOTrainingArguments
from epir_hf.training.cluster import ArraySettings, run_in_array
from epir_hf.training.folds import fold_path

FOLDS = ("--folds", "synth01,synth02,synth03")
LOCAL_ARRAY = ("--executor", "slurm", "--submitit_cluster", "local")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def importable_in_tasks(monkeypatch):
    """Array tasks are new Python processes: they import this checkout (and the tests' helpers) as this one does."""
    paths = [str(REPO_ROOT), str(REPO_ROOT / "tests"), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(path for path in paths if path))


@pytest.fixture(scope="module")
def assets(tmp_path_factory, one_thread):
    return synthetic_assets(tmp_path_factory)


@pytest.fixture(scope="module")
def sequential_run(assets, tmp_path_factory):
    """Three folds one after the other in this process: what the array must reproduce."""
    output_dir = tmp_path_factory.mktemp("sequential")
    run_loso_module().main(synthetic_argv(assets, output_dir, *FOLDS, epochs=3))
    return output_dir


def test_array_tasks_write_the_fold_records_of_one_process_and_a_rerun_submits_only_missing_folds(
        assets, sequential_run, tmp_path, capsys):
    output_dir = tmp_path / "array"
    argv = synthetic_argv(assets, output_dir, *FOLDS, *LOCAL_ARRAY, "--folds_per_task", "3", epochs=3)
    run_loso_module().main(argv)
    assert "Submitted 1 array task(s) for 3 fold(s) (local job" in capsys.readouterr().out
    assert fold_records(output_dir) == fold_records(sequential_run)  # logits included, exactly
    assert results_without_timing(output_dir) == results_without_timing(sequential_run)
    # Resume without waiting: only the missing fold is submitted, and the command that pools it is printed.
    fold_path(output_dir, "synth02").unlink()
    kept = {subject: fold_path(output_dir, subject).stat().st_mtime_ns for subject in ("synth01", "synth03")}
    no_wait = [*argv, "--no_wait"]
    assert run_loso_module().main(no_wait) is None
    printed = capsys.readouterr().out
    assert "Submitted 1 array task(s) for 1 fold(s)" in printed
    assert printed.rstrip().endswith(shlex.join(["python", "examples/run_loso.py", *no_wait]))
    deadline = time.monotonic() + 120
    while not fold_path(output_dir, "synth02").is_file() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert {subject: fold_path(output_dir, subject).stat().st_mtime_ns for subject in kept} == kept
    assert fold_records(output_dir) == fold_records(sequential_run)
    # The printed command, once the task has finished: nothing is missing, so nothing is submitted, and it pools.
    (output_dir / "results.json").unlink()
    run_loso_module().main(no_wait)
    assert "Submitted" not in capsys.readouterr().out
    assert results_without_timing(output_dir) == results_without_timing(sequential_run)


def test_seeds_run_as_one_array_in_the_debug_executor(assets, tmp_path):
    folds = ("--folds", "synth01,synth02", "--seeds", "1,2")
    local, array = tmp_path / "local", tmp_path / "array"
    run_loso_module().main(synthetic_argv(assets, local, *folds, epochs=2))
    pooled = run_loso_module().main(synthetic_argv(assets, array, *folds, "--executor", "slurm",
                                                   "--submitit_cluster", "debug", "--folds_per_task", "3", epochs=2))
    for seed in (1, 2):
        assert fold_records(array / f"seed{seed}") == fold_records(local / f"seed{seed}")
    assert [results["seed"] for results in pooled["seeds"]] == [1, 2]


def test_a_failed_task_names_its_fold_and_log_and_the_finished_folds_are_kept(tmp_path):
    data = _handmade_data({"alpha": [0, 1, 2, 0], "beta": [1, 2, 0], "gamma": [2, 0, 1, 1]})
    config = EPIRConfig(**TINY_MODEL)
    args = LOSOTrainingArguments(output_dir=str(tmp_path), num_train_epochs=1, per_device_train_batch_size=4,
                                 disable_tqdm=True)
    run_config = _handmade_run_config(data, config, args, TrainingRecipe())
    failing = FailingFoldData(**vars(data), failing_subject="beta")
    array = ArraySettings(log_dir=tmp_path / "logs", cluster="local", folds_per_task=2)  # alpha, beta | gamma
    with pytest.raises(FoldError, match=r"^fold beta \(seed 42\) failed: RuntimeError: injected failure holding "
                                        r"out beta \(log: .*_log\.err\)$") as failure:
        run_loso(failing, config, args, TrainingRecipe(), run_config, tmp_path, array=array)
    log = Path(str(failure.value).split("(log: ")[1].rstrip(")"))
    assert "injected failure holding out beta" in log.read_text()
    assert sorted(fold_records(tmp_path)) == ["alpha", "gamma"]
    assert not (tmp_path / "results.json").exists()
    with pytest.MonkeyPatch.context() as patch:
        trained = record_trained_folds(patch)
        results = run_loso(data, config, args, TrainingRecipe(), run_config, tmp_path)
    assert trained == ["beta"] and results["complete"]


def sleep_in_task(tasks, context, workers) -> None:
    time.sleep(120)


def test_ctrl_c_while_waiting_cancels_the_array(tmp_path, capsys, monkeypatch):
    import submitit

    jobs = []
    real_map_array = submitit.AutoExecutor.map_array

    def keep_jobs(self, *args):
        jobs.extend(real_map_array(self, *args))
        return jobs

    def interrupt(done):
        raise KeyboardInterrupt

    monkeypatch.setattr(submitit.AutoExecutor, "map_array", keep_jobs)
    array = ArraySettings(log_dir=tmp_path / "logs", cluster="local")
    with pytest.raises(KeyboardInterrupt):
        run_in_array(sleep_in_task, ["fold"], None, array, is_done=lambda task: False, on_progress=interrupt)
    assert "Cancelled the array's unfinished tasks (local job" in capsys.readouterr().out
    deadline = time.monotonic() + 30  # the task (asleep for 120 s) stops on the signal that cancel sends
    while not all(job.done() for job in jobs) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(jobs) == 1 and jobs[0].done() and jobs[0].state == "INTERRUPTED"


def test_without_submitit_the_slurm_executor_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "submitit", None)  # `import submitit` raises ImportError
    with pytest.raises(ValueError, match=r'^--executor slurm needs submitit, which is not installed: pip install '
                                         r'"epir-hf\[cluster\]"$'):
        parse_loso_arguments(["--executor", "slurm"])
    parse_loso_arguments([])  # the local executor does not need it


def test_the_slurm_executor_is_refused_under_accelerate_launch(monkeypatch):
    from epir_hf.training import experiment

    monkeypatch.setattr(experiment, "PartialState", lambda: SimpleNamespace(num_processes=2))
    loso_args, training_args = parse_loso_arguments(["--executor", "slurm"])
    with pytest.raises(ValueError, match=r"^--executor slurm submits a job array from one process; run it without "
                                         r"accelerate launch"):
        experiment.fold_workers_for(loso_args, training_args)

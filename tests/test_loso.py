"""LOSO runner: learning, resume, shards + merge, protocols, edge-case subjects, bad input, --train_full."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from _loso_testing import (
    REPO_ROOT,
    RUN_LOSO,
    SYNTHETIC,
    TINY_MODEL,
    FailingFoldData,
    fold_records,
    record_trained_folds,
    results_without_timing,
    run_loso_module,
    synthetic_argv,
    synthetic_assets,
)

import epir_hf
from epir_hf import EPIRConfig, EPIRImageProcessor
from epir_hf.flow_mirror import FlowMirror
from epir_hf.training import (
    FoldError,
    FoldWorkers,
    LOSOData,
    LOSOTrainer,
    RunConfig,
    TrainingRecipe,
    loso_subjects,
    parse_fold_shard,
    parse_loso_arguments,
    run_loso,
    select_folds,
    training_signature,
)
from epir_hf.training import loso as loso_module
from epir_hf.training import parallel as parallel_module
from epir_hf.training import results as results_module
from epir_hf.training.arguments import LOSOArguments, LOSOTrainingArguments
from epir_hf.training.files import atomic_write_json
from epir_hf.training.folds import fold_filename, fold_path
from epir_hf.training.results import write_fold_record
from epir_hf.training.trainer import balanced_class_weights, build_model

SUBJECTS = [f"synth{i + 1:02d}" for i in range(SYNTHETIC["num_subjects"])]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def assets(tmp_path_factory, one_thread):
    return synthetic_assets(tmp_path_factory)


class SimulatedInterruption(Exception):
    """Stands for a kill in the middle of a run (a KeyboardInterrupt would stop pytest itself)."""


@pytest.fixture(scope="module")
def reference_run(assets, tmp_path_factory):
    """One uninterrupted honest LOSO on the tiny synthetic corpus: the run the other tests compare with."""
    output_dir = tmp_path_factory.mktemp("reference")
    results = run_loso_module().main(synthetic_argv(assets, output_dir))
    return output_dir, results


def test_tiny_synthetic_loso_learns_and_writes_every_output(reference_run, capsys):
    output_dir, results = reference_run
    assert results["protocol"] == "honest" and results["complete"]
    assert results["folds_completed"] == results["folds_total"] == len(SUBJECTS)
    overall = results["metrics"]["overall"]
    assert overall["uf1"] >= 0.9 and overall["uar"] >= 0.9, overall
    assert overall["num_samples"] == SYNTHETIC["num_subjects"] * SYNTHETIC["samples_per_subject"]
    assert [fold["subject"] for fold in results["metrics"]["per_fold"]] == SUBJECTS
    assert set(results["metrics"]["per_corpus"]) == {"synthetic"}
    assert np.asarray(results["confusion_matrix"]).sum() == overall["num_samples"]
    for name in ("transformers", "torch", "datasets", "accelerate", "evaluate", "epir_hf"):
        assert results["versions"][name]
    assert results["config"]["hidden_size"] == TINY_MODEL["hidden_size"]
    assert results["training"]["num_train_epochs"] == 60 and results["seed"] == 42
    assert results["time_s"]["this_invocation"] > 0
    # the instruction set of each fold's CPU kernels, counted over the folds (a resumed run may mix several)
    assert results["fold_cpu_capability"] == {results["versions"]["cpu_capability"]: len(SUBJECTS)}

    on_disk = json.loads((output_dir / "results.json").read_text())
    assert on_disk["metrics"] == results["metrics"]
    confusion = json.loads((output_dir / "confusion_matrix.json").read_text())
    assert confusion["matrix"] == results["confusion_matrix"]
    assert confusion["labels"] == ["negative", "positive", "surprise"]
    assert (output_dir / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    records = fold_records(output_dir)
    assert sorted(records) == SUBJECTS
    for subject, record in records.items():
        assert len(record["predictions"]) == len(record["references"]) == len(record["sample_ids"])
        assert all(sample_id.startswith(subject) for sample_id in record["sample_ids"])
        assert record["epoch"] == 60 and record["protocol"] == "honest"
        assert record["train_samples"] == overall["num_samples"] - len(record["references"])
        assert record["predictions"] == np.argmax(record["logits"], axis=1).tolist()
        assert record["cpu_capability"] == results["versions"]["cpu_capability"]
    # No leftovers of interrupted atomic writes, no checkpoints inside folds.
    assert not [path for path in output_dir.rglob("*") if path.name.startswith(".") or "checkpoint" in path.name]


def test_summary_line_on_stdout(assets, reference_run, capsys, tmp_path):
    # A finished run re-invoked trains nothing and prints the same one-line summary.
    output_dir, results = reference_run
    copy = tmp_path / "copy"
    shutil.copytree(output_dir, copy)
    again = run_loso_module().main(synthetic_argv(assets, copy))
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("LOSO[")]
    assert len(lines) == 1
    assert "LOSO[honest]" in lines[0] and f"UF1={results['metrics']['overall']['uf1']:.4f}" in lines[0]
    assert again["metrics"] == results["metrics"]


def test_resume_after_interruption_equals_uninterrupted_run(assets, reference_run, tmp_path, monkeypatch):
    output_dir = tmp_path / "interrupted"
    calls = []
    real_run_fold = loso_module.run_fold

    def crash_on_third_fold(subject, *args, **kwargs):
        calls.append(subject)
        if len(calls) == 3:
            raise SimulatedInterruption(subject)
        return real_run_fold(subject, *args, **kwargs)

    monkeypatch.setattr(loso_module, "run_fold", crash_on_third_fold)
    with pytest.raises(SimulatedInterruption):
        run_loso_module().main(synthetic_argv(assets, output_dir))
    assert sorted(fold_records(output_dir)) == SUBJECTS[:2]
    assert not (output_dir / "results.json").exists()

    resumed = []

    def record_fold(subject, *args, **kwargs):
        resumed.append(subject)
        return real_run_fold(subject, *args, **kwargs)

    monkeypatch.setattr(loso_module, "run_fold", record_fold)
    run_loso_module().main(synthetic_argv(assets, output_dir))
    assert resumed == SUBJECTS[2:]  # finished folds were skipped
    reference_dir, _ = reference_run
    assert fold_records(output_dir) == fold_records(reference_dir)
    assert results_without_timing(output_dir) == results_without_timing(reference_dir)

    finished = (output_dir / "results.json").read_bytes()
    resumed.clear()
    # on another machine too: a later invocation that trains none of its folds is not the run's environment
    monkeypatch.setattr(results_module, "environment_versions", lambda: {"torch": "0.0.0", "cpu_capability": "NONE"})
    run_loso_module().main(synthetic_argv(assets, output_dir))
    # re-running a finished run trains nothing and keeps its results.json, invocation time and versions included
    assert not resumed and (output_dir / "results.json").read_bytes() == finished


def test_shards_then_merge_equal_single_run(assets, reference_run, tmp_path, capsys):
    shard_dirs = [tmp_path / "shard0", tmp_path / "shard1"]
    for index, shard_dir in enumerate(shard_dirs):
        partial = run_loso_module().main(synthetic_argv(assets, shard_dir, "--fold_shard", f"{index}/2"))
        assert not partial["complete"] and partial["missing_folds"] == SUBJECTS[1 - index::2]
        assert "(INCOMPLETE)" in capsys.readouterr().out
    merged_dir = tmp_path / "merged"
    run_loso_module().main(["merge", *map(str, shard_dirs), "--output_dir", str(merged_dir)])
    assert "LOSO[honest]" in capsys.readouterr().out
    reference_dir, _ = reference_run
    assert fold_records(merged_dir) == fold_records(reference_dir)
    merged, reference = results_without_timing(merged_dir), results_without_timing(reference_dir)
    assert merged == reference
    assert (merged_dir / "confusion_matrix.png").is_file()


def test_fold_workers_run_folds_in_parallel_with_the_same_predictions(assets, tmp_path):
    folds = ("--folds", ",".join(SUBJECTS[:3]))
    sequential, parallel = tmp_path / "sequential", tmp_path / "parallel"
    run_loso_module().main(synthetic_argv(assets, sequential, *folds, epochs=3))
    run_loso_module().main(synthetic_argv(assets, parallel, *folds, "--fold_workers", "2", epochs=3))
    assert sorted(fold_records(parallel)) == SUBJECTS[:3]
    assert fold_records(parallel) == fold_records(sequential)  # logits included, exactly
    assert results_without_timing(parallel) == results_without_timing(sequential)
    # Resume under --fold_workers: only the missing fold is trained, with the same numbers.
    fold_path(parallel, SUBJECTS[1]).unlink()
    run_loso_module().main(synthetic_argv(assets, parallel, *folds, "--fold_workers", "2", epochs=3))
    assert fold_records(parallel) == fold_records(sequential)


def test_a_failing_fold_in_a_worker_names_subject_and_seed_and_keeps_finished_folds(tmp_path):
    data = _handmade_data({"alpha": [0, 1, 2, 0], "beta": [1, 2, 0], "gamma": [2, 0, 1, 1]})
    config = EPIRConfig(**TINY_MODEL)
    args = LOSOTrainingArguments(output_dir=str(tmp_path), num_train_epochs=1, per_device_train_batch_size=4,
                                 disable_tqdm=True)
    run_config = _handmade_run_config(data, config, args, TrainingRecipe())
    failing = FailingFoldData(**vars(data), failing_subject="beta")
    with pytest.raises(FoldError, match=r"^fold beta \(seed 42\) failed: RuntimeError: injected failure"):
        run_loso(failing, config, args, TrainingRecipe(), run_config, tmp_path, workers=FoldWorkers(count=2))
    on_disk = fold_records(tmp_path)  # every record left behind is whole
    assert "alpha" in on_disk and "beta" not in on_disk
    assert not (tmp_path / "results.json").exists() and not parallel_module.SPAWN.active_children()
    with pytest.MonkeyPatch.context() as patch:
        trained = record_trained_folds(patch)
        results = run_loso(data, config, args, TrainingRecipe(), run_config, tmp_path)
    assert trained == [subject for subject in ["alpha", "beta", "gamma"] if subject not in on_disk]
    assert results["complete"]


def test_a_killed_worker_names_its_fold_and_a_rerun_resumes(tmp_path):
    data = _handmade_data({"alpha": [0, 1, 2, 0], "beta": [1, 2, 0], "gamma": [2, 0, 1, 1]})
    config = EPIRConfig(**TINY_MODEL)
    args = LOSOTrainingArguments(output_dir=str(tmp_path), num_train_epochs=1, per_device_train_batch_size=4,
                                 disable_tqdm=True, seed=3)
    run_config = _handmade_run_config(data, config, args, TrainingRecipe())
    killed = FailingFoldData(**vars(data), failing_subject="gamma", kill=True)
    with pytest.raises(FoldError, match=r"^fold gamma \(seed 3\) failed: its worker process died \(killed by SIGKILL"):
        run_loso(killed, config, args, TrainingRecipe(), run_config, tmp_path, workers=FoldWorkers(count=2))
    assert not parallel_module.SPAWN.active_children() and not (tmp_path / "results.json").exists()
    assert fold_records(tmp_path) and "gamma" not in fold_records(tmp_path)  # gamma started after a fold finished
    assert not list((tmp_path / "folds").glob(".*.tmp"))  # no half-written record
    results = run_loso(data, config, args, TrainingRecipe(), run_config, tmp_path, workers=FoldWorkers(count=2))
    assert results["complete"]


def _process_state(pid: int | str) -> list[str]:
    """/proc/PID/stat after the command name: state, parent pid, ... (empty once the process is gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def _child_workers(pid: int) -> list[int]:
    """The fold workers (spawned processes) whose parent is `pid`, from /proc."""
    workers = []
    for folder in Path("/proc").glob("[0-9]*"):
        state = _process_state(folder.name)
        if not state or int(state[1]) != pid:  # gone, or another process's child: its command line is not read
            continue
        try:
            command = (folder / "cmdline").read_bytes()
        except OSError:  # the process ended meanwhile
            continue
        if b"multiprocessing.spawn" in command:
            workers.append(int(folder.name))
    return workers


def _running(pid: int) -> bool:
    state = _process_state(pid)
    return bool(state) and state[0] != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads worker processes from /proc")
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_stopping_the_runner_stops_its_workers(assets, tmp_path, stop):
    """Ctrl-C, or a SIGTERM from `kill`, `timeout` or a scheduler, must not leave workers training as orphans."""
    output_dir = tmp_path / "out"
    runner = subprocess.Popen([sys.executable, str(RUN_LOSO), *synthetic_argv(assets, output_dir, "--fold_workers", "2",
                                                                              epochs=500)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        workers = set()
        for _ in range(1200):  # up to 2 minutes for imports and data
            workers.update(_child_workers(runner.pid))
            if workers or runner.poll() is not None:
                break
            time.sleep(0.1)
        assert workers, runner.communicate()[1][-2000:]
        # stopped as the first worker starts: the second may not exist yet
        runner.send_signal(stop)
        deadline = time.monotonic() + 60
        while runner.poll() is None and time.monotonic() < deadline:
            workers.update(_child_workers(runner.pid))
            time.sleep(0.1)
        _, stderr = runner.communicate(timeout=60)
    finally:
        runner.kill()
    assert runner.returncode == 130 and "interrupted; the finished folds are kept" in stderr, stderr[-2000:]
    assert not [pid for pid in workers if _running(pid)]
    assert not list(output_dir.glob("**/.*.tmp"))  # no half-written record


def test_fold_workers_auto_fills_the_cores_or_the_gpus(monkeypatch):
    monkeypatch.setattr(parallel_module.os, "sched_getaffinity", lambda pid: set(range(8)))
    monkeypatch.setattr(parallel_module, "visible_cuda_devices", lambda: [])
    assert parallel_module.resolve_fold_workers("auto", 2, 4) == FoldWorkers(count=4, cpu_threads=2)
    assert parallel_module.resolve_fold_workers("auto", 16, 4).count == 1
    assert parallel_module.resolve_fold_workers("3", 1, 4).count == 3
    monkeypatch.setattr(parallel_module, "visible_cuda_devices", lambda: ["2", "5"])
    assert parallel_module.resolve_fold_workers("auto", 1, 3) == FoldWorkers(count=6, devices=("2", "5"))
    assert parallel_module.resolve_fold_workers("auto", 1, 3, use_cpu=True) == FoldWorkers(count=8)


def test_visible_cuda_devices_keep_the_names_cuda_visible_devices_gives(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,1")
    assert parallel_module.visible_cuda_devices() == ["3", "1"]
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert parallel_module.visible_cuda_devices() == ["0", "1"]


def test_seeds_run_in_subfolders_and_summarize(assets, tmp_path, capsys):
    output = run_loso_module().main(synthetic_argv(assets, tmp_path / "seeds", "--seeds", "1,2", epochs=1))
    assert [results["seed"] for results in output["seeds"]] == [1, 2]
    summary = json.loads((tmp_path / "seeds" / "summary.json").read_text())
    assert summary["seeds"] == [1, 2] and set(summary["overall"]) == {"uf1", "uar", "accuracy"}
    assert all(set(figures) == {"mean", "std"} for figures in summary["overall"].values())
    assert summary["ensemble"]["overall"]["num_samples"] == len(SUBJECTS) * SYNTHETIC["samples_per_subject"]
    assert "mean ± sample std over seeds" in capsys.readouterr().out
    # Each seed's folder is the run --seed gives on its own.
    run_loso_module().main(synthetic_argv(assets, tmp_path / "one", "--seed", "2", "--folds", SUBJECTS[0], epochs=1))
    assert fold_records(tmp_path / "one")[SUBJECTS[0]] == fold_records(tmp_path / "seeds" / "seed2")[SUBJECTS[0]]


def test_an_interrupted_seeds_run_keeps_the_results_of_its_finished_seeds(assets, tmp_path, monkeypatch):
    output_dir = tmp_path / "seeds"
    calls = []
    real_run_fold = loso_module.run_fold

    def crash_in_second_seed(subject, *args, **kwargs):
        calls.append(subject)
        if len(calls) == len(SUBJECTS) + 2:
            raise SimulatedInterruption(subject)
        return real_run_fold(subject, *args, **kwargs)

    monkeypatch.setattr(loso_module, "run_fold", crash_in_second_seed)
    argv = synthetic_argv(assets, output_dir, "--seeds", "1,2", epochs=1)
    with pytest.raises(SimulatedInterruption):
        run_loso_module().main(argv)
    first = json.loads((output_dir / "seed1" / "results.json").read_text())
    assert first["complete"] and first["seed"] == 1
    assert not (output_dir / "seed2" / "results.json").exists() and not (output_dir / "summary.json").exists()

    finished = (output_dir / "seed1" / "results.json").read_bytes()
    monkeypatch.setattr(loso_module, "run_fold", real_run_fold)
    output = run_loso_module().main(argv)
    assert (output_dir / "seed1" / "results.json").read_bytes() == finished  # not trained again, not rewritten
    assert [results["complete"] for results in output["seeds"]] == [True, True]
    assert json.loads((output_dir / "summary.json").read_text())["seeds"] == [1, 2]


def test_merge_refuses_runs_with_different_settings(assets, reference_run, tmp_path):
    reference_dir, _ = reference_run
    other = tmp_path / "other_seed"
    run_loso_module().main(synthetic_argv(assets, other, "--folds", SUBJECTS[0], "--seed", "7", epochs=1))
    with pytest.raises(ValueError, match="seed"):
        run_loso_module().main(["merge", str(reference_dir), str(other), "--output_dir", str(tmp_path / "m")])
    with pytest.raises(FileNotFoundError, match="not a LOSO output dir"):
        run_loso_module().main(["merge", str(tmp_path), "--output_dir", str(tmp_path / "m2")])


def test_resuming_with_other_settings_is_refused(assets, reference_run, tmp_path):
    reference_dir, _ = reference_run
    copy = tmp_path / "copy"
    shutil.copytree(reference_dir, copy)
    with pytest.raises(ValueError, match="different settings.*learning_rate"):
        run_loso_module().main(synthetic_argv(assets, copy, "--learning_rate", "0.01"))
    with pytest.raises(ValueError, match="different settings.*test_time_mirror"):
        run_loso_module().main(synthetic_argv(assets, copy, "--test_time_flip", "false"))


def test_resume_compares_settings_by_meaning(assets, tmp_path):
    def run_config(processor, seed: int = 42) -> RunConfig:
        return RunConfig(protocol="honest", seed=seed, dataset="synthetic", subjects=["s1"], label_names=["a"],
                         model_config={}, training={}, recipe={}, processor=json.loads(processor.to_json_string()))

    from_folder = run_config(EPIRImageProcessor.from_pretrained(assets / "processor"))
    in_memory = run_config(EPIRImageProcessor(flow_method="dis"))
    assert "auto_map" in from_folder.processor and "auto_map" not in in_memory.processor
    from_folder.record_in(tmp_path)
    in_memory.record_in(tmp_path)  # the same processor: only where it was loaded from differs
    write_fold_record(tmp_path, {"subject": "s1"})  # a record with work under it refuses other settings
    with pytest.raises(ValueError) as info:
        run_config(EPIRImageProcessor(flow_method="dis", flow_size=96), seed=7).record_in(tmp_path)
    message = str(info.value)
    assert "processor.flow_size: 128 → 96; seed: 42 → 7" in message
    assert "image_mean" not in message  # each differing setting, not the whole processor


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_output_files_follow_the_umask(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        RunConfig(protocol="honest", seed=42, dataset="synthetic", subjects=["synth01"], label_names=["a"],
                  model_config={}, training={}, recipe={}).record_in(tmp_path)
        write_fold_record(tmp_path, {"subject": "synth01"})
        atomic_write_json(tmp_path / "results.json", {"complete": True})
    finally:
        os.umask(previous)
    for path in (tmp_path / "run_config.json", fold_path(tmp_path, "synth01"), tmp_path / "results.json"):
        assert stat.S_IMODE(path.stat().st_mode) == mode, path
    assert sorted(path.name for path in tmp_path.rglob("*")) == ["folds", "results.json", "run_config.json",
                                                                  "synth01.json"]


def test_oracle_epoch_protocol_picks_best_test_epoch_and_says_optimistic(assets, tmp_path, capsys):
    output_dir = tmp_path / "oracle"
    results = run_loso_module().main(synthetic_argv(assets, output_dir, "--protocol", "oracle-epoch",
                                                    "--folds", ",".join(SUBJECTS[:2]), epochs=6))
    assert "LOSO[oracle-epoch (optimistic)]" in capsys.readouterr().out
    assert results["protocol"] == "oracle-epoch" and results["protocol_note"].startswith("OPTIMISTIC")
    assert "optimistic" in json.loads((output_dir / "confusion_matrix.json").read_text())["title"]
    for record in fold_records(output_dir).values():
        accuracies = record["epoch_test_accuracy"]
        assert len(accuracies) == record["epochs_trained"] == 6
        best = max(accuracies)
        assert record["epoch"] == max(i + 1 for i, value in enumerate(accuracies) if value == best)
        chosen_accuracy = np.mean(np.asarray(record["predictions"]) == np.asarray(record["references"]))
        assert chosen_accuracy == pytest.approx(best)


def test_oracle_epoch_run_also_scores_its_last_epoch_as_the_honest_run_does(assets, tmp_path, capsys):
    # A learning rate at which synth02's best test epoch (5 of 6) is not its last, so the two numbers differ.
    shared = ("--folds", ",".join(SUBJECTS[:2]), "--learning_rate", "3e-3")
    oracle = run_loso_module().main(synthetic_argv(assets, tmp_path / "oracle", "--protocol", "oracle-epoch",
                                                   *shared, epochs=6))
    assert "same models, last epoch: UF1=" in capsys.readouterr().out
    honest = run_loso_module().main(synthetic_argv(assets, tmp_path / "honest", *shared, epochs=6))
    honest_records = fold_records(tmp_path / "honest")
    oracle_records = fold_records(tmp_path / "oracle")
    assert any(record["epoch"] < record["epochs_trained"] for record in oracle_records.values())
    for subject, record in oracle_records.items():
        assert record["last_epoch_predictions"] == honest_records[subject]["predictions"]
    last_epoch = oracle["metrics"]["last_epoch"]
    assert last_epoch["note"].startswith("the same models after their last epoch")
    assert last_epoch["overall"] == honest["metrics"]["overall"]
    assert last_epoch["per_corpus"] == honest["metrics"]["per_corpus"]
    assert "last_epoch" not in honest["metrics"]


def test_inner_val_protocol_chooses_epoch_from_training_subjects_only(assets, tmp_path):
    output_dir = tmp_path / "inner"
    held_out = SUBJECTS[0]
    trained_on = []
    real_train_fold = loso_module.train_fold

    def spy(config, train, *args, **kwargs):
        trained_on.append(set(train.subjects.tolist()))
        return real_train_fold(config, train, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loso_module, "train_fold", spy)
        results = run_loso_module().main(synthetic_argv(assets, output_dir, "--protocol", "inner-val",
                                                        "--inner_folds", "2", "--folds", held_out, epochs=5))
    assert results["protocol"] == "inner-val"
    record = fold_records(output_dir)[held_out]
    scores = record["inner_val_uf1"]
    assert len(scores) == 5 and record["epoch"] == int(np.argmax(scores)) + 1
    assert record["epochs_trained"] == record["epoch"]  # the outer model stops at the chosen epoch
    assert len(trained_on) == 3  # two inner folds, then the outer model
    assert all(held_out not in subjects for subjects in trained_on)
    inner_held_out = [set(SUBJECTS[1:]) - subjects for subjects in trained_on[:2]]
    assert set().union(*inner_held_out) == set(SUBJECTS[1:]) and not inner_held_out[0] & inner_held_out[1]


def _handmade_data(labels_by_subject: dict[str, list[int]], seed: int = 0) -> LOSOData:
    """Class-coded random pixel_values: class c lights up channel c."""
    rng = np.random.default_rng(seed)
    labels = [label for subject_labels in labels_by_subject.values() for label in subject_labels]
    pixels = rng.normal(0.0, 0.3, size=(len(labels), 3, 28, 28)).astype(np.float32)
    for index, label in enumerate(labels):
        pixels[index, label, 7:21, 7:21] += 1.0
    subjects = [subject for subject, subject_labels in labels_by_subject.items() for _ in subject_labels]
    return LOSOData(torch.from_numpy(pixels), torch.tensor(labels), np.asarray(subjects),
                    np.asarray(["casme2" if subject < "m" else "smic" for subject in subjects]),
                    [f"{subject}_{i}" for i, subject in enumerate(subjects)])


def _handmade_run_config(data: LOSOData, config: EPIRConfig, args, recipe: TrainingRecipe) -> RunConfig:
    return RunConfig(protocol="honest", seed=args.seed, dataset="handmade", subjects=loso_subjects(data.fold_groups),
                     label_names=["negative", "positive", "surprise"], model_config=config.to_dict(),
                     training=training_signature(args), recipe=recipe.to_dict(), fold_by=data.fold_by)


def test_leave_one_database_out_holds_out_each_corpus(tmp_path):
    data = dataclasses.replace(_handmade_data({"alpha": [0, 1, 2, 0], "beta": [1, 2, 0], "solo": [2, 0, 1, 1],
                                                "sigma": [0, 2]}), fold_by="dataset")
    config = EPIRConfig(**TINY_MODEL)
    args = LOSOTrainingArguments(output_dir=str(tmp_path), num_train_epochs=2, per_device_train_batch_size=4,
                                 disable_tqdm=True)
    recipe = TrainingRecipe()
    results = run_loso(data, config, args, recipe, _handmade_run_config(data, config, args, recipe), tmp_path)
    records = fold_records(tmp_path)
    assert sorted(records) == ["casme2", "smic"] and results["complete"]
    for corpus, record in records.items():
        held_out = data.corpora == corpus
        assert record["sample_ids"] == [sample for sample, held in zip(data.sample_ids, held_out) if held]
        assert record["train_samples"] == int((~held_out).sum())
        assert record["train_subjects"] == len(set(data.subjects[~held_out].tolist())) == 2
    assert set(results["metrics"]["per_corpus"]) == {"casme2", "smic"}
    assert results["metrics"]["overall"]["num_samples"] == len(data)


@pytest.mark.parametrize("model_type", ["ststnet", "offapexnet", "sssnet"])
def test_the_runner_trains_each_baseline_and_records_it(assets, tmp_path, model_type):
    folds = ("--folds", ",".join(SUBJECTS[:2]))
    argv = synthetic_argv(assets, tmp_path, "--model_type", model_type, *folds, epochs=2, config_overrides=None)
    results = run_loso_module().main(argv)
    assert results["config"]["model_type"] == model_type and results["folds_completed"] == 2
    assert "contrastive_weight" not in results["config"]
    # A run of another model is never pooled with it.
    with pytest.raises(ValueError, match="different settings.*model_config"):
        run_loso_module().main(synthetic_argv(assets, tmp_path, *folds, epochs=2))
    # A saved baseline config names its model; a contradicting --model_type is refused before any data is read.
    config_dir = tmp_path / "config"
    epir_hf.CONFIG_CLASSES[model_type]().save_pretrained(config_dir)
    with pytest.raises(ValueError, match=f"--model_type epir contradicts --config_name .* a '{model_type}' config"):
        run_loso_module().main(synthetic_argv(assets, tmp_path / "other", "--config_name", str(config_dir),
                                              "--model_type", "epir", config_overrides=None))


def test_leave_one_database_out_needs_two_corpora(assets, tmp_path):
    with pytest.raises(ValueError, match="--fold_by dataset needs at least 2 corpora"):
        run_loso_module().main(synthetic_argv(assets, tmp_path, "--fold_by", "dataset", epochs=1))


@pytest.mark.parametrize("balance", ["loss", "sampler", "none"])
def test_single_sample_and_single_class_subjects(tmp_path, balance):
    # "solo" holds the only "surprise" sample: its fold trains without that class at all.
    data = _handmade_data({"alpha": [0, 1, 0, 1, 0], "beta": [0, 0, 0], "gamma": [0, 1, 0, 1], "solo": [2]})
    config = EPIRConfig(**{**TINY_MODEL, "token_merge_schedule": [2, 0]})
    args = LOSOTrainingArguments(output_dir=str(tmp_path), num_train_epochs=2, per_device_train_batch_size=4,
                                 disable_tqdm=True)
    recipe = TrainingRecipe(balance=balance)
    results = run_loso(data, config, args, recipe, _handmade_run_config(data, config, args, recipe), tmp_path)
    per_fold = {fold["subject"]: fold for fold in results["metrics"]["per_fold"]}
    assert per_fold["solo"]["num_samples"] == 1 and per_fold["solo"]["accuracy"] in (0.0, 1.0)
    assert per_fold["beta"]["num_samples"] == 3
    for fold in per_fold.values():
        assert 0.0 <= fold["uf1"] <= 1.0 and 0.0 <= fold["uar"] <= 1.0
    assert set(results["metrics"]["per_corpus"]) == {"casme2", "smic"}
    assert results["metrics"]["overall"]["labels"] == [0, 1, 2]


def test_balanced_class_weights_match_sklearn_and_cover_absent_classes():
    from sklearn.utils.class_weight import compute_class_weight

    labels = torch.tensor([0, 0, 0, 0, 1, 1])
    weights = balanced_class_weights(labels, 3)
    assert weights[:2] == pytest.approx(compute_class_weight("balanced", classes=np.array([0, 1]), y=labels.numpy()))
    assert weights[2] == 1.0


def test_balanced_sampler_draws_classes_evenly(tmp_path):
    data = _handmade_data({"a": [0] * 80 + [1] * 15 + [2] * 5})
    args = LOSOTrainingArguments(output_dir=str(tmp_path), disable_tqdm=True)
    config = EPIRConfig(**TINY_MODEL)
    trainer = LOSOTrainer(model=build_model(config, 0), args=args, train_dataset=data.torch_dataset(),
                          recipe=TrainingRecipe(balance="sampler"))
    sampler = trainer._get_train_sampler()
    drawn = torch.cat([data.labels[list(sampler)] for _ in range(20)])  # 20 epochs of 100 draws
    shares = torch.bincount(drawn, minlength=3).double() / len(drawn)
    assert torch.allclose(shares, torch.full((3,), 1 / 3, dtype=torch.float64), atol=0.05), shares


def test_fold_selection_and_shards():
    subjects = ["s1", "s2", "s3", "s4", "s5"]
    assert select_folds(subjects) == subjects
    assert select_folds(subjects, "s4, s2") == ["s2", "s4"]
    shards = [select_folds(subjects, fold_shard=f"{i}/3") for i in range(3)]
    assert sorted(sum(shards, [])) == subjects and all(shards)
    assert select_folds(subjects, "s1,s2,s3", "1/2") == ["s2"]
    assert parse_fold_shard(" 0 / 1 ") == (0, 1)
    with pytest.raises(ValueError, match="nosuch"):
        select_folds(subjects, "s1,nosuch")
    with pytest.raises(ValueError, match="empty"):
        select_folds(subjects, " , ")
    for bad in ("2/2", "1/0", "a/b", "1"):
        with pytest.raises(ValueError, match="fold_shard"):
            parse_fold_shard(bad)
    with pytest.raises(ValueError, match="at least 2 subjects"):
        loso_subjects(["only"])
    names = {fold_filename(subject) for subject in ["a b", "a_b", "a/b", "sub01", ".hidden"]}
    assert len(names) == 5 and "sub01.json" in names and not any("/" in name for name in names)


def test_bad_folds_and_shard_arguments_are_clear_errors(assets, tmp_path):
    with pytest.raises(ValueError, match=r"--folds names subjects that are not in the dataset: \['nosuch'\]"):
        run_loso_module().main(synthetic_argv(assets, tmp_path / "a", "--folds", "nosuch"))
    with pytest.raises(ValueError, match="--fold_shard"):
        run_loso_module().main(synthetic_argv(assets, tmp_path / "b", "--fold_shard", "5/2"))


@pytest.mark.parametrize("argv,message", [
    (["--dataset_kwargs", "{not json"], "--dataset_kwargs must be a JSON object"),
    (["--config_overrides", "[1, 2]"], "--config_overrides"),
    (["--config_overrides", "{\"hidden_size\": "], "--config_overrides"),
    (["--label_smoothing_factor", "0.1"], "--label_smoothing"),
    (["--inner_folds", "1"], "--inner_folds"),
    (["--cpu_threads", "0"], "--cpu_threads"),
    (["--preprocessing_num_workers", "0"], "--preprocessing_num_workers"),
    (["--fold_workers", "0"], "--fold_workers"),
    (["--fold_workers", "many"], "--fold_workers"),
    (["--folds_per_device", "0"], "--folds_per_device"),
    (["--seeds", "1"], "--seeds needs at least 2"),
    (["--seeds", "1,1"], "--seeds needs at least 2"),
    (["--seeds", "1,x"], "--seeds must be"),
    (["--seeds", "1,2", "--train_full"], "--train_full trains one model"),
    (["--max_translate", "0.7"], "max_translate"),
])
def test_bad_arguments_are_clear_errors(argv, message):
    with pytest.raises(ValueError, match=message):
        parse_loso_arguments(argv)


def test_flow_pass_in_two_processes_gives_the_same_inputs(assets, tmp_path):
    """--preprocessing_num_workers reaches the flow pass (datasets.map num_proc), which then writes its cache in
    one shard per process; the inputs are those of the one-process pass."""
    from epir_hf.training.experiment import load_data

    inputs = {}
    for workers in ((), ("--preprocessing_num_workers", "2")):
        cache = tmp_path / f"cache{len(workers)}"
        argv = synthetic_argv(assets, tmp_path / "out", *workers)
        argv[argv.index("--dataset_kwargs") + 1] = json.dumps({**SYNTHETIC, "cache_dir": str(cache)})
        loso_args, _ = parse_loso_arguments(argv)
        data, _ = load_data(loso_args, EPIRImageProcessor.from_pretrained(assets / "processor"))
        inputs[len(workers)] = data
        shards = list(cache.rglob("*_of_00002.arrow"))
        assert bool(shards) == bool(workers), shards
    assert torch.equal(inputs[0].pixel_values, inputs[2].pixel_values)


def test_missing_data_dir_is_a_clear_error(tmp_path):
    missing = tmp_path / "no_such_corpus"
    with pytest.raises(FileNotFoundError, match="no_such_corpus"):
        run_loso_module().main(["--dataset", "megc2019_composite_flow", "--data_dir", str(missing),
                                "--output_dir", str(tmp_path / "out")])


def test_command_line_error_has_no_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, str(RUN_LOSO), "--dataset", "megc2019_composite_flow", "--data_dir",
         str(tmp_path / "missing"), "--output_dir", str(tmp_path / "out")],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert result.returncode != 0
    assert "run_loso.py: error:" in result.stderr and "missing" in result.stderr
    assert "Traceback" not in result.stderr


def test_train_full_saves_a_remote_code_model_and_pushes_it(assets, tmp_path, monkeypatch):
    from huggingface_hub import HfApi
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    uploads = []
    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kwargs:
                        uploads.append(("create", repo_id)) or SimpleNamespace(repo_id=repo_id))
    monkeypatch.setattr(HfApi, "upload_folder", lambda self, repo_id, folder_path, **kwargs:
                        uploads.append(("upload", repo_id, sorted(os.listdir(folder_path)))))
    final_dir = run_loso_module().main(synthetic_argv(assets, tmp_path, "--train_full", "--push_to_hub",
                                                      "--hub_model_id", "someone/epir-test", epochs=1))
    assert final_dir == tmp_path / "final"
    files = sorted(os.listdir(final_dir))
    for name in ("config.json", "model.safetensors", "preprocessor_config.json", "modeling_epir.py",
                 "configuration_epir.py", "image_processing_epir.py", "README.md"):
        assert name in files
    assert uploads == [("create", "someone/epir-test"), ("upload", "someone/epir-test", files)]
    model = AutoModelForImageClassification.from_pretrained(final_dir)
    assert model.config.id2label == {0: "negative", 1: "positive", 2: "surprise"}
    assert model.config.hidden_size == TINY_MODEL["hidden_size"]
    processor = AutoImageProcessor.from_pretrained(final_dir)
    assert processor.flow_method == "dis"
    assert processor.training_inputs.startswith("synthetic: onset-apex flows computed by this processor")
    assert not (tmp_path / "folds").exists()  # no LOSO was run


def test_train_full_into_an_output_dir_with_other_settings_is_refused(assets, tmp_path):
    final_dir = run_loso_module().main(synthetic_argv(assets, tmp_path, "--train_full", epochs=1))
    weights = (final_dir / "model.safetensors").read_bytes()
    with pytest.raises(ValueError, match=r"different settings .*training\.learning_rate: 0\.001 → 0\.01"):
        run_loso_module().main(synthetic_argv(assets, tmp_path, "--train_full", "--learning_rate", "0.01",
                                              epochs=1))
    assert (final_dir / "model.safetensors").read_bytes() == weights
    # The same settings train the same seeded model again and replace final/.
    assert run_loso_module().main(synthetic_argv(assets, tmp_path, "--train_full", epochs=1)) == final_dir
    # A final/ from before settings were recorded cannot be compared, so it is not overwritten either.
    legacy = tmp_path / "legacy"
    shutil.copytree(final_dir, legacy / "final")
    with pytest.raises(ValueError, match="settings were not recorded"):
        run_loso_module().main(synthetic_argv(assets, legacy, "--train_full", epochs=1))


def test_push_to_hub_without_model_id_is_refused(assets, tmp_path):
    with pytest.raises(ValueError, match="--hub_model_id"):
        run_loso_module().main(synthetic_argv(assets, tmp_path, "--train_full", "--push_to_hub", epochs=1))


def test_loso_arguments_defaults_are_the_honest_recipe():
    loso_args, training_args = parse_loso_arguments([])
    assert isinstance(loso_args, LOSOArguments)
    assert loso_args.dataset == "synthetic" and loso_args.protocol == "honest"
    assert training_args.lr_scheduler_type == "cosine" and training_args.warmup_steps > 0
    assert training_args.num_train_epochs == 60  # the screened default the README and model card document
    assert training_args.save_strategy == "no" and training_args.dataloader_num_workers == 0
    assert training_args.optim.startswith("adamw")
    recipe = loso_args.recipe()
    assert recipe.balance == "loss" and recipe.augmentation is not None
    assert recipe.test_time_mirror == FlowMirror() == recipe.augmentation.mirror
    assert parse_loso_arguments(["--test_time_flip", "false"])[0].recipe().test_time_mirror is None


def test_results_record_versions_when_run_from_a_source_checkout(monkeypatch):
    """Run from a checkout on PYTHONPATH (no installed metadata), a finished run must still write its results."""
    import importlib.metadata

    from epir_hf.training.results import environment_versions

    installed_version = importlib.metadata.version

    def not_installed(name):
        if name == "epir-hf":
            raise importlib.metadata.PackageNotFoundError(name)
        return installed_version(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    versions = environment_versions()
    assert versions["epir_hf"] == "source checkout (not installed)"
    assert versions["torch"] and versions["device"]
    assert isinstance(versions["cpu_capability"], str) and versions["cpu_capability"]


def test_results_count_the_cpu_instruction_sets_of_the_folds():
    """Folds trained on several CPUs (a resumed or merged run) are told apart; folds of older versions say so."""
    from epir_hf.training import RunConfig, compute_results

    config = RunConfig(protocol="honest", seed=1, dataset="synthetic", label_names=["a", "b"],
                       subjects=["s1", "s2", "s3"], model_config={}, training={}, recipe={})
    fold = {"sample_ids": ["x"], "datasets": ["synthetic"], "references": [0], "predictions": [0], "epoch": 1,
            "time_s": 1.0}
    records = [{**fold, "subject": "s1", "cpu_capability": "AVX2"}, {**fold, "subject": "s2",
               "cpu_capability": "AVX512"}, {**fold, "subject": "s3"}]
    counted = compute_results(records, config)["fold_cpu_capability"]
    assert counted == {"AVX2": 1, "AVX512": 1, "not recorded": 1}


@pytest.mark.real_data
def test_composite_flow_release_runs_one_fold_per_corpus(tmp_path, composite_dir):
    labels = (composite_dir / "labels.csv").read_text().splitlines()[1:]
    first_subject = {}
    for line in labels:
        corpus, subject = line.split(",")[:2]
        first_subject.setdefault(corpus, subject)
    results = run_loso_module().main([
        "--dataset", "megc2019_composite_flow", "--data_dir", str(composite_dir), "--output_dir", str(tmp_path),
        "--folds", ",".join(first_subject.values()), "--num_train_epochs", "1",
        "--config_overrides", json.dumps(TINY_MODEL), "--disable_tqdm", "true"])
    assert set(results["metrics"]["per_corpus"]) == set(first_subject) == {"casme2", "samm", "smic"}
    assert results["folds_total"] == 68 and results["folds_completed"] == 3 and not results["complete"]


@pytest.mark.real_data
def test_a_model_trained_on_the_flow_release_works_on_its_face_crops(tmp_path, composite_dir):
    """The release's flows come from face crops: the saved processor says so, and takes such crops as they are."""
    import cv2
    from transformers import pipeline

    final_dir = run_loso_module().main([
        "--dataset", "megc2019_composite_flow", "--data_dir", str(composite_dir), "--output_dir", str(tmp_path),
        "--train_full", "--num_train_epochs", "1", "--config_overrides", json.dumps(TINY_MODEL),
        "--disable_tqdm", "true"])
    pipe = pipeline("micro-expression-recognition", model=str(final_dir), trust_remote_code=True)
    assert "precomputed onset-apex flow images of the corpus' own face crops" in pipe.image_processor.training_inputs
    assert pipe.image_processor.do_face_crop  # the default: faces are located, and crops recognised
    apex = cv2.imread(str(composite_dir / "apex" / sorted(os.listdir(composite_dir / "apex"))[0]), cv2.IMREAD_GRAYSCALE)
    ys, xs = np.mgrid[0:apex.shape[0], 0:apex.shape[1]].astype(np.float32)
    raised = cv2.remap(apex, xs, ys + 1.5 * np.exp(-((ys - 60) ** 2 + (xs - 112) ** 2) / 800), cv2.INTER_CUBIC,
                       borderMode=cv2.BORDER_REFLECT)  # a brow raise of 1.5 px, as a micro-expression
    result = pipe({"onset": apex, "apex": raised})
    assert result["face_region"] == "already_cropped" and result["face_box"] == [0, 0, *apex.shape[::-1]]
    assert len(result["predictions"]) == 3 and result["motion"] > 0.0
    # a motion of micro-expression size lies near E32's min_motion: the pipeline reports the processor's decision
    assert result["reliable_motion"] is (result["motion"] >= pipe.image_processor.min_motion)

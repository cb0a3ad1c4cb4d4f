"""Bad input to training, the LOSO runner, the composite flow release, the recognition pipeline's frame indices and
the training-cost benchmark: each is one row of a table below, and each gets a one-line error naming the input and
what was expected (docs/errors.md lists the classes).

A new case is one more row: the argument list (or JSON argument file), the table's input, and the message expected.
"""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pytest
import torch
from _loso_testing import REPO_ROOT, load_script, run_loso_module, synthetic_argv, synthetic_assets
from _me_fixtures import flow_release_tree

from dataset_scripts import load_me_dataset
from epir_hf import EPIRConfig, EPIRForImageClassification, EPIRImageProcessor
from epir_hf.ststnet import STSTNetConfig
from epir_hf.training import loso as loso_module
from epir_hf.training import parse_loso_arguments
from epir_hf.training.results import write_fold_record
from epir_hf.training.run_config import RUN_CONFIG_FILENAME, RunConfig

# ----------------------------------------------------------------------------- run_loso.py arguments
# (arguments, message): a list is a command line, a dict the content of a single .json argument file.
ARGUMENT_ROWS = [
    (["--seed", "3", "--seeds", "1,2"], r"--seed 3 and --seeds 1,2 were both given: --seeds runs one run per seed"),
    (["--seeds", "1,2", "--seed=42"], r"--seed 42 and --seeds 1,2 were both given"),
    ({"seed": 3, "seeds": "1,2"}, r"--seed 3 and --seeds 1,2 were both given"),
    (["--learning_rate", "-1"], r"--learning_rate must be a finite number > 0; got -1\.0\."),
    (["--learning_rate", "0"], r"--learning_rate must be a finite number > 0; got 0\.0\."),
    (["--learning_rate", "nan"], r"--learning_rate must be a finite number > 0; got nan\."),
    (["--per_device_train_batch_size", "0"], r"--per_device_train_batch_size must be an integer >= 1; got 0\."),
    (["--per_device_eval_batch_size", "-4"], r"--per_device_eval_batch_size must be an integer >= 1; got -4\."),
    (["--gradient_accumulation_steps", "0"], r"--gradient_accumulation_steps must be an integer >= 1; got 0\."),
    (["--num_train_epochs", "inf"], r"--num_train_epochs must be a finite number; got inf\."),
    (["--weight_decay", "-0.05"], r"--weight_decay must be a finite number >= 0; got -0\.05\."),
    (["--adam_beta1", "1"], r"--adam_beta1 must be in \[0, 1\); got 1\.0\."),
    (["--adam_beta2", "-0.5"], r"--adam_beta2 must be in \[0, 1\); got -0\.5\."),
    (["--adam_epsilon", "0"], r"--adam_epsilon must be a finite number > 0; got 0\.0\."),
    (["--max_grad_norm", "-1"], r"--max_grad_norm must be a finite number >= 0 \(0: no clipping\); got -1\.0\."),
    (["--seed", "-1"], r"--seed must be an integer in \[0, 4294967295\]; got -1\."),
    (["--data_seed", "4294967296"], r"--data_seed must be an integer in \[0, 4294967295\] \(or unset\)"),
    (["--dataloader_num_workers", "-1"], r"--dataloader_num_workers must be an integer >= 0; got -1\."),
    (["--members", "epir,ststnet"], r"--members names the members of --model_type me-ensemble; got --model_type "
                                    r"epir \(the default\)\."),
    (["--model_type", "me-ensemble"], r"--model_type me-ensemble needs its members: --members \(e\.g\. "
                                      r"epir,ststnet,offapexnet,sssnet\) or --config_name"),
    (["--model_type", "me-ensemble", "--members", "epir,vit"], r"--members must be different model types among "
                                                               r"epir, ststnet, offapexnet, sssnet.*got 'epir,vit'"),
    (["--model_type", "me-ensemble", "--members", "epir,epir"], r"--members must be different model types"),
    (["--model_type", "me-ensemble", "--members", "epir,me-ensemble"], r"--members must be different model types"),
    (["--model_type", "me-ensemble", "--members", "epir,sssnet", "--protocol", "oracle-epoch"],
     r"--protocol cannot be given with --model_type me-ensemble, which trains the honest protocol only"),
    (["--model_type", "me-ensemble", "--members", "epir,sssnet", "--config_overrides", "dropout=0.1"],
     r"--config_overrides cannot be given with --model_type me-ensemble, which trains members at their default "
     r"configs"),
    (["--model_type", "me-ensemble", "--members", "epir,sssnet", "--label_smoothing", "0.1"],
     r"--label_smoothing cannot be given with --model_type me-ensemble"),
    (["--folds_per_task", "4"], r"--folds_per_task is a setting of --executor slurm; got --executor local"),
    (["--slurm_partition", "gpu"], r"--slurm_partition is a setting of --executor slurm; got --executor local"),
    (["--no_wait"], r"--no_wait is a setting of --executor slurm"),
    (["--executor", "slurm", "--folds_per_task", "0"], r"--folds_per_task must be >= 1; got 0\."),
    (["--executor", "slurm", "--slurm_time", "0"], r"--slurm_time must be >= 1; got 0\."),
    (["--executor", "slurm", "--slurm_array_parallelism", "-2"], r"--slurm_array_parallelism must be >= 1; got -2\."),
    (["--executor", "slurm", "--slurm_cpus_per_task", "0"], r"--slurm_cpus_per_task must be >= 1; got 0\."),
    (["--executor", "slurm", "--slurm_gpus_per_task", "-1"], r"--slurm_gpus_per_task must be >= 0; got -1\."),
    (["--executor", "slurm", "--slurm_additional_parameters", "[1]"],
     r"--slurm_additional_parameters must be a JSON object; got '\[1\]'"),
    (["--executor", "slurm", "--slurm_additional_parameters", "account=lab"],
     r"--slurm_additional_parameters must be a JSON object; got 'account=lab'"),
    (["--executor", "slurm", "--submitit_cluster", "debug", "--no_wait"],
     r"--no_wait cannot be given with --submitit_cluster debug"),
    (["--executor", "slurm", "--train_full"], r"--executor slurm runs LOSO folds as array tasks; --train_full"),
]


@pytest.mark.parametrize("arguments, message", ARGUMENT_ROWS)
def test_bad_training_arguments_fail_when_parsed(tmp_path, arguments, message):
    if isinstance(arguments, dict):
        path = tmp_path / "arguments.json"
        path.write_text(json.dumps({"output_dir": str(tmp_path / "out"), **arguments}))
        arguments = [str(path)]
    with pytest.raises(ValueError, match=message):
        parse_loso_arguments(arguments)


def test_seeds_alone_and_seed_alone_are_accepted():
    loso_args, training_args = parse_loso_arguments(["--seeds", "1,2"])
    assert loso_args.seed_list() == [1, 2]
    assert parse_loso_arguments(["--seed", "7"])[1].seed == 7


# ----------------------------------------------------------------------------- output folders
# (command line with {tmp} for the test's folder, error, message): the command fails on its inputs, and must leave
# no folder behind (the docs' /data/... example on a machine without that folder).
OUTPUT_DIR_ROWS = [
    ("--dataset megc2019_composite_flow --data_dir {tmp}/data/megc2019_composite --output_dir {tmp}/runs/composite "
     "--seeds 1,2,3", FileNotFoundError, r"--data_dir '.*/data/megc2019_composite' does not exist"),
    ("--dataset megc2019_composite_flow --data_dir {tmp}/data/megc2019_composite --output_dir {tmp}/runs/full "
     "--train_full", FileNotFoundError, r"--data_dir '.*/data/megc2019_composite' does not exist"),
    ("merge {tmp}/runs_a {tmp}/runs_b --output_dir {tmp}/runs/merged", FileNotFoundError,
     r"runs_a is not a LOSO output dir"),
    ("ensemble {tmp}/runs_a {tmp}/runs_b --output_dir {tmp}/runs/ensemble", FileNotFoundError,
     r"runs_a is not a folder: pass the output dir of a finished run_loso.py run"),
]


@pytest.mark.parametrize("command, error, message", OUTPUT_DIR_ROWS)
def test_a_command_that_fails_on_its_inputs_leaves_no_output_folder(tmp_path, command, error, message):
    with pytest.raises(error, match=message):
        run_loso_module().main(command.format(tmp=tmp_path).split())
    assert not (tmp_path / "runs").exists()


# ----------------------------------------------------------------------------- the composite flow release
# (the labels.csv dataset column, loader options, message)
CORPUS_ROWS = [
    (["casme2", "casme", "smic"], {}, r"labels\.csv line 3: unknown corpus 'casme' .*\(did you mean 'casme2'\?\)"),
    (["casme2", "SAMM", "smic"], {}, r"labels\.csv line 3: unknown corpus 'SAMM' .*\(did you mean 'samm'\?\)"),
    (["casme2", "samm", ""], {}, r"labels\.csv line 4: unknown corpus '' in the dataset column"),
    (["casme2", "samm", "casme3"], {}, r"line 4: unknown corpus 'casme3' .*declared with extra_corpora=\['name'\]"),
    (["casme2", "samm", "casme3"], {"extra_corpora": ["casme4"]}, r"line 4: unknown corpus 'casme3'"),
    (["casme2", "samm", "casme3"], {"extra_corpora": "casme3"}, r"extra_corpora must be a list of corpus names"),
]


@pytest.mark.parametrize("corpora, options, message", CORPUS_ROWS)
def test_unknown_corpus_names_in_the_flow_release(tmp_path, corpora, options, message):
    rows = [("casme2", "sub01", "EP02_01f", 1), ("samm", "006", "006_1_2", 0), ("smic", "s01", "s01_sur_01", 2)]
    root = flow_release_tree(tmp_path / "release", [(name, *row[1:]) for name, row in zip(corpora, rows)])
    with pytest.raises(ValueError, match=message):
        load_me_dataset("megc2019_composite_flow", root, cache_dir=tmp_path / "cache", **options)


def test_a_declared_corpus_is_accepted_and_keys_the_cache(tmp_path):
    rows = [("casme2", "sub01", "EP02_01f", 1), ("casme3", "spNO.1", "a_10", 0)]
    root = flow_release_tree(tmp_path / "release", rows)
    dataset = load_me_dataset("megc2019_composite_flow", root, cache_dir=tmp_path / "cache",
                              extra_corpora=["casme3"])
    assert sorted(dataset["dataset"]) == ["casme2", "casme3"]
    # The copy built with the declaration is not returned from the cache without it.
    with pytest.raises(ValueError, match="unknown corpus 'casme3'"):
        load_me_dataset("megc2019_composite_flow", root, cache_dir=tmp_path / "cache")


# ----------------------------------------------------------------------------- onset and apex frame indices
# (pipeline options on a 9-frame video, message)
FRAME_INDEX_ROWS = [
    ({"onset_index": 5, "apex_index": 2}, r"input: apex_index 2 comes before onset_index 5"),
    ({"onset_index": 8, "apex_index": 0}, r"input: apex_index 0 comes before onset_index 8"),
]


@pytest.fixture(scope="module")
def recognition_pipeline():
    from test_pipeline import tiny_model

    from epir_hf.pipeline_epir import MicroExpressionRecognitionPipeline

    return MicroExpressionRecognitionPipeline(model=tiny_model(), image_processor=EPIRImageProcessor(flow_method="dis"))


@pytest.mark.parametrize("options, message", FRAME_INDEX_ROWS)
def test_apex_before_onset_is_refused(recognition_pipeline, options, message):
    from test_pipeline import clip

    with pytest.raises(ValueError, match=message):
        recognition_pipeline(clip(), **options)


# ----------------------------------------------------------------------------- class weights and labels
# (config class, arguments, message)
CLASS_WEIGHT_ROWS = [
    (EPIRConfig, {"num_labels": 5, "class_weights": [1.0, 2.0, 3.0]},
     r"EPIRConfig\.class_weights must be None or 5 positive numbers.*from_pretrained\(path, num_labels=N, "
     r"ignore_mismatched_sizes=True\)"),
    (EPIRConfig, {"class_weights": [1.0, -1.0, 1.0]}, r"EPIRConfig\.class_weights must be None or 3 positive numbers"),
    (EPIRConfig, {"class_weights": "balanced"}, r"EPIRConfig\.class_weights must be of type list\[float\] \| None"),
    (EPIRConfig, {"class_weights": [1.0, float("nan"), 1.0]}, r"EPIRConfig\.class_weights must be None or 3"),
    (STSTNetConfig, {"num_labels": 5, "class_weights": [1.0, 2.0, 3.0]},
     r"STSTNetConfig\.class_weights must be None or 5 positive numbers.*ignore_mismatched_sizes=True"),
]


@pytest.mark.parametrize("config_class, arguments, message", CLASS_WEIGHT_ROWS)
def test_class_weights_must_match_the_labels(config_class, arguments, message):
    with pytest.raises(ValueError, match=message):
        config_class(**arguments)


def test_labels_replaced_after_the_config_was_built_are_caught_by_the_loss():
    config = EPIRConfig(hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64,
                        projection_dim=16, class_weights=[1.0, 2.0, 3.0])
    config.id2label = {index: f"class{index}" for index in range(5)}  # what from_pretrained(id2label=...) does
    model = EPIRForImageClassification(config)
    with pytest.raises(ValueError, match=r"config\.class_weights has 3 weights but the model has 5 labels\. "
                                         r"class_weights gives one positive weight per label"):
        model(pixel_values=torch.zeros(2, 3, 28, 28), labels=torch.tensor([0, 4]))


# ----------------------------------------------------------------------------- benchmarks/bench_training_cost.py
# (what --run_dir holds, error, message)
RUN_DIR_ROWS = [
    ("nothing", FileNotFoundError, r"--run_dir '.*/run' is not a folder \(expected a LOSO output dir\)"),
    ("an empty folder", FileNotFoundError, r"--run_dir '.*/run' holds no finished folds"),
    ("a fold record without steps", ValueError, r"the fold record of 'sub01' lacks a numeric global_step or time_s"),
]


def make_run_dir(path: Path, holds: str) -> Path:
    if holds != "nothing":
        path.mkdir()
    if holds == "a fold record without steps":
        write_fold_record(path, {"subject": "sub01", "time_s": 3.0})
    return path


@pytest.mark.parametrize("holds, error, message", RUN_DIR_ROWS)
def test_bench_training_cost_checks_the_run_dir_before_timing(tmp_path, monkeypatch, holds, error, message):
    bench = load_script("benchmarks/bench_training_cost.py")

    def no_timing(*args, **kwargs):
        raise AssertionError("the step was timed before --run_dir was checked")

    monkeypatch.setattr(bench, "median_seconds", no_timing)
    with pytest.raises(error, match=message):
        bench.main(["--run_dir", str(make_run_dir(tmp_path / "run", holds))])


def test_bench_training_cost_command_line_error_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["bench_training_cost.py", "--run_dir", str(make_run_dir(tmp_path / "run",
                                                                                              "an empty folder"))])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(REPO_ROOT / "benchmarks" / "bench_training_cost.py"), run_name="__main__")
    assert str(exit_info.value).startswith("bench_training_cost.py: error: --run_dir ")
    assert "holds no finished folds" in str(exit_info.value) and "\n" not in str(exit_info.value)


# ----------------------------------------------------------------------------- a run that wrote no fold

SETTINGS = dict(protocol="honest", seed=1, dataset="synthetic", subjects=["a", "b"], label_names=["x", "y"],
                model_config={}, training={"learning_rate": -1.0}, recipe={})


def test_a_record_without_folds_is_replaced_and_one_with_folds_is_kept(tmp_path):
    RunConfig(**SETTINGS).record_in(tmp_path)
    corrected = RunConfig(**{**SETTINGS, "training": {"learning_rate": 3e-4}})
    corrected.record_in(tmp_path)  # nothing was written under the first record: replaced
    assert RunConfig.from_output_dir(tmp_path) == corrected
    write_fold_record(tmp_path, {"subject": "a"})
    with pytest.raises(ValueError, match=r"already holds a run with different settings \(on disk → now: "
                                         r"training\.learning_rate: 0\.0003 → -1\.0\)"):
        RunConfig(**SETTINGS).record_in(tmp_path)


def test_a_fold_is_not_written_under_a_record_another_command_replaced(tmp_path):
    first = RunConfig(**SETTINGS)
    first.record_in(tmp_path)
    RunConfig(**{**SETTINGS, "seed": 2}).record_in(tmp_path)  # a second command into the same folder
    with pytest.raises(ValueError, match="already holds a run with different settings"):
        first.check_recorded(tmp_path)


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    return synthetic_assets(tmp_path_factory)


def test_a_run_that_wrote_no_fold_does_not_block_its_corrected_rerun(assets, tmp_path, monkeypatch):
    output_dir = tmp_path / "out"
    one_fold = ["--folds", "synth01", "--num_train_epochs", "1"]

    def fails(*args, **kwargs):
        raise RuntimeError("the fold failed")

    with monkeypatch.context() as patch:
        patch.setattr(loso_module, "run_fold", fails)
        with pytest.raises(RuntimeError, match="the fold failed"):
            run_loso_module().main(synthetic_argv(assets, output_dir, *one_fold, "--learning_rate", "5e-3"))
    assert (output_dir / RUN_CONFIG_FILENAME).is_file() and not (output_dir / "folds").exists()
    results = run_loso_module().main(synthetic_argv(assets, output_dir, *one_fold, "--learning_rate", "1e-3"))
    assert results["folds_completed"] == 1
    assert RunConfig.from_output_dir(output_dir).training["learning_rate"] == 1e-3

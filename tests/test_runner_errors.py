"""LOSO runner: bad arguments and paths fail at once, before the flows are computed, with one line naming them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from _loso_testing import REPO_ROOT, RUN_LOSO, run_loso_module, synthetic_argv, synthetic_assets

import dataset_scripts
from epir_hf.training import parse_loso_arguments


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    return synthetic_assets(tmp_path_factory)


@pytest.fixture
def no_flow_pass(monkeypatch):
    """Fails the test if the runner gets as far as computing flows (the slow step every check must precede)."""
    def refuse(*args, **kwargs):
        raise AssertionError("the flows were computed before the bad argument was reported")

    monkeypatch.setattr(dataset_scripts, "prepare_model_inputs", refuse)


@pytest.mark.parametrize("argv", [
    ["--num_train_epochs", "0"],
    ["--num_train_epochs", "-1"],
    ["--num_train_epochs", "0", "--max_steps", "0"],
])
def test_no_training_at_all_is_refused(argv):
    with pytest.raises(ValueError, match=r"--num_train_epochs must be > 0 \(or --max_steps > 0\)"):
        parse_loso_arguments(argv)


def test_max_steps_trains_whatever_the_epochs():
    # As in Trainer, max_steps > 0 overrides the epochs, so the folds are trained.
    _, training_args = parse_loso_arguments(["--num_train_epochs", "0", "--max_steps", "3"])
    assert training_args.max_steps == 3


@pytest.mark.parametrize("overrides", ['{"hiden_size": 96}', "hiden_size=96", "use_dtsm=false,hiden_size=96"])
def test_unknown_config_override_keys_are_named_in_both_forms(overrides):
    with pytest.raises(ValueError, match=r"--config_overrides: 'hiden_size' is not a field of EPIRConfig\. "
                                         r"Did you mean 'hidden_size'\?"):
        parse_loso_arguments(["--config_overrides", overrides])


def test_fold_shard_is_checked_when_parsed():
    with pytest.raises(ValueError, match="--fold_shard '5/2'"):
        parse_loso_arguments(["--fold_shard", "5/2"])


def test_unknown_fold_is_reported_before_the_flows(assets, tmp_path, no_flow_pass):
    with pytest.raises(ValueError, match=r"--folds names subjects that are not in the dataset: \['nosuch'\]"):
        run_loso_module().main(synthetic_argv(assets, tmp_path / "out", "--folds", "synth01,nosuch"))


def with_flag(argv: list[str], flag: str, value: str) -> list[str]:
    """`argv` with `flag` set to `value`: replaced where present, appended otherwise."""
    if flag not in argv:
        return [*argv, flag, value]
    position = argv.index(flag) + 1
    return [*argv[:position], value, *argv[position + 1:]]


@pytest.mark.parametrize("flag", ["--processor_name_or_path", "--config_name"])
@pytest.mark.parametrize("path", ["/no/such/folder", "runs/no_such_folder"])
def test_missing_pretrained_folder_names_the_flag(assets, tmp_path, monkeypatch, no_flow_pass, flag, path):
    # An absolute path is not a valid Hub id; a relative one is, and fails offline (the tests have no network).
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=f"^{flag} '{path}' (does not exist|is not a folder here)"):
        run_loso_module().main(with_flag(synthetic_argv(assets, tmp_path / "out"), flag, path))


def test_output_dir_that_is_a_file_is_reported_first(assets, tmp_path, no_flow_pass):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(NotADirectoryError, match=f"--output_dir '{blocker}' is a file, not a folder"):
        run_loso_module().main(synthetic_argv(assets, blocker))
    with pytest.raises(OSError, match=f"--output_dir '{blocker / 'run'}' cannot be created"):
        run_loso_module().main(synthetic_argv(assets, blocker / "run"))


def test_read_only_output_dir_is_reported_first(assets, tmp_path, monkeypatch, no_flow_pass):
    read_only = tmp_path / "read_only"
    read_only.mkdir()
    read_only.chmod(0o555)
    if os.access(read_only, os.W_OK):  # root writes anywhere: give it the answer every other user gets
        real_access = os.access

        def access(path, mode, **kwargs):
            if Path(path) == read_only and mode & os.W_OK:
                return False
            return real_access(path, mode, **kwargs)

        monkeypatch.setattr(os, "access", access)
    with pytest.raises(PermissionError, match=f"--output_dir '{read_only}' is not writable"):
        run_loso_module().main(synthetic_argv(assets, read_only))


def test_command_line_prints_path_errors_as_one_line(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    result = subprocess.run([sys.executable, str(RUN_LOSO), "--output_dir", str(blocker)],
                            capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"run_loso.py: error: --output_dir '{blocker}' is a file, " \
                                                     "not a folder."


def test_merge_into_a_file_is_a_clear_error(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(NotADirectoryError, match="--output_dir"):
        run_loso_module().main(["merge", str(tmp_path), "--output_dir", str(blocker)])


def test_model_flags_that_do_not_fit_the_model_are_named(tmp_path):
    with pytest.raises(ValueError, match="--contrastive_weight sets contrastive_weight, which STSTNetConfig does not"):
        parse_loso_arguments(["--model_type", "ststnet", "--contrastive_weight", "0.3"])
    from transformers import ViTConfig

    ViTConfig().save_pretrained(tmp_path / "vit")
    with pytest.raises(ValueError, match=r"--config_name .* is a 'vit' config; expected one of epir, ststnet"):
        run_loso_module().main(["--config_name", str(tmp_path / "vit"), "--output_dir", str(tmp_path / "out")])


def test_pretrain_names_malformed_json_arguments(tmp_path):
    from _loso_testing import load_script

    with pytest.raises(ValueError, match=r"^--config_overrides must be a JSON object; got '\{bad'"):
        load_script("examples/pretrain.py").main(["--output_dir", str(tmp_path), "--config_overrides", "{bad"])

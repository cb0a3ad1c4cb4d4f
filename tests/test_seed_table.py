"""epir_hf.training.seed_table (`epir-seed-table`): mean ± std over seeds, and refusal to average runs that are not
one row."""

from __future__ import annotations

import copy
import json
import subprocess
import sysconfig
from pathlib import Path

import numpy as np
import pytest

from epir_hf.training import seed_table


def results(seed: int, uf1: float, casme2_uf1: float) -> dict:
    def scores(value):
        return {"uf1": value, "uar": value + 0.01, "accuracy": value + 0.02}

    return {"seed": seed, "protocol": "honest", "dataset": "megc2019_composite_flow", "complete": True,
            "folds_completed": 68, "folds_total": 68, "config": {"hidden_size": 192},
            "training": {"seed": seed, "data_seed": None, "learning_rate": 3e-4}, "recipe": {"balance": "loss"},
            "metrics": {"overall": scores(uf1), "per_corpus": {"casme2": scores(casme2_uf1)}}}


def test_mean_and_sample_std_over_seeds(tmp_path, capsys):
    paths = []
    for seed, uf1, casme2 in [(1, 0.60, 0.70), (2, 0.70, 0.80), (3, 0.65, 0.90)]:
        run = tmp_path / f"s{seed}"
        run.mkdir()
        (run / "results.json").write_text(json.dumps(results(seed, uf1, casme2)))
        paths.append(str(run))
    table = seed_table.main(paths)
    assert table["seeds"] == [1, 2, 3]
    assert table["overall"]["uf1"] == pytest.approx({"mean": 0.65, "std": np.std([0.60, 0.70, 0.65], ddof=1)})
    assert table["per_corpus"]["casme2"]["uar"] == pytest.approx({"mean": 0.81, "std": 0.1})
    assert "uf1 0.6500 ± 0.0500" in capsys.readouterr().out


@pytest.mark.parametrize("change, message", [
    (lambda run: run.update(complete=False, folds_completed=60), "incomplete"),
    (lambda run: run["training"].update(learning_rate=1e-3), "other settings"),
    (lambda run: run.update(protocol="oracle-epoch"), "other settings"),
    (lambda run: run.update(seed=1), "Seeds repeat"),
])
def test_runs_that_are_not_one_row_are_refused(change, message):
    second = copy.deepcopy(results(2, 0.7, 0.8))
    change(second)
    with pytest.raises(ValueError, match=message):
        seed_table.seed_table([results(1, 0.6, 0.7), second])


def test_one_run_or_a_missing_dir_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="at least 2 runs"):
        seed_table.seed_table([results(1, 0.6, 0.7)])
    with pytest.raises(FileNotFoundError, match="No results.json"):
        seed_table.load_results(tmp_path)


def write_run(directory, seed: int, fold_logits: dict[str, list[list[float]]]) -> str:
    """A finished run dir: run_config.json plus one fold record per subject (references: class 0, then 1, ...)."""
    from epir_hf.training import RunConfig
    from epir_hf.training.results import write_fold_record

    RunConfig(protocol="honest", seed=seed, dataset="synthetic", label_names=["a", "b", "c"],
              subjects=sorted(fold_logits), model_config={}, training={"seed": seed}, recipe={}).record_in(directory)
    for subject, logits in fold_logits.items():
        write_fold_record(directory, {
            "subject": subject, "sample_ids": [f"{subject}_{i}" for i in range(len(logits))],
            "datasets": ["synthetic"] * len(logits), "references": list(range(len(logits))), "logits": logits,
            "predictions": np.argmax(logits, axis=1).tolist(), "epoch": 2, "time_s": 1.5})
    return str(directory)


def test_command_line_errors_are_one_line_naming_the_input(tmp_path):
    absent = tmp_path / "absent"
    command = Path(sysconfig.get_path("scripts")) / "epir-seed-table"  # installed with the package
    finished = subprocess.run([str(command), str(absent), str(absent)], capture_output=True, text=True)
    assert finished.returncode == 1
    assert finished.stderr.startswith("epir-seed-table: error: No results.json") and str(absent) in finished.stderr
    assert "Traceback" not in finished.stderr


def test_ensemble_averages_class_probabilities_over_seeds(tmp_path):
    first = {"s1": [[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]], "s2": [[0.0, 0.0, 1.0]]}
    second = {"s1": [[0.0, 2.5, 0.0], [0.0, 3.0, 0.0]], "s2": [[0.0, 0.0, 2.0]]}
    runs = [write_run(tmp_path / "r1", 1, first), write_run(tmp_path / "r2", 2, second)]
    ensemble = seed_table.seed_ensemble(runs)

    def softmax(logits):
        exp = np.exp(np.asarray(logits))
        return exp / exp.sum(axis=1, keepdims=True)

    expected = np.concatenate([((softmax(first[subject]) + softmax(second[subject])) / 2).argmax(1)
                               for subject in sorted(first)])
    # Sample s1_0 is class 0 for the first run and class 1 for the second; the averaged probabilities pick 1.
    assert expected.tolist() == [1, 1, 2]
    references = [0, 1, 0]
    assert ensemble["seed"] == [1, 2]
    assert ensemble["confusion_matrix"] == [[int(np.sum((np.array(references) == true) & (expected == predicted)))
                                             for predicted in range(3)] for true in range(3)]
    assert [fold["uf1"] for fold in ensemble["metrics"]["per_fold"]] == pytest.approx([1 / 3, 0.0])
    assert ensemble["time_s"]["sum_over_folds"] == pytest.approx(6.0)


def test_ensemble_refuses_runs_over_other_folds_or_samples(tmp_path):
    fold = {"s1": [[1.0, 0.0, 0.0]]}
    base = write_run(tmp_path / "r1", 1, fold)
    with pytest.raises(ValueError, match="other folds"):
        seed_table.seed_ensemble([base, write_run(tmp_path / "r2", 2, {**fold, "s2": [[0.0, 1.0, 0.0]]})])
    with pytest.raises(ValueError, match="other samples"):
        seed_table.seed_ensemble([base, write_run(tmp_path / "r3", 2, {"s1": [[1.0, 0.0, 0.0]] * 2})])


def test_main_prints_the_ensemble_row_from_results_files(tmp_path, capsys):
    from epir_hf.training import RunConfig
    from epir_hf.training.files import atomic_write_json
    from epir_hf.training.results import compute_results, read_fold_records

    paths = []
    for seed, logits in [(1, [[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), (2, [[0.0, 2.5, 0.0], [0.0, 3.0, 0.0]])]:
        run = write_run(tmp_path / f"r{seed}", seed, {"s1": logits})
        results = compute_results(read_fold_records(run), RunConfig.from_output_dir(run))
        atomic_write_json(tmp_path / f"r{seed}" / "results.json", results)
        paths.append(str(tmp_path / f"r{seed}" / "results.json"))
    table = seed_table.main([*paths, "--ensemble"])
    # Each seed alone is right on both samples or on one; the averaged probabilities predict class 1 for both.
    seeds_mean, ensemble = table["overall"]["accuracy"]["mean"], table["ensemble"]["overall"]["accuracy"]
    assert [seeds_mean, ensemble] == pytest.approx([0.75, 0.5])
    assert "ensemble of seeds [1, 2]" in capsys.readouterr().out


def test_committed_summaries_name_their_figures_and_are_the_seed_tables_of_their_runs():
    """Every results/*/summary.json holds {"mean", "std"} per figure, equal to the seed table of its seeds' results."""
    summaries = sorted((Path(__file__).resolve().parents[1] / "results").glob("*/summary.json"))
    assert summaries
    for path in summaries:
        summary = json.loads(path.read_text())
        table = seed_table.seed_table([seed_table.load_results(run) for run in sorted(path.parent.glob("seed*"))])
        assert summary["seeds"] == table["seeds"], path
        assert {key: summary[key] for key in ("overall", "per_corpus")} == {
            key: table[key] for key in ("overall", "per_corpus")}, path

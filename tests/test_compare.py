"""epir_hf.evaluation.paired_bootstrap (`epir-compare`, `epir-hf compare`): the UF1 / UAR gap of two LOSO runs with its
paired bootstrap interval over held-out subjects, and its refusal of runs that cannot be paired."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score, recall_score

from epir_hf.evaluation import paired_bootstrap
from epir_hf.training import RunConfig, compute_results, load_metric
from epir_hf.training.results import read_fold_records, write_fold_record

REPO_ROOT = Path(__file__).resolve().parents[1]
CORPORA = {f"s{index:02d}": "c1" if index < 7 else "c2" for index in range(12)}
RNG = np.random.default_rng(0)
REFERENCES = {subject: RNG.integers(0, 3, size=int(RNG.integers(2, 7))).tolist() for subject in CORPORA}


def write_run(directory: Path, seed: int, error_rate: float, subjects: dict[str, str] = CORPORA,
              fold_by: str = "subject") -> Path:
    """A finished LOSO run whose predictions are the references with `error_rate` of them replaced at random."""
    rng = np.random.default_rng([seed, int(error_rate * 100)])
    RunConfig(protocol="honest", seed=seed, dataset="synthetic", label_names=["a", "b", "c"], subjects=sorted(subjects),
              model_config={}, training={"seed": seed}, recipe={}, fold_by=fold_by).record_in(directory)
    for subject, corpus in subjects.items():
        references = REFERENCES[subject]
        wrong = rng.random(len(references)) < error_rate
        predictions = np.where(wrong, rng.integers(0, 3, len(references)), references).tolist()
        write_fold_record(directory, {
            "subject": subject, "sample_ids": [f"{subject}_{i}" for i in range(len(references))],
            "datasets": [corpus] * len(references), "references": references, "predictions": predictions,
            "epoch": 1, "time_s": 1.0})
    return directory


@pytest.fixture(scope="module")
def rows(tmp_path_factory) -> dict[str, Path]:
    """Two rows of seeds 1-3 (a good and a poor model) and one run of the good model."""
    root = tmp_path_factory.mktemp("rows")
    for name, error_rate in (("good", 0.2), ("poor", 0.6)):
        for seed in (1, 2, 3):
            write_run(root / name / f"seed{seed}", seed, error_rate)
    return {"good": root / "good", "poor": root / "poor", "single": write_run(root / "single", 1, 0.2)}


def test_point_estimates_are_the_seed_means_of_the_scored_runs(rows):
    """The two sides' figures are the mean over seeds of what results.json reports (the package's metric module)."""
    metric = load_metric()

    def seed_mean(row: Path, corpus: str | None, name: str) -> float:
        scores = []
        for run in sorted(row.glob("seed*")):
            metrics = compute_results(read_fold_records(run), RunConfig.from_output_dir(run), metric)["metrics"]
            scores.append((metrics["per_corpus"][corpus] if corpus else metrics["overall"])[name])
        return float(np.mean(scores))

    compared = paired_bootstrap.compare_runs(rows["good"], rows["poor"])
    assert compared["a"].endswith("(honest, mean of seeds 1, 2, 3)") and set(compared["per_corpus"]) == {"c1", "c2"}
    for corpus, group in [(None, compared["overall"]), *compared["per_corpus"].items()]:
        for name in ("uf1", "uar"):
            figures = group[name]
            assert figures["a"] == pytest.approx(seed_mean(rows["good"], corpus, name), abs=1e-12)
            assert figures["b"] == pytest.approx(seed_mean(rows["poor"], corpus, name), abs=1e-12)
            assert figures["difference"] == pytest.approx(figures["a"] - figures["b"], abs=1e-12)
            assert figures["low"] <= figures["difference"] <= figures["high"]
    assert compared["overall"]["subjects"] == 12 and compared["per_corpus"]["c2"]["subjects"] == 5


def test_a_draw_scores_as_scikit_learn_does_with_each_subject_weighted_by_its_draws(tmp_path):
    run_set = paired_bootstrap.load_run_set(write_run(tmp_path, 1, 0.5))
    rng = np.random.default_rng(1)
    for _ in range(20):
        counts = rng.multinomial(len(CORPORA), np.full(len(CORPORA), 1 / len(CORPORA)))
        uf1, uar = paired_bootstrap.mean_scores(run_set.confusion, counts)
        records = read_fold_records(run_set.path)
        weights = np.concatenate([[count] * len(record["references"]) for count, record in zip(counts, records)])
        references = np.concatenate([record["references"] for record in records])[weights > 0]
        predictions = np.concatenate([record["predictions"] for record in records])[weights > 0]
        options = {"average": "macro", "zero_division": 0, "sample_weight": weights[weights > 0]}
        assert uf1 == pytest.approx(f1_score(references, predictions, **options), abs=1e-12)
        assert uar == pytest.approx(recall_score(references, predictions, **options), abs=1e-12)


def test_the_interval_separates_a_real_gap_and_not_a_run_from_itself(rows):
    itself = paired_bootstrap.compare_runs(rows["good"], rows["good"])["overall"]["uf1"]
    assert itself["difference"] == itself["low"] == itself["high"] == 0.0
    gap = paired_bootstrap.compare_runs(rows["good"], rows["poor"], draws=500, seed=3)
    assert gap["overall"]["uf1"]["low"] > 0  # 20 % against 60 % of predictions replaced at random
    assert gap == paired_bootstrap.compare_runs(rows["good"], rows["poor"], draws=500, seed=3)  # seeded
    assert gap != paired_bootstrap.compare_runs(rows["good"], rows["poor"], draws=500, seed=4)
    # one run against the mean of a row of seeds
    single = paired_bootstrap.compare_runs(rows["single"], rows["poor"])
    assert single["a"].endswith("(honest, seed 1)") and single["overall"]["uf1"]["low"] > 0


def test_runs_that_cannot_be_paired_are_refused_naming_them(rows, tmp_path):
    for seed in (1, 2):
        write_run(tmp_path / "two" / f"seed{seed}", seed, 0.2)
    with pytest.raises(ValueError, match=r"paired by seed: .* holds seeds \[1, 2, 3\], .* seeds \[1, 2\]"):
        paired_bootstrap.compare_runs(rows["good"], tmp_path / "two")
    fewer = write_run(tmp_path / "fewer", 1, 0.2, subjects=dict(list(CORPORA.items())[:6]))
    with pytest.raises(ValueError, match="did not predict the same samples"):
        paired_bootstrap.compare_runs(rows["single"], fewer)
    (fewer / "folds" / "s00.json").unlink()
    with pytest.raises(ValueError, match=r"fewer is incomplete: 1 of 6 folds missing \(s00\)"):
        paired_bootstrap.load_run_set(fewer)
    by_corpus = write_run(tmp_path / "lodo", 1, 0.2, subjects={"s00": "c1"}, fold_by="dataset")
    with pytest.raises(ValueError, match="holds out whole corpora"):
        paired_bootstrap.load_run_set(by_corpus)
    with pytest.raises(FileNotFoundError, match="neither a LOSO run folder"):
        paired_bootstrap.load_run_set(tmp_path)
    with pytest.raises(ValueError, match="--draws must be at least 2"):
        paired_bootstrap.compare_runs(rows["good"], rows["poor"], draws=1)


def test_a_corpus_of_one_subject_has_no_interval(tmp_path):
    subjects = {**dict(list(CORPORA.items())[:4]), "s11": "c2"}
    compared = paired_bootstrap.compare_runs(write_run(tmp_path / "a", 1, 0.2, subjects),
                                             write_run(tmp_path / "b", 1, 0.6, subjects))
    assert np.isnan(compared["per_corpus"]["c2"]["uf1"]["low"]) and compared["per_corpus"]["c2"]["subjects"] == 1
    assert not np.isnan(compared["overall"]["uf1"]["low"])


def test_the_command_prints_each_group_and_marks_separated_gaps(rows, capsys):
    from epir_hf.cli.main import main

    assert main(["compare", str(rows["good"]), str(rows["poor"]), "--draws", "500"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("A: ") and "mean of seeds 1, 2, 3" in lines[0]
    assert "95% paired bootstrap interval over held-out subjects (500 draws, seed 0)" in lines[2]
    overall = next(line for line in lines if line.startswith("overall"))
    assert overall.count("]*") == 2  # UF1 and UAR both separated
    assert [line.split()[0] for line in lines[4:]] == ["overall", "c1", "c2"]


def test_the_console_script_is_registered_and_errors_are_one_line(tmp_path, monkeypatch):
    from epir_hf.cli import compare

    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["epir-compare"] == "epir_hf.cli.compare:cli"
    monkeypatch.setattr(sys, "argv", ["epir-compare", str(tmp_path), str(tmp_path)])
    with pytest.raises(SystemExit) as exited:
        compare.cli()
    assert str(exited.value) == (f"epir-compare: error: {tmp_path} is neither a LOSO run folder (run_config.json and "
                                 "folds/) nor a folder of seed runs (seed1/, seed2/, ...).")

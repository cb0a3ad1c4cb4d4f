"""The committed ensemble row `results/megc2019-ensemble-honest-60ep`: what `run_loso.py ensemble` computes from the
committed runs of its four members, and the figures the card and results/README.md quote, recomputed here with
scikit-learn from those runs' saved logits."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score, recall_score

from epir_hf.training.ensemble import pool_runs_by_seed
from epir_hf.training.results import read_fold_records

REPO_ROOT = Path(__file__).resolve().parents[1]
ENSEMBLE = Path("results") / "megc2019-ensemble-honest-60ep"
MEMBER_RUNS = [Path("results") / name for name in ("megc2019-honest-60ep", "e28-loso-ststnet-default",
                                                   "e28-loso-offapexnet-default", "e28-loso-sssnet-default")]
SEEDS = (1, 2, 3)


@pytest.fixture(scope="module")
def pooled(tmp_path_factory, monkeypatch_module) -> Path:
    """The pooling command run again on the committed member runs (from the repository root, as the row was made)."""
    output_dir = tmp_path_factory.mktemp("ensemble") / "pooled"
    monkeypatch_module.chdir(REPO_ROOT)
    pool_runs_by_seed(MEMBER_RUNS, output_dir)
    return output_dir


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def json_of(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.mark.parametrize("seed", SEEDS)
def test_the_committed_row_is_what_the_pooling_command_computes(pooled, seed):
    committed, again = REPO_ROOT / ENSEMBLE / f"seed{seed}", pooled / f"seed{seed}"
    assert read_fold_records(committed) == read_fold_records(again)
    assert json_of(committed / "run_config.json") == json_of(again / "run_config.json")
    results, recomputed = json_of(committed / "results.json"), json_of(again / "results.json")
    assert results.pop("versions").keys() == recomputed.pop("versions").keys()  # where it was pooled may differ
    assert results == recomputed
    assert [entry["run"] for entry in results["pooled_from"]] == [str(run / f"seed{seed}") for run in MEMBER_RUNS]
    assert json_of(REPO_ROOT / ENSEMBLE / "summary.json") == json_of(pooled / "summary.json")


def member_probabilities(run: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(class probabilities of every sample, references, sample ids), in fold order, from a run's saved logits."""
    records = read_fold_records(REPO_ROOT / run)
    logits = np.concatenate([record["logits"] for record in records])
    probabilities = np.exp(logits - logits.max(1, keepdims=True))
    return (probabilities / probabilities.sum(1, keepdims=True), np.concatenate([r["references"] for r in records]),
            [sample for record in records for sample in record["sample_ids"]])


def scores(probabilities: list[np.ndarray], references: np.ndarray) -> tuple[float, float]:
    predictions = np.mean(probabilities, axis=0).argmax(1)
    return (f1_score(references, predictions, average="macro"), recall_score(references, predictions,
                                                                               average="macro"))


def test_per_seed_and_pooled_figures_recomputed_from_the_members_logits():
    """Each seed: the four runs of that seed averaged; pooled: all 12 runs averaged. Computed with numpy and
    scikit-learn from the members' committed logits, independently of the package's own pooling."""
    runs = {(run, seed): member_probabilities(run / f"seed{seed}") for run in MEMBER_RUNS for seed in SEEDS}
    references, samples = runs[(MEMBER_RUNS[0], 1)][1:]
    assert all(np.array_equal(run[1], references) and run[2] == samples for run in runs.values())
    per_seed = [scores([runs[(run, seed)][0] for run in MEMBER_RUNS], references) for seed in SEEDS]
    pooled = scores([probabilities for probabilities, _, _ in runs.values()], references)
    summary = json_of(REPO_ROOT / ENSEMBLE / "summary.json")
    for seed, (uf1, uar) in zip(SEEDS, per_seed):
        overall = json_of(REPO_ROOT / ENSEMBLE / f"seed{seed}" / "results.json")["metrics"]["overall"]
        assert (overall["uf1"], overall["uar"]) == pytest.approx((uf1, uar), abs=1e-12)
    assert summary["overall"]["uf1"]["mean"] == pytest.approx(np.mean([uf1 for uf1, _ in per_seed]), abs=1e-12)
    assert summary["overall"]["uf1"]["std"] == pytest.approx(np.std([uf1 for uf1, _ in per_seed], ddof=1), abs=1e-12)
    ensemble = summary["ensemble"]["overall"]
    assert (ensemble["uf1"], ensemble["uar"]) == pytest.approx(pooled, abs=1e-12)
    quoted = {"per seed": [f"{uf1:.4f}" for uf1, _ in per_seed], "pooled": [f"{value:.4f}" for value in pooled]}
    # The card's row and results/README.md quote them (the mean ± std cells are checked by test_docs).
    card_row = next(line for line in (REPO_ROOT / "model_card.md").read_text().splitlines()
                    if f"`{ENSEMBLE.name}`" in line)
    assert re.search(rf"12 runs pooled: UF1 {quoted['pooled'][0]}, UAR {quoted['pooled'][1]}", card_row), card_row
    readme_row = next(line for line in (REPO_ROOT / "results" / "README.md").read_text().splitlines()
                      if line.startswith(f"| `{ENSEMBLE.name}/seed1`"))
    assert f"UF1 {', '.join(quoted['per seed'])} (seeds 1–3)" in readme_row, readme_row
    assert f"all 12 runs pooled: UF1 {quoted['pooled'][0]}, UAR {quoted['pooled'][1]}" in readme_row, readme_row
    summary_figures = f"mean {summary['overall']['uf1']['mean']:.4f} ± {summary['overall']['uf1']['std']:.4f}"
    assert summary_figures in readme_row, readme_row

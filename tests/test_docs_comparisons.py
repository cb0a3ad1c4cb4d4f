"""Every comparison that the README, the model card and the experiment log draw between committed runs is recomputed
from the runs' folds in results/: each interval shown (paired subject bootstrap, `epir-compare`), the ablation deltas,
the leave-one-database-out rank, the headline's error rate and the wall times quoted for it."""

from __future__ import annotations

import functools
import re
import statistics
from pathlib import Path

import numpy as np
from test_docs import results_of, rows_citing_results

from epir_hf.cli.compare import format_comparison
from epir_hf.evaluation.paired_bootstrap import compare_run_sets, load_run_set
from epir_hf.training import load_metric
from epir_hf.training.results import read_fold_records
from epir_hf.training.seed_table import seed_table

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = REPO_ROOT / "results"
HEADLINE = "megc2019-honest-60ep"
INTERVAL = re.compile(r"[+−-]\d\.\d{3,4} \[[+−-]\d\.\d{3,4}, [+−-]\d\.\d{3,4}\]")
"""A difference with its 95 % interval as the docs write it, `+0.028 [+0.003, +0.052]` (`epir-compare`: 4 decimals)."""
DOCUMENTS = ("README.md", "model_card.md", "results/README.md", *(f"docs/{path.name}" for path in
                                                                  sorted((REPO_ROOT / "docs").glob("*.md"))))
COMMAND_EXAMPLE = ("docs/loso.md", "e28-loso-ststnet-default", HEADLINE)
"""The `epir-compare` output shown in the docs: its lines are the command's, for these committed rows."""

QUOTED_INTERVALS = {
    "README.md": [("e28-loso-ststnet-default", HEADLINE, "overall", "uf1")],
    "docs/experiments.md": [
        ("e28-loso-ststnet-default", HEADLINE, "overall", "uf1"),
        ("e28-loso-ststnet-default", HEADLINE, "overall", "uar"),
        ("e28-loso-ststnet-default", HEADLINE, "casme2", "uf1"),
        ("e28-loso-sssnet-default", HEADLINE, "overall", "uf1"),
        ("e28-loso-sssnet-default", "e28-loso-ststnet-default", "overall", "uf1"),
        ("e28-loso-ststnet-own", "e28-loso-ststnet-default", "overall", "uf1"),
        ("e28-loso-ststnet-own", "e28-loso-ststnet-default", "overall", "uar"),
        ("e28-loso-ststnet-own", "e28-loso-ststnet-default", "casme2", "uf1"),
        ("e28-loso-ststnet-own", HEADLINE, "overall", "uf1"),
        ("e28-loso-ststnet-own", HEADLINE, "overall", "uar"),
        ("e28-loso-offapexnet-default", "e28-loso-ststnet-default", "overall", "uf1"),
        ("e28-loso-offapexnet-default", HEADLINE, "overall", "uf1"),
        ("e28-loso-offapexnet-default", HEADLINE, "samm", "uf1"),
    ],
}
"""Intervals quoted in prose: (row A, row B, "overall" or a corpus, metric) of A − B, as `interval_text` writes it."""


def signed(value: float) -> str:
    return f"{value:+.3f}".replace("-", "−")


def interval_text(figures: dict) -> str:
    return f"{signed(figures['difference'])} [{signed(figures['low'])}, {signed(figures['high'])}]"


@functools.cache
def comparison(row_a: str, row_b: str) -> dict:
    return compare_run_sets(run_set(row_a), run_set(row_b))


@functools.cache
def run_set(row: str):
    return load_run_set(RESULTS / row)


@functools.cache
def scored(run: Path) -> dict:
    """The results of the complete run in `run`, recomputed from its committed folds."""
    return results_of(run, metric_module())


@functools.cache
def metric_module():
    return load_metric()


def figures_of(row_a: str, row_b: str, group: str, metric: str) -> dict:
    compared = comparison(row_a, row_b)
    return (compared["overall"] if group == "overall" else compared["per_corpus"][group])[metric]


def test_every_interval_shown_is_the_bootstrap_of_the_committed_folds():
    """The card's column of each row against EPIR, and every interval quoted in prose; an interval written into a
    document without an entry here fails the test, so none goes unchecked."""
    card = (REPO_ROOT / "model_card.md").read_text()
    column = "UF1 − EPIR [95 % CI]"
    rows = [(folder, cells) for folder, cells in rows_citing_results(card) if column in cells]
    assert {folder for folder, _ in rows} >= {HEADLINE, "e28-loso-ststnet-default", "e28-loso-offapexnet-default"}
    expected = {"model_card.md": []}
    for folder, cells in rows:
        if folder == HEADLINE:
            assert cells[column] == "", cells
            continue
        expected["model_card.md"].append(interval_text(figures_of(folder, HEADLINE, "overall", "uf1")))
        assert cells[column] == expected["model_card.md"][-1], (folder, cells[column])
    for document, quoted in QUOTED_INTERVALS.items():
        expected[document] = [interval_text(figures_of(*entry)) for entry in quoted]
    document, row_a, row_b = COMMAND_EXAMPLE
    printed = format_comparison(comparison(row_a, row_b)).splitlines()
    block = (REPO_ROOT / document).read_text().split(f"epir-compare results/{row_a} results/{row_b}\n", 1)[1]
    shown = [line[2:] for line in block.split("```", 1)[0].splitlines()]
    assert shown and all(line in printed for line in shown), (shown, printed)
    expected.setdefault(document, []).extend(INTERVAL.findall("\n".join(shown)))
    for document in DOCUMENTS:
        text, texts = (REPO_ROOT / document).read_text(), expected.get(document, [])
        for interval in texts:
            assert interval in text, (document, interval)
        unchecked = set(INTERVAL.findall(text)) - set(texts)
        assert not unchecked, (document, unchecked)


def test_the_ablation_deltas_are_against_seed_1_and_the_seed_mean():
    """The card's ΔUF1 column (UF1 minus the headline's seed 1 / minus its 3-seed mean), and its claim that one seed
    per ablation separates none: every delta is within twice the seeds' sample standard deviation."""
    card = (REPO_ROOT / "model_card.md").read_text()
    seeds = [scored(RESULTS / HEADLINE / f"seed{seed}")["metrics"]["overall"]["uf1"] for seed in (1, 2, 3)]
    mean, spread = float(np.mean(seeds)), float(np.std(seeds, ddof=1))
    rows = [(folder, cells) for folder, cells in rows_citing_results(card) if "ΔUF1" in cells]
    assert len(rows) == 6, rows
    deltas = []
    for folder, cells in rows:
        uf1 = scored(RESULTS / folder)["metrics"]["overall"]["uf1"]
        deltas += [uf1 - seeds[0], uf1 - mean]
        assert cells["ΔUF1"] == f"{signed(uf1 - seeds[0])} / {signed(uf1 - mean)}", (folder, cells["ΔUF1"])
    assert f"vs seed 1, the best default seed / vs the 3 seeds' mean {mean:.4f}" in " ".join(card.split())
    assert max(seeds) == seeds[0]
    assert max(map(abs, deltas)) < 2 * spread
    assert f"Every ΔUF1 is within twice the seeds' standard deviation ({spread:.4f})" in card


def test_the_leave_one_database_out_rank_and_range():
    """'sixth of seven rows (baselines 0.6609–0.7085)': EPIR's seed mean among the committed e28-lodo-* rows."""
    ordinals = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth"]
    cardinals = ["", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    rows = {}
    for folder in sorted(RESULTS.glob("e28-lodo-*")):
        runs = [scored(run) for run in sorted(folder.glob("seed*"))]
        assert len(runs) == 3 and all(run["folds_completed"] == 3 for run in runs), folder
        rows[folder.name] = seed_table(runs)["overall"]["uf1"]
    epir = rows.pop("e28-lodo-epir")
    means = [row["mean"] for row in rows.values()]
    rank = ordinals[sum(mean > epir["mean"] for mean in means)]
    count, low, high = cardinals[len(means) + 1], min(means), max(means)
    card = " ".join((REPO_ROOT / "model_card.md").read_text().split())
    log = " ".join((REPO_ROOT / "docs" / "experiments.md").read_text().split())
    assert (f"{epir['mean']:.4f} ± {epir['std']:.4f}, {rank} of {count} rows (baselines {low:.4f}–{high:.4f}"
            in card), (rank, count, low, high)
    assert f"EPIR is {rank} of the {count} rows: {epir['mean']:.4f} against {low:.4f}–{high:.4f}" in log


def test_the_error_rate_and_the_wall_times_quoted_for_the_headline_runs():
    """'28 % of predictions on a new subject are wrong', and the README's and card's wall times of one seed (two fold
    workers: the folds' time_s summed ÷ 2) and median fold time, from the headline's committed folds."""
    runs = [RESULTS / HEADLINE / f"seed{seed}" for seed in (1, 2, 3)]
    accuracy = np.mean([scored(run)["metrics"]["overall"]["accuracy"] for run in runs])
    card, readme = ((REPO_ROOT / name).read_text() for name in ("model_card.md", "README.md"))
    assert f"{round(100 * (1 - accuracy))} % of predictions on a new subject are wrong" in card
    times = [[record["time_s"] for record in read_fold_records(run)] for run in runs]
    hours = [sum(folds) / 2 / 3600 for folds in times]
    medians = [statistics.median(folds) for folds in times]
    readme = " ".join(readme.split())
    assert f"{min(hours):.1f}–{max(hours):.1f} h on an AMD EPYC with AVX2" in readme
    assert f"median fold {min(medians):.0f}–{max(medians):.0f} s" in readme
    assert f"{min(hours) * 60:.0f}–{max(hours) * 60:.0f} min: the committed runs' fold `time_s` summed ÷ 2" in card

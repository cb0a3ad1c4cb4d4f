"""Several runs side by side, per corpus: the model comparison of a results table as bars.

Each run is a bar in every group (overall, then each corpus); its height is the run's UF1 (left) or UAR (right), for
the seed runs of one row the mean over seeds with the sample standard deviation as the error bar, the figures of
`epir-seed-table` and summary.json. How far apart two bars must be to differ by more than the choice of test subjects
is what `epir-hf compare` says; the figure shows the numbers, not their significance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..training.results import protocol_label
from .png import new_figure, save_png
from .runs import ScoredRun

METRICS = ("uf1", "uar")


def plot_corpora(runs: list[ScoredRun], out: str | Path) -> dict:
    """Write the per-corpus UF1 and UAR bars of `runs` to `out` (PNG); returns what was drawn:
    {label: {group: {metric: {"mean", "std"}}}} (std None for a single run)."""
    scores = [run.scores() for run in runs]
    groups = ["overall", *scores[0]["per_corpus"]]
    for run, table in zip(runs, scores):
        if ["overall", *table["per_corpus"]] != groups:
            raise ValueError(f"{run.path} covers the corpora {sorted(table['per_corpus'])}, {runs[0].path} "
                             f"{sorted(scores[0]['per_corpus'])}: bars side by side need the same corpora.")
    labels = [run.label for run in runs]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ValueError(f"several runs are labelled {', '.join(repeated)}: give each its own label (--labels).")

    def group_scores(table: dict, group: str) -> dict:
        return table["overall"] if group == "overall" else table["per_corpus"][group]

    drawn = {run.label: {group: {metric: group_scores(table, group)[metric] for metric in METRICS} for group in groups}
             for run, table in zip(runs, scores)}
    figure = new_figure(11.0, 4.4)
    width = 0.8 / len(runs)
    positions = np.arange(len(groups))
    all_axes = figure.subplots(1, len(METRICS), sharey=True)
    for axes, metric in zip(all_axes, METRICS):
        for index, (label, table) in enumerate(drawn.items()):
            means = [table[group][metric]["mean"] for group in groups]
            errors = [table[group][metric]["std"] or 0.0 for group in groups]
            bars = axes.bar(positions + (index - (len(runs) - 1) / 2) * width, means, width, yerr=errors,
                            capsize=2, label=label, error_kw={"linewidth": 0.8})
            axes.bar_label(bars, labels=[f"{mean:.3f}" for mean in means], label_type="center", rotation=90,
                           fontsize=6, color="white")
        axes.set_xticks(positions, groups)
        axes.set_title(metric.upper())
        axes.set_ylim(0, 1.05)
        axes.grid(axis="y", linewidth=0.3)
    all_axes[0].set_ylabel("score (bar: mean over seeds, line: sample std)")
    figure.legend(*all_axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=len(runs), fontsize=8)
    protocols = sorted({protocol_label(run.results[0]["protocol"]) for run in runs})
    figure.suptitle(f"LOSO per corpus, {' and '.join(protocols)} protocol", fontsize=10)
    save_png(figure, out)
    return drawn

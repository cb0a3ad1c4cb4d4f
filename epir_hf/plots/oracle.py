"""Honest against oracle: how much picking each test subject's best epoch lifts a run, epoch by epoch.

An oracle-epoch run (`--protocol oracle-epoch`) keeps, for every held-out subject, the accuracy of each epoch's model on
that subject (`epoch_test_accuracy`) and the predictions of its last epoch. Two curves follow from them, pooled over
all held-out samples:

- every subject at epoch e: what the honest protocol would report had training stopped after e epochs (an honest
  number only when e is fixed before any test subject is seen); at the last epoch it is the run's `last_epoch` score;
- each subject at its best epoch among the first e: the oracle choice when e epochs are trained; at the last epoch it
  is the run's (optimistic) oracle-epoch score.

The gap between them is what the oracle choice adds, and it grows with the number of epochs it may choose among. The
folds record accuracy only, so the curves are accuracy; the legend gives both end points' UF1, UAR and accuracy from
`compute_results`, as in results.json.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .png import new_figure, save_png
from .runs import ScoredRun


def epoch_correct(run: ScoredRun) -> np.ndarray:
    """Correct predictions per held-out subject (rows) and epoch (columns) of a single oracle-epoch run."""
    if len(run.records) > 1:
        raise ValueError(f"{run.path} holds {len(run.records)} seed runs; the honest-vs-oracle curve draws one run: "
                         f"pass one of them ({run.path / 'seed1'}, ...).")
    records = run.records[0]
    if any("epoch_test_accuracy" not in record or "last_epoch_predictions" not in record for record in records):
        raise ValueError(f"{run.path} has no per-epoch test accuracy (epoch_test_accuracy, last_epoch_predictions) in "
                         "its folds: only --protocol oracle-epoch runs record it.")
    return np.array([np.rint(np.asarray(record["epoch_test_accuracy"]) * len(record["references"]))
                     for record in records], dtype=int)


def plot_oracle(run: ScoredRun, out: str | Path) -> dict:
    """Write the honest-vs-oracle curves of `run` to `out` (PNG); returns what was drawn: {"epochs",
    "all_at_epoch", "best_epoch_so_far"} (pooled accuracies per epoch) and {"last_epoch", "oracle"} (the end points'
    scores from `compute_results`)."""
    correct = epoch_correct(run)
    samples = sum(len(record["references"]) for record in run.records[0])
    all_at_epoch = correct.sum(axis=0) / samples
    best_so_far = np.maximum.accumulate(correct, axis=1).sum(axis=0) / samples
    metrics = run.results[0]["metrics"]
    ends = {"last_epoch": metrics["last_epoch"]["overall"], "oracle": metrics["overall"]}
    epochs = np.arange(1, correct.shape[1] + 1)

    def legend(text: str, scores: dict) -> str:
        return f"{text}; at the end UF1 {scores['uf1']:.4f}, UAR {scores['uar']:.4f}, acc {scores['accuracy']:.4f}"

    figure = new_figure(8.0, 4.2)
    axes = figure.subplots()
    axes.plot(epochs, best_so_far, color="tab:red",
              label=legend("each subject at its best test epoch so far (oracle, optimistic)", ends["oracle"]))
    axes.plot(epochs, all_at_epoch, color="tab:blue",
              label=legend("every subject at epoch e (honest if e is fixed in advance)", ends["last_epoch"]))
    axes.fill_between(epochs, all_at_epoch, best_so_far, color="tab:red", alpha=0.12, linewidth=0)
    axes.set_xlabel("epochs trained (e)")
    axes.set_ylabel(f"accuracy over the {samples} held-out samples")
    axes.set_xlim(1, epochs[-1])
    axes.grid(linewidth=0.3)
    axes.legend(fontsize=7, loc="lower right")
    axes.set_title(f"{run.label}: what choosing the epoch on the test subject adds (seed {run.seeds[0]})", fontsize=10)
    save_png(figure, out)
    return {"epochs": epochs.tolist(), "all_at_epoch": all_at_epoch.tolist(), "best_epoch_so_far": best_so_far.tolist(),
            **ends}

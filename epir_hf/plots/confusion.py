"""Confusion matrices of a run: overall and per corpus, as the share of each true class predicted as each class.

Why shares rather than counts: the corpora differ in size, and a reader compares how each class is confused, not how
many samples each corpus has. The diagonal is each class's recall, the figure the UAR averages. For the seed runs of
one row the counts are summed over seeds; every seed predicts the same samples, so the shares are the mean over seeds
of each seed's shares (the diagonal: the mean recall).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from sklearn.metrics import ConfusionMatrixDisplay

from ..training.results import confusion_matrix
from .png import new_figure, save_png
from .runs import ScoredRun

PANEL_INCHES = (3.2, 3.0)


def draw_confusion(axes: Axes, matrix: np.ndarray, label_names: list[str], title: str,
                   values_format: str | None = None) -> None:
    """One confusion matrix on `axes`: rows = true class, columns = predicted class."""
    ConfusionMatrixDisplay(matrix, display_labels=label_names).plot(
        ax=axes, colorbar=False, cmap="Blues", values_format=values_format,
        im_kw={"vmin": 0, "vmax": 1} if values_format == ".0%" else None)
    axes.set_title(title, fontsize=8)


def corpus_confusions(records: list[dict], num_labels: int) -> dict[str, np.ndarray]:
    """{"overall": counts, corpus: counts, ...} over a run's folds (rows = true class)."""
    references = np.concatenate([record["references"] for record in records]).astype(int)
    predictions = np.concatenate([record["predictions"] for record in records]).astype(int)
    corpora = np.concatenate([record["datasets"] for record in records])
    groups = {"overall": np.ones(len(references), dtype=bool),
              **{str(name): corpora == name for name in np.unique(corpora)}}
    return {name: confusion_matrix(references[chosen], predictions[chosen], num_labels)
            for name, chosen in groups.items()}


def plot_confusion(run: ScoredRun, out: str | Path) -> dict:
    """Write the overall and per-corpus confusion matrices of `run` to `out` (PNG); returns what was drawn:
    {"counts": {group: matrix summed over seeds}, "shares": {group: row-normalised matrix}}."""
    num_labels = len(run.label_names)
    per_run = [corpus_confusions(records, num_labels) for records in run.records]
    counts = {group: sum(confusions[group] for confusions in per_run) for group in per_run[0]}
    shares = {group: matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1) for group, matrix in counts.items()}
    figure = new_figure(PANEL_INCHES[0] * len(counts), PANEL_INCHES[1])
    for axes, (group, matrix) in zip(figure.subplots(1, len(counts)), shares.items()):
        samples = int(counts[group].sum()) // len(per_run)
        draw_confusion(axes, matrix, run.label_names, f"{group} ({samples} samples)", values_format=".0%")
    figure.suptitle(f"{run.description}: share of each true class (rows) predicted as each class (columns)",
                    fontsize=10)
    save_png(figure, out)
    return {"counts": {group: matrix.tolist() for group, matrix in counts.items()},
            "shares": {group: matrix.tolist() for group, matrix in shares.items()}}

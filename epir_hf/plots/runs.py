"""The LOSO runs a figure draws, scored as their results.json was.

A figure names a run folder, or a `--seeds` folder whose seed runs form one row of a results table (read as
`epir-hf compare` reads them). Each seed run is scored by `compute_results` from its fold files, the function that
wrote its results.json, so the figure shows the committed numbers; incomplete runs are refused, since a score over some
of the subjects is not a LOSO number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..evaluation.paired_bootstrap import complete_fold_records, run_folders
from ..training.results import compute_results, load_metric, protocol_label
from ..training.run_config import RunConfig
from ..training.seed_table import METRICS, seed_table

if TYPE_CHECKING:
    from evaluate import EvaluationModule

SEED_FOLDER = re.compile(r"seed\d+")


@dataclass(frozen=True)
class ScoredRun:
    """One run, or the seed runs of one row: `records[r]` are run r's folds, `results[r]` its scores (as in
    results.json), in seed order."""

    path: Path
    label: str
    records: list[list[dict]]
    results: list[dict]

    @property
    def seeds(self) -> list[int]:
        return [results["seed"] for results in self.results]

    @property
    def label_names(self) -> list[str]:
        return self.results[0]["label_names"]

    @property
    def description(self) -> str:
        """The label with the protocol (its caveat included) and the seeds, for a figure's title."""
        seeds = (f"seed {self.seeds[0]}" if len(self.seeds) == 1
                 else f"mean over seeds {', '.join(map(str, self.seeds))}")
        return f"{self.label} ({protocol_label(self.results[0]['protocol'])}, {seeds})"

    def scores(self) -> dict:
        """{"overall": {metric: {"mean", "std"}}, "per_corpus": {corpus: ...}}: the seed table's mean and sample std
        over seeds (`epir-seed-table`, summary.json); for one run its scores, with std None."""
        if len(self.results) > 1:
            return seed_table(self.results)
        metrics = self.results[0]["metrics"]

        def single(scores: dict) -> dict:
            return {name: {"mean": scores[name], "std": None} for name in METRICS}

        return {"overall": single(metrics["overall"]),
                "per_corpus": {corpus: single(scores) for corpus, scores in metrics["per_corpus"].items()}}


def default_label(path: str | Path) -> str:
    """The folder's name; a seed run's keeps its row's name too (`row/seed1`)."""
    path = Path(path).resolve()
    return f"{path.parent.name}/{path.name}" if SEED_FOLDER.fullmatch(path.name) else path.name


def load_run(path: str | Path, label: str | None = None, metric: EvaluationModule | None = None) -> ScoredRun:
    """The run (or seed runs) in `path`, each scored from its folds by `compute_results`."""
    metric = metric if metric is not None else load_metric()
    records, results = [], []
    for folder in run_folders(path):
        config = RunConfig.from_output_dir(folder)
        records.append(complete_fold_records(folder, config))
        results.append(compute_results(records[-1], config, metric))
    return ScoredRun(path=Path(path), label=label or default_label(path), records=records, results=results)

"""The figures of runs by kind, and the documentation's figures (docs/figures/) from the committed runs in results/.

Why the documentation's figures are listed in code: `epir-hf plot --figures docs/figures` regenerates all of them with
one command, and a test regenerates them and compares what they draw with the committed results.json files, so the
pictures in the README cannot drift from the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from ..training.results import load_metric
from .confusion import plot_confusion
from .corpora import plot_corpora
from .oracle import plot_oracle
from .runs import ScoredRun, load_run

KINDS = ("confusion", "corpora", "oracle")
"""confusion: a run's confusion matrices, overall and per corpus; corpora: several runs' per-corpus UF1 and UAR;
oracle: an oracle-epoch run's honest-vs-oracle curve."""


def plot_runs(kind: str, runs: list[ScoredRun], out: str | Path) -> dict:
    """Draw the figure `kind` (`KINDS`) of `runs` into `out` (PNG); returns the numbers drawn."""
    if kind == "corpora":
        return plot_corpora(runs, out)
    if len(runs) != 1:
        raise ValueError(f"the {kind} figure draws one run (or one folder of seed runs); got {len(runs)}: "
                         f"{', '.join(str(run.path) for run in runs)}.")
    return {"confusion": plot_confusion, "oracle": plot_oracle}[kind](runs[0], out)


@dataclass(frozen=True)
class DocFigure:
    """One figure of the documentation: its file name, its kind and its runs (folders of results/, with labels)."""

    filename: str
    kind: str
    runs: tuple[tuple[str, str], ...]


MODELS = (("megc2019-honest-60ep", "EPIR"), ("e28-loso-ststnet-default", "STSTNet"),
          ("e28-loso-offapexnet-default", "OFF-ApexNet"), ("e28-loso-sssnet-default", "SSSNet"),
          ("megc2019-ensemble-honest-60ep", "ensemble"))
DOC_FIGURES = (
    DocFigure("confusion_ensemble.png", "confusion", (MODELS[-1],)),
    DocFigure("models_per_corpus.png", "corpora", MODELS),
    DocFigure("honest_vs_oracle.png", "oracle", (("megc2019-oracle-60ep", "EPIR"),)),
)


def write_doc_figures(out_dir: str | Path, results_dir: str | Path = "results") -> dict[str, dict]:
    """Write `DOC_FIGURES` into `out_dir` from the runs in `results_dir`; returns {filename: numbers drawn}."""
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    if not results_dir.is_dir():
        raise FileNotFoundError(f"no {results_dir}/ folder here: run --figures from the root of a source checkout, "
                                "where results/ holds the committed runs.")
    out_dir.mkdir(parents=True, exist_ok=True)
    metric = load_metric()
    names = list(dict.fromkeys(run for figure in DOC_FIGURES for run in figure.runs))
    runs = {(name, label): load_run(results_dir / name, label, metric)
            for name, label in tqdm(names, desc="scoring runs", unit="run")}
    return {figure.filename: plot_runs(figure.kind, [runs[run] for run in figure.runs], out_dir / figure.filename)
            for figure in DOC_FIGURES}

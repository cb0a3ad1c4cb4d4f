"""Mean ± sample standard deviation over seeds of finished LOSO runs, and their seed ensemble.

A row of the model card is several seeds of one recipe: the runs must share protocol, dataset and settings apart from
the seed, and be complete (every fold scored), because a mean over runs that cover different subjects would not be a
LOSO number. The standard deviation is the sample one (ddof = 1) across seeds; summary.json names both figures
(`{"mean": ..., "std": ...}`) so that no reader has to guess which is which. The ensemble averages each held-out
sample's class probabilities (softmax of the logits each run saved) over the runs: no choice is made on a test
subject, so under `honest` it is an honest number too, at the training cost of every run it averages.

    epir-seed-table results/megc2019-honest-60ep/seed1 results/megc2019-honest-60ep/seed2 \\
        results/megc2019-honest-60ep/seed3 [--ensemble]

Each argument is a run's output dir (or its results.json); `examples/run_loso.py --seeds` writes the same table to
summary.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from ..modeling_ensemble import mean_probability_logits
from .cli import run_command
from .files import atomic_write_json
from .results import compute_results, read_fold_records
from .run_config import RunConfig

SUMMARY_FILENAME = "summary.json"
METRICS = ("uf1", "uar", "accuracy")


def load_results(path: str | Path) -> dict:
    path = Path(path)
    path = path / "results.json" if path.is_dir() else path
    if not path.is_file():
        raise FileNotFoundError(f"No results.json at {path}: pass the output dir of a finished run_loso.py run.")
    return json.loads(path.read_text())


def comparable_settings(results: dict) -> dict:
    """What must match between the runs of one row: everything that defines the run except its seed."""
    training = {key: value for key, value in results["training"].items() if key not in ("seed", "data_seed")}
    return {"protocol": results["protocol"], "dataset": results["dataset"], "config": results["config"],
            "training": training, "recipe": results.get("recipe")}


def seed_table(runs: list[dict]) -> dict:
    """{"seeds", "overall": {metric: {"mean", "std"}}, "per_corpus": {corpus: {metric: {"mean", "std"}}}}; "std" is
    the sample standard deviation (ddof = 1)."""
    if len(runs) < 2:
        raise ValueError(f"A mean ± std needs at least 2 runs; got {len(runs)}.")
    for results in runs:
        if not results.get("complete"):
            raise ValueError(f"The run with seed {results.get('seed')} is incomplete "
                             f"({results.get('folds_completed')}/{results.get('folds_total')} folds).")
        if comparable_settings(results) != comparable_settings(runs[0]):
            raise ValueError(f"The run with seed {results['seed']} has other settings than the run with seed "
                             f"{runs[0]['seed']}; only the seed may differ within one row.")
    seeds = [results["seed"] for results in runs]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"Seeds repeat: {seeds}.")

    def stats(scores: list[dict]) -> dict:
        values = {metric: [score[metric] for score in scores] for metric in METRICS}
        return {metric: {"mean": float(np.mean(figures)), "std": float(np.std(figures, ddof=1))}
                for metric, figures in values.items()}

    corpora = sorted(runs[0]["metrics"].get("per_corpus", {}))
    return {"seeds": seeds, "overall": stats([results["metrics"]["overall"] for results in runs]),
            "per_corpus": {corpus: stats([results["metrics"]["per_corpus"][corpus] for results in runs])
                           for corpus in corpora}}


def run_dir(path: str | Path) -> Path:
    """A run's output dir, given it or its results.json."""
    return Path(path).parent if Path(path).is_file() else Path(path)


def aligned_fold_records(run_dirs: list[str | Path]) -> list[list[dict]]:
    """For each fold (held-out subject, in order), the fold records of every run in `run_dirs`, in their order.

    Averaging runs sample by sample needs the same folds holding the same samples in each; anything else is refused,
    naming the run or the fold.
    """
    run_dirs = [run_dir(path) for path in run_dirs]
    folds = [{record["subject"]: record for record in read_fold_records(directory)} for directory in run_dirs]
    for directory, records in zip(run_dirs, folds):
        if records.keys() != folds[0].keys():
            raise ValueError(f"{directory} holds other folds than {run_dirs[0]}; an ensemble needs the same folds.")
    aligned = []
    for subject, first in folds[0].items():
        if any(run[subject]["sample_ids"] != first["sample_ids"] for run in folds):
            raise ValueError(f"Fold {subject!r} holds other samples in some runs.")
        aligned.append([run[subject] for run in folds])
    return aligned


def averaged_prediction(records: list[dict]) -> dict:
    """The fold's `logits` (log of the runs' mean class probabilities, `mean_probability_logits`) and
    `predictions`, and `time_s` (the runs' training time together)."""
    logits = mean_probability_logits([torch.tensor(record["logits"]) for record in records])
    return {"logits": logits.tolist(), "predictions": logits.argmax(-1).tolist(),
            "time_s": sum(record["time_s"] for record in records)}


def seed_ensemble(run_dirs: list[str | Path]) -> dict:
    """Results (as in results.json) of the runs' averaged class probabilities, pooled over folds."""
    records = [{**runs[0], **averaged_prediction(runs)} for runs in aligned_fold_records(run_dirs)]
    results = compute_results(records, RunConfig.from_output_dir(run_dir(run_dirs[0])))
    results["seed"] = [RunConfig.from_output_dir(run_dir(directory)).seed for directory in run_dirs]
    return results


def print_rows(overall: dict, per_corpus: dict) -> None:
    """The overall row, then one per corpus: `metric mean ± std` for seed statistics, `metric value` for a score."""
    for name, scores in [("overall", overall), *per_corpus.items()]:
        cells = [f"{metric} {value['mean']:.4f} ± {value['std']:.4f}" if isinstance(value, dict)
                 else f"{metric} {value:.4f}"
                 for metric, value in scores.items() if metric in METRICS]
        print(f"  {name:<10} " + "  ".join(cells))


def summarize_seeds(run_dirs: list[str | Path], ensemble: bool = True) -> dict:
    """The seed table of the runs in `run_dirs` (output dirs or results.json files), plus their ensemble's
    overall and per-corpus scores when `ensemble`; printed as it is computed."""
    runs = [load_results(path) for path in run_dirs]
    table = seed_table(runs)
    print(f"{runs[0]['protocol']} protocol, {runs[0]['dataset']}, seeds {table['seeds']} (mean ± sample std over "
          "seeds)")
    print_rows(table["overall"], table["per_corpus"])
    if ensemble:
        scores = seed_ensemble(run_dirs)
        table["ensemble"] = {"overall": scores["metrics"]["overall"], "per_corpus": scores["metrics"]["per_corpus"]}
        print(f"ensemble of seeds {table['seeds']} (averaged class probabilities; {len(runs)}x the training cost)")
        print_rows(**table["ensemble"])
    return table


def write_seed_summary(output_dir: str | Path, run_dirs: list[str | Path]) -> dict:
    """`summarize_seeds` with the ensemble, written to `output_dir/summary.json` next to the seeds' folders."""
    table = summarize_seeds(run_dirs)
    atomic_write_json(Path(output_dir) / SUMMARY_FILENAME, table)
    return table


def main(argv: list[str] | None = None) -> dict:
    """The `epir-seed-table` command: print (and return) the seed table of the runs named on the command line."""
    parser = argparse.ArgumentParser(prog="epir-seed-table", description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="output dirs (or results.json files) of finished runs")
    parser.add_argument("--ensemble", action="store_true",
                        help="also score the runs' averaged class probabilities (from their saved folds)")
    options = parser.parse_args(argv)
    return summarize_seeds(options.runs, ensemble=options.ensemble)


def cli() -> None:
    """The `epir-seed-table` command."""
    run_command(main, "epir-seed-table")

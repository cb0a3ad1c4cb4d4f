"""Mean ± standard deviation over seeds of finished LOSO runs (the model card's multi-seed rows).

    python benchmarks/seed_table.py runs/honest_s1/merged runs/honest_s2/merged runs/honest_s3/merged

Each argument is a run's output dir (or its results.json). The runs must share protocol, dataset and settings apart
from the seed, and be complete (every fold scored): a mean over runs that cover different subjects would not be a
LOSO number. The standard deviation is the sample one (ddof = 1) across seeds.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

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
    """{"seeds", "overall": {metric: (mean, std)}, "per_corpus": {corpus: {metric: (mean, std)}}}."""
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
        return {metric: (float(np.mean([s[metric] for s in scores])), float(np.std([s[metric] for s in scores],
                                                                                   ddof=1)))
                for metric in METRICS}

    corpora = sorted(runs[0]["metrics"].get("per_corpus", {}))
    return {"seeds": seeds, "overall": stats([results["metrics"]["overall"] for results in runs]),
            "per_corpus": {corpus: stats([results["metrics"]["per_corpus"][corpus] for results in runs])
                           for corpus in corpora}}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="output dirs (or results.json files) of finished runs")
    options = parser.parse_args(argv)
    runs = [load_results(path) for path in options.runs]
    table = seed_table(runs)
    print(f"{runs[0]['protocol']} protocol, {runs[0]['dataset']}, seeds {table['seeds']} (mean ± std over seeds)")
    for name, scores in [("overall", table["overall"]), *table["per_corpus"].items()]:
        cells = [f"{metric} {mean:.4f} ± {std:.4f}" for metric, (mean, std) in scores.items()]
        print(f"  {name:<10} " + "  ".join(cells))
    return table


if __name__ == "__main__":
    try:
        main()
    except (ValueError, FileNotFoundError) as error:
        raise SystemExit(f"seed_table.py: error: {error}") from None

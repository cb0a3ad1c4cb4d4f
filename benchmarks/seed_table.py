"""Mean ± standard deviation over seeds of finished LOSO runs (the model card's multi-seed rows).

    python benchmarks/seed_table.py runs/honest_s1/merged runs/honest_s2/merged runs/honest_s3/merged

Each argument is a run's output dir (or its results.json). The runs must share protocol, dataset and settings apart
from the seed, and be complete (every fold scored): a mean over runs that cover different subjects would not be a
LOSO number. The standard deviation is the sample one (ddof = 1) across seeds.

`--ensemble` also scores the seeds as one ensemble: each held-out sample's class probabilities (softmax of the
logits each run saved) are averaged over the runs. No choice is made on a test subject, so under `honest` the
ensemble is an honest number too, but it costs the training of every run it averages.

The table is `epir_hf.training.seed_table`'s, which `examples/run_loso.py --seeds` also writes to summary.json.
"""

from __future__ import annotations

import argparse

from epir_hf.training.seed_table import (
    load_results,
    seed_ensemble,
    seed_table,
    summarize_seeds,
)

__all__ = ["load_results", "main", "seed_ensemble", "seed_table"]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="output dirs (or results.json files) of finished runs")
    parser.add_argument("--ensemble", action="store_true",
                        help="also score the runs' averaged class probabilities (from their saved folds)")
    options = parser.parse_args(argv)
    return summarize_seeds(options.runs, ensemble=options.ensemble)


if __name__ == "__main__":
    try:
        main()
    except (ValueError, FileNotFoundError) as error:
        raise SystemExit(f"seed_table.py: error: {error}") from None

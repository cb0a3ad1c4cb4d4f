#!/usr/bin/env python
"""Leave-one-subject-out (LOSO) evaluation of EPIR, the protocol micro-expression results are reported under.

For each subject, a freshly seeded EPIR model is trained with `transformers.Trainer` on all other subjects and
predicts the held-out one; UF1 / UAR / accuracy are computed on the predictions pooled over all folds.

    # built-in synthetic corpus, no data needed
    python examples/run_loso.py --output_dir runs/synthetic
    # the MEGC2019 composite (precomputed flow release), honest protocol, three seeds, folds in parallel on every
    # core (or --folds_per_device folds on each GPU); the mean ± std over seeds goes to runs/composite/summary.json
    python examples/run_loso.py --dataset megc2019_composite_flow \\
        --data_dir $EPIR_COMPOSITE_DIR --output_dir runs/composite --seeds 1,2,3
    # split the folds over machines, then pool them
    python examples/run_loso.py ... --fold_shard 0/2 --output_dir runs/a   (and 1/2 -> runs/b)
    python examples/run_loso.py merge runs/a runs/b --output_dir runs/composite
    # an ensemble: each fold trains every member (same seed and recipe) and averages their class probabilities;
    # or pool the members' finished runs into the same ensemble run
    python examples/run_loso.py ... --model_type me-ensemble --members epir,ststnet,offapexnet,sssnet
    python examples/run_loso.py ensemble runs/epir runs/ststnet runs/offapexnet runs/sssnet --output_dir runs/ens
    # a SLURM job array (submitit), one task per 4 folds on one GPU each; the same command resumes and pools
    python examples/run_loso.py ... --executor slurm --folds_per_task 4 --slurm_gpus_per_task 1 --slurm_partition gpu
    # one model on all subjects, saved (and optionally pushed) with its processor
    python examples/run_loso.py --dataset ... --train_full --output_dir runs/full [--push_to_hub --hub_model_id ID]

Arguments: ours (`epir_hf.training.LOSOArguments`) plus every `transformers.TrainingArguments` option, with
the recipe's defaults (`LOSOTrainingArguments`). A single `.json` argument is read as a file of arguments.
Re-running with the same `--output_dir` skips the folds already finished.
Folds run in parallel worker processes (`--fold_workers auto`); `--fold_workers 1` runs them one by one in process.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from pathlib import Path

import torch

from epir_hf.training import FoldError, LOSOExperiment, merge_runs, parse_loso_arguments
from epir_hf.training.ensemble import pool_runs_by_seed
from epir_hf.training.experiment import check_output_dir
from epir_hf.training.results import summary_line


def merge_main(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="run_loso.py merge",
                                     description="Pool the folds of several LOSO output dirs (e.g. shards).")
    parser.add_argument("inputs", nargs="+", help="output dirs of the runs to pool")
    parser.add_argument("--output_dir", required=True, help="where the pooled folds and results are written")
    args = parser.parse_args(argv)
    check_output_dir(args.output_dir)
    results = merge_runs(args.inputs, args.output_dir)
    print(summary_line(results, args.output_dir), flush=True)
    return results


def ensemble_main(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="run_loso.py ensemble", description=(
        "Pool finished runs of different models (same folds, seed and recipe) into their equal-weight ensemble: the "
        "run that --model_type me-ensemble --members ... trains."))
    parser.add_argument("inputs", nargs="+", help="output dirs of the members' runs (single runs, or --seeds folders)")
    parser.add_argument("--output_dir", required=True, help="where the ensemble's folds and results are written")
    args = parser.parse_args(argv)
    check_output_dir(args.output_dir)
    pooled = pool_runs_by_seed(args.inputs, args.output_dir)
    for results in pooled["seeds"] if "seeds" in pooled else [pooled]:
        seed_dir = f"seed{results['seed']}" if "seeds" in pooled else ""
        print(summary_line(results, Path(args.output_dir) / seed_dir), flush=True)
    return pooled


def main(argv: list[str] | None = None) -> dict | Path | None:
    """Run LOSO (or `--train_full`, or `merge`, or `ensemble`); returns the results on the main process (with
    `--seeds`: each seed's results and the summary)."""
    started_at = time.perf_counter()
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["merge"]:
        return merge_main(argv[1:])
    if argv[:1] == ["ensemble"]:
        return ensemble_main(argv[1:])
    loso_args, training_args = parse_loso_arguments(argv)
    training_logger = logging.getLogger("epir_hf.training")
    if not training_logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        training_logger.addHandler(handler)
        training_logger.setLevel(logging.INFO)
    torch.set_num_threads(loso_args.cpu_threads)
    experiment = LOSOExperiment.prepare(loso_args, training_args)
    if loso_args.train_full:
        return experiment.train_full()
    return experiment.run(started_at=started_at, command=shlex.join(["python", "examples/run_loso.py", *argv]))


if __name__ == "__main__":
    try:
        main()
    # What the user can fix: bad arguments or data (ValueError), and paths that are missing, unreadable or
    # unwritable (OSError; the message names the path). Anything else is a bug and keeps its traceback.
    # A fold that failed in a worker process (FoldError) names its subject and seed; the finished folds are kept.
    except (ValueError, OSError, FoldError) as error:
        sys.exit(f"run_loso.py: error: {error}")
    except KeyboardInterrupt:  # a job array's unfinished tasks were cancelled, and that was said
        print("run_loso.py: interrupted; the finished folds are kept, and re-running resumes.", file=sys.stderr)
        sys.exit(130)

"""`epir-compare RUN_A RUN_B` (or `epir-hf compare`): is the UF1 / UAR gap between two LOSO runs more than noise?

Why a command: a results table invites reading every gap as a ranking. This prints A − B with its paired bootstrap
interval over the held-out subjects, overall and per corpus, so that only the gaps the interval separates from zero
are called differences. RUN_A and RUN_B are LOSO output dirs: one run (run_config.json and folds/), or a `--seeds`
folder whose seed runs are paired by seed; see `epir_hf.evaluation.paired_bootstrap` for what the interval measures.
"""

from __future__ import annotations

import argparse

import numpy as np

from ..evaluation.paired_bootstrap import CONFIDENCE, DRAWS, METRICS, SEED, compare_runs
from ..training.cli import run_command


def format_comparison(comparison: dict) -> str:
    """The printed table: one line per group, each metric as `A  B  A−B [low, high]`, `*` where the interval
    excludes 0."""
    level = f"{comparison['confidence']:.0%}"
    lines = [f"A: {comparison['a']}", f"B: {comparison['b']}",
             f"A − B with its {level} paired bootstrap interval over held-out subjects ({comparison['draws']:,} "
             f"draws, seed {comparison['seed']}); * = the interval excludes 0",
             f"{'':<9}{'subjects':>9}  " + "  ".join(f"{name.upper() + ' A':>7} {name.upper() + ' B':>7} "
                                                     f"{'A − B [interval]':<27}" for name in METRICS)]
    for name, group in [("overall", comparison["overall"]), *comparison["per_corpus"].items()]:
        cells = []
        for metric in METRICS:
            figures = group[metric]
            separated = "*" if figures["low"] > 0 or figures["high"] < 0 else " "
            bounds = ("one subject: none" if np.isnan(figures["low"])
                      else f"{figures['low']:+.4f}, {figures['high']:+.4f}")
            interval = f"{figures['difference']:+.4f} [{bounds}]{separated}"
            cells.append(f"{figures['a']:>7.4f} {figures['b']:>7.4f} {interval:<27}")
        lines.append(f"{name:<9}{group['subjects']:>9}  " + "  ".join(cells))
    return "\n".join(line.rstrip() for line in lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="epir-compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_a", help="a LOSO output dir: one run, or a folder of seed runs (seed1/, seed2/, ...)")
    parser.add_argument("run_b", help="the run (or seeds) to compare with, over the same subjects and samples")
    parser.add_argument("--draws", type=int, default=DRAWS, help=f"bootstrap draws (default {DRAWS})")
    parser.add_argument("--seed", type=int, default=SEED, help=f"seed of the draws (default {SEED})")
    parser.add_argument("--confidence", type=float, default=CONFIDENCE,
                        help=f"confidence level of the interval (default {CONFIDENCE})")
    args = parser.parse_args(argv)
    print(format_comparison(compare_runs(args.run_a, args.run_b, args.draws, args.seed, args.confidence)))
    return 0


def cli() -> None:
    """The `epir-compare` console script."""
    run_command(main, "epir-compare")

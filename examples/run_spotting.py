#!/usr/bin/env python
"""Spotting, and spot-then-recognise, on a long-video corpus, leave one subject out wherever anything is fitted.

For each subject, the spotter's thresholds (and the MEGC2019 LBP baseline's) are fitted on the other subjects'
videos and applied to that subject's; every spotted micro-expression is classified by the model on its onset→apex
pair. Results: `folds/<subject>.json` (each video's events, with the thresholds used) and `results.json` (MEGC
spotting F1 overall and per kind, the baseline's micro F1 on the same videos, false positives per minute, STRS).

    # the built-in generated corpus (held-out generator seed), no data needed
    python examples/run_spotting.py --output_dir runs/spotting
    # the same with real face crops of the MEGC2019 composite moved by the action-unit fields
    python examples/run_spotting.py --faces real --data_dir $EPIR_COMPOSITE_DIR --output_dir runs/spotting-real
    # a licensed long-video corpus
    python examples/run_spotting.py --dataset samm_long --data_dir /data/SAMM_longvideos --output_dir runs/samm

Each video's signals are kept under `<output_dir>/signals/`, so re-running (after an interruption, or with another
model) measures only the videos not yet measured.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from transformers import pipeline

import epir_hf  # noqa: F401  (registers the pipelines)
from dataset_scripts import load_me_dataset
from epir_hf.evaluation.spotting_evaluation import evaluate_corpus, recogniser

GENERATED = "synthetic_long"


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="run_spotting.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default=GENERATED, help="a long-video corpus of load_me_dataset "
                        "(synthetic_long, casme2_long, samm_long, casme3_long)")
    parser.add_argument("--data_dir", help="the corpus' folder (for synthetic_long: the composite, with --faces real)")
    parser.add_argument("--output_dir", required=True, help="where folds/, results.json and signals/ are written")
    parser.add_argument("--model", default=str(Path(__file__).resolve().parents[1] / "checkpoints"
                                               / "epir-megc2019-3class"),
                        help="the recognition model (a saved folder or Hub id); default: the release checkpoint")
    parser.add_argument("--no_recognition", action="store_true", help="spot only; no STRS")
    generated = parser.add_argument_group("synthetic_long")
    generated.add_argument("--split", default="held_out", choices=("development", "held_out"),
                           help="generator seed: held_out (default, for reporting) or development")
    generated.add_argument("--faces", default="drawn", choices=("drawn", "real"))
    generated.add_argument("--num_subjects", type=int, default=10)
    generated.add_argument("--videos_per_subject", type=int, default=2)
    generated.add_argument("--duration", type=float, default=60.0, help="seconds per video")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_arguments(argv)
    options = {}
    if args.dataset == GENERATED:
        options = {"split": args.split, "faces": args.faces, "num_subjects": args.num_subjects,
                   "videos_per_subject": args.videos_per_subject, "duration": args.duration}
    rows = list(load_me_dataset(args.dataset, args.data_dir, **options))
    classify = None if args.no_recognition else recogniser(
        pipeline("micro-expression-recognition", model=args.model, trust_remote_code=True))
    invocation = {"command": "python examples/run_spotting.py " + " ".join(sys.argv[1:] if argv is None else argv),
                  "dataset": args.dataset, "options": options, "model": args.model}
    results = evaluate_corpus(rows, args.output_dir, classify, invocation=invocation)
    spotting = results["spotting"]
    print(json.dumps({"micro_f1": spotting.get("micro_f1"), "macro_f1": spotting.get("macro_f1"),
                      "f1": spotting["f1"], "baseline_micro_f1": results["baseline_micro_f1"],
                      "false_positives_per_minute": results["false_positives_per_minute"],
                      "strs": results.get("strs", {}).get("strs")}, indent=1))
    return results


if __name__ == "__main__":
    try:
        main()
    except (ValueError, OSError) as error:
        sys.exit(f"run_spotting.py: error: {error}")
    except KeyboardInterrupt:
        print("run_spotting.py: interrupted; the videos measured are kept under signals/, and re-running resumes.",
              file=sys.stderr)
        sys.exit(130)

"""`epir-hf predict INPUT... --output predictions.jsonl`: the class of each micro-expression input, one row each.

Why a command: classifying a folder of clips or a sheet of onset/apex pairs should not need a notebook. Each input
(`predict_inputs` says how arguments become inputs) goes through the `micro-expression-recognition` pipeline; its
row (`prediction_file` gives the columns) is appended to the output as soon as it is done, so an interrupted run
keeps what it finished and a re-run skips it. An input that fails is reported on its own line, with the pipeline's
message, and the others go on; the exit status is 0 when every input was predicted, 1 when some failed, 2 for a usage
error (nothing predicted). Under `accelerate launch` the processes share the inputs and the main process writes.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import torch
from accelerate import PartialState
from accelerate.utils import gather_object
from tqdm.auto import tqdm

from ..pipeline_epir import TASK
from .predict_inputs import Sample, read_inputs
from .prediction_file import PredictionFile, check_output_path, prediction_row
from .release import MODEL_HELP, load_pipeline, model_or_release

PROG = "epir-hf predict"
Outcome = tuple[dict[str, Any] | None, str | None]
"""What became of one input: its row, or the one-line message of its failure."""


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (no usage block), as the command's other errors are."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Classify micro-expressions: one row per input (label, score, the "
                     "probability of each class).",
                     epilog="INPUT: ONSET_IMAGE APEX_IMAGE (a pair), a CSV of pairs (columns onset, apex, optional "
                            "id), a video, a folder of frames (one clip), or a folder of videos and frame folders. "
                            "Exit status: 0 all predicted, 1 some failed, 2 usage error. Details: docs/cli.md.")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="what to classify (see below)")
    parser.add_argument("--output", required=True, help="the .jsonl or .csv file of rows; a re-run appends the "
                        "inputs it does not hold yet")
    parser.add_argument("--model", help=MODEL_HELP)
    parser.add_argument("--device", help='torch device, e.g. "cuda:0" (default: CPU; under accelerate launch, each '
                        "process's own)")
    return parser


def one_line(error: BaseException, name: str) -> str:
    """The error's message on one line, beginning with the input's name (the pipeline's messages already do)."""
    message = " ".join(str(error).split())
    return message if message.startswith(name) else f"{name}: {message}"


def predict_in_rounds(samples: list[Sample], predict: Callable[[Sample], Outcome],
                      state: PartialState) -> Iterator[list[Outcome]]:
    """Predict `samples` with the inputs split between the processes; yield, round by round, what every process did.

    Why rounds: the main process writes each round's rows as soon as all processes are through it, so an interrupted
    multi-process run keeps what it finished, as a single process does. Each process takes one of its inputs per
    round; a process whose share is shorter (by one at most) adds nothing to the last round.
    """
    with state.split_between_processes(samples) as share:
        share = list(share)
    for index in range(math.ceil(len(samples) / state.num_processes)):
        yield gather_object([predict(share[index])] if index < len(share) else [])


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    state = PartialState(cpu=not torch.cuda.is_available() or (args.device or "").startswith("cpu"))
    try:
        return predict_all(args, state)
    finally:
        # Under accelerate launch: a gloo group left to the interpreter's exit can abort the process after its work
        # is done ("terminate called without an active exception"), which fails the whole launch.
        state.destroy_process_group()


def predict_all(args: argparse.Namespace, state: PartialState) -> int:
    """The command's work in this process, which may be one of several (see the module doc)."""

    def usage_error(message: Any) -> int:
        if state.is_main_process:
            print(f"{PROG}: error: {message}", file=sys.stderr)
        return 2

    try:
        check_output_path(args.output)
        samples, bad = read_inputs(args.inputs)
        model = model_or_release(args.model)
        device = args.device or (None if state.device.type == "cpu" else state.device)
        recognize = load_pipeline(TASK, model, device=device)
    except (ValueError, FileNotFoundError) as error:
        return usage_error(error)
    config = recognize.model.config
    labels = [config.id2label[index] for index in range(config.num_labels)]
    output = PredictionFile(args.output, labels)
    try:
        done = output.done()
    except ValueError as error:
        return usage_error(error)
    pending = list(dict.fromkeys(sample for sample in samples if sample.key not in done))
    state.wait_for_everyone()  # every process has read the file before the main one appends to it

    def predict(sample: Sample) -> Outcome:
        try:
            result = recognize(sample.pipeline_input(), top_k=len(labels))
        except (ValueError, OSError) as error:
            return None, one_line(error, sample.id)
        return prediction_row(sample, result, labels), None

    report = state.is_main_process
    for item in bad if report else ():
        print(f"{PROG}: {item.input}: {item.reason}", file=sys.stderr)
    failed = len(bad)
    with (output.open() if report else contextlib.nullcontext()) as writer, \
            tqdm(total=len(pending), desc="predict", unit="input", disable=not report) as progress:
        try:
            for outcomes in predict_in_rounds(pending, predict, state):
                for row, message in outcomes:
                    if row is None:
                        failed += 1
                        if report:
                            progress.write(f"{PROG}: {message}", file=sys.stderr)
                    elif report:
                        writer.write(row)
                progress.update(len(outcomes))
        except KeyboardInterrupt:
            if report:
                print(f"{PROG}: interrupted; {args.output} holds the inputs finished", file=sys.stderr)
            return 130
    if report:
        print(f"{PROG}: {len(pending) - (failed - len(bad))} predicted, {len(set(samples)) - len(pending)} already "
              f"in {args.output}, {failed} failed", file=sys.stderr)
    return 1 if failed else 0

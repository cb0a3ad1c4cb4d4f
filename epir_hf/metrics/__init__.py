"""Evaluation modules shipped with epir_hf, loadable with `evaluate.load(path)` and no Hub access; the plain interval
matching functions the spotting modules share are in `epir_hf.metrics.spotting`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evaluate import EvaluationModule

MICRO_EXPRESSION_METRICS_PATH = str(Path(__file__).parent / "micro_expression_metrics")
"""Local path of the UF1 / UAR / accuracy module: `evaluate.load(MICRO_EXPRESSION_METRICS_PATH)`."""

MICRO_EXPRESSION_SPOTTING_PATH = str(Path(__file__).parent / "micro_expression_spotting")
"""Local path of the spotting precision / recall / F1 module: `evaluate.load(MICRO_EXPRESSION_SPOTTING_PATH)`."""

SPOT_THEN_RECOGNIZE_PATH = str(Path(__file__).parent / "spot_then_recognize")
"""Local path of the Spot-Then-Recognize Score (STRS) module: `evaluate.load(SPOT_THEN_RECOGNIZE_PATH)`."""


def load_in_memory(path: str) -> EvaluationModule:
    """`evaluate.load(path)` of one of these modules, kept in memory: the package scores this way.

    Why: on disk, every `compute` writes an Arrow file under one file lock per module in the user's cache, so
    processes scoring at once (fold workers, two runs, parallel tests) wait a second for each other per score and leave
    a lock file behind for each such wait; the few hundred predictions or events of a score need no disk."""
    import evaluate

    return evaluate.load(path, keep_in_memory=True)

"""Evaluation modules shipped with epir_hf, loadable with `evaluate.load(path)` and no Hub access; the plain interval
matching functions the spotting modules share are in `epir_hf.metrics.spotting`."""

from pathlib import Path

MICRO_EXPRESSION_METRICS_PATH = str(Path(__file__).parent / "micro_expression_metrics")
"""Local path of the UF1 / UAR / accuracy module: `evaluate.load(MICRO_EXPRESSION_METRICS_PATH)`."""

MICRO_EXPRESSION_SPOTTING_PATH = str(Path(__file__).parent / "micro_expression_spotting")
"""Local path of the spotting precision / recall / F1 module: `evaluate.load(MICRO_EXPRESSION_SPOTTING_PATH)`."""

SPOT_THEN_RECOGNIZE_PATH = str(Path(__file__).parent / "spot_then_recognize")
"""Local path of the Spot-Then-Recognize Score (STRS) module: `evaluate.load(SPOT_THEN_RECOGNIZE_PATH)`."""

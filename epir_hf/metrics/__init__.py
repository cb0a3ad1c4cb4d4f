"""Evaluation modules shipped with epir_hf, loadable with `evaluate.load(path)` and no Hub access."""

from pathlib import Path

MICRO_EXPRESSION_METRICS_PATH = str(Path(__file__).parent / "micro_expression_metrics")
"""Local path of the UF1 / UAR / accuracy module: `evaluate.load(MICRO_EXPRESSION_METRICS_PATH)`."""

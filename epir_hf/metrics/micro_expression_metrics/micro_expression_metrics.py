"""UF1 / UAR / accuracy for micro-expression recognition, as an `evaluate` module.

Micro-expression corpora are small and heavily imbalanced (the MEGC2019 composite is 57 % "negative"), so
the field scores a leave-one-subject-out run on the predictions pooled over all folds with two class-balanced
numbers: UF1 (unweighted F1, the mean over classes of 2TP / (2TP + FP + FN)) and UAR (unweighted average
recall, the mean over classes of TP / N_c). They are computed here from the confusion matrix with the
MEGC2019 definitions, so that the tests can check them against scikit-learn as an independent reference.

Load it without the Hub::

    import evaluate
    from epir_hf.metrics import MICRO_EXPRESSION_METRICS_PATH
    metric = evaluate.load(MICRO_EXPRESSION_METRICS_PATH)
    metric.compute(predictions=[0, 1, 2], references=[0, 1, 1], num_labels=3)
"""

from __future__ import annotations

import datasets
import evaluate
import numpy as np

_DESCRIPTION = """\
UF1 (macro F1), UAR (macro recall) and accuracy over micro-expression class predictions. Classes that occur
neither in the references nor in the predictions are left out of the macro averages unless `labels` or
`num_labels` names them; a named class with no reference and no prediction counts as 0 (scikit-learn's
`zero_division=0`).
"""

_KWARGS_DESCRIPTION = """\
Args:
    predictions (`list[int]`): predicted class ids.
    references (`list[int]`): ground-truth class ids.
    labels (`list[int]`, *optional*): the classes to average over, in this order.
    num_labels (`int`, *optional*): shorthand for `labels=range(num_labels)`.
Returns:
    uf1 (`float`): macro F1. uar (`float`): macro recall. accuracy (`float`).
    per_class_f1, per_class_recall (`list[float]`): in the order of `labels`.
    labels (`list[int]`): the classes averaged over. num_samples (`int`).
"""

_CITATION = """\
@inproceedings{see2019megc,
  title={MEGC 2019 -- The Second Facial Micro-Expressions Grand Challenge},
  author={See, John and Yap, Moi Hoon and Li, Jingting and Hong, Xiaopeng and Wang, Su-Jing},
  booktitle={IEEE International Conference on Automatic Face \\& Gesture Recognition (FG)},
  year={2019}
}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class MicroExpressionMetrics(evaluate.Metric):
    """UF1, UAR and accuracy of class predictions (see module docstring)."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
            ),
            reference_urls=["https://facial-micro-expressiongc.github.io/MEGC2019/"],
        )

    def _compute(
        self,
        predictions: list[int],
        references: list[int],
        labels: list[int] | None = None,
        num_labels: int | None = None,
    ) -> dict:
        predictions = np.asarray(predictions, dtype=np.int64)
        references = np.asarray(references, dtype=np.int64)
        if len(references) == 0:
            raise ValueError("micro_expression_metrics: no predictions to score (got 0 samples).")
        if labels is None:
            labels = range(num_labels) if num_labels is not None else np.union1d(references, predictions)
        labels = [int(label) for label in labels]
        unknown = sorted(set(np.union1d(references, predictions).tolist()) - set(labels))
        if unknown:
            raise ValueError(f"micro_expression_metrics: class ids {unknown} are not among labels={labels}.")
        index = {label: i for i, label in enumerate(labels)}
        confusion = np.zeros((len(labels), len(labels)), dtype=np.int64)
        np.add.at(confusion, ([index[r] for r in references.tolist()], [index[p] for p in predictions.tolist()]), 1)
        f1, recall = class_scores(confusion)
        return {
            "uf1": float(f1.mean()),
            "uar": float(recall.mean()),
            "accuracy": float(np.trace(confusion) / len(references)),
            "per_class_f1": f1.tolist(),
            "per_class_recall": recall.tolist(),
            "labels": labels,
            "num_samples": int(len(references)),
        }


def class_scores(confusion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class F1 and recall of confusion matrices (rows = true class, columns = predicted; any leading axes).

    Public so that a bootstrap can score thousands of resampled confusion matrices at once with the very definitions
    of this module, instead of calling `compute` once per draw.
    """
    confusion = np.asarray(confusion, dtype=np.float64)
    true_positives = np.diagonal(confusion, axis1=-2, axis2=-1)
    support = confusion.sum(axis=-1)
    predicted = confusion.sum(axis=-2)
    return _safe_divide(2 * true_positives, support + predicted), _safe_divide(true_positives, support)


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """0/0 -> 0, scikit-learn's `zero_division=0`."""
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)

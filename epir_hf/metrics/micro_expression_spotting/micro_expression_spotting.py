"""Micro-expression spotting precision / recall / F1 in long videos, as an `evaluate` module.

The MEGC spotting challenges (from MEGC2019) score a spotting method on intervals: a predicted
`[onset, offset]` (frames, both ends included) is a true positive when its IoU with a ground-truth interval of the
same video is at least 0.5, one-to-one; TP, FP and FN are summed over all videos, then precision, recall and F1 are
taken. The matching, the zero divisions and the treatment of micro / macro kinds are those of
`epir_hf.metrics.spotting.spotting_scores`, which this module calls (see its docstrings):

- several predictions on one ground truth: one is a true positive, the others false positives; of all one-to-one
  matchings the one with the most true positives is taken (ties: largest total IoU);
- zero divisions give 0: no predictions -> precision 0, no ground truth -> recall 0, neither -> all three 0;
- with kinds, a prediction can only match a ground truth of its own kind, each kind is scored on its own as the
  MEGC2020 baseline scores micro- and macro-expression spotting, and the overall figures pool both kinds' counts.

Load it without the Hub::

    import evaluate
    from epir_hf.metrics import MICRO_EXPRESSION_SPOTTING_PATH
    spotting = evaluate.load(MICRO_EXPRESSION_SPOTTING_PATH)
    spotting.compute(predictions=[[[10, 20]], []], references=[[[12, 22]], [[5, 9]]])
    # {'precision': 1.0, 'recall': 0.5, 'f1': 0.666..., 'tp': 1, 'fp': 0, 'fn': 1}
    spotting.compute(predictions=[[[10, 20]]], references=[[[12, 22]]],
                     prediction_kinds=[["macro"]], reference_kinds=[["micro"]])
    # tp 0: the kinds differ; micro_fn 1, macro_fp 1
"""

from __future__ import annotations

import datasets
import evaluate

from epir_hf.metrics.spotting import MEGC_IOU_THRESHOLD, spotting_scores

_DESCRIPTION = """\
Interval spotting scores over long videos: precision, recall and F1 of predicted [onset, offset] intervals against
ground-truth ones, a true positive being a one-to-one match at IoU >= 0.5 (frames counted with both ends included),
counts pooled over videos. Optional micro / macro kinds score each kind on its own, as MEGC2020 does. Zero
divisions give 0 (no predictions and no ground truth: precision = recall = F1 = 0).
"""

_KWARGS_DESCRIPTION = """\
Args:
    predictions (`list[list[list[int]]]`): per video, the predicted [onset, offset] intervals (may be empty).
    references (`list[list[list[int]]]`): per video, the ground-truth [onset, offset] intervals (may be empty).
    prediction_kinds (`list[list[str]]`, *optional*): per video, "micro" or "macro" for each predicted interval.
    reference_kinds (`list[list[str]]`, *optional*): per video, "micro" or "macro" for each ground-truth interval;
        give both kinds or neither. They are `compute` arguments, so with `add_batch` they cover every video added,
        in the order added.
    iou_threshold (`float`, *optional*, defaults to 0.5): IoU at which a pair is a true positive.
Returns:
    precision, recall, f1 (`float`), tp, fp, fn (`int`); with kinds also micro_precision, micro_recall, micro_f1,
    micro_tp, micro_fp, micro_fn and the same for macro.
"""

_CITATION = """\
@inproceedings{li2019megc,
  title={Spotting Micro-Expressions on Long Videos Sequences},
  author={Li, Jingting and Soladie, Catherine and Seguier, Renaud and Wang, Su-Jing and Yap, Moi Hoon},
  booktitle={IEEE International Conference on Automatic Face \\& Gesture Recognition (FG)},
  year={2019}
}
@inproceedings{he2020spotting,
  title={Spotting Macro- and Micro-expression Intervals in Long Video Sequences},
  author={He, Ying and Wang, Su-Jing and Li, Jingting and Yap, Moi Hoon},
  booktitle={IEEE International Conference on Automatic Face \\& Gesture Recognition (FG)},
  year={2020}
}
"""

# Frames are declared float64 so that a fractional frame reaches the check in `spotting_scores` and is refused
# there, naming the video; an int64 feature would have the Arrow cast truncate 12.5 to 12 without a word.
_INTERVALS = datasets.List(datasets.List(datasets.Value("float64")))


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class MicroExpressionSpotting(evaluate.Metric):
    """Spotting precision, recall and F1 over intervals (see module docstring)."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": _INTERVALS, "references": _INTERVALS}),
            reference_urls=["https://github.com/HeyingGithub/Baseline-project-for-MEGC2020_spotting"],
        )

    def _compute(
        self,
        predictions: list[list[list[float]]],
        references: list[list[list[float]]],
        prediction_kinds: list[list[str]] | None = None,
        reference_kinds: list[list[str]] | None = None,
        iou_threshold: float = MEGC_IOU_THRESHOLD,
    ) -> dict:
        return spotting_scores(predictions, references, prediction_kinds, reference_kinds, iou_threshold)

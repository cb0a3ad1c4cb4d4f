"""The Spot-Then-Recognize Score (STRS) of micro-expression analysis in long videos, as an `evaluate` module.

The spot-then-recognize (STR) task of MEGC2025 asks a method to find the micro-expressions of a long video and name
their emotion. STRS scores both steps at once: the F1 of spotting times the F1 of recognising the emotion of what
was spotted, so a method gets nothing for labelling intervals it did not find.

Definition (Liong, See & Chan, "Spot-then-recognize: a micro-expression analysis network for seamless evaluation of
long videos", Signal Processing: Image Communication 110, 116875, 2023; scored by the public STRS-Metric script,
https://github.com/genbing99/STRS-Metric, `strs_metric.py` at commit eb86468f793400bf46cc13b4be0d32faafe72b8a,
cross-checked against it on its own example inputs, see tests/test_spotting_metrics.py):

1. Spotting: a predicted `[onset, offset]` (frames, both ends included) is a true positive when its IoU with a
   ground-truth interval of the same video is >= 0.5, one-to-one; with TP, FP, FN summed over videos,
   P_spot = TP / (TP + FP), R_spot = TP / (TP + FN), F1_spot = 2 P_spot R_spot / (P_spot + R_spot).
2. Recognition ("analysis"), on the spotted true positives only: each is a (ground-truth emotion, predicted
   emotion) pair; pairs whose ground-truth emotion is not among the scored classes C are left out (C defaults to
   every emotion among the ground truths). For each class c, one-vs-rest over the pairs: TP_c (both c), FP_c
   (predicted c, truth another), FN_c (truth c, predicted another), P_c = TP_c / (TP_c + FP_c),
   R_c = TP_c / (TP_c + FN_c). With P_rec and R_rec the means of P_c and R_c over C,
   F1_rec = 2 P_rec R_rec / (P_rec + R_rec), the harmonic mean of macro precision and macro recall (not the mean of
   the per-class F1s, which is reported as UF1 beside it).
3. STRS = F1_spot x F1_rec.

Every 0 / 0 above counts as 0. Where the script departs from this definition, always in edge cases, this module
follows the definition; the numbers differ only in these cases:

- matching: the script walks the predictions in submission order, gives each the first free ground truth it
  overlaps enough, and does not stop at the first, so one prediction overlapping two ground truths counts twice;
  here the matching is one-to-one with the most true positives, then the largest total IoU
  (`epir_hf.metrics.spotting.match_intervals`). Of several predictions on one ground truth the script keeps the
  earliest submitted and this module the closest, which can change the emotion pair scored;
- videos: the script visits only the videos that have ground truth, of subjects that have predictions, so it
  ignores predictions in a video without ground truth and the ground truths of a subject without predictions;
  here every video of the lists counts;
- zero divisions: the script leaves F1_rec = 0 / 0 as NaN (so STRS is NaN) when no spotted interval has the right
  emotion, and stops with a KeyError when nothing is spotted at all; here both give 0;
- one class: when every pair kept is a correct c, the script's one-vs-rest confusion matrix collapses to 1 x 1 and
  it scores c as 0 (so STRS is NaN); here c scores 1;
- UAR: the script's "UAR analysis" averages the per-class precisions; `recognition_uar` here is the mean per-class
  recall (equal to `recognition_recall`).

Load it without the Hub::

    import evaluate
    from epir_hf.metrics import SPOT_THEN_RECOGNIZE_PATH
    strs = evaluate.load(SPOT_THEN_RECOGNIZE_PATH)
    strs.compute(predictions=[[[0, 70]], [[20, 90]]], references=[[[20, 75]], [[45, 95]]],
                 prediction_labels=[["others"], ["happiness"]], reference_labels=[["others"], ["repression"]])
    # spotting_f1 1.0; classes others, repression; P_rec = R_rec = 0.5 -> strs 0.5
"""

from __future__ import annotations

import datasets
import evaluate
import numpy as np

from epir_hf.metrics.spotting import (
    MEGC_IOU_THRESHOLD,
    check_video_labels,
    check_videos,
    count_scores,
    match_videos,
    pooled_counts,
    precision_recall_f1,
)

_DESCRIPTION = """\
Spot-Then-Recognize Score (STRS) = spotting F1 x recognition F1. Spotting: predicted [onset, offset] intervals
match ground truths one-to-one at IoU >= 0.5 (frames counted with both ends included), counts pooled over videos.
Recognition: on the matched pairs, the harmonic mean of the macro precision and macro recall of the predicted
emotions over the scored classes (default: every ground-truth emotion). 0 / 0 counts as 0.
"""

_KWARGS_DESCRIPTION = """\
Args:
    predictions (`list[list[list[int]]]`): per video, the predicted [onset, offset] intervals (may be empty).
    references (`list[list[list[int]]]`): per video, the ground-truth [onset, offset] intervals (may be empty).
    prediction_labels (`list[list[str]]`): per video, the predicted emotion of each predicted interval.
    reference_labels (`list[list[str]]`): per video, the emotion of each ground-truth interval.
    labels (`list[str]`, *optional*): the classes the recognition part averages over, in this order; spotted pairs
        whose ground truth is another emotion are left out of it. Default: every emotion among the ground truths,
        sorted.
    iou_threshold (`float`, *optional*, defaults to 0.5): IoU at which a spotted pair is a true positive.
Returns:
    strs (`float`).
    spotting_precision, spotting_recall, spotting_f1 (`float`), spotting_tp, spotting_fp, spotting_fn (`int`).
    recognition_precision, recognition_recall (`float`): macro precision and recall over the classes.
    recognition_f1 (`float`): their harmonic mean, the factor of STRS.
    recognition_uf1, recognition_uar (`float`): mean per-class F1 and recall.
    labels (`list[str]`), per_class_precision, per_class_recall, per_class_f1 (`list[float]`, in that order).
"""

_CITATION = """\
@article{liong2023spot,
  title={Spot-then-recognize: A micro-expression analysis network for seamless evaluation of long videos},
  author={Liong, Gen-Bing and See, John and Chan, Chee-Seng},
  journal={Signal Processing: Image Communication},
  volume={110},
  pages={116875},
  year={2023}
}
"""

# Frames are float64 so that a fractional frame reaches `check_videos` and is refused there, naming the video;
# an int64 feature would have the Arrow cast truncate it without a word.
_INTERVALS = datasets.List(datasets.List(datasets.Value("float64")))
_LABELS = datasets.List(datasets.Value("string"))


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class SpotThenRecognize(evaluate.Metric):
    """STRS and its spotting and recognition parts (see module docstring)."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({
                "predictions": _INTERVALS,
                "references": _INTERVALS,
                "prediction_labels": _LABELS,
                "reference_labels": _LABELS,
            }),
            reference_urls=["https://github.com/genbing99/STRS-Metric"],
        )

    def _compute(
        self,
        predictions: list[list[list[float]]],
        references: list[list[list[float]]],
        prediction_labels: list[list[str]],
        reference_labels: list[list[str]],
        labels: list[str] | None = None,
        iou_threshold: float = MEGC_IOU_THRESHOLD,
    ) -> dict:
        predicted = check_videos(predictions, "predictions")
        reference = check_videos(references, "references")
        predicted_labels = check_video_labels(prediction_labels, predicted, "prediction_labels", "predictions")
        true_labels = check_video_labels(reference_labels, reference, "reference_labels", "references")
        classes = _classes(labels, true_labels)

        matches = match_videos(predicted, reference, iou_threshold)
        spotting = count_scores(*pooled_counts(matches, predicted, reference), prefix="spotting_")
        pairs = [(true_labels[video][reference_index], predicted_labels[video][prediction_index])
                 for video, video_matches in enumerate(matches) for prediction_index, reference_index in video_matches]
        pairs = [(truth, prediction) for truth, prediction in pairs if truth in classes]
        per_class = np.array([
            precision_recall_f1(
                tp=sum(truth == label and prediction == label for truth, prediction in pairs),
                fp=sum(truth != label and prediction == label for truth, prediction in pairs),
                fn=sum(truth == label and prediction != label for truth, prediction in pairs),
            )
            for label in classes
        ]).reshape(-1, 3)
        precision, recall, uf1 = per_class.mean(axis=0) if classes else (0.0, 0.0, 0.0)
        recognition_f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {
            "strs": float(spotting["spotting_f1"] * recognition_f1),
            **spotting,
            "recognition_precision": float(precision),
            "recognition_recall": float(recall),
            "recognition_f1": float(recognition_f1),
            "recognition_uf1": float(uf1),
            "recognition_uar": float(recall),
            "labels": classes,
            "per_class_precision": per_class[:, 0].tolist(),
            "per_class_recall": per_class[:, 1].tolist(),
            "per_class_f1": per_class[:, 2].tolist(),
        }


def _classes(labels: list[str] | None, true_labels: list[list[str]]) -> list[str]:
    """The classes of the recognition part: `labels` as given, else every ground-truth emotion, sorted."""
    if labels is None:
        return sorted({label for video in true_labels for label in video})
    if isinstance(labels, str) or not all(isinstance(label, str) for label in labels) or not labels:
        raise ValueError(f"labels: expected a non-empty list of emotion names, got {labels!r}")
    if len(set(labels)) != len(labels):
        raise ValueError(f"labels: {labels!r} names a class twice")
    return list(labels)

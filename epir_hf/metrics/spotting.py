"""Spotting scores: frame-interval IoU, one-to-one matching of predicted to ground-truth intervals, precision,
recall and F1 pooled over videos, as the MEGC spotting challenges (2019 onwards) score them.

Plain functions, so that the spotting harness and both evaluate modules (`micro_expression_spotting`,
`spot_then_recognize`) use one definition of a true positive.

The MEGC rule: an interval is `[onset, offset]` in frames, both ends included, and a predicted interval is a true
positive when its IoU with a ground-truth interval of the same video is at least 0.5 (0.5 exactly counts), each
ground truth matching at most one prediction and each prediction at most one ground truth. Unmatched predictions
are false positives, unmatched ground truths false negatives, and the counts are summed over all videos before
precision, recall and F1 are taken.

Which pairs match: the public scoring scripts differ in corner cases. The MEGC2020 spotting baseline
(github.com/HeyingGithub/Baseline-project-for-MEGC2020_spotting, `result_helper.py`) counts every ground truth that
some prediction overlaps enough; the STRS script (github.com/genbing99/STRS-Metric) walks the predictions in
submission order and gives each the first free ground truth it overlaps enough. Both count as many true positives
as a one-to-one matching whenever each prediction overlaps at most one ground truth enough, which holds whenever a
video's ground truths do not overlap each other, but for the exact tie of a prediction split evenly between two
touching ones. Here the matching is the one-to-one assignment with the most pairs, and among those the largest
total IoU (`scipy.optimize.linear_sum_assignment`), so of several predictions on one ground truth the closest one
is the true positive.

Zero divisions count as 0, as in the MEGC scripts: no predictions gives precision 0, no ground truth recall 0, and
a video set with neither gives precision = recall = F1 = 0 (there is nothing to credit).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from epir_hf.spotting import EVENT_KINDS

Interval = tuple[int, int]

MEGC_IOU_THRESHOLD = 0.5
"""A prediction is a true positive at IoU >= 0.5 with a ground truth (MEGC2019 onwards)."""


def _iou_matrix(predictions: Sequence[Interval], references: Sequence[Interval]) -> np.ndarray:
    """IoU of every prediction (rows) with every reference (columns), counting frames with both ends included."""
    predicted = np.asarray(predictions, dtype=np.int64).reshape(-1, 2)
    reference = np.asarray(references, dtype=np.int64).reshape(-1, 2)
    start = np.maximum(predicted[:, None, 0], reference[None, :, 0])
    end = np.minimum(predicted[:, None, 1], reference[None, :, 1])
    intersection = np.clip(end - start + 1, 0, None)
    lengths = (predicted[:, 1] - predicted[:, 0] + 1)[:, None] + (reference[:, 1] - reference[:, 0] + 1)[None, :]
    return intersection / (lengths - intersection)


def check_frame_interval(interval: Sequence, where: str) -> Interval:
    """`interval` as an `(onset, offset)` pair of ints; a ValueError naming `where` unless it is a pair of integral
    frame numbers with onset <= offset.

    Integral floats pass (`3.0` -> 3): the evaluate modules receive frames as floats, see their features.
    Negative frames pass too: a predicted window may start before the first frame, and it is still counted frame
    by frame.
    """
    if isinstance(interval, (str, bytes)) or not isinstance(interval, (Sequence, np.ndarray)) or len(interval) != 2:
        raise ValueError(f"{where}: expected an [onset, offset] pair of frame numbers, got {interval!r}")
    for value in interval:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not float(value).is_integer():
            raise ValueError(f"{where}: frame numbers must be integers, got {value!r} in {list(interval)!r}")
    onset, offset = int(interval[0]), int(interval[1])
    if offset < onset:
        raise ValueError(f"{where}: offset {offset} comes before onset {onset}")
    return onset, offset


def check_videos(videos: Sequence[Sequence[Sequence[int]]], argument: str) -> list[list[Interval]]:
    """The intervals of each video as `(onset, offset)` pairs; a ValueError naming `argument`, the video index and
    the interval for anything else (see `check_frame_interval`)."""
    if isinstance(videos, (str, bytes)) or not isinstance(videos, (Sequence, np.ndarray)):
        raise ValueError(f"{argument}: expected one list of [onset, offset] intervals per video, got {videos!r}")
    checked = []
    for index, video in enumerate(videos):
        if isinstance(video, (str, bytes)) or not isinstance(video, (Sequence, np.ndarray)):
            raise ValueError(f"{argument}: video {index} must be a list of [onset, offset] intervals, got {video!r}")
        checked.append([check_frame_interval(interval, f"{argument}: video {index}, interval {position}")
                        for position, interval in enumerate(video)])
    return checked


def check_video_labels(
    labels: Sequence[Sequence[str]],
    videos: Sequence[Sequence[Interval]],
    argument: str,
    videos_argument: str,
    allowed: Sequence[str] | None = None,
) -> list[list[str]]:
    """`labels` (one list per video, one label per interval of `videos`) as lists of str; a ValueError naming
    `argument` and the video for a count that differs from `videos_argument`'s, and for a label outside `allowed`."""
    if isinstance(labels, (str, bytes)) or not isinstance(labels, (Sequence, np.ndarray)):
        raise ValueError(f"{argument}: expected one list of labels per video, got {labels!r}")
    if len(labels) != len(videos):
        raise ValueError(f"{argument} has {len(labels)} videos but {videos_argument} has {len(videos)}")
    checked = []
    for index, (video_labels, intervals) in enumerate(zip(labels, videos)):
        if isinstance(video_labels, (str, bytes)) or not isinstance(video_labels, (Sequence, np.ndarray)):
            raise ValueError(f"{argument}: video {index} must be a list of labels, got {video_labels!r}")
        if len(video_labels) != len(intervals):
            raise ValueError(f"{argument}: video {index} has {len(video_labels)} labels for the {len(intervals)} "
                             f"intervals of {videos_argument}; expected one label per interval")
        for position, label in enumerate(video_labels):
            if not isinstance(label, str) or (allowed is not None and label not in allowed):
                expected = f"one of {tuple(allowed)}" if allowed is not None else "a string"
                raise ValueError(f"{argument}: video {index}, interval {position} has label {label!r}; "
                                 f"expected {expected}")
        checked.append(list(video_labels))
    return checked


def interval_iou(first: Sequence[int], second: Sequence[int]) -> float:
    """|A ∩ B| / |A ∪ B| of two `[onset, offset]` intervals, counting frames with both ends included."""
    return float(_iou_matrix([check_frame_interval(first, "first")], [check_frame_interval(second, "second")])[0, 0])


def match_intervals(
    predictions: Sequence[Sequence[int]],
    references: Sequence[Sequence[int]],
    iou_threshold: float = MEGC_IOU_THRESHOLD,
) -> list[tuple[int, int]]:
    """The `(prediction index, reference index)` pairs of one video that are true positives, by prediction index.

    A pair qualifies at IoU >= `iou_threshold`; of the one-to-one matchings of qualifying pairs, the one with the
    most pairs, then the largest total IoU, is returned (see the module docstring).
    """
    _check_iou_threshold(iou_threshold)
    predicted = [check_frame_interval(interval, f"predictions[{index}]") for index, interval in enumerate(predictions)]
    reference = [check_frame_interval(interval, f"references[{index}]") for index, interval in enumerate(references)]
    if not predicted or not reference:
        return []
    iou = _iou_matrix(predicted, reference)
    qualifies = iou >= iou_threshold
    # A matching one pair short of another has at most min(n, m) - 1 pairs, so its IoU sum is below min(n, m): with
    # min(n, m) added to every qualifying pair, one more pair outweighs any IoU gain, and IoU only breaks ties.
    weight = np.where(qualifies, iou + min(iou.shape), 0.0)
    rows, columns = linear_sum_assignment(weight, maximize=True)
    return [(int(row), int(column)) for row, column in zip(rows, columns) if qualifies[row, column]]


def _check_iou_threshold(iou_threshold: float) -> None:
    if isinstance(iou_threshold, bool) or not isinstance(iou_threshold, numbers.Real) or not 0 < iou_threshold <= 1:
        raise ValueError(f"iou_threshold must be a number in (0, 1], got {iou_threshold!r}")


def precision_recall_f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Precision, recall and F1 of true/false positive and false negative counts, 0 where a denominator is 0."""
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return precision, recall, f1


def count_scores(tp: int, fp: int, fn: int, prefix: str = "") -> dict:
    """`precision`, `recall`, `f1`, `tp`, `fp`, `fn` of the counts, each key starting with `prefix`."""
    precision, recall, f1 = precision_recall_f1(tp, fp, fn)
    return {f"{prefix}precision": precision, f"{prefix}recall": recall, f"{prefix}f1": f1,
            f"{prefix}tp": tp, f"{prefix}fp": fp, f"{prefix}fn": fn}


def match_videos(
    predictions: Sequence[Sequence[Sequence[int]]],
    references: Sequence[Sequence[Sequence[int]]],
    iou_threshold: float = MEGC_IOU_THRESHOLD,
) -> list[list[tuple[int, int]]]:
    """`match_intervals` of each video: predictions and references list the same videos in the same order."""
    _check_iou_threshold(iou_threshold)
    if len(predictions) != len(references):
        raise ValueError(f"predictions has {len(predictions)} videos but references has {len(references)}")
    return [match_intervals(predicted, reference, iou_threshold)
            for predicted, reference in zip(predictions, references)]


def pooled_counts(
    matches: Sequence[Sequence[tuple[int, int]]], predictions: Sequence[Sequence], references: Sequence[Sequence]
) -> tuple[int, int, int]:
    """TP, FP and FN summed over videos: matched pairs, unmatched predictions, unmatched references."""
    tp = sum(map(len, matches))
    return tp, sum(map(len, predictions)) - tp, sum(map(len, references)) - tp


def spotting_scores(
    predictions: Sequence[Sequence[Sequence[int]]],
    references: Sequence[Sequence[Sequence[int]]],
    prediction_kinds: Sequence[Sequence[str]] | None = None,
    reference_kinds: Sequence[Sequence[str]] | None = None,
    iou_threshold: float = MEGC_IOU_THRESHOLD,
) -> dict:
    """Precision, recall, F1 and the TP / FP / FN counts of spotted intervals, pooled over videos.

    Args:
        predictions, references: one list of `[onset, offset]` intervals per video, the same videos in the same order.
        prediction_kinds, reference_kinds: optional, both or neither: one list per video giving each interval's
            kind, "micro" or "macro". With kinds, each kind is scored on its own, as the MEGC2020 baseline scores
            micro- and macro-expression spotting: a prediction can only match a ground truth of its own kind, so a macro
            prediction on a micro ground truth is one false positive (macro) and one false negative (micro).
            The overall figures then pool the counts of both kinds.
        iou_threshold: IoU at which a pair is a true positive (0.5 in every MEGC).
    Returns:
        `precision`, `recall`, `f1`, `tp`, `fp`, `fn`, and with kinds the same six prefixed by each kind
        (`micro_f1`, `macro_tp`, ...).
    """
    predicted = check_videos(predictions, "predictions")
    reference = check_videos(references, "references")
    if (prediction_kinds is None) != (reference_kinds is None):
        raise ValueError("give both prediction_kinds and reference_kinds, or neither")
    if prediction_kinds is None:
        return count_scores(*pooled_counts(match_videos(predicted, reference, iou_threshold), predicted, reference))

    predicted_kinds = check_video_labels(prediction_kinds, predicted, "prediction_kinds", "predictions", EVENT_KINDS)
    reference_kinds = check_video_labels(reference_kinds, reference, "reference_kinds", "references", EVENT_KINDS)
    per_kind = {}
    for kind in EVENT_KINDS:
        predicted_of_kind = _of_kind(predicted, predicted_kinds, kind)
        reference_of_kind = _of_kind(reference, reference_kinds, kind)
        matches = match_videos(predicted_of_kind, reference_of_kind, iou_threshold)
        per_kind[kind] = pooled_counts(matches, predicted_of_kind, reference_of_kind)
    results = count_scores(*(sum(counts) for counts in zip(*per_kind.values())))
    for kind, counts in per_kind.items():
        results.update(count_scores(*counts, prefix=f"{kind}_"))
    return results


def _of_kind(videos: list[list[Interval]], kinds: list[list[str]], kind: str) -> list[list[Interval]]:
    return [[interval for interval, label in zip(video, labels) if label == kind]
            for video, labels in zip(videos, kinds)]


__all__ = [
    "MEGC_IOU_THRESHOLD",
    "check_frame_interval",
    "check_video_labels",
    "check_videos",
    "count_scores",
    "interval_iou",
    "match_intervals",
    "match_videos",
    "pooled_counts",
    "precision_recall_f1",
    "spotting_scores",
]

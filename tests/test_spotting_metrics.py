"""Spotting metrics: the interval IoU and matching of `epir_hf.metrics.spotting`, the MEGC spotting module and the
Spot-Then-Recognize Score module, on hand-computed cases and on the STRS reference script's own examples."""

import itertools

import evaluate
import numpy as np
import pytest
from sklearn.metrics import precision_recall_fscore_support

from epir_hf.metrics import MICRO_EXPRESSION_SPOTTING_PATH, SPOT_THEN_RECOGNIZE_PATH
from epir_hf.metrics.spotting import interval_iou, match_intervals, spotting_scores


@pytest.fixture(scope="module")
def spotting():
    return evaluate.load(MICRO_EXPRESSION_SPOTTING_PATH)


@pytest.fixture(scope="module")
def strs():
    return evaluate.load(SPOT_THEN_RECOGNIZE_PATH)


# The bad-input tests use in-memory modules: an error inside `compute` leaves evaluate's cache-file lock of an
# on-disk module held, and its next `compute` waits a second for it.
@pytest.fixture(scope="module")
def spotting_in_memory():
    return evaluate.load(MICRO_EXPRESSION_SPOTTING_PATH, keep_in_memory=True)


@pytest.fixture(scope="module")
def strs_in_memory():
    return evaluate.load(SPOT_THEN_RECOGNIZE_PATH, keep_in_memory=True)


def _counts(result, prefix=""):
    return tuple(result[f"{prefix}{key}"] for key in ("tp", "fp", "fn"))


def _scores(result, prefix=""):
    return tuple(result[f"{prefix}{key}"] for key in ("precision", "recall", "f1"))


# --- interval IoU and matching ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("first", "second", "expected"), [
    ([0, 9], [5, 14], 5 / 15),  # frames 5..9 shared, 0..14 covered
    ([0, 9], [0, 9], 1.0),
    ([3, 3], [3, 3], 1.0),  # one frame is an interval of length 1, not 0
    ([0, 4], [5, 9], 0.0),  # touching, no shared frame
    ([-3, 65], [30, 55], 26 / 69),  # a window starting before the first frame still counts frame by frame
])
def test_interval_iou_counts_frames_with_both_ends(first, second, expected):
    assert interval_iou(first, second) == pytest.approx(expected)
    assert interval_iou(second, first) == pytest.approx(expected)


def test_interval_iou_equals_the_set_definition():
    rng = np.random.default_rng(0)
    for _ in range(200):
        first, second = (sorted(rng.integers(-5, 40, size=2).tolist()) for _ in range(2))
        frames_first, frames_second = set(range(first[0], first[1] + 1)), set(range(second[0], second[1] + 1))
        expected = len(frames_first & frames_second) / len(frames_first | frames_second)
        assert interval_iou(first, second) == pytest.approx(expected, abs=1e-12)


def _best_matching(predictions, references, threshold=0.5):
    """The most pairs, then the largest IoU sum, of all one-to-one matchings of qualifying pairs, by enumeration."""
    best = (0, 0.0)
    for size in range(1, min(len(predictions), len(references)) + 1):
        for rows in itertools.combinations(range(len(predictions)), size):
            for columns in itertools.permutations(range(len(references)), size):
                ious = [interval_iou(predictions[row], references[column]) for row, column in zip(rows, columns)]
                if min(ious) >= threshold:
                    best = max(best, (size, sum(ious)))
    return best


def test_matching_has_the_most_pairs_then_the_largest_iou():
    rng = np.random.default_rng(1)
    for _ in range(150):
        # A short span, so that references overlap each other and predictions compete for them.
        predictions = [sorted(rng.integers(0, 25, size=2).tolist()) for _ in range(rng.integers(0, 5))]
        references = [sorted(rng.integers(0, 25, size=2).tolist()) for _ in range(rng.integers(0, 5))]
        pairs = match_intervals(predictions, references)
        assert len({row for row, _ in pairs}) == len({column for _, column in pairs}) == len(pairs)
        assert all(interval_iou(predictions[row], references[column]) >= 0.5 for row, column in pairs)
        count, iou_sum = _best_matching(predictions, references)
        assert len(pairs) == count
        matched_iou = sum(interval_iou(predictions[row], references[column]) for row, column in pairs)
        assert matched_iou == pytest.approx(iou_sum)


def test_a_prediction_over_two_ground_truths_leaves_the_other_one_to_the_second_prediction():
    # Prediction 0 covers both ground truths at IoU 5/10 = 0.5 each; prediction 1 fits ground truth 0 only.
    # Taking the first free ground truth for prediction 0 (the challenge scripts' order) would leave one true
    # positive; the one-to-one matching with the most pairs finds two.
    assert match_intervals([[0, 9], [0, 4]], [[0, 4], [5, 9]]) == [(0, 1), (1, 0)]


def test_one_more_true_positive_outweighs_a_larger_iou_sum():
    predictions, references = [[5, 9], [6, 8], [3, 11]], [[2, 7], [7, 9], [3, 11]]
    # Qualifying IoUs: p0-r1 3/5, p0-r2 5/9, p1-r1 2/4, p2-r0 5/10, p2-r2 1. Three pairs (p0-r2, p1-r1, p2-r0) sum
    # to 1.556, two (p0-r1, p2-r2) to 1.6: the three are taken.
    assert match_intervals(predictions, references) == [(0, 2), (1, 1), (2, 0)]


def test_of_two_predictions_on_one_ground_truth_the_closest_matches():
    # IoU 20/20 = 1 and 18/20 = 0.9: one true positive, whichever comes first.
    assert match_intervals([[10, 29], [12, 29]], [[10, 29]]) == [(0, 0)]
    assert match_intervals([[12, 29], [10, 29]], [[10, 29]]) == [(1, 0)]


# --- the spotting module ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("predicted", "is_true_positive"), [
    ([0, 4998], False),  # 4999 / 10000 = 0.4999
    ([0, 4999], True),  # 5000 / 10000 = 0.5 exactly counts
    ([0, 5000], True),  # 5001 / 10000 = 0.5001
])
def test_iou_threshold_is_inclusive_at_one_half(spotting, predicted, is_true_positive):
    result = spotting.compute(predictions=[[predicted]], references=[[[0, 9999]]])
    assert _counts(result) == ((1, 0, 0) if is_true_positive else (0, 1, 1))


def test_half_of_a_ten_frame_interval_is_a_true_positive(spotting):
    # Frames counted with both ends: [0, 4] is 5 of the 10 frames of [0, 9], IoU 0.5; counting offset - onset
    # instead would give 4 / 9 and miss it.
    assert _counts(spotting.compute(predictions=[[[0, 4]]], references=[[[0, 9]]])) == (1, 0, 0)


@pytest.mark.parametrize(("predictions", "references", "counts"), [
    ([[]], [[[0, 9]]], (0, 0, 1)),  # no predictions: precision 0/0 -> 0, recall 0
    ([[[0, 9]]], [[]], (0, 1, 0)),  # no ground truth: recall 0/0 -> 0, precision 0
    ([[]], [[]], (0, 0, 0)),  # neither: everything 0
    ([], [], (0, 0, 0)),  # no videos at all
])
def test_empty_sides_score_zero(spotting, predictions, references, counts):
    result = spotting.compute(predictions=predictions, references=references)
    assert _counts(result) == counts
    assert _scores(result) == (0.0, 0.0, 0.0)


def test_two_predictions_on_one_ground_truth(spotting):
    result = spotting.compute(predictions=[[[10, 29], [12, 29]]], references=[[[10, 29]]])
    assert _counts(result) == (1, 1, 0)
    assert _scores(result) == pytest.approx((0.5, 1.0, 2 / 3))


def test_counts_are_pooled_over_videos(spotting):
    predictions = [[[0, 9], [100, 120]], [], [[0, 9], [50, 59]]]
    references = [[[0, 9], [40, 49]], [[5, 14]], []]
    result = spotting.compute(predictions=predictions, references=references)
    # Video 0: 1 TP, 1 FP, 1 FN; video 1: 1 FN; video 2: 2 FP. Pooled: P = 1/4, R = 1/3, F1 = 2/(2+3+2).
    # (The mean of the per-video F1s would be (0.5 + 0 + 0) / 3 instead.)
    assert _counts(result) == (1, 3, 2)
    assert _scores(result) == pytest.approx((1 / 4, 1 / 3, 2 / 7))


def test_kinds_are_scored_apart_and_pooled(spotting):
    references, reference_kinds = [[[0, 9], [20, 59]]], [["micro", "macro"]]
    predictions, prediction_kinds = [[[0, 9], [20, 59], [100, 139]]], [["micro", "micro", "macro"]]
    result = spotting.compute(predictions=predictions, references=references,
                              prediction_kinds=prediction_kinds, reference_kinds=reference_kinds)
    # Micro: [0, 9] is a TP, [20, 59] called micro lies on a macro ground truth: micro FP and macro FN.
    assert _counts(result, "micro_") == (1, 1, 0)
    assert _scores(result, "micro_") == pytest.approx((0.5, 1.0, 2 / 3))
    assert _counts(result, "macro_") == (0, 1, 1)
    assert _scores(result, "macro_") == (0.0, 0.0, 0.0)
    assert _counts(result) == (1, 2, 1)
    assert _scores(result) == pytest.approx((1 / 3, 1 / 2, 2 / 5))
    # Without kinds the macro ground truth is found.
    assert _counts(spotting.compute(predictions=predictions, references=references)) == (2, 1, 0)


def test_streaming_add_batch_equals_one_shot(spotting):
    predictions = [[[0, 9]], [], [[3, 7], [20, 30]], [[50, 52]]]
    references = [[[1, 9]], [[4, 4]], [[20, 29]], []]
    spotting.add_batch(predictions=predictions[:2], references=references[:2])
    spotting.add_batch(predictions=predictions[2:], references=references[2:])
    assert spotting.compute() == spotting.compute(predictions=predictions, references=references)


def test_plain_function_takes_numpy_frames():
    result = spotting_scores([[np.array([0, 9], dtype=np.int64)]], [[(np.int32(0), np.int32(4))]])
    assert _counts(result) == (1, 0, 0)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"predictions": [[[0, 9]], [[10.5, 20]]]},
     r"predictions: video 1, interval 0: frame numbers must be integers, got 10.5"),
    ({"references": [[[0, 9], [8, 3]], [[1, 2]]]}, r"references: video 0, interval 1: offset 3 comes before onset 8"),
    ({"predictions": [[[1, 2, 3]], []]}, r"predictions: video 0, interval 0: expected an \[onset, offset\] pair"),
    ({"predictions": [[[0, 9]], [[0, 9]]], "prediction_kinds": [["micro"], ["micro"]]},
     "give both prediction_kinds and reference_kinds"),
    ({"prediction_kinds": [["micro"], []], "reference_kinds": [["mini"], ["macro"]]},
     r"reference_kinds: video 0, interval 0 has label 'mini'; expected one of \('micro', 'macro'\)"),
    ({"prediction_kinds": [["micro", "macro"], []], "reference_kinds": [["micro"], ["macro"]]},
     "prediction_kinds: video 0 has 2 labels for the 1 intervals of predictions"),
    ({"prediction_kinds": [["micro"]], "reference_kinds": [["micro"], ["macro"]]},
     "prediction_kinds has 1 videos but predictions has 2"),
    ({"iou_threshold": 0.0}, r"iou_threshold must be a number in \(0, 1\]"),
])
def test_bad_inputs_are_clear_errors(spotting_in_memory, kwargs, message):
    inputs = {"predictions": [[[0, 9]], []], "references": [[[0, 9]], [[1, 2]]], **kwargs}
    with pytest.raises(ValueError, match=message):
        spotting_in_memory.compute(**inputs)


def test_bad_inputs_of_the_plain_functions_are_clear_errors():
    with pytest.raises(ValueError, match="predictions has 2 videos but references has 1"):
        spotting_scores([[], []], [[]])
    with pytest.raises(ValueError, match=r"predictions: video 0 must be a list of \[onset, offset\] intervals"):
        spotting_scores([5], [[]])
    with pytest.raises(ValueError, match=r"predictions\[0\]: frame numbers must be integers, got True"):
        match_intervals([[True, 5]], [[0, 5]])
    with pytest.raises(ValueError, match="first: offset 1 comes before onset 4"):
        interval_iou([4, 1], [0, 5])


def test_video_counts_that_differ_are_refused_by_evaluate(spotting_in_memory):
    with pytest.raises(ValueError, match=r"Mismatch in the number of predictions \(2\) and references \(1\)"):
        spotting_in_memory.compute(predictions=[[], []], references=[[]])


def test_non_numeric_frames_are_refused_by_evaluate(spotting_in_memory):
    with pytest.raises(ValueError, match="don't match the expected format"):
        spotting_in_memory.compute(predictions=[[["a", 5]]], references=[[[0, 5]]])


# --- Spot-Then-Recognize Score ----------------------------------------------------------------------------------------


def _strs_inputs(rows):
    """Compute arguments from one (gt onset, gt offset, gt emotion, pred onset, pred offset, pred emotion) per video."""
    return {
        "references": [[[row[0], row[1]]] for row in rows],
        "reference_labels": [[row[2]] for row in rows],
        "predictions": [[[row[3], row[4]]] for row in rows],
        "prediction_labels": [[row[5]] for row in rows],
    }


# The "Brief Example" of the reference script's README (github.com/genbing99/STRS-Metric, README.md at commit
# eb86468f793400bf46cc13b4be0d32faafe72b8a), one interval per video. Its `strs_metric.Evaluator.evaluate_STRS`,
# run on these rows, gives TP 3, FP 2, FN 2 (precision = recall = F1 = 0.6), analysis precision = recall = F1 =
# UF1 = 1/3 and STRS 0.2 (the README prints 0.2). By hand: IoUs 26/76, 31/71 (misses), 51/76, 46/76, 71/111 (hits);
# the hits pair (others, others), (repression, happiness) twice; over the classes happiness, others, repression the
# precisions and recalls are 0, 1, 0, so 1/3 each, and STRS = 0.6 x 1/3.
README_EXAMPLE = [
    (45, 85, "happiness", 10, 70, "happiness"),
    (130, 160, "others", 100, 170, "others"),
    (20, 75, "others", 0, 70, "others"),
    (45, 95, "repression", 20, 90, "happiness"),
    (30, 140, "repression", 70, 140, "happiness"),
]

# Subjects 1 and 2 (22 videos) of the same repository's data/gt.csv and data/pred.csv, one interval per video.
# Numbers from running its `strs_metric.py` (same commit) on these rows: TP 13, FP 9, FN 9; analysis precision 0.6,
# recall 0.5, F1 6/11, UF1 8/15; STRS = 13/22 x 6/11.
SUBJECTS_1_2 = [
    (45, 85, "happiness", 7, 75, "happiness"),
    (130, 160, "others", 100, 168, "others"),
    (20, 75, "others", 2, 70, "others"),
    (30, 55, "others", -3, 65, "others"),
    (22, 65, "others", 2, 70, "others"),
    (25, 65, "others", 0, 68, "others"),
    (80, 160, "others", 50, 118, "others"),
    (395, 445, "disgust", 373, 441, "disgust"),
    (35, 160, "disgust", 8, 76, "disgust"),
    (45, 95, "repression", 21, 89, "happiness"),
    (30, 140, "repression", 72, 140, "happiness"),
    (15, 135, "repression", 101, 169, "happiness"),
    (55, 154, "repression", 26, 94, "happiness"),
    (35, 110, "repression", 24, 92, "happiness"),
    (15, 105, "others", 14, 82, "happiness"),
    (25, 124, "happiness", 11, 79, "surprise"),
    (10, 150, "others", 0, 68, "disgust"),
    (25, 65, "others", 8, 76, "happiness"),
    (15, 105, "surprise", 0, 68, "surprise"),
    (20, 75, "surprise", 0, 68, "surprise"),
    (80, 125, "surprise", 58, 126, "surprise"),
    (25, 95, "others", 11, 79, "repression"),
]


def test_strs_of_the_reference_readme_example(strs):
    result = strs.compute(**_strs_inputs(README_EXAMPLE))
    assert _counts(result, "spotting_") == (3, 2, 2)
    assert _scores(result, "spotting_") == pytest.approx((0.6, 0.6, 0.6))
    assert result["labels"] == ["happiness", "others", "repression"]
    assert result["recognition_precision"] == pytest.approx(1 / 3)
    assert result["recognition_recall"] == pytest.approx(1 / 3)
    assert result["recognition_f1"] == pytest.approx(1 / 3)
    assert result["recognition_uf1"] == pytest.approx(1 / 3)
    assert result["strs"] == pytest.approx(0.2)


def test_strs_of_the_reference_example_data(strs):
    result = strs.compute(**_strs_inputs(SUBJECTS_1_2))
    assert _counts(result, "spotting_") == (13, 9, 9)
    assert result["spotting_f1"] == pytest.approx(13 / 22)
    assert result["recognition_precision"] == pytest.approx(0.6)
    assert result["recognition_recall"] == pytest.approx(0.5)
    assert result["recognition_f1"] == pytest.approx(6 / 11)
    assert result["recognition_uf1"] == pytest.approx(8 / 15)
    assert result["strs"] == pytest.approx(0.32231404958677684)


def test_recognition_part_agrees_with_sklearn_macro_scores(strs):
    # Every prediction equals its ground truth, so every pair is spotted and the recognition part is the macro
    # precision / recall / F1 of the labels over the ground-truth classes.
    rng = np.random.default_rng(2)
    emotions = ["negative", "positive", "surprise", "others"]
    for _ in range(10):
        truth = rng.choice(emotions, size=int(rng.integers(2, 25))).tolist()
        predicted = rng.choice(emotions, size=len(truth)).tolist()
        rows = [(10 * index, 10 * index + 5, true, 10 * index, 10 * index + 5, guess)
                for index, (true, guess) in enumerate(zip(truth, predicted))]
        result = strs.compute(**_strs_inputs(rows))
        classes = sorted(set(truth))
        precision, recall, f1, _ = precision_recall_fscore_support(truth, predicted, labels=classes, zero_division=0)
        assert result["spotting_f1"] == 1.0
        assert result["recognition_precision"] == pytest.approx(precision.mean())
        assert result["recognition_recall"] == pytest.approx(recall.mean())
        assert result["recognition_uar"] == pytest.approx(recall.mean())
        assert result["recognition_uf1"] == pytest.approx(f1.mean())
        macro_f1 = 2 * precision.mean() * recall.mean() / (precision.mean() + recall.mean() or 1)
        assert result["strs"] == pytest.approx(macro_f1)


def test_strs_scores_the_closest_of_two_predictions_on_one_ground_truth(strs):
    # IoU 16/20 with the wrong emotion first, IoU 1 with the right one second: the closest is the true positive.
    result = strs.compute(predictions=[[[0, 15], [0, 19]]], references=[[[0, 19]]],
                          prediction_labels=[["happiness", "surprise"]], reference_labels=[["surprise"]])
    assert _counts(result, "spotting_") == (1, 1, 0)
    assert result["recognition_f1"] == 1.0
    assert result["strs"] == pytest.approx(2 / 3)


@pytest.mark.parametrize(("predicted_label", "recognition_f1"), [("surprise", 1.0), ("others", 0.0)])
def test_strs_with_one_class(strs, predicted_label, recognition_f1):
    # One spotted pair of one class: all right scores 1, all wrong 0 (never NaN).
    result = strs.compute(predictions=[[[0, 10]]], references=[[[0, 10]]],
                          prediction_labels=[[predicted_label]], reference_labels=[["surprise"]])
    assert result["recognition_f1"] == recognition_f1
    assert result["strs"] == recognition_f1


def test_strs_with_nothing_spotted_is_zero(strs):
    result = strs.compute(predictions=[[[50, 60]], []], references=[[[0, 10]], []],
                          prediction_labels=[["others"], []], reference_labels=[["others"], []])
    assert _counts(result, "spotting_") == (0, 1, 1)
    assert (result["recognition_f1"], result["strs"]) == (0.0, 0.0)


def test_strs_labels_choose_the_classes(strs):
    # Restricted to others and repression: the pairs are the same as with every class (no happiness ground truth
    # is spotted), but happiness no longer dilutes the means: precisions and recalls 1 and 0, F1 0.5.
    result = strs.compute(**_strs_inputs(README_EXAMPLE), labels=["others", "repression"])
    assert result["labels"] == ["others", "repression"]
    assert result["per_class_precision"] == [1.0, 0.0]
    assert result["recognition_f1"] == pytest.approx(0.5)
    assert result["strs"] == pytest.approx(0.6 * 0.5)
    # Restricted to others: the repression pairs leave the recognition part, which is then perfect.
    assert strs.compute(**_strs_inputs(README_EXAMPLE), labels=["others"])["recognition_f1"] == 1.0


def test_strs_leaves_out_pairs_whose_truth_is_not_a_class(strs):
    inputs = {"predictions": [[[0, 9]], [[0, 9]]], "references": [[[0, 9]], [[0, 9]]],
              "prediction_labels": [["x"], ["x"]], "reference_labels": [["x"], ["y"]]}
    # Classes x and y: x has precision 1/2, recall 1; y precision 0 (0/0), recall 0; means 1/4 and 1/2, F1 1/3.
    assert strs.compute(**inputs)["recognition_f1"] == pytest.approx(1 / 3)
    # Class x only: the (y, x) pair leaves the recognition part, so x is not charged a false positive for it.
    assert strs.compute(**inputs, labels=["x"])["recognition_f1"] == 1.0


def test_strs_streaming_add_batch_equals_one_shot(strs):
    inputs = _strs_inputs(SUBJECTS_1_2)
    for start in range(0, len(SUBJECTS_1_2), 8):
        strs.add_batch(**{key: value[start : start + 8] for key, value in inputs.items()})
    assert strs.compute() == strs.compute(**inputs)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"prediction_labels": [["others", "others"]]},
     "prediction_labels: video 0 has 2 labels for the 1 intervals of predictions"),
    ({"predictions": [[[0.5, 10]]]}, "predictions: video 0, interval 0: frame numbers must be integers"),
    ({"references": [[[10, 0]]]}, "references: video 0, interval 0: offset 0 comes before onset 10"),
    ({"labels": ["others", "others"]}, "labels: .* names a class twice"),
    ({"labels": []}, "labels: expected a non-empty list of emotion names"),
    ({"prediction_labels": [[], []]}, r"Mismatch in the number of predictions \(1\) and prediction_labels \(2\)"),
    ({"reference_labels": [[3]]}, "don't match the expected format"),
])
def test_strs_bad_inputs_are_clear_errors(strs_in_memory, kwargs, message):
    inputs = {"predictions": [[[0, 10]]], "references": [[[0, 10]]],
              "prediction_labels": [["others"]], "reference_labels": [["others"]], **kwargs}
    with pytest.raises(ValueError, match=message):
        strs_in_memory.compute(**inputs)

"""The UF1 / UAR evaluate module must agree with scikit-learn's macro F1 / macro recall / accuracy."""

import evaluate
import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, recall_score

from epir_hf.metrics import MICRO_EXPRESSION_METRICS_PATH
from epir_hf.training.results import load_metric


@pytest.fixture(scope="module")
def metric():
    return load_metric()  # the package's own: in memory (see the last test)


def _sklearn(references, predictions, labels=None):
    kwargs = {"labels": labels, "average": "macro", "zero_division": 0}
    return {
        "uf1": f1_score(references, predictions, **kwargs),
        "uar": recall_score(references, predictions, **kwargs),
        "accuracy": accuracy_score(references, predictions),
    }


@pytest.mark.parametrize("seed", range(20))
def test_matches_sklearn_on_random_predictions(metric, seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    num_classes = int(rng.integers(2, 6))
    # Skewed class draws so that some seeds miss a class in references or predictions.
    probabilities = rng.dirichlet(np.full(num_classes, 0.7))
    references = rng.choice(num_classes, size=n, p=probabilities).tolist()
    predictions = rng.choice(num_classes, size=n, p=probabilities[::-1]).tolist()

    result = metric.compute(predictions=predictions, references=references)
    expected = _sklearn(references, predictions)
    for key, value in expected.items():
        assert result[key] == pytest.approx(value, abs=1e-12), key

    labels = list(range(num_classes))
    result = metric.compute(predictions=predictions, references=references, num_labels=num_classes)
    expected = _sklearn(references, predictions, labels=labels)
    for key, value in expected.items():
        assert result[key] == pytest.approx(value, abs=1e-12), key
    assert result["per_class_f1"] == pytest.approx(
        f1_score(references, predictions, labels=labels, average=None, zero_division=0).tolist()
    )
    assert result["per_class_recall"] == pytest.approx(
        recall_score(references, predictions, labels=labels, average=None, zero_division=0).tolist()
    )
    assert result["num_samples"] == n


def test_known_values(metric):
    # Hand computed: class 0 F1 = 1, class 1 F1 = 2*2/(2*2+0+1) = 0.8, class 2 F1 = 0;
    # recalls 1, 2/3, 0 (class 2 has a prediction but no reference).
    result = metric.compute(predictions=[0, 1, 2, 1], references=[0, 1, 1, 1], num_labels=3)
    assert result["uf1"] == pytest.approx((1 + 0.8 + 0) / 3)
    assert result["uar"] == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert result["accuracy"] == pytest.approx(0.75)


def test_streaming_add_batch_equals_one_shot(metric):
    rng = np.random.default_rng(0)
    references, predictions = rng.integers(0, 3, 40), rng.integers(0, 3, 40)
    for start in range(0, 40, 7):
        metric.add_batch(predictions=predictions[start : start + 7], references=references[start : start + 7])
    assert metric.compute(num_labels=3) == metric.compute(
        predictions=predictions, references=references, num_labels=3
    )


def test_class_outside_labels_is_a_clear_error(metric):
    with pytest.raises(ValueError, match=r"class ids \[3\]"):
        metric.compute(predictions=[0, 3], references=[0, 1], num_labels=3)


def test_the_package_scores_without_files_in_the_metrics_cache(tmp_path, monkeypatch):
    """Loaded the default way, each `compute` writes under a file lock in the user's cache, which processes scoring at
    the same time wait on (a second each) and which leaves lock files behind; the package's scoring stays in memory."""
    def files(folder):
        return [path for path in folder.rglob("*") if path.is_file()]

    monkeypatch.setattr(evaluate.config, "HF_METRICS_CACHE", str(tmp_path / "default"))
    evaluate.load(MICRO_EXPRESSION_METRICS_PATH).compute(predictions=[0, 1, 1], references=[0, 1, 0])
    assert files(tmp_path / "default")  # what the default way leaves there
    monkeypatch.setattr(evaluate.config, "HF_METRICS_CACHE", str(tmp_path / "package"))
    result = load_metric().compute(predictions=[0, 1, 1], references=[0, 1, 0])
    assert result["accuracy"] == pytest.approx(2 / 3)
    assert not (tmp_path / "package").exists() or files(tmp_path / "package") == []

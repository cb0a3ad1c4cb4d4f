"""What a LOSO run leaves on disk, and how the numbers are pooled.

Every file is written atomically (`files.atomic_write_json`), so a run killed at any moment leaves whole folds.
Metrics are always
recomputed from the per-fold predictions on disk, never accumulated in memory, so a resumed run, a single run
and a merge of shards produce the same `results.json` from the same folds.
"""

from __future__ import annotations

import importlib.metadata
import platform
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .files import atomic_write_json, read_json
from .folds import FOLDS_DIRNAME, fold_path
from .run_config import RunConfig

if TYPE_CHECKING:
    from evaluate import EvaluationModule

PROTOCOL_NOTES = {
    "honest": "hyperparameters fixed before any test subject is seen; the model after the last epoch predicts "
              "the held-out subject",
    "inner-val": "the epoch is chosen per fold by an inner leave-subjects-out validation on the training subjects "
                 "only; the model at that epoch predicts the held-out subject",
    "oracle-epoch": "OPTIMISTIC: per held-out subject, the epoch with the best accuracy on that test subject "
                    "(the reference code's practice), kept only for comparison with published numbers; it is not "
                    "an unbiased estimate",
}
LAST_EPOCH_NOTE = ("the same models after their last epoch, without the per-subject epoch choice: what the honest "
                   "protocol reports for this training")

RESULTS_FILENAME = "results.json"
CONFUSION_JSON_FILENAME = "confusion_matrix.json"
CONFUSION_PNG_FILENAME = "confusion_matrix.png"


def protocol_label(protocol: str) -> str:
    """The protocol name as printed in every output; the oracle protocol always carries its caveat."""
    return f"{protocol} (optimistic)" if protocol == "oracle-epoch" else protocol


def write_fold_record(output_dir: str | Path, record: dict) -> None:
    atomic_write_json(fold_path(output_dir, record["subject"]), record)


def read_fold_records(output_dir: str | Path) -> list[dict]:
    """All finished folds in an output dir, sorted by held-out subject."""
    folder = Path(output_dir) / FOLDS_DIRNAME
    records = [read_json(path) for path in folder.glob("*.json")] if folder.is_dir() else []
    return sorted(records, key=lambda record: record["subject"])


def load_metric() -> EvaluationModule:
    """The UF1 / UAR / accuracy `evaluate` module, loaded in memory from its path inside the package (no Hub)."""
    from ..metrics import MICRO_EXPRESSION_METRICS_PATH, load_in_memory

    return load_in_memory(MICRO_EXPRESSION_METRICS_PATH)


def compute_results(records: Sequence[dict], run_config: RunConfig, metric: EvaluationModule | None = None) -> dict:
    """Pool the predictions of all folds and score them overall, per corpus and per fold."""
    if not records:
        raise ValueError("No finished folds to score.")
    metric = metric if metric is not None else load_metric()
    num_labels = run_config.num_labels
    references = np.concatenate([record["references"] for record in records]).astype(int)
    predictions = np.concatenate([record["predictions"] for record in records]).astype(int)
    corpora = np.concatenate([record["datasets"] for record in records])

    # Macro averages run over the classes that occur in the references or the predictions (scikit-learn's
    # default). Over a whole corpus that is every class; for one subject (often a single class) or a partial run
    # it keeps a class that nobody shows and nobody predicts from counting as F1 = 0.
    def pooled(chosen: np.ndarray) -> dict:
        def score(mask: np.ndarray) -> dict:
            return metric.compute(predictions=chosen[mask], references=references[mask])

        return {"overall": score(np.ones(len(references), dtype=bool)),
                "per_corpus": {str(name): score(corpora == name) for name in np.unique(corpora)}}

    per_fold = []
    for record in records:
        figures = metric.compute(predictions=record["predictions"], references=record["references"])
        per_fold.append({
            "subject": record["subject"],
            "datasets": sorted(set(record["datasets"])),
            "num_samples": len(record["references"]),
            "accuracy": figures["accuracy"],
            "uf1": figures["uf1"],
            "uar": figures["uar"],
            "epoch": record["epoch"],
        })
    metrics = {**pooled(predictions), "per_fold": per_fold}
    last_epoch = [record.get("last_epoch_predictions") for record in records]
    if all(chosen is not None for chosen in last_epoch):  # oracle-epoch folds (those of older versions lack it)
        metrics["last_epoch"] = {"note": LAST_EPOCH_NOTE, **pooled(np.concatenate(last_epoch).astype(int))}
    subjects = run_config.subjects
    done = {record["subject"] for record in records}
    return {
        "protocol": run_config.protocol,
        "protocol_note": PROTOCOL_NOTES[run_config.protocol],
        "seed": run_config.seed,
        "dataset": run_config.dataset,
        "label_names": run_config.label_names,
        "folds_total": len(subjects),
        "folds_completed": len(done),
        "complete": done == set(subjects),
        "missing_folds": [subject for subject in subjects if subject not in done],
        "metrics": metrics,
        "confusion_matrix": confusion_matrix(references, predictions, num_labels).tolist(),
        "time_s": {"sum_over_folds": float(sum(record["time_s"] for record in records))},
        # Counted over the folds, since a resumed or merged run may have trained them on several CPUs (`versions` is
        # the environment of the process that scored them); folds of older versions lack it: "not recorded".
        "fold_cpu_capability": dict(Counter(record.get("cpu_capability", "not recorded") for record in records)),
        "config": run_config.model_config,
        "training": run_config.training,
        "recipe": run_config.recipe,
        "versions": environment_versions(),
    }


def confusion_matrix(references: np.ndarray, predictions: np.ndarray, num_labels: int) -> np.ndarray:
    from sklearn.metrics import confusion_matrix as sklearn_confusion_matrix

    return sklearn_confusion_matrix(references, predictions, labels=list(range(num_labels)))


def write_results(output_dir: str | Path, results: dict) -> None:
    """results.json plus the pooled confusion matrix as JSON and PNG (rows = true class, columns = predicted)."""
    output_dir = Path(output_dir)
    atomic_write_json(output_dir / RESULTS_FILENAME, results)
    title = f"LOSO {results['dataset']} — {protocol_label(results['protocol'])}, seed {results['seed']}"
    atomic_write_json(output_dir / CONFUSION_JSON_FILENAME, {
        "title": title,
        "rows": "true class",
        "columns": "predicted class",
        "labels": results["label_names"],
        "matrix": results["confusion_matrix"],
    })
    _plot_confusion(output_dir / CONFUSION_PNG_FILENAME, np.asarray(results["confusion_matrix"]),
                    results["label_names"], title)


def _plot_confusion(path: Path, matrix: np.ndarray, label_names: list[str], title: str) -> None:
    from ..plots.confusion import draw_confusion  # imported here: the plots read runs through this module
    from ..plots.png import new_figure, save_png

    figure = new_figure(4.5, 4.0)
    draw_confusion(figure.subplots(), matrix, label_names, title)
    save_png(figure, path)


def summary_line(results: dict, output_dir: str | Path) -> str:
    """One line for stdout: protocol, pooled UF1/UAR/accuracy, the per-corpus UF1, folds done, where it is."""
    overall = results["metrics"]["overall"]
    corpora = results["metrics"]["per_corpus"]
    per_corpus = " ".join(f"{name}:UF1={scores['uf1']:.4f}" for name, scores in corpora.items()) if len(
        corpora) > 1 else ""
    folds = f"folds={results['folds_completed']}/{results['folds_total']}"
    if not results["complete"]:
        folds += " (INCOMPLETE)"
    parts = [f"LOSO[{protocol_label(results['protocol'])}]", f"dataset={results['dataset']}",
             f"seed={results['seed']}", folds, f"UF1={overall['uf1']:.4f}", f"UAR={overall['uar']:.4f}",
             f"acc={overall['accuracy']:.4f}", per_corpus]
    if "last_epoch" in results["metrics"]:
        last = results["metrics"]["last_epoch"]["overall"]
        parts.append(f"| same models, last epoch: UF1={last['uf1']:.4f} UAR={last['uar']:.4f}")
    parts.append(f"-> {Path(output_dir) / RESULTS_FILENAME}")
    return " ".join(part for part in parts if part)


def merge_runs(input_dirs: Sequence[str | Path], output_dir: str | Path,
               metric: EvaluationModule | None = None) -> dict:
    """Pool the folds of several output dirs (e.g. `--fold_shard` runs) into one result in `output_dir`."""
    if not input_dirs:
        raise ValueError("merge needs at least one input output_dir.")
    run_config = None
    by_subject: dict[str, dict] = {}
    for directory in input_dirs:
        config = RunConfig.from_output_dir(directory)
        run_config = config if run_config is None else run_config
        differences = run_config.differences(config)
        if differences:
            raise ValueError(f"Cannot merge {directory}: its settings differ from {input_dirs[0]} "
                             f"({input_dirs[0]} → {directory}: {'; '.join(differences)}).")
        for record in read_fold_records(directory):
            previous = by_subject.get(record["subject"])
            if previous is not None and previous["predictions"] != record["predictions"]:
                raise ValueError(f"Fold {record['subject']!r} appears in several inputs with different predictions.")
            by_subject[record["subject"]] = record
    run_config.record_in(output_dir)
    for record in by_subject.values():
        write_fold_record(output_dir, record)
    results = compute_results(read_fold_records(output_dir), run_config, metric=metric)
    write_results(output_dir, results)
    return results


def environment_versions() -> dict:
    import accelerate
    import datasets
    import evaluate
    import torch
    import transformers

    try:
        epir_version = importlib.metadata.version("epir-hf")
    except importlib.metadata.PackageNotFoundError:  # run from a source checkout on PYTHONPATH, not installed
        epir_version = "source checkout (not installed)"
    return {
        "epir_hf": epir_version,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "datasets": datasets.__version__,
        "accelerate": accelerate.__version__,
        "evaluate": evaluate.__version__,
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else platform.processor() or "cpu",
        "cpu_capability": cpu_capability(),
    }


def cpu_capability() -> str:
    """The vector instruction set torch's CPU kernels dispatch to (e.g. AVX2, AVX512): runs with the same seed and
    torch build give bit-identical folds only on the same one, because the kernels round differently."""
    import torch

    return torch.backends.cpu.get_cpu_capability()

"""Is one LOSO run really better than another? A paired bootstrap over the held-out subjects.

Two rows of a results table differ by a few hundredths of UF1 on 68 subjects; whether such a gap would survive
another draw of subjects is what a reader needs before calling one model better. Both runs predicted the same
samples of the same held-out subjects, so the comparison is paired: each bootstrap draw takes the subjects with
replacement (`scipy.stats.bootstrap` over subject indices), pools *both* runs' predictions of the drawn subjects
(a subject drawn twice counts twice), recomputes the pooled UF1 and UAR of each run from its summed per-subject
confusion matrices (`class_scores` of the package's UF1/UAR module: the same definitions as `results.json`) and
takes the difference. The interval is the percentile interval of those differences.

A side may be one run or the seeds of one row (a folder of `seed*` runs): its figure is the mean over its seeds of
the pooled score, as in the seed table. Two rows of seeds are paired by seed (they must hold the same seeds), so the
difference of the means is the mean of the per-seed differences. The draws resample subjects only: the trained models
stay fixed, so the interval measures how much the gap depends on which subjects were tested, not how much it moves
with the training seed (the seed table's standard deviation says that).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import bootstrap
from sklearn.metrics import confusion_matrix

from ..metrics.micro_expression_metrics.micro_expression_metrics import class_scores
from ..training.results import protocol_label, read_fold_records
from ..training.run_config import RUN_CONFIG_FILENAME, RunConfig, seed_run_dirs

DRAWS = 2000
SEED = 0
CONFIDENCE = 0.95
METRICS = ("uf1", "uar")


@dataclass(frozen=True)
class RunSet:
    """One side of a comparison: one complete LOSO run, or the complete seed runs of one row.

    `confusion[r, s]` is run r's confusion matrix (rows = true class) on held-out subject `subjects[s]`.
    """

    path: Path
    seeds: list[int]
    protocol: str
    label_names: list[str]
    subjects: list[str]
    corpora: list[str]
    sample_ids: list[list[str]]
    confusion: np.ndarray

    @property
    def description(self) -> str:
        seeds = f"seed {self.seeds[0]}" if len(self.seeds) == 1 else f"mean of seeds {', '.join(map(str, self.seeds))}"
        return f"{self.path} ({protocol_label(self.protocol)}, {seeds})"


def run_folders(path: str | Path) -> list[Path]:
    """The run folders of `path`: itself when it is a run, else its `seed*` runs (a `--seeds` output dir)."""
    path = Path(path)
    if (path / RUN_CONFIG_FILENAME).is_file():
        return [path]
    seeds = seed_run_dirs(path)
    if not seeds:
        raise FileNotFoundError(f"{path} is neither a LOSO run folder (run_config.json and folds/) nor a folder of "
                                "seed runs (seed1/, seed2/, ...).")
    return seeds


def complete_fold_records(folder: Path, config: RunConfig) -> list[dict]:
    """The fold records of the run in `folder` (recorded as `config`), refused unless every fold is there: a score over
    some of the subjects is not a LOSO number."""
    records = read_fold_records(folder)
    missing = sorted(set(config.subjects) - {record["subject"] for record in records})
    if missing:
        raise ValueError(f"{folder} is incomplete: {len(missing)} of {len(config.subjects)} folds missing "
                         f"({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}).")
    return records


def load_run_set(path: str | Path) -> RunSet:
    """The per-subject confusion matrices of every run in `path` (see `run_folders`), checked to be one row: complete
    leave-one-subject-out runs of the same protocol over the same samples."""
    folders = run_folders(path)
    configs = [RunConfig.from_output_dir(folder) for folder in folders]
    first = configs[0]
    matrices, sample_ids = [], None
    for folder, config in zip(folders, configs):
        if config.fold_by != "subject":
            raise ValueError(f"{folder} holds out whole corpora (fold_by={config.fold_by!r}); a bootstrap over "
                             "subjects needs a leave-one-subject-out run.")
        if (config.protocol, config.label_names) != (first.protocol, first.label_names):
            raise ValueError(f"{folder} has another protocol or other classes than {folders[0]}.")
        records = complete_fold_records(folder, config)
        ids = [record["sample_ids"] for record in records]
        if sample_ids is not None and ids != sample_ids:
            raise ValueError(f"{folder} predicted other samples than {folders[0]}.")
        sample_ids = ids
        labels = list(range(config.num_labels))
        matrices.append([confusion_matrix(record["references"], record["predictions"], labels=labels)
                         for record in records])
    corpora = []
    for record in records:
        if len(set(record["datasets"])) != 1:
            raise ValueError(f"{folders[-1]}: held-out subject {record['subject']!r} spans several corpora "
                             f"({sorted(set(record['datasets']))}).")
        corpora.append(record["datasets"][0])
    return RunSet(path=Path(path), seeds=[config.seed for config in configs], protocol=first.protocol,
                  label_names=first.label_names, subjects=[record["subject"] for record in records],
                  corpora=corpora, sample_ids=sample_ids, confusion=np.asarray(matrices))


def check_paired(a: RunSet, b: RunSet) -> None:
    """Refuse two sides that did not predict the same samples of the same subjects, or whose seeds cannot be paired."""
    if a.label_names != b.label_names:
        raise ValueError(f"{a.path} and {b.path} have other classes: {a.label_names} and {b.label_names}.")
    if a.subjects != b.subjects or a.sample_ids != b.sample_ids:
        raise ValueError(f"{a.path} and {b.path} did not predict the same samples of the same held-out subjects.")
    if len(a.seeds) > 1 and len(b.seeds) > 1 and a.seeds != b.seeds:
        raise ValueError(f"Rows of seeds are paired by seed: {a.path} holds seeds {a.seeds}, {b.path} seeds "
                         f"{b.seeds}.")


def mean_scores(confusion: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """UF1 and UAR, averaged over runs, of every draw: `counts[..., s]` is how often subject s was drawn.

    Returns shape (2, ...) for (uf1, uar). Macro averages run over the classes that occur in the pooled references or
    predictions, as `results.json`'s do.
    """
    pooled = np.einsum("...s,rsij->r...ij", counts, confusion)
    f1, recall = class_scores(pooled)
    present = pooled.sum(axis=-1) + pooled.sum(axis=-2) > 0
    scores = [(values * present).sum(-1) / present.sum(-1) for values in (f1, recall)]
    return np.stack([score.mean(axis=0) for score in scores])


def compare_group(a: RunSet, b: RunSet, chosen: np.ndarray, draws: int = DRAWS, seed: int = SEED,
                  confidence: float = CONFIDENCE) -> dict:
    """Each side's score, their difference (a − b) and its bootstrap interval over the subjects `chosen` (indices);
    the interval is NaN for a single subject, which a bootstrap cannot resample."""
    a_confusion, b_confusion = a.confusion[:, chosen], b.confusion[:, chosen]

    def difference(drawn: np.ndarray, axis: int = -1) -> np.ndarray:
        counts = (np.asarray(drawn)[..., None] == np.arange(len(chosen))).sum(axis=-2)
        return mean_scores(a_confusion, counts) - mean_scores(b_confusion, counts)

    ones = np.ones(len(chosen))
    a_scores, b_scores = mean_scores(a_confusion, ones), mean_scores(b_confusion, ones)
    low = high = np.full(len(METRICS), np.nan)
    if len(chosen) > 1:
        interval = bootstrap((np.arange(len(chosen)),), difference, n_resamples=draws, vectorized=True,
                             confidence_level=confidence, method="percentile", rng=np.random.default_rng(seed))
        low, high = interval.confidence_interval
    return {metric: {"a": float(a_scores[i]), "b": float(b_scores[i]), "difference": float(a_scores[i] - b_scores[i]),
                     "low": float(low[i]), "high": float(high[i])}
            for i, metric in enumerate(METRICS)} | {"subjects": len(chosen)}


def compare_runs(path_a: str | Path, path_b: str | Path, draws: int = DRAWS, seed: int = SEED,
                 confidence: float = CONFIDENCE) -> dict:
    """UF1 and UAR of the run (or seeds) in `path_a` minus those in `path_b`, with their paired bootstrap intervals,
    overall and per corpus (see `compare_run_sets`)."""
    return compare_run_sets(load_run_set(path_a), load_run_set(path_b), draws, seed, confidence)


def compare_run_sets(a: RunSet, b: RunSet, draws: int = DRAWS, seed: int = SEED,
                     confidence: float = CONFIDENCE) -> dict:
    """{"a", "b", "draws", "seed", "confidence", "overall": group, "per_corpus": {corpus: group}}, where a group is
    `compare_group`'s. Each group (overall, then each corpus over its own subjects) draws with
    `numpy.random.default_rng(seed)`, so a figure does not depend on which other groups were compared."""
    if draws < 2 or not 0 < confidence < 1:
        raise ValueError(f"--draws must be at least 2 and --confidence in (0, 1); got draws={draws}, "
                         f"confidence={confidence}.")
    check_paired(a, b)
    corpora = np.asarray(a.corpora)
    groups = {"overall": np.arange(len(a.subjects)),
              **{str(name): np.flatnonzero(corpora == name) for name in np.unique(corpora)}}
    compared = {name: compare_group(a, b, chosen, draws, seed, confidence) for name, chosen in groups.items()}
    return {"a": a.description, "b": b.description, "draws": draws, "seed": seed, "confidence": confidence,
            "overall": compared.pop("overall"), "per_corpus": compared}

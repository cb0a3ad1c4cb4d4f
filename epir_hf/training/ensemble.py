"""LOSO of an ensemble: its fold records, and the pooling of finished runs of its members into an ensemble run.

An ensemble's fold trains each member exactly as that member's own LOSO run trains it (same fold, seed, recipe and
test-time flip), then averages their class probabilities (`mean_probability_logits`). Its fold record is made from
the members' fold records by one function, `ensemble_fold_record`, whichever way the members were trained: inside
`run_loso.py --model_type me-ensemble`, or in runs of their own that `pool_runs` joins afterwards. So a pooled
ensemble equals a trained one fold by fold, and a row can be computed from runs already on disk at no training cost.

    python examples/run_loso.py ensemble results/megc2019-honest-60ep results/e28-loso-ststnet-default \\
        results/e28-loso-offapexnet-default results/e28-loso-sssnet-default --output_dir runs/ensemble

Each input is a finished run (a `run_loso.py --output_dir`) or a folder of `--seeds` runs (`seed<s>/`), pooled
seed by seed, with the seed table written to `summary.json` as `--seeds` writes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..configuration_ensemble import EnsembleConfig
from .results import compute_results, read_fold_records, write_fold_record, write_results
from .run_config import RUN_CONFIG_FILENAME, RunConfig, seed_run_dirs, settings_differences
from .seed_table import aligned_fold_records, averaged_prediction, load_results, write_seed_summary

if TYPE_CHECKING:
    from evaluate import EvaluationModule

SHARED_FOLD_KEYS = ("subject", "protocol", "epoch", "epochs_trained", "sample_ids", "datasets", "references",
                    "train_samples", "train_subjects", "world_size")
"""What every member's record of one fold holds alike (the fold, its samples, its training set and epochs); the
ensemble's record keeps them once and each member's own results (logits, steps, loss, time) under `members`."""


def ensemble_fold_record(member_records: Sequence[dict], model_types: Sequence[str]) -> dict:
    """The ensemble's record of one fold from its members' records of it (`model_types` names them, in order).

    `logits` / `predictions` are the members' averaged class probabilities; `time_s` is their training time
    together; `members` keeps each member's logits, predictions, optimizer steps, loss and time.
    """
    first = member_records[0]
    for model_type, record in zip(model_types[1:], member_records[1:]):
        for key in SHARED_FOLD_KEYS:
            if record.get(key) != first.get(key):
                raise ValueError(f"Fold {first['subject']!r}: the members' {key} differ ({model_types[0]}: "
                                 f"{first.get(key)!r}, {model_type}: {record.get(key)!r}); the members of an "
                                 "ensemble must be trained on the same fold for the same epochs.")
    members = [{"model_type": model_type, **{key: record[key] for key in record if key not in SHARED_FOLD_KEYS}}
               for model_type, record in zip(model_types, member_records)]
    return {**{key: first[key] for key in SHARED_FOLD_KEYS if key in first}, **averaged_prediction(member_records),
            "members": members}


def ensemble_run_config(member_configs: Sequence[RunConfig], member_dirs: Sequence[str | Path]) -> RunConfig:
    """The settings of the ensemble of runs whose settings are `member_configs`: theirs, with the ensemble's model
    config. Runs that differ in anything but the model (seed, data, folds, recipe, training) are refused, naming the
    setting: the ensemble must be what `run_loso.py --model_type me-ensemble` with those settings would train."""
    first = member_configs[0].to_dict()
    first.pop("model_config")
    for directory, config in zip(member_dirs[1:], member_configs[1:]):
        other = config.to_dict()
        other.pop("model_config")
        differences = settings_differences(first, other)
        if differences:
            raise ValueError(f"{directory} cannot join {member_dirs[0]} in an ensemble: only the model may differ "
                             f"between members ({member_dirs[0]} → {directory}: {'; '.join(differences)}).")
    model_config = EnsembleConfig(members=[config.model_config for config in member_configs]).to_dict()
    model_config.pop("transformers_version", None)
    return RunConfig(**first, model_config=model_config)


def pool_runs(member_dirs: Sequence[str | Path], output_dir: str | Path,
              metric: EvaluationModule | None = None) -> dict:
    """Pool finished runs of the members into the ensemble's run in `output_dir` (settings, folds, results) and
    return its results; `results.json` also names each member's run, with its library versions and training time."""
    if len(member_dirs) < 2:
        raise ValueError(f"An ensemble pools at least 2 runs; got {len(member_dirs)}.")
    configs = [RunConfig.from_output_dir(directory) for directory in member_dirs]
    run_config = ensemble_run_config(configs, member_dirs)
    model_types = [config.model_config["model_type"] for config in configs]
    records = [ensemble_fold_record(fold, model_types) for fold in aligned_fold_records(list(member_dirs))]
    run_config.record_in(output_dir)
    for record in records:
        write_fold_record(output_dir, record)
    results = compute_results(read_fold_records(output_dir), run_config, metric=metric)
    results["pooled_from"] = [pooled_member(directory, model_type)
                              for directory, model_type in zip(member_dirs, model_types)]
    write_results(output_dir, results)
    return results


def pooled_member(directory: str | Path, model_type: str) -> dict:
    """What `results.json` of a pooled ensemble records of one member's run: where it is, and when and how its
    folds were computed (what the pooling itself did not do)."""
    record = {"run": str(directory), "model_type": model_type}
    if (Path(directory) / "results.json").is_file():
        member = load_results(directory)
        record.update(versions=member.get("versions"), time_s=member.get("time_s"))
    return record


def seed_runs(folder: Path) -> dict[str, Path]:
    """{`seed<s>`: run dir} of a folder of `--seeds` runs; empty for a single run's folder."""
    if (folder / RUN_CONFIG_FILENAME).is_file():
        return {}
    return {path.name: path for path in seed_run_dirs(folder)}


def _holds(seeds: dict[str, Path]) -> str:
    return f"the runs {', '.join(seeds)}" if seeds else "a single run"


def pool_runs_by_seed(inputs: Sequence[str | Path], output_dir: str | Path,
                      metric: EvaluationModule | None = None) -> dict:
    """`pool_runs` of single runs, or seed by seed of `--seeds` folders into `output_dir/seed<s>` plus the seed
    table in `output_dir/summary.json`. Returns the results (with seeds: `{"seeds": [...], "summary": table}`)."""
    inputs = [Path(folder) for folder in inputs]
    for folder in inputs:
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} is not a folder: pass the output dir of a finished run_loso.py run "
                                    "(or of a --seeds run).")
    seeds = [seed_runs(folder) for folder in inputs]
    if not any(seeds):
        return pool_runs(inputs, output_dir, metric)
    for folder, found in zip(inputs, seeds):
        if found.keys() != seeds[0].keys():
            raise ValueError(f"{folder} holds {_holds(found)} but {inputs[0]} holds {_holds(seeds[0])}: pool "
                             "folders of the same seeds, or single runs.")
    results = [pool_runs([found[name] for found in seeds], Path(output_dir) / name, metric) for name in seeds[0]]
    summary = None
    if len(results) > 1 and all(run["complete"] for run in results):
        summary = write_seed_summary(output_dir, [Path(output_dir) / name for name in seeds[0]])
    return {"seeds": results, "summary": summary}


__all__ = ["ensemble_fold_record", "ensemble_run_config", "pool_runs", "pool_runs_by_seed"]

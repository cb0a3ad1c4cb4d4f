"""A LOSO experiment as a library object: the arguments, processor, model config, recipe and data of one
`examples/run_loso.py` invocation, and the runs, worker pool and settings records built from them.

The runner, the benchmarks and the tests all build experiments here, so the settings a run records, the worker pool
it uses and the data it trains on are made in one place.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch.distributed as dist
from accelerate import PartialState
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id
from transformers import AutoConfig, PreTrainedConfig

from .. import CONFIG_CLASSES
from ..configuration_ensemble import EnsembleConfig
from ..image_processing_epir import EPIRImageProcessor
from .arguments import LOSOArguments, LOSOTrainingArguments, json_object_argument
from .cluster import LOGS_DIRNAME, ArraySettings
from .folds import loso_subjects, select_folds
from .loso import run_loso_runs, train_full_model
from .parallel import FoldWorkers, resolve_fold_workers
from .run_config import LOSORun, RunConfig
from .seed_table import write_seed_summary
from .signature import training_signature
from .trainer import LOSOData, TrainingRecipe, build_model

if TYPE_CHECKING:
    from datasets import Features


def load_pretrained(load: Callable[[str], Any], flag: str, name_or_path: str) -> Any:
    """`load(name_or_path)`, failing with an error that names `flag` when nothing exists at that path.

    transformers reads a path that does not exist as a Hub id: it then complains about the form of the id, or
    (offline) about the connection, neither of which says that the folder is missing.
    """
    local = Path(name_or_path).exists()
    if not local:
        try:
            validate_repo_id(name_or_path)
        except HFValidationError:
            raise FileNotFoundError(f"{flag} {name_or_path!r} does not exist (expected a folder written by "
                                    "save_pretrained, or a Hub id).") from None
    try:
        return load(name_or_path)
    except OSError as error:
        if local:
            raise  # transformers names the file it could not read
        raise FileNotFoundError(f"{flag} {name_or_path!r} is not a folder here, and loading it as a Hub id failed: "
                                f"{str(error).strip().splitlines()[0]}") from None


def load_processor(loso_args: LOSOArguments) -> EPIRImageProcessor:
    """`--processor_name_or_path`, or the default processor."""
    if not loso_args.processor_name_or_path:
        return EPIRImageProcessor()
    return load_pretrained(EPIRImageProcessor.from_pretrained, "--processor_name_or_path",
                           loso_args.processor_name_or_path)


def load_starting_config(loso_args: LOSOArguments) -> PreTrainedConfig:
    """`--config_name`, or the default config of `--model_type` (EPIR's by default); the overrides are checked
    against it."""
    if not loso_args.config_name:
        config = loso_args.default_config()
    else:
        config = load_pretrained(AutoConfig.from_pretrained, "--config_name", loso_args.config_name)
        if config.model_type not in CONFIG_CLASSES:
            raise ValueError(f"--config_name {loso_args.config_name!r} is a {config.model_type!r} config; expected "
                             f"one of {', '.join(CONFIG_CLASSES)}.")
        if loso_args.model_type not in (None, config.model_type):
            raise ValueError(f"--model_type {loso_args.model_type} contradicts --config_name "
                             f"{loso_args.config_name!r}, a {config.model_type!r} config.")
        if isinstance(config, EnsembleConfig):
            loso_args.check_ensemble(ensemble=True)
    loso_args.check_config_overrides(config)
    return config


def build_config(loso_args: LOSOArguments, label_names: list[str],
                 config: PreTrainedConfig | None = None) -> PreTrainedConfig:
    """The model config: `config` (default: `load_starting_config`), the overrides, and the dataset's classes; an
    ensemble's members get the classes each."""
    config = copy.deepcopy(config) if config is not None else load_starting_config(loso_args)
    if isinstance(config, EnsembleConfig):
        return EnsembleConfig(members=[build_config(loso_args, label_names, member)
                                       for member in config.member_configs()])
    overrides = {}
    if loso_args.config_overrides_are_json():
        overrides = loso_args.config_overrides_dict()
    elif loso_args.config_overrides:
        config.update_from_string(loso_args.config_overrides)
    if loso_args.label_smoothing is not None:
        overrides["label_smoothing"] = loso_args.label_smoothing
    if loso_args.contrastive_weight is not None:
        overrides["contrastive_weight"] = loso_args.contrastive_weight
    # The recipe weighs the classes (--balance); weights a starting config carries were derived from another
    # training set, perhaps for other labels, and are kept only when the overrides set them.
    overrides.setdefault("class_weights", None)
    overrides["id2label"] = dict(enumerate(label_names))
    overrides["label2id"] = {name: index for index, name in enumerate(label_names)}
    # Rebuilt rather than patched, so that the config validates the combination (and derived fields such as the
    # merge schedule are recomputed when an override sets them to null).
    return type(config).from_dict({**config.to_dict(), **overrides})


# How long the other processes wait for the main one to prepare the inputs: a flow pass over a raw corpus can take
# hours, far beyond a process group's default timeout (30 min), which would otherwise end them first.
INPUTS_WAIT = timedelta(hours=48)


@contextmanager
def main_process_first() -> Iterator[None]:
    """Run the block in the main process first, then in the others, which wait up to `INPUTS_WAIT` for it.

    Unlike `PartialState().main_process_first()`, the wait is not bound by the process group's timeout (transformers
    does not even pass `--ddp_timeout` to CPU process groups): the processes meet in a barrier of a gloo group of
    their own, created with `INPUTS_WAIT` as its timeout.
    """
    state = PartialState()
    if state.num_processes == 1 or not dist.is_initialized():
        yield
        return
    waiting_room = dist.new_group(backend="gloo", timeout=INPUTS_WAIT)
    if not state.is_main_process:
        dist.barrier(group=waiting_room)
    yield
    if state.is_main_process:
        dist.barrier(group=waiting_room)
    dist.destroy_process_group(waiting_room)


def load_data(loso_args: LOSOArguments, image_processor: EPIRImageProcessor) -> tuple[LOSOData, list[str]]:
    """Load the corpus, turn it into model inputs with the processor, and hold it in memory."""
    from dataset_scripts import load_me_dataset, prepare_model_inputs

    if loso_args.data_dir is not None and not Path(loso_args.data_dir).is_dir():
        raise FileNotFoundError(f"--data_dir {loso_args.data_dir!r} does not exist or is not a folder "
                                f"(expected the {loso_args.dataset} corpus there).")
    # Under several processes, the main process builds the cache and the others then read it.
    with main_process_first():
        dataset = load_me_dataset(loso_args.dataset, data_dir=loso_args.data_dir, **loso_args.load_kwargs())
    if not loso_args.train_full:
        # The subjects are known now: a bad --folds fails before the flow pass, which can take hours.
        if loso_args.fold_by == "dataset" and len(corpora := sorted(set(dataset["dataset"]))) < 2:
            raise ValueError(f"--fold_by dataset needs at least 2 corpora to hold each out in turn; "
                             f"{loso_args.dataset} has {corpora}.")
        groups = dataset["dataset"] if loso_args.fold_by == "dataset" else dataset["subject"]
        select_folds(loso_subjects(groups), loso_args.folds, loso_args.fold_shard)
    with main_process_first():
        prepared = prepare_model_inputs(dataset, image_processor, num_proc=loso_args.preprocessing_num_workers)
    if loso_args.train_full:
        # Recorded after the flows are prepared: the processor is part of their cache key.
        image_processor.training_inputs = describe_training_inputs(loso_args.dataset, dataset.features)
    data = dataclasses.replace(LOSOData.from_dataset(prepared), fold_by=loso_args.fold_by)
    return data, list(prepared.features["label"].names)


def describe_training_inputs(dataset_name: str, features: Features) -> str:
    """What a `--train_full` model is trained on, for its saved processor: which inputs the checkpoint expects."""
    if "flow" in features:
        return (f"{dataset_name}: precomputed onset-apex flow images of the corpus' own face crops, used as they "
                "are. Frames given to the processor are face-located first; a frame that is already a face crop "
                "is used whole, as those flows were.")
    return f"{dataset_name}: onset-apex flows computed by this processor from the corpus' frames"


def check_output_dir(output_dir: str) -> None:
    """Check up front that `--output_dir` can be written, so that an unusable path fails before the flows and the
    training; the folder itself is created only when the run writes its settings, after the inputs were checked, so
    that a command whose inputs fail leaves no empty folder behind."""
    path = Path(output_dir)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"--output_dir {output_dir!r} is a file, not a folder.")
    existing = next(folder for folder in (path.absolute(), *path.absolute().parents) if folder.exists())
    if not existing.is_dir():
        raise NotADirectoryError(f"--output_dir {output_dir!r} cannot be created (Not a directory: {existing}).")
    if not os.access(existing, os.W_OK | os.X_OK):
        if existing == path.absolute():
            raise PermissionError(f"--output_dir {output_dir!r} is not writable.")
        raise PermissionError(f"--output_dir {output_dir!r} cannot be created (Permission denied: {existing}).")


def fold_workers_for(loso_args: LOSOArguments, training_args: LOSOTrainingArguments) -> FoldWorkers:
    """The worker processes folds run in (`--fold_workers`, `--parallel`)."""
    state = PartialState()
    if loso_args.executor == "slurm" and state.num_processes > 1:
        raise ValueError("--executor slurm submits a job array from one process; run it without accelerate launch "
                         "(each task trains its folds in its own --fold_workers).")
    if state.num_processes == 1:
        return resolve_fold_workers(loso_args.fold_workers, loso_args.cpu_threads, loso_args.folds_per_device,
                                    use_cpu=training_args.use_cpu)
    if loso_args.parallel == "ddp" or loso_args.train_full:
        if loso_args.fold_workers not in ("auto", "1"):
            raise ValueError(f"--fold_workers {loso_args.fold_workers} cannot be combined with --parallel ddp (or "
                             "--train_full) under accelerate launch, where the ranks train each model together; "
                             "leave it at auto.")
        return FoldWorkers(cpu_threads=loso_args.cpu_threads)
    local_ranks = int(os.environ.get("LOCAL_WORLD_SIZE", state.num_processes))
    return resolve_fold_workers(loso_args.fold_workers, loso_args.cpu_threads, loso_args.folds_per_device,
                                use_cpu=training_args.use_cpu, local_ranks=local_ranks,
                                local_rank=state.local_process_index)


@dataclass
class LOSOExperiment:
    """Everything one invocation evaluates: build it with `prepare`, then `run` it (LOSO) or `train_full`."""

    loso_args: LOSOArguments
    training_args: LOSOTrainingArguments
    image_processor: EPIRImageProcessor
    config: PreTrainedConfig
    recipe: TrainingRecipe
    data: LOSOData
    label_names: list[str]
    workers: FoldWorkers

    @classmethod
    def prepare(cls, loso_args: LOSOArguments, training_args: LOSOTrainingArguments) -> LOSOExperiment:
        """Open what the arguments name, then load and prepare the data.

        Everything named on the command line (processor, config, output dir, worker settings) is checked before the
        data: the flow pass can take hours.
        """
        if loso_args.teacher_cache is not None and loso_args.teachers is None:
            raise ValueError("--teacher_cache keeps the predictions of --teachers; a LOSO run without --teachers "
                             "would not use it.")
        image_processor = load_processor(loso_args)
        starting_config = load_starting_config(loso_args)
        check_output_dir(training_args.output_dir)
        workers = fold_workers_for(loso_args, training_args)
        data, label_names = load_data(loso_args, image_processor)
        config = build_config(loso_args, label_names, starting_config)
        recipe = loso_args.recipe(image_processor)
        if recipe.init_from is not None:
            build_model(config, training_args.seed, recipe.init_from)  # an incompatible checkpoint fails here
        return cls(loso_args=loso_args, training_args=training_args, image_processor=image_processor, config=config,
                   recipe=recipe, data=data, label_names=label_names, workers=workers)

    def run_config(self, args: LOSOTrainingArguments) -> RunConfig:
        """The settings a run with `args` records. Under `--parallel folds` a fold is trained by one process, so
        the run is recorded (and compares) as a single-process one."""
        model_config = self.config.to_dict()
        model_config.pop("transformers_version", None)
        recipe = self.recipe.to_dict()
        if self.loso_args.protocol == "inner-val":
            recipe["inner_folds"] = self.loso_args.inner_folds
        training = training_signature(args, world_size=1 if self.workers.split_ranks else None)
        return RunConfig(
            protocol=self.loso_args.protocol,
            seed=args.seed,
            dataset=self.loso_args.dataset,
            # Where the cache lives does not change the data, and differs between machines that run shards.
            dataset_kwargs={key: value for key, value in self.loso_args.load_kwargs().items()
                            if key not in ("cache_dir", "use_cache")},
            subjects=loso_subjects(self.data.fold_groups),
            label_names=self.label_names,
            model_config=model_config,
            processor=json.loads(self.image_processor.to_json_string()),
            training=training,
            recipe=recipe,
            fold_by=self.loso_args.fold_by,
        )

    def runs(self) -> list[LOSORun]:
        """One run in `--output_dir`, or with `--seeds` one per seed in `--output_dir/seed<s>`."""
        output_dir = Path(self.training_args.output_dir)
        if not self.loso_args.seeds:
            return [LOSORun(self.training_args, self.run_config(self.training_args), output_dir)]
        runs = []
        for seed in self.loso_args.seed_list():
            args = dataclasses.replace(self.training_args, seed=seed)
            runs.append(LOSORun(args, self.run_config(args), output_dir / f"seed{seed}"))
        return runs

    def array_settings(self, command: str) -> ArraySettings | None:
        """With `--executor slurm`, how the folds are submitted as a job array (`command` re-runs this one)."""
        loso_args = self.loso_args
        if loso_args.executor != "slurm":
            return None
        return ArraySettings(
            log_dir=Path(self.training_args.output_dir) / LOGS_DIRNAME, cluster=loso_args.submitit_cluster,
            folds_per_task=loso_args.folds_per_task, partition=loso_args.slurm_partition,
            gpus_per_task=loso_args.slurm_gpus_per_task,
            cpus_per_task=loso_args.slurm_cpus_per_task or loso_args.cpu_threads, time_min=loso_args.slurm_time,
            array_parallelism=loso_args.slurm_array_parallelism,
            additional_parameters=json_object_argument("--slurm_additional_parameters",
                                                       loso_args.slurm_additional_parameters or "{}"),
            fold_workers=loso_args.fold_workers, folds_per_device=loso_args.folds_per_device,
            cpu_threads=loso_args.cpu_threads, use_cpu=self.training_args.use_cpu, wait=not loso_args.no_wait,
            command=command)

    def run(self, started_at: float | None = None, command: str = "the same command") -> dict | None:
        """LOSO over the selected folds of every run; returns the results on the main process (with `--seeds`:
        `{"seeds": [each seed's results], "summary": the seed table, or None until every seed is complete}`), or
        None after submitting a job array with `--no_wait` (`command`, which re-runs this one, then pools)."""
        runs = self.runs()
        results = run_loso_runs(self.data, self.config, self.recipe, runs, folds=self.loso_args.folds,
                                fold_shard=self.loso_args.fold_shard, inner_folds=self.loso_args.inner_folds,
                                started_at=started_at, workers=self.workers, array=self.array_settings(command))
        if results is None or not self.loso_args.seeds:
            return None if results is None else results[0]
        summary = None
        if all(run_results["complete"] for run_results in results):
            summary = write_seed_summary(self.training_args.output_dir, [run.output_dir for run in runs])
        else:
            print("summary.json is written once every seed's folds are done (resume, or merge the shards per seed).",
                  flush=True)
        return {"seeds": results, "summary": summary}

    def train_full(self) -> Path:
        """One model on every subject, saved with its processor and card to `--output_dir/final`."""
        return train_full_model(self.data, self.config, self.training_args, self.recipe, self.image_processor,
                                self.run_config(self.training_args), self.training_args.output_dir)

"""Command-line arguments of the LOSO runner: the stock `TrainingArguments` with recipe defaults, plus ours.

The defaults are the fixed hyperparameters of the `honest` protocol: every fold uses them unchanged, so no choice
depends on a held-out subject. Each was chosen on training subjects only — learning rate and batch size by how well
the model fits its training data (`epir-recipe-fit`), the epoch count and the mirror-averaged prediction
(`test_time_flip`) by validation subjects drawn from the training subjects, under rules written down before the runs
(docs/experiments.md). Checkpointing, evaluation loops and reporting are off by default because a fold is small and
short: their per-step and per-epoch overhead would cost more than the training itself.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Literal

from transformers import BaseImageProcessor, HfArgumentParser, PreTrainedConfig, TrainingArguments
from transformers.trainer_utils import IntervalStrategy, SaveStrategy, SchedulerType

from .. import CONFIG_CLASSES
from ..configuration_ensemble import MEMBER_CONFIGS, EnsembleConfig
from ..flow_mirror import FlowMirror
from .augmentation import FlowAugmentation
from .cluster import import_submitit
from .distillation import Distillation
from .files import read_json
from .folds import parse_fold_shard
from .pretrained import pretrained_weights
from .trainer import TrainingRecipe

PREPROCESSING_WORKERS_HELP = (
    "Processes that compute the flows from a corpus' frames (datasets.map num_proc; default: this process alone). A "
    "raw corpus' flow pass takes hours on one core; the inputs are the same with any number.")


ENSEMBLE_TYPE = EnsembleConfig.model_type
ModelType = Literal["epir", "ststnet", "offapexnet", "sssnet", "me-ensemble"]


def check_preprocessing_workers(value: int | None) -> None:
    """At parse time, not after the corpus is loaded: a bad count would otherwise fail inside datasets."""
    if value is not None and value < 1:
        raise ValueError(f"--preprocessing_num_workers must be >= 1 (or left unset); got {value}.")


@dataclass
class LOSOArguments:
    """What to evaluate and how; see `examples/run_loso.py --help`."""

    dataset: str = field(default="synthetic", metadata={"help": "A `dataset_scripts.load_me_dataset` name, e.g. "
                         "synthetic, megc2019_composite_flow, megc2019_composite, casme2, samm, smic."})
    data_dir: str | None = field(default=None, metadata={"help": "Folder of the corpus (not needed for synthetic)."})
    dataset_kwargs: str | None = field(default=None, metadata={
        "help": "JSON object of extra `load_me_dataset` arguments, e.g. '{\"num_subjects\": 6}' for synthetic."})
    protocol: Literal["honest", "inner-val", "oracle-epoch"] = field(default="honest", metadata={
        "help": "honest: the last-epoch model predicts the held-out subject. inner-val: the epoch is chosen by an "
                "inner leave-subjects-out validation on the training subjects. oracle-epoch: the epoch with the "
                "best test accuracy per subject (OPTIMISTIC; only for comparison with published numbers)."})
    inner_folds: int = field(default=5, metadata={
        "help": "inner-val only: training subjects are split into this many groups, each held out once "
                "(0 = one group per subject, a full inner LOSO)."})
    model_type: ModelType | None = field(default=None, metadata={
        "help": "The model to evaluate: EPIR, a CNN baseline (STSTNet, OFF-ApexNet, SSSNet), or an ensemble of them "
                "(me-ensemble, with --members). Default: the --config_name's model type, or epir."})
    members: str | None = field(default=None, metadata={
        "help": "--model_type me-ensemble: its members' model types, comma-separated (e.g. "
                "epir,ststnet,offapexnet,sssnet). Each fold trains every member at its default config with the same "
                "recipe and seed, and averages their class probabilities (honest protocol only)."})
    fold_by: Literal["subject", "dataset"] = field(default="subject", metadata={
        "help": "subject: leave-one-subject-out. dataset: leave-one-database-out, one fold per corpus."})
    folds: str | None = field(default=None, metadata={
        "help": "Comma-separated folds to run: subject ids, or corpus names under --fold_by dataset (default: all)."})
    fold_shard: str | None = field(default=None, metadata={
        "help": "'i/n': run only shard i (0-based) of n of the selected folds; pool shards with the merge command."})
    balance: Literal["loss", "sampler", "none"] = field(default="loss", metadata={
        "help": "Class balancing: balanced class weights in the cross-entropy, a class-balanced sampler, or none."})
    augment: bool = field(default=True, metadata={"help": "Flow-aware augmentation of training batches."})
    flip_prob: float = field(default=0.5, metadata={"help": "Horizontal flip probability (u is negated)."})
    max_translate: float = field(default=0.1, metadata={"help": "Largest random shift, as a fraction of the side."})
    max_scale: float = field(default=0.1, metadata={"help": "Random zoom in [1 - max_scale, 1 + max_scale]."})
    test_time_flip: bool = field(default=True, metadata={
        "help": "Predict with the mean class probabilities of each sample and of its mirror (u negated)."})
    config_name: str | None = field(default=None, metadata={
        "help": "Model config to start from (a folder or Hub id); default: the --model_type's default config."})
    config_overrides: str | None = field(default=None, metadata={
        "help": "Config changes (ablations): 'use_dtsm=false,hidden_size=96', or a JSON object for lists and "
                "nulls, e.g. '{\"num_hidden_layers\": 3, \"token_merge_schedule\": null}'."})
    label_smoothing: float | None = field(default=None, metadata={"help": "Sets the config's label_smoothing."})
    contrastive_weight: float | None = field(default=None, metadata={
        "help": "Sets EPIRConfig.contrastive_weight (0 turns the contrastive term off); EPIR only."})
    model_name_or_path: str | None = field(default=None, metadata={
        "help": "A pretrained EPIR checkpoint folder (e.g. examples/pretrain.py's OUTPUT_DIR/final) whose encoder "
                "every fold starts from; the head is new. Default: every fold starts from scratch."})
    teachers: str | None = field(default=None, metadata={
        "help": "Distillation: the teachers' model types, comma-separated (e.g. ststnet,offapexnet,sssnet). Each "
                "fold first trains every teacher at its default config with this recipe and seed on the fold's "
                "training samples; the model then learns from their soft labels too (docs/loso.md)."})
    distillation_temperature: float = field(default=2.0, metadata={"help": "Distillation: temperature T."})
    distillation_alpha: float = field(default=0.5, metadata={
        "help": "Distillation: loss = (1 - alpha) x cross-entropy + alpha x T² x KL(teachers ‖ model) (+ the "
                "contrastive term)."})
    teacher_cache: str | None = field(default=None, metadata={
        "help": "A folder keeping trained teachers' predictions, keyed by all that determines them, so runs that "
                "share a teacher train it once; epir-recipe-fit also keeps its own model's there."})
    processor_name_or_path: str | None = field(default=None, metadata={
        "help": "EPIRImageProcessor to use (a folder or Hub id); default: EPIRImageProcessor()."})
    preprocessing_num_workers: int | None = field(default=None, metadata={"help": PREPROCESSING_WORKERS_HELP})
    cpu_threads: int = field(default=1, metadata={
        "help": "torch intra-op threads per fold (torch.set_num_threads). EPIR's matrices are small, so a second "
                "thread on the same fold mostly waits on the first (a composite fold ran over 5x slower with 2 threads "
                "than with 1 on 2 CPU cores): more cores are used by running more folds at once (--fold_workers)."})
    fold_workers: str = field(default="auto", metadata={
        "help": "Folds trained at once, each in its own worker process: 'auto' or a number (1: one after the other "
                "in this process). auto = --folds_per_device per visible GPU, or on CPU the available cores divided "
                "by --cpu_threads."})
    folds_per_device: int = field(default=4, metadata={
        "help": "With GPUs and --fold_workers auto: worker processes per GPU. One small fold leaves most of a GPU "
                "idle; raise it while the folds/hour keeps rising and GPU memory allows."})
    parallel: Literal["folds", "ddp"] = field(default="folds", metadata={
        "help": "Under accelerate launch --num_processes N: 'folds' splits the folds between the ranks (each trains "
                "its folds alone, in its own --fold_workers; the output dir must be shared by every machine), "
                "'ddp' trains each fold data-parallel on all ranks (the global batch grows N times). --train_full "
                "always trains its one model with DDP."})
    executor: Literal["local", "slurm"] = field(default="local", metadata={
        "help": "Where folds train: 'local' (this machine's --fold_workers) or 'slurm' (a job array submitted "
                "through submitit, one task per --folds_per_task folds, each writing its folds into --output_dir, "
                "which every node must share; needs pip install \"epir-hf[cluster]\")."})
    submitit_cluster: Literal["slurm", "local", "debug"] = field(default="slurm", metadata={
        "help": "With --executor slurm, submitit's executor: 'slurm', or 'local' (the same array as local "
                "subprocesses, to try a command without a cluster) or 'debug' (in this process)."})
    folds_per_task: int = field(default=1, metadata={
        "help": "With --executor slurm: folds per array task, trained in the task's own --fold_workers (auto: "
                "--folds_per_device on the task's GPU, or one per --cpu_threads of its cores)."})
    slurm_partition: str | None = field(default=None, metadata={"help": "SLURM partition of the array tasks."})
    slurm_gpus_per_task: int | None = field(default=None, metadata={"help": "GPUs per array task (none if unset)."})
    slurm_cpus_per_task: int | None = field(default=None, metadata={
        "help": "CPU cores per array task (default --cpu_threads)."})
    slurm_time: int = field(default=240, metadata={"help": "Time limit of an array task, in minutes."})
    slurm_array_parallelism: int = field(default=256, metadata={"help": "Array tasks running at once, at most."})
    slurm_additional_parameters: str | None = field(default=None, metadata={
        "help": 'Other sbatch options as a JSON object, e.g. \'{"account": "lab", "qos": "normal"}\'.'})
    no_wait: bool = field(default=False, metadata={
        "help": "With --executor slurm: return once the array is submitted; the same command pools the folds "
                "(or submits those still missing) later."})
    seeds: str | None = field(default=None, metadata={
        "help": "Comma-separated seeds (e.g. 1,2,3) run in one command, each in OUTPUT_DIR/seed<s> (instead of "
                "--seed, which cannot be given with it); when all are complete, the mean ± std over seeds and the "
                "seed ensemble are written to OUTPUT_DIR/summary.json."})
    train_full: bool = field(default=False, metadata={
        "help": "Instead of LOSO, train one model on all subjects and save model + processor to OUTPUT_DIR/final "
                "(pushed with --push_to_hub --hub_model_id). The settings are recorded in OUTPUT_DIR and checked as "
                "on resume: other settings are refused, the same ones train again and replace final."})

    def __post_init__(self):
        check_preprocessing_workers(self.preprocessing_num_workers)
        if self.cpu_threads < 1:
            raise ValueError(f"--cpu_threads must be >= 1; got {self.cpu_threads}.")
        if self.fold_workers != "auto" and not (self.fold_workers.isdigit() and int(self.fold_workers) >= 1):
            raise ValueError(f"--fold_workers must be 'auto' or a number >= 1; got {self.fold_workers!r}.")
        if self.folds_per_device < 1:
            raise ValueError(f"--folds_per_device must be >= 1; got {self.folds_per_device}.")
        self.check_executor()
        if self.seed_list() and self.train_full:
            raise ValueError("--seeds runs LOSO once per seed; --train_full trains one model, seeded by --seed.")
        if self.inner_folds < 0 or self.inner_folds == 1:
            raise ValueError(f"--inner_folds must be 0 (full inner LOSO) or >= 2; got {self.inner_folds}.")
        self.recipe()  # validates the augmentation and balance settings at parse time
        if self.model_name_or_path is not None:
            pretrained_weights(self.model_name_or_path)
        self.load_kwargs()
        if self.fold_shard is not None:
            parse_fold_shard(self.fold_shard)
        if self.config_overrides and not self.config_overrides_are_json():
            if any("=" not in item for item in self.config_overrides.split(",")):
                raise ValueError(f"--config_overrides must be 'key=value,key=value' or a JSON object; "
                                 f"got {self.config_overrides!r}.")
        self.check_ensemble()
        if self.config_name is None:  # otherwise checked against the loaded config, before the data
            self.check_config_overrides(self.default_config())

    SLURM_ONLY = ("submitit_cluster", "folds_per_task", "slurm_partition", "slurm_gpus_per_task",
                  "slurm_cpus_per_task", "slurm_time", "slurm_array_parallelism", "slurm_additional_parameters",
                  "no_wait")

    def check_executor(self) -> None:
        """The --executor settings: SLURM ones only with --executor slurm, which needs submitit (checked here, before
        the data is prepared)."""
        if self.executor == "local":
            defaults = {item.name: item.default for item in fields(self)}
            given = [name for name in self.SLURM_ONLY if getattr(self, name) != defaults[name]]
            if given:
                raise ValueError(f"--{given[0]} is a setting of --executor slurm; got --executor local (the default).")
            return
        if self.train_full:
            raise ValueError("--executor slurm runs LOSO folds as array tasks; --train_full trains one model: run it "
                             "with --executor local (e.g. inside one SLURM job).")
        for name in ("folds_per_task", "slurm_time", "slurm_array_parallelism", "slurm_cpus_per_task"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1; got {getattr(self, name)}.")
        if self.slurm_gpus_per_task is not None and self.slurm_gpus_per_task < 0:
            raise ValueError(f"--slurm_gpus_per_task must be >= 0; got {self.slurm_gpus_per_task}.")
        if self.no_wait and self.submitit_cluster == "debug":
            raise ValueError("--no_wait cannot be given with --submitit_cluster debug, which runs the tasks in this "
                             "process while it waits for them; use --submitit_cluster local.")
        if self.slurm_additional_parameters is not None:
            json_object_argument("--slurm_additional_parameters", self.slurm_additional_parameters)
        import_submitit()

    def member_types(self) -> list[str]:
        """`--members` as a list of model types (empty when not given)."""
        if self.members is None:
            return []
        items = [item.strip() for item in self.members.split(",")]
        known = list(MEMBER_CONFIGS)
        if not items or any(item not in known for item in items) or len(set(items)) != len(items):
            raise ValueError(f"--members must be different model types among {', '.join(known)}, comma-separated "
                             f"(e.g. {','.join(known)}); got {self.members!r}.")
        return items

    def default_config(self) -> PreTrainedConfig:
        """The default config of `--model_type` (EPIR's when not given); for an ensemble, of its `--members`."""
        if self.model_type == ENSEMBLE_TYPE:
            return CONFIG_CLASSES[ENSEMBLE_TYPE](members=[CONFIG_CLASSES[member]() for member in self.member_types()])
        return CONFIG_CLASSES[self.model_type or "epir"]()

    def check_ensemble(self, ensemble: bool | None = None) -> None:
        """The settings an ensemble cannot take, refused before any data is read: each member trains at its default
        config (a saved ensemble config, `--config_name`, sets others), from scratch, under the honest protocol.
        `ensemble`: whether the model is one (default: whether `--model_type` says so)."""
        ensemble = self.model_type == ENSEMBLE_TYPE if ensemble is None else ensemble
        if self.members is not None and not ensemble:
            raise ValueError(f"--members names the members of --model_type {ENSEMBLE_TYPE}; got --model_type "
                             f"{self.model_type or 'epir (the default)'}.")
        if not ensemble:
            return
        if (self.members is None) == (self.config_name is None):
            raise ValueError(f"--model_type {ENSEMBLE_TYPE} needs its members: --members (e.g. "
                             "epir,ststnet,offapexnet,sssnet) or --config_name (a saved ensemble config), one of "
                             "them.")
        self.member_types()
        refused = [("--protocol", self.protocol != "honest", "the honest protocol only (an epoch chosen per "
                    "member is not the ensemble's)"),
                   ("--config_overrides", self.config_overrides, "members at their default configs (a saved "
                    "ensemble config, --config_name, sets others)"),
                   ("--label_smoothing", self.label_smoothing is not None, "members at their default configs"),
                   ("--contrastive_weight", self.contrastive_weight is not None, "members at their default configs"),
                   ("--model_name_or_path", self.model_name_or_path, "members trained from scratch"),
                   ("--teachers", self.teachers, "members from their hard labels (distil into one model instead)")]
        for flag, given, supported in refused:
            if given:
                raise ValueError(f"{flag} cannot be given with --model_type {ENSEMBLE_TYPE}, which trains "
                                 f"{supported}.")

    def seed_list(self) -> list[int]:
        """`--seeds` as a list (empty when not given)."""
        if self.seeds is None:
            return []
        items = [item.strip() for item in self.seeds.split(",") if item.strip()]
        if not all(item.isdigit() for item in items):
            raise ValueError(f"--seeds must be comma-separated non-negative integers, e.g. 1,2,3; got {self.seeds!r}.")
        seeds = [int(item) for item in items]
        if len(seeds) < 2 or len(set(seeds)) != len(seeds):
            raise ValueError(f"--seeds needs at least 2 different seeds (use --seed for one); got {self.seeds!r}.")
        return seeds

    def load_kwargs(self) -> dict:
        """`--dataset_kwargs` as a dict."""
        return json_object_argument("--dataset_kwargs", self.dataset_kwargs) if self.dataset_kwargs else {}

    def config_overrides_are_json(self) -> bool:
        """Whether `--config_overrides` is a JSON object rather than 'key=value,...'."""
        return bool(self.config_overrides) and self.config_overrides.lstrip().startswith("{")

    def config_overrides_dict(self) -> dict:
        """`--config_overrides` given as a JSON object, as a dict."""
        return json_object_argument("--config_overrides", self.config_overrides)

    def check_config_overrides(self, config: PreTrainedConfig) -> None:
        """Both forms of `--config_overrides`, and `--contrastive_weight`, are rejected for a key the model's config
        does not have: a typo stored as an extra attribute would be ignored by the model, and the run would silently
        test the default instead."""
        keys = []
        if self.config_overrides_are_json():
            keys = list(self.config_overrides_dict())
        elif self.config_overrides:
            keys = [item.split("=", 1)[0] for item in self.config_overrides.split(",")]
        known = sorted(config.to_dict())
        name = type(config).__name__
        for key in keys:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise ValueError(f"--config_overrides: {key!r} is not a field of {name}.{hint}")
        for flag, value, key in (("--contrastive_weight", self.contrastive_weight, "contrastive_weight"),
                                 ("--label_smoothing", self.label_smoothing, "label_smoothing")):
            if value is not None and key not in known:
                raise ValueError(f"{flag} sets {key}, which {name} does not have.")

    def recipe(self, image_processor: BaseImageProcessor | None = None) -> TrainingRecipe:
        """The recipe; mirrors match `image_processor`'s normalisation of u when one is given."""
        mirror = FlowMirror.from_image_processor(image_processor) if image_processor is not None else FlowMirror()
        augmentation = None
        if self.augment:
            augmentation = FlowAugmentation(flip_prob=self.flip_prob, max_translate=self.max_translate,
                                            max_scale=self.max_scale, mirror=mirror)
        return TrainingRecipe(balance=self.balance, augmentation=augmentation,
                              test_time_mirror=mirror if self.test_time_flip else None,
                              init_from=self.model_name_or_path, distillation=self.distillation())

    def distillation(self) -> Distillation | None:
        """`--teachers` and its settings, or None; the settings without `--teachers` are refused (they would be
        silently unused)."""
        if self.teachers is None:
            defaults = {item.name: item.default for item in fields(self)}
            for name in ("distillation_temperature", "distillation_alpha"):
                if getattr(self, name) != defaults[name]:
                    raise ValueError(f"--{name} is a setting of distillation; give the teachers with --teachers.")
            return None
        return Distillation(teachers=tuple(item.strip() for item in self.teachers.split(",")),
                            temperature=self.distillation_temperature, alpha=self.distillation_alpha,
                            teacher_cache=self.teacher_cache)


def parse_loso_arguments(argv: list[str]) -> tuple[LOSOArguments, LOSOTrainingArguments]:
    """`examples/run_loso.py`'s arguments; a single `.json` argument is read as a file of arguments."""
    parser = HfArgumentParser((LOSOArguments, LOSOTrainingArguments))
    if len(argv) == 1 and argv[0].endswith(".json"):
        loso_args, training_args = parser.parse_json_file(json_file=argv[0])
        given = set(read_json(argv[0]))
    else:
        loso_args, training_args = parser.parse_args_into_dataclasses(args=argv)
        given = {arg[2:].split("=", 1)[0] for arg in argv if arg.startswith("--")}
    # The parsed --seed cannot tell a given 42 from the default, so whether it was given is read from the arguments.
    if "seed" in given and loso_args.seeds is not None:
        raise ValueError(f"--seed {training_args.seed} and --seeds {loso_args.seeds} were both given: --seeds runs "
                         "one run per seed and replaces --seed. Give one of them.")
    return loso_args, training_args


def json_object_argument(name: str, text: str) -> dict:
    """The JSON object given as the argument `name`, or a ValueError naming the argument."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{name} must be a JSON object; got {text!r} ({error}).") from None
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a JSON object; got {text!r}.")
    return value


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _count(minimum: int) -> Callable[[object], bool]:
    return lambda value: isinstance(value, int) and not isinstance(value, bool) and value >= minimum


SEED_RANGE = 2**32
"""Seeds numpy accepts: [0, 2**32 - 1]; transformers' set_seed seeds numpy too."""

TRAINING_ARGUMENT_RULES: tuple[tuple[str, Callable[[object], bool], str], ...] = (
    ("learning_rate", lambda value: _finite(value) and value > 0, "a finite number > 0"),
    ("per_device_train_batch_size", _count(1), "an integer >= 1"),
    ("per_device_eval_batch_size", _count(1), "an integer >= 1"),
    ("gradient_accumulation_steps", _count(1), "an integer >= 1"),
    ("num_train_epochs", _finite, "a finite number"),
    ("weight_decay", lambda value: _finite(value) and value >= 0, "a finite number >= 0"),
    ("adam_beta1", lambda value: _finite(value) and 0 <= value < 1, "in [0, 1)"),
    ("adam_beta2", lambda value: _finite(value) and 0 <= value < 1, "in [0, 1)"),
    ("adam_epsilon", lambda value: _finite(value) and value > 0, "a finite number > 0"),
    ("max_grad_norm", lambda value: _finite(value) and value >= 0, "a finite number >= 0 (0: no clipping)"),
    ("seed", lambda value: _count(0)(value) and value < SEED_RANGE, f"an integer in [0, {SEED_RANGE - 1}]"),
    ("data_seed", lambda value: value is None or (_count(0)(value) and value < SEED_RANGE),
     f"an integer in [0, {SEED_RANGE - 1}] (or unset)"),
    ("dataloader_num_workers", _count(0), "an integer >= 0"),
)
"""The training arguments a fold would reject only once it starts (or would silently misuse), with the values they
take: (field, check, what is expected)."""


@dataclass
class LOSOTrainingArguments(TrainingArguments):
    """`TrainingArguments` with the recipe's defaults (AdamW, warmup + cosine, no checkpoints, no reporting)."""

    output_dir: str | None = field(default="loso_output", metadata={"help": "Where folds and results are written."})
    num_train_epochs: float = field(default=60.0, metadata={"help": "Epochs per fold."})
    per_device_train_batch_size: int = field(default=16, metadata={"help": "Training batch size per device."})
    per_device_eval_batch_size: int = field(default=128, metadata={"help": "Prediction batch size per device."})
    learning_rate: float = field(default=3e-4, metadata={"help": "Peak AdamW learning rate."})
    weight_decay: float = field(default=0.05, metadata={"help": "AdamW weight decay (not on biases/norms)."})
    lr_scheduler_type: SchedulerType | str = field(default="cosine", metadata={"help": "Learning-rate schedule."})
    warmup_steps: float = field(default=0.1, metadata={"help": "Warmup: steps, or a ratio of all steps if < 1."})
    logging_strategy: IntervalStrategy | str = field(default="no", metadata={"help": "'no', 'epoch' or 'steps'."})
    save_strategy: SaveStrategy | str = field(default="no", metadata={"help": "Checkpoints inside folds: off."})
    report_to: None | str | list[str] = field(default="none", metadata={"help": "Experiment trackers: none."})
    dataloader_pin_memory: bool = field(default=False, metadata={"help": "Pinned memory (tensors are tiny)."})

    def __post_init__(self):
        # Checked here, before any file is written: a bad value would otherwise fail inside the first fold, after the
        # flow pass, and leave the run's settings recorded in --output_dir.
        for name, valid, expected in TRAINING_ARGUMENT_RULES:
            value = getattr(self, name)
            if not valid(value):
                raise ValueError(f"--{name} must be {expected}; got {value!r}.")
        super().__post_init__()
        # max_steps > 0 overrides the epochs (as in Trainer); with neither, every fold would record the
        # predictions of an untrained model.
        if self.max_steps <= 0 and self.num_train_epochs <= 0:
            raise ValueError(f"--num_train_epochs must be > 0 (or --max_steps > 0); got {self.num_train_epochs:g}: "
                             "no fold would be trained.")
        if self.label_smoothing_factor != 0:
            # Trainer's own smoother would replace the model's loss and drop class weights and the contrastive term.
            raise ValueError("Use --label_smoothing (EPIRConfig.label_smoothing), not --label_smoothing_factor: "
                             "the model computes its loss itself (cross-entropy + contrastive term).")

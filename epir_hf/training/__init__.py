"""Leave-one-subject-out training and evaluation of EPIR with `transformers.Trainer` (see examples/run_loso.py)."""

from .arguments import LOSOArguments, LOSOTrainingArguments, parse_loso_arguments
from .augmentation import FlowAugmentation
from .experiment import LOSOExperiment, build_config, load_data
from .folds import completed_folds, loso_subjects, parse_fold_shard, select_folds
from .loso import choose_epoch_inner, run_fold, run_loso, run_loso_runs, train_full_model
from .parallel import FoldError, FoldWorkers, resolve_fold_workers
from .results import PROTOCOL_NOTES, compute_results, load_metric, merge_runs, protocol_label
from .run_config import PROTOCOLS, LOSORun, RunConfig
from .seed_table import summarize_seeds, write_seed_summary
from .signature import training_signature
from .trainer import LOSOData, LOSOTrainer, TrainingRecipe, train_fold

__all__ = [
    "PROTOCOLS",
    "PROTOCOL_NOTES",
    "FlowAugmentation",
    "FoldError",
    "FoldWorkers",
    "LOSOArguments",
    "LOSOData",
    "LOSOExperiment",
    "LOSORun",
    "LOSOTrainer",
    "LOSOTrainingArguments",
    "RunConfig",
    "TrainingRecipe",
    "build_config",
    "choose_epoch_inner",
    "completed_folds",
    "compute_results",
    "load_data",
    "load_metric",
    "loso_subjects",
    "merge_runs",
    "parse_fold_shard",
    "parse_loso_arguments",
    "protocol_label",
    "resolve_fold_workers",
    "run_fold",
    "run_loso",
    "run_loso_runs",
    "select_folds",
    "summarize_seeds",
    "train_fold",
    "train_full_model",
    "training_signature",
    "write_seed_summary",
]

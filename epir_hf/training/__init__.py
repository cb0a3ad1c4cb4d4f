"""Leave-one-subject-out training and evaluation of EPIR with `transformers.Trainer` (see examples/run_loso.py)."""

from .arguments import LOSOArguments, LOSOTrainingArguments, training_signature
from .augmentation import FlowAugmentation
from .folds import completed_folds, loso_subjects, parse_fold_shard, select_folds
from .loso import LOSORun, choose_epoch_inner, run_fold, run_loso, run_loso_runs, train_full_model
from .parallel import FoldError, FoldWorkers, resolve_fold_workers
from .results import PROTOCOL_NOTES, PROTOCOLS, compute_results, load_metric, merge_runs, protocol_label
from .trainer import LOSOData, LOSOTrainer, TrainingRecipe, train_fold

__all__ = [
    "FlowAugmentation",
    "FoldError",
    "FoldWorkers",
    "LOSOArguments",
    "LOSOData",
    "LOSORun",
    "LOSOTrainer",
    "LOSOTrainingArguments",
    "PROTOCOLS",
    "PROTOCOL_NOTES",
    "TrainingRecipe",
    "choose_epoch_inner",
    "completed_folds",
    "compute_results",
    "load_metric",
    "loso_subjects",
    "merge_runs",
    "parse_fold_shard",
    "protocol_label",
    "resolve_fold_workers",
    "run_fold",
    "run_loso",
    "run_loso_runs",
    "select_folds",
    "train_fold",
    "train_full_model",
    "training_signature",
]

"""Shared helpers of the LOSO tests: a tiny synthetic setup that trains to UF1 >= 0.9 in seconds."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from epir_hf.training import LOSOData

REPO_ROOT = Path(__file__).resolve().parents[1]
RUN_LOSO = REPO_ROOT / "examples" / "run_loso.py"

# A 2-block EPIR with 16 patches: small enough for a fold in about a second on one core, with every EPIR
# component (DNSPT, self-token suppression, token integration, DTSM, contrastive head) switched on.
TINY_MODEL = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128,
              "patch_size": 7, "dtsm_layer": 0, "projection_dim": 16, "token_merge_schedule": [2, 0]}
SYNTHETIC = {"num_subjects": 5, "samples_per_subject": 9}
EPOCHS = 60


@cache
def load_script(relative_path: str):
    """A script of the repo (examples/, benchmarks/) imported as a module, so tests call its functions in process."""
    path = REPO_ROOT / relative_path
    spec = importlib.util.spec_from_file_location(f"repo_script_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their annotations through the module's entry
    spec.loader.exec_module(module)
    return module


def run_loso_module():
    """examples/run_loso.py as a module."""
    return load_script(str(RUN_LOSO.relative_to(REPO_ROOT)))


def synthetic_assets(tmp_path_factory) -> Path:
    """A session-wide folder with the dataset cache and a DIS-flow processor (TV-L1 is 100x slower and the
    synthetic task does not need it). Shared by every test module, so the flow is computed once per session."""
    root = tmp_path_factory.getbasetemp() / "loso_synthetic_assets"
    processor_dir = root / "processor"
    if not (processor_dir / "preprocessor_config.json").is_file():
        from epir_hf import EPIRImageProcessor

        EPIRImageProcessor(flow_method="dis").save_pretrained(processor_dir)
    return root


def synthetic_argv(assets: Path, output_dir: Path, *extra: str, epochs: int = EPOCHS,
                   config_overrides: dict | None = TINY_MODEL) -> list[str]:
    """Arguments of a tiny synthetic run, in this process (`--fold_workers 1`) unless `extra` says otherwise; the
    model is the tiny EPIR unless `config_overrides` is None (a baseline's own config)."""
    dataset_kwargs = {**SYNTHETIC, "cache_dir": str(assets / "cache")}
    overrides = ["--config_overrides", json.dumps(config_overrides)] if config_overrides is not None else []
    return ["--dataset", "synthetic", "--dataset_kwargs", json.dumps(dataset_kwargs),
            "--processor_name_or_path", str(assets / "processor"), *overrides,
            "--output_dir", str(output_dir), "--num_train_epochs", str(epochs), "--per_device_train_batch_size", "8",
            "--learning_rate", "1e-3", "--disable_tqdm", "true", "--fold_workers", "1", *extra]


def record_trained_folds(patch) -> list[str]:
    """A spy on `loso.run_fold` set through `patch` (a pytest MonkeyPatch): the list it returns collects the subjects
    of the folds trained in this process, in order, while they train as before."""
    from epir_hf.training import loso

    trained = []
    real_run_fold = loso.run_fold

    def record_fold(subject, *args, **kwargs):
        trained.append(subject)
        return real_run_fold(subject, *args, **kwargs)

    patch.setattr(loso, "run_fold", record_fold)
    return trained


def fold_records(output_dir: Path) -> dict[str, dict]:
    """Per-fold records without their wall time (the only field that may differ between equal runs)."""
    records = {}
    for path in sorted((Path(output_dir) / "folds").glob("*.json")):
        record = json.loads(path.read_text())
        record.pop("time_s")
        records[record["subject"]] = record
    return records


def results_without_timing(output_dir: Path) -> dict:
    results = json.loads((Path(output_dir) / "results.json").read_text())
    results.pop("time_s")
    return results


def structure(value):
    """The shape of a JSON value (keys and types, not numbers): what must match between 1 and 2 processes."""
    if isinstance(value, dict):
        return {key: structure(item) for key, item in value.items()}
    if isinstance(value, list):
        return [structure(value[0])] if value else []
    return type(value).__name__


@dataclass
class FailingFoldData(LOSOData):
    """A corpus whose fold holding out `failing_subject` raises, or with `kill` kills its own process as the
    out-of-memory killer would. A class here (not a monkeypatch) is pickled by reference, so the failure happens
    inside the worker processes too."""

    failing_subject: str = ""
    kill: bool = False

    def subset(self, mask) -> LOSOData:
        if set(self.subjects[mask].tolist()) == {self.failing_subject}:
            if self.kill:
                os.kill(os.getpid(), signal.SIGKILL)
            raise RuntimeError(f"injected failure holding out {self.failing_subject}")
        return super().subset(mask)

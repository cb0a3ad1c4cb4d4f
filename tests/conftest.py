"""Test-wide settings: no test may reach the network, and real data is optional."""

import os
from pathlib import Path

import pytest

for variable in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ[variable] = "1"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

REPO_ROOT = Path(__file__).resolve().parents[1]
# The real MEGC2019 composite release (labels.csv, flow/, apex/), named by an environment variable (docs/datasets.md);
# tests that need it skip when it is unset or the folder is absent.
COMPOSITE_DIR = Path(os.environ["EPIR_COMPOSITE_DIR"]) if os.environ.get("EPIR_COMPOSITE_DIR") else None


@pytest.fixture(scope="session")
def composite_dir() -> Path:
    """The real MEGC2019 composite flow release; the test is skipped when it is absent."""
    if COMPOSITE_DIR is None:
        pytest.skip("EPIR_COMPOSITE_DIR is not set (the real MEGC2019 composite release)")
    if not (COMPOSITE_DIR / "labels.csv").is_file():
        pytest.skip(f"real composite data not found at EPIR_COMPOSITE_DIR={COMPOSITE_DIR}")
    return COMPOSITE_DIR

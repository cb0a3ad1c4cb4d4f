"""Test-wide settings: no test may reach the network, and real data is optional."""

import os
from pathlib import Path

import pytest

for variable in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ[variable] = "1"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

REPO_ROOT = Path(__file__).resolve().parents[1]
COMPOSITE_DIR = Path(os.environ.get("EPIR_COMPOSITE_DIR", REPO_ROOT.parent / "shared" / "data" / "megc2019_composite"))


@pytest.fixture
def composite_dir() -> Path:
    """The real MEGC2019 composite flow release; the test is skipped when it is absent."""
    if not (COMPOSITE_DIR / "labels.csv").is_file():
        pytest.skip(f"real composite data not found at {COMPOSITE_DIR}")
    return COMPOSITE_DIR

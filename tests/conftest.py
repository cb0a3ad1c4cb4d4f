"""Test-wide settings: no test may reach the network (pushes go to a mocked Hub), and real data is optional."""

import os
import shutil
import signal
from pathlib import Path
from types import SimpleNamespace

import pytest

for variable in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ[variable] = "1"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

# A suite started as a shell's background job (`pytest &`) inherits SIGINT ignored, Python keeps it so, and so would
# every process a test starts: the tests that press Ctrl-C on their processes (the LOSO runner's workers, the shard
# recipe, a SLURM array) would see it ignored. Python's own handler, as in a terminal, is reset to the default in a
# started process.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

REPO_ROOT = Path(__file__).resolve().parents[1]
# The real MEGC2019 composite release (labels.csv, flow/, apex/), named by an environment variable (docs/datasets.md);
# tests that need it skip when it is unset or the folder is absent.
COMPOSITE_DIR = Path(os.environ["EPIR_COMPOSITE_DIR"]) if os.environ.get("EPIR_COMPOSITE_DIR") else None


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module's training runs. Folds of a tiny model are latency-bound: with two intra-op
    threads on a shared 2-core machine a fold was measured 50x slower than with one (OpenMP threads wait on each
    other at every small op)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def composite_dir() -> Path:
    """The real MEGC2019 composite flow release; the test is skipped when it is absent."""
    if COMPOSITE_DIR is None:
        pytest.skip("EPIR_COMPOSITE_DIR is not set (the real MEGC2019 composite release)")
    if not (COMPOSITE_DIR / "labels.csv").is_file():
        pytest.skip(f"real composite data not found at EPIR_COMPOSITE_DIR={COMPOSITE_DIR}")
    return COMPOSITE_DIR


class MockedHub:
    """An offline Hub: each repository is a folder under `root` (its snapshot), and every way of pushing that the
    package or transformers uses writes there. A repository id without a namespace gets `USER`'s, as on the Hub."""

    USER = "someone"

    def __init__(self, root: Path):
        self.root = root

    def snapshot(self, repo_id: str) -> Path:
        return self.root / repo_id

    def create_repo(self, repo_id: str, **kwargs) -> SimpleNamespace:
        repo_id = repo_id if "/" in repo_id else f"{self.USER}/{repo_id}"
        self.snapshot(repo_id).mkdir(parents=True, exist_ok=True)
        return SimpleNamespace(repo_id=repo_id)

    def create_commit(self, repo_id: str, operations, **kwargs) -> None:
        for operation in operations:
            target = self.snapshot(repo_id) / operation.path_in_repo
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(operation.path_or_fileobj, target)

    def upload_folder(self, repo_id: str, folder_path, **kwargs) -> None:
        shutil.copytree(folder_path, self.snapshot(repo_id), dirs_exist_ok=True)


@pytest.fixture
def mocked_hub(tmp_path_factory, monkeypatch) -> MockedHub:
    """Patch `HfApi` and transformers' card loading so pushes land in `MockedHub` folders; transformers' push finds
    the card a repository already has there, or makes its generic template as for a new repository."""
    from huggingface_hub import HfApi, ModelCard
    from huggingface_hub.errors import EntryNotFoundError
    from transformers.utils import hub as transformers_hub

    hub = MockedHub(tmp_path_factory.mktemp("hub"))
    monkeypatch.setattr(HfApi, "create_repo", lambda api, *args, **kwargs: hub.create_repo(*args, **kwargs))
    monkeypatch.setattr(HfApi, "create_commit", lambda api, *args, **kwargs: hub.create_commit(*args, **kwargs))
    monkeypatch.setattr(HfApi, "upload_folder", lambda api, *args, **kwargs: hub.upload_folder(*args, **kwargs))

    class RepositoryCard(ModelCard):
        @classmethod
        def load(cls, repo_id, **kwargs):
            readme = hub.snapshot(repo_id) / "README.md"
            if not readme.is_file():
                raise EntryNotFoundError(f"{repo_id} has no README.md")
            return super().load(readme)

    monkeypatch.setattr(transformers_hub, "ModelCard", RepositoryCard)
    return hub

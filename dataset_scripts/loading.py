"""`load_me_dataset`: every supported corpus as a cached `datasets.Dataset`.

Why Python functions and not a loading script: `datasets` >= 4 no longer runs dataset scripts.
Why our own cache: a corpus is keyed on the loader arguments plus the size and mtime of its
annotation file, computed *before* touching the frame tree, so re-running a notebook returns the
saved Arrow dataset at once and editing the annotation sheet rebuilds it. Where every sample is one
file (the precomputed flow release), each of those files is in the key too, so that editing one in
place rebuilds as well; the frames of a frame corpus are not, since statting them means scanning the
tree. The frame-tree scan and its validation run outside `Dataset.from_generator`, so that a bad
corpus raises our clear FileNotFoundError/ValueError rather than datasets' generic generation error.
Why a file lock: shards of one LOSO run start as separate processes on a fresh cache; without it
both build the corpus and the later one replaces the folder the earlier one is already mapping into.
"""

from __future__ import annotations

import difflib
import inspect
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from datasets import Dataset
from datasets import config as datasets_config
from datasets.fingerprint import Hasher
from huggingface_hub.utils import WeakFileLock

from .action_units import ActionUnitCorpus
from .casme2 import Casme2
from .casme2_long import Casme2Long
from .casme3 import Casme3
from .casme3_long import Casme3Long
from .generated_long_videos import SyntheticLongVideos
from .long_video_sheets import LongVideoCorpus
from .megc2019 import Megc2019Composite, Megc2019CompositeFlow
from .samm import Samm
from .samm_long import SammLong
from .smic import Smic
from .synthetic import SyntheticCorpus
from .tasks import Task, get_task

# Bump when the rows or features a loader produces change, so stale caches are not reused.
CACHE_FORMAT_VERSION = 2

CORPORA: dict[str, Callable] = {
    "casme2": Casme2,
    "samm": Samm,
    "smic": Smic,
    "casme3": Casme3,
    "megc2019_composite": Megc2019Composite,
    "megc2019_composite_flow": Megc2019CompositeFlow,
    "synthetic": SyntheticCorpus,
    "synthetic_au": ActionUnitCorpus,
    # Long videos for spotting: one row per recording with its intervals (dataset_scripts/long_videos.py).
    "casme2_long": Casme2Long,
    "samm_long": SammLong,
    "casme3_long": Casme3Long,
    "synthetic_long": SyntheticLongVideos,
}


def default_cache_dir() -> Path:
    return Path(datasets_config.HF_DATASETS_CACHE) / "epir_hf"


def _check_options(name: str, kwargs: dict) -> None:
    """A ValueError naming an option the corpus does not take (rather than the constructor's TypeError)."""
    options = [option for option in inspect.signature(CORPORA[name]).parameters if option not in ("data_dir", "frames")]
    for key in kwargs:
        if key not in options:
            close = difflib.get_close_matches(key, options, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"{name} has no option {key!r}{hint}; its options: {options}")


def _task(name: str, task: str | None) -> Task | None:
    """The class set of a recognition corpus; None for a long-video corpus, whose intervals are not classified."""
    if issubclass(CORPORA[name], LongVideoCorpus):
        if task is not None:
            raise ValueError(f"{name} is a long-video corpus for spotting: it takes no task (each interval keeps the "
                             f"corpus' own emotion word), got task={task!r}")
        return None
    return get_task(name, task)


def _open_corpus(name: str, data_dir, frames: str | None, kwargs: dict):
    if name not in CORPORA:
        raise ValueError(f"unknown dataset {name!r}; available: {sorted(CORPORA)}")
    _check_options(name, kwargs)
    if name in ("synthetic", "synthetic_au"):
        if data_dir is not None or frames is not None:
            options = ", ".join(f"{option}=" for option in inspect.signature(CORPORA[name]).parameters)
            raise ValueError(f"the {name} corpus is generated: it takes no data_dir or frames, only {options}")
        return CORPORA[name](**kwargs)
    if name == "synthetic_long":  # generated; data_dir only for its real faces
        if frames is not None:
            raise ValueError(f"the {name} corpus is generated: it takes no frames (got frames={frames!r})")
        return CORPORA[name](data_dir, **kwargs)
    if data_dir is None:
        raise ValueError(f"{name} needs data_dir= (the folder of your local copy of the corpus)")
    if name == "megc2019_composite_flow":
        if frames is not None:
            raise ValueError(f"{name} takes no frames (got frames={frames!r})")
        return CORPORA[name](data_dir, **kwargs)
    return CORPORA[name](data_dir, frames=frames, **kwargs)


def load_me_dataset(name: str, data_dir: str | os.PathLike | dict | None = None, task: str | None = None,
                    frames: str | None = None, strict: bool = True, *, cache_dir: str | os.PathLike | None = None,
                    use_cache: bool = True, **kwargs) -> Dataset:
    """Load a micro-expression corpus as a `datasets.Dataset`: the core features, or for the long-video corpora
    ("casme2_long", "samm_long", "casme3_long") one row per recording (`LONG_VIDEO_FEATURES`).

    Args:
        name: "casme2", "samm", "smic", "casme3", "megc2019_composite", "megc2019_composite_flow",
            "synthetic", "synthetic_au", "synthetic_long" (generated long videos) or a long-video corpus.
        data_dir: the folder of the local copy (for "megc2019_composite" a dict with the folders of
            "casme2", "samm" and "smic"); None for the generated corpora, except "synthetic_long" with
            `faces="real"`, which takes the MEGC2019 composite release.
        task: class set, e.g. "3class" (default), "5class" (CASME II, SAMM), "4class"/"7class" (CAS(ME)^3);
            None for the annotated long-video corpora, which take no task.
        frames: frame release where a corpus ships several ("cropped" default or "raw" for CASME II).
        strict: missing frames or indices outside a clip raise one error listing every affected
            sample; with False they are skipped with a warning. The long-video corpora raise at the
            first bad annotation row or frame folder, or with False skip each and list them in a warning.
        cache_dir: where built datasets are saved (default: `$HF_DATASETS_CACHE/epir_hf`).
        use_cache: False rebuilds even when a cached copy exists.
        **kwargs: corpus options: `annotation_file=`, `frames_dir=` (CASME II, SAMM, CAS(ME)^3 and the
            long-video corpora), `macro_annotation_file=` (casme3_long),
            `apex="middle"|"spotted"` (SMIC, composite), `extra_corpora=[...]` (corpus names the composite flow
            release's `dataset` column may hold besides casme2, samm and smic), `num_subjects=`, `samples_per_subject=`,
            `seed=`, `image_size=` (synthetic); `split=`, `duration=`, `fps=`, ... (synthetic_long, see
            `generated_long_videos.SyntheticLongVideos`).
    """
    corpus = _open_corpus(name, data_dir, frames, kwargs)
    task_spec = _task(name, task)
    key = Hasher.hash([CACHE_FORMAT_VERSION, name, None if task_spec is None else task_spec.name,
                        bool(strict), corpus.identity()])
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = root / name / key
    if use_cache and (target / "dataset_info.json").is_file():
        return Dataset.load_from_disk(str(target))
    plan = corpus.plan(task_spec, strict)  # scans and validates: raises the user-facing errors
    target.parent.mkdir(parents=True, exist_ok=True)
    with WeakFileLock(target.with_name(f"{key}.lock")):
        # Another process may have built it while this one waited for the lock.
        if not (use_cache and (target / "dataset_info.json").is_file()):
            _build(corpus, task_spec, plan, key, target)
    return Dataset.load_from_disk(str(target))


def _build(corpus, task_spec, plan, key: str, target: Path) -> None:
    """Generate the corpus in a private folder and move it into place in one step.

    A corpus that `writes_files` (the generated videos) writes them into the saved folder's `files/`, so that they
    move into place with the Arrow files; its rows name them where they will then be.
    """
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as build:
        staging = Path(build) / "saved"
        gen_kwargs = {"plan": plan}
        if getattr(corpus, "writes_files", False):
            gen_kwargs["files"] = (staging / "files", target.absolute() / "files")
        dataset = Dataset.from_generator(corpus.generate, features=corpus.features(task_spec),
                                         gen_kwargs=gen_kwargs, cache_dir=build, fingerprint=key)
        dataset.save_to_disk(str(staging))
        del dataset  # release the memory map of the build cache before it is deleted
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)

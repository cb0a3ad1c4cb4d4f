"""Micro-expression corpora for EPIR as `datasets.Dataset`s, plus a built-in synthetic corpus.

`load_me_dataset(name, data_dir, task=..., frames=..., strict=...)` reads a local copy of CASME II,
SAMM, SMIC-HS, CAS(ME)^3 part A, the MEGC2019 composite (from the raw corpora or the precomputed
flow release), or generates the synthetic corpus; `prepare_model_inputs(dataset, processor)` turns
any of them into EPIR `pixel_values`. The long-video corpora for spotting (CAS(ME)^2, SAMM Long
Videos, CAS(ME)^3 part A) load the same way, one row per recording (`long_videos.LONG_VIDEO_FEATURES`).
"""

from .inputs import prepare_model_inputs
from .loading import CORPORA, load_me_dataset
from .synthetic import draw_face

__all__ = ["CORPORA", "draw_face", "load_me_dataset", "prepare_model_inputs"]

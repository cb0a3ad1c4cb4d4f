"""Micro-expression corpora for EPIR as `datasets.Dataset`s, plus a built-in synthetic corpus.

`load_me_dataset(name, data_dir, task=..., frames=..., strict=...)` reads a local copy of CASME II,
SAMM, SMIC-HS, CAS(ME)^3 part A, the MEGC2019 composite (from the raw corpora or the precomputed
flow release), or generates the synthetic corpus; `prepare_model_inputs(dataset, processor)` turns
any of them into EPIR `pixel_values`. The long-video corpora for spotting (CAS(ME)^2, SAMM Long
Videos, CAS(ME)^3 part A) load the same way, one row per recording (`long_videos.LONG_VIDEO_FEATURES`).

Its names are imported on first use (PEP 562): `load_me_dataset` needs every corpus reader and, through the
long-video layout, epir_hf and torch, which a program drawing only generated faces (the demo's examples, at start-up)
should not wait for.
"""

from importlib import import_module

_HOMES = {"prepare_model_inputs": ".inputs", "CORPORA": ".loading", "load_me_dataset": ".loading",
          "draw_face": ".synthetic"}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> object:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_HOMES[name], __name__), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])

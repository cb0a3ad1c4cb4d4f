r"""Command line: build a corpus once and write it as a `save_to_disk` folder or Parquet file.

    python -m dataset_scripts.prepare casme2 --data_dir /data/CASME2 --frames cropped --output casme2_epir
    python -m dataset_scripts.prepare megc2019_composite --data_dir casme2=/data/CASME2 \
        --data_dir samm=/data/SAMM --data_dir smic=/data/SMIC --output megc2019
    python -m dataset_scripts.prepare synthetic --num_subjects 8 --output synthetic --format parquet

The result is ready for `push_to_hub` to a *private* repository (the corpora are licensed):
`datasets.load_from_disk(OUT).push_to_hub("you/casme2-epir", private=True)`, or `--push_to_hub
you/casme2-epir` here.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from .loading import CORPORA, load_me_dataset

_CORPUS_OPTIONS = {"annotation_file": str, "macro_annotation_file": str, "frames_dir": str, "apex": str,
                   "num_subjects": int, "samples_per_subject": int, "seed": int, "image_size": int,
                   "videos_per_subject": int, "split": str, "faces": str, "duration": float}


def _data_dir(values: list[str] | None):
    """One folder, or part=folder pairs (the composite built from raw corpora)."""
    if not values:
        return None
    if all("=" in v for v in values):
        return dict(v.split("=", 1) for v in values)
    if len(values) == 1:
        return values[0]
    raise SystemExit("--data_dir: give one folder, or one part=folder per corpus part")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dataset_scripts.prepare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", choices=sorted(CORPORA))
    parser.add_argument("--data_dir", action="append", help="corpus folder, or part=folder (repeat) for the composite")
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--format", choices=("arrow", "parquet"), default="arrow",
                        help="arrow: a save_to_disk folder; parquet: OUTPUT/data.parquet")
    parser.add_argument("--task")
    parser.add_argument("--frames")
    parser.add_argument("--no_strict", action="store_true", help="skip samples with missing frames instead of failing")
    parser.add_argument("--cache_dir")
    parser.add_argument("--push_to_hub", metavar="REPO_ID", help="also push to this private dataset repository")
    for option, kind in _CORPUS_OPTIONS.items():
        parser.add_argument(f"--{option}", type=kind)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    options = {k: getattr(args, k) for k in _CORPUS_OPTIONS if getattr(args, k) is not None}
    try:
        dataset = load_me_dataset(args.name, _data_dir(args.data_dir), task=args.task, frames=args.frames,
                                  strict=not args.no_strict, cache_dir=args.cache_dir, **options)
    except (FileNotFoundError, ValueError) as err:  # already a complete message: no traceback for the user
        raise SystemExit(f"error: {err}") from None
    if args.format == "arrow":
        dataset.save_to_disk(str(args.output))
        written = args.output
    else:
        args.output.mkdir(parents=True, exist_ok=True)
        written = args.output / "data.parquet"
        dataset.to_parquet(str(written))
    if "label" in dataset.features:
        names = dataset.features["label"].names
        counts = Counter((d, names[label]) for d, label in zip(dataset["dataset"], dataset["label"]))
        unit = "samples"
    else:  # a long-video corpus: one row per recording, counted here by its intervals
        counts = Counter((d, kind) for d, kinds in zip(dataset["dataset"], dataset["kind"]) for kind in kinds)
        unit = "videos"
    print(f"{len(dataset)} {unit}, {len(set(dataset['subject']))} subjects -> {written}")
    for (part, label), n in sorted(counts.items()):
        print(f"  {part:10s} {label:12s} {n}")
    if args.push_to_hub:
        dataset.push_to_hub(args.push_to_hub, private=True)
        print(f"pushed to the private dataset repository {args.push_to_hub}")


if __name__ == "__main__":
    main()

"""`epir-hf plot RUN...`: figures of LOSO runs, of the documentation, or of the tokens one prediction kept.

Why a command: a results table answers "how much", a figure "where": which classes a run confuses in which corpus,
how several models compare per corpus, how far the oracle epoch choice lifts a run. Every number drawn is the
package's own (`epir_hf.plots`). RUN is a LOSO output dir: one run, or a folder of seed runs (seed1/, ...).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..plots.figures import KINDS, plot_runs, write_doc_figures
from ..plots.runs import load_run
from ..training.results import load_metric


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="epir-hf plot", description=__doc__.split("\n\n")[0],
                                     epilog="Examples, and what each figure shows: docs/cli.md.")
    parser.add_argument("runs", nargs="*", metavar="RUN", help="LOSO output dirs (a run, or a folder of seed runs)")
    parser.add_argument("--figure", choices=KINDS, help="default: confusion for one RUN, corpora for several")
    parser.add_argument("--labels", metavar="NAMES", help="comma-separated RUN names (default: folder names)")
    parser.add_argument("--out", metavar="PNG", help="the PNG to write (default: FIGURE.png)")
    parser.add_argument("--figures", metavar="DIR", help="write the docs' figures from ./results into DIR")
    parser.add_argument("--model", metavar="DIR", help="a saved EPIR model: plot the kept tokens of --sample")
    parser.add_argument("--sample", nargs="+", metavar="FILE", help="a video, or the onset and apex images")
    return parser


def output_path(out: str) -> Path:
    path = Path(out)
    if path.suffix.lower() != ".png":
        raise ValueError(f"--out must name a .png file: {out}")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"the folder of --out does not exist: {path.parent}")
    return path


def plot_token_map_of(model: str, sample: list[str], out: Path) -> None:
    from ..plots.token_map import plot_token_map
    from .release import load_pipeline

    if len(sample) > 2:
        raise ValueError(f"--sample takes a video or an onset and an apex image; got {len(sample)} files.")
    missing = [name for name in sample if not Path(name).exists()]
    if missing:
        raise FileNotFoundError(f"no such file: {', '.join(missing)}")
    pipe = load_pipeline("micro-expression-recognition", model)
    result = pipe(sample[0] if len(sample) == 1 else {"onset": sample[0], "apex": sample[1]}, return_token_map=True)
    plot_token_map(result, out)
    motion = "" if result["reliable_motion"] else " — no reliable motion"
    print(f"{result['predictions'][0]['label']} ({result['predictions'][0]['score']:.2f}){motion}; wrote {out}")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    chosen = [name for name, given in (("RUN", args.runs), ("--figures", args.figures), ("--model", args.model))
              if given]
    if len(chosen) != 1:
        raise ValueError(f"give RUNs, --figures DIR or --model (with --sample), one of them; got "
                         f"{', '.join(chosen) or 'none'}.")
    options = (("--figure", args.figure, args.runs), ("--labels", args.labels, args.runs),
               ("--out", args.out, not args.figures), ("--sample", args.sample, args.model))
    unused = [name for name, given, applies in options if given and not applies]
    if unused:
        raise ValueError(f"{', '.join(unused)} cannot go with {chosen[0]}.")
    if args.figures:
        for filename in write_doc_figures(args.figures):
            print(f"wrote {Path(args.figures) / filename}")
        return 0
    if args.model:
        if not args.sample:
            raise ValueError("--model needs --sample: a video, or the onset and apex images.")
        plot_token_map_of(args.model, args.sample, output_path(args.out or "token_map.png"))
        return 0
    kind = args.figure or ("confusion" if len(args.runs) == 1 else "corpora")
    labels = args.labels.split(",") if args.labels else [None] * len(args.runs)
    if len(labels) != len(args.runs):
        raise ValueError(f"--labels names {len(labels)} runs, but {len(args.runs)} RUNs are given.")
    out = output_path(args.out or f"{kind}.png")
    metric = load_metric()
    plot_runs(kind, [load_run(run, label, metric) for run, label in zip(args.runs, labels)], out)
    print(f"wrote {out}")
    return 0

"""`epir-hf spot VIDEO... --output events.csv`: every facial event of each video, one CSV row per event.

Why a command: spotting a folder of recordings should not need a notebook. Each video goes through the
`micro-expression-spotting` pipeline (a progress bar per video, with its rate and time left); each event becomes a
row with its frames and times, its kind, its score, the facial region that moved most and, for micro-expressions,
the model's label and its score. Rows are written as each video finishes, so an interrupted run keeps the videos
done. A video that fails is reported on its own line and the others go on; the exit status is then 1.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from tqdm.auto import tqdm

from ..pipeline_spotting import THRESHOLD_OPTIONS
from ..spotting import SpottingThresholds
from .predict import one_line
from .release import MODEL_HELP, load_pipeline, model_or_release

COLUMNS = ("video", "onset_frame", "apex_frame", "offset_frame", "start_time", "end_time", "kind", "score", "region",
           "label", "label_score")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("videos", nargs="+", metavar="VIDEO", help="a video file or a folder of frame images")
    parser.add_argument("--output", required=True, metavar="CSV", help="the file to write, one row per event")
    parser.add_argument("--model", metavar="DIR|ID", help=MODEL_HELP)
    parser.add_argument("--fps", type=float, help="frame rate of a folder of frames, or to override a video's")
    parser.add_argument("--face_index", type=int, metavar="N", help="which face to follow (0 = the largest)")
    parser.add_argument("--no_recognition", action="store_true", help="spot only; leave label empty")
    for name in THRESHOLD_OPTIONS:
        parser.add_argument(f"--{name}", type=float, metavar="X", help="a spotting threshold (docs/spotting.md)")
    parser.add_argument("--device", help='torch device of the model, e.g. "cuda:0" (default: CPU)')


def rows(video: str, result: dict) -> list[dict]:
    """The CSV rows of one video's spotting result."""
    found = []
    for event in result["events"]:
        best = (event.get("predictions") or [{}])[0]
        found.append({"video": video, **{key: event[key] for key in COLUMNS[1:9]},
                      "label": best.get("label", ""), "label_score": best.get("score", "")})
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="epir-hf spot", usage="epir-hf spot VIDEO... --output CSV [options]",
                                     description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    missing = [video for video in args.videos if not Path(video).exists()]
    if missing:
        raise FileNotFoundError(f"no such video file or folder: {', '.join(missing)}")
    output = Path(args.output)
    if not output.parent.is_dir():
        raise FileNotFoundError(f"the folder of --output does not exist: {output.parent}")
    model = model_or_release(args.model)
    thresholds = SpottingThresholds(**{name: getattr(args, name) for name in THRESHOLD_OPTIONS
                                       if getattr(args, name) is not None})  # checked before the model loads
    options = {"thresholds": thresholds, "fps": args.fps, "face_index": args.face_index,
               "classify": not args.no_recognition}
    spot = load_pipeline("micro-expression-spotting", model, device=args.device)
    failed = 0
    with output.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        try:
            for video in tqdm(args.videos, desc="videos", unit="video", disable=len(args.videos) < 2):
                try:
                    result = spot(video, **{key: value for key, value in options.items() if value is not None})
                except (ValueError, OSError) as error:
                    failed += 1
                    tqdm.write(f"epir-hf spot: {one_line(error, video)}", file=sys.stderr)
                    continue
                writer.writerows(rows(video, result))
                handle.flush()
                events = result["events"]
                tqdm.write(f"{video}: {len(events)} events ({sum(e['kind'] == 'micro' for e in events)} micro) in "
                           f"{result['num_frames'] / result['fps']:.1f} s of video", file=sys.stderr)
        except KeyboardInterrupt:
            print(f"epir-hf spot: interrupted; {output} holds the videos finished", file=sys.stderr)
            return 130
    return 1 if failed else 0

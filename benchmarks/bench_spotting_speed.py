"""Speed and peak memory of the `micro-expression-spotting` pipeline on a long high-resolution video.

Run: python benchmarks/bench_spotting_speed.py [--minutes 10] [--width 1920 --height 1080 --fps 30]
                                              [--face_size 360] [--video PATH]

Writes (or reuses, with --video) a generated long video (`dataset_scripts.generated_long_videos`: a drawn face in a
textured room with micro- and macro-expressions, blinks, head drift and jumps, sensor noise, mp4v compression), then
spots it with the release checkpoint in a fresh process that reports its wall time, frames per second, the time of
each stage (decoding, face alignment, motion signal, events and classification) and its peak resident set size
(`ru_maxrss`). The target of the spotting work: a 10-minute 1080p30 video at 30 frames per second or more on 2 CPU
cores, under 1.5 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from dataset_scripts.generated_long_videos import (
    DEVELOPMENT_SEED,
    LongVideoSettings,
    drawn_faces,
    script_video,
    write_video,
)

CHECKPOINT = Path(__file__).resolve().parents[1] / "checkpoints" / "epir-megc2019-3class"
_CHILD = """
import json, resource, sys, time
from transformers import pipeline
import epir_hf
checkpoint, video = sys.argv[1:3]
spot = pipeline("micro-expression-spotting", model=checkpoint, trust_remote_code=True)
started = time.perf_counter()
result = spot(video, progress=False)
wall = time.perf_counter() - started
print(json.dumps({"wall": wall, "frames": result["num_frames"], "events": len(result["events"]),
                  "micro": sum(event["kind"] == "micro" for event in result["events"]), "seconds": result["seconds"],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def write(path: Path, minutes: float, width: int, height: int, fps: float, face_size: int) -> None:
    settings = LongVideoSettings(duration=60.0 * minutes, fps=fps, frame_width=width, frame_height=height,
                                 face_size=face_size)
    face = drawn_faces(1, DEVELOPMENT_SEED, face_size, "bench{:02d}")[0]
    rng = np.random.default_rng([DEVELOPMENT_SEED, 99])
    started = time.perf_counter()
    write_video(path, face, script_video(rng, settings), rng, settings)
    print(f"wrote {path} ({settings.num_frames} frames) in {time.perf_counter() - started:.0f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--face_size", type=int, default=360, help="side of the face crop in px")
    parser.add_argument("--video", type=Path, help="spot this video (written first when it does not exist)")
    args = parser.parse_args()
    video = args.video or Path("runs") / f"bench-spotting-{args.minutes:g}min-{args.width}x{args.height}.mp4"
    if not video.is_file():
        video.parent.mkdir(parents=True, exist_ok=True)
        write(video, args.minutes, args.width, args.height, args.fps, args.face_size)
    capture = cv2.VideoCapture(str(video))
    size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    capture.release()
    done = subprocess.run([sys.executable, "-c", _CHILD, str(CHECKPOINT), str(video)], capture_output=True,
                          text=True, check=False)
    if done.returncode:
        sys.exit(done.stderr[-3000:])
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores; Python "
          f"{platform.python_version()}, OpenCV {cv2.__version__}")
    print(f"video: {video} ({size[0]}x{size[1]}, {measured['frames']} frames); spotted with the release checkpoint, "
          "classification on, one process, default threads")
    print(f"wall {measured['wall']:.1f} s, {measured['frames'] / measured['wall']:.1f} frames/s, peak RSS "
          f"{measured['peak_rss_mb']:.0f} MB; {measured['events']} events ({measured['micro']} micro)")
    print("stages (s): " + ", ".join(f"{stage} {seconds:.1f}" for stage, seconds in measured["seconds"].items()))


if __name__ == "__main__":
    main()

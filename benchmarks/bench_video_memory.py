"""Peak memory of the micro-expression pipeline on a long video: it must not grow with the video's length.

Run: python benchmarks/bench_video_memory.py [--minutes 10] [--width 1920 --height 1080 --fps 30] [--keep PATH]

Writes a video of the given length and size (a drawn face in a textured scene, still except for one action-unit
motion; MPEG-4 Part 2 through OpenCV's writer), then runs the pipeline on it in fresh processes, each reporting its
own peak resident set size (`ru_maxrss`) and wall time:

- "apex spotting": the whole video is searched for the apex (every frame decoded once and scored on its 64 px
  face crop);
- "given onset and apex": `onset_index` / `apex_index` are passed, so only those two frames are decoded;
- "import only": the same process without the pipeline call, the floor set by torch, transformers and OpenCV.

The model is a randomly initialised default EPIR (its weights do not change the memory or the time); the
processor is the default one (face detection, TV-L1 flow at 128 px).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from tqdm.auto import tqdm

from dataset_scripts.synthetic import action_unit_bumps, displacement_field, render_face, sample_geometry

_CHILD = """
import json, resource, sys, time
from transformers import pipeline
folder, video, mode, apex = sys.argv[1:5]
started = time.perf_counter()
result = None
if mode != "import only":
    pipe = pipeline("micro-expression-recognition", model=folder, trust_remote_code=True)
    kwargs = {"onset_index": 0, "apex_index": int(apex)} if mode == "given onset and apex" else {}
    result = pipe(video, **kwargs)
print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "seconds": time.perf_counter() - started,
                  "apex_index": None if result is None else result["apex_index"]}))
"""


def write_video(path: Path, minutes: float, width: int, height: int, fps: int, seed: int) -> int:
    """A still scene with a face whose brows rise over 10 frames in the middle; returns the apex frame index."""
    rng = np.random.default_rng(seed)
    side = height // 2
    geometry = sample_geometry(rng)
    face = render_face(geometry, rng, side)
    field = displacement_field(action_unit_bumps(geometry, "surprise", side, 3.0), side)
    scene = cv2.GaussianBlur(rng.normal(90, 40, (height, width)).astype(np.float32), (0, 0), 6)
    top, left = (height - side) // 2, (width - side) // 2
    count = int(round(minutes * 60 * fps))
    apex_index = count // 2
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float32)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height), isColor=True)
    if not writer.isOpened():
        raise SystemExit("bench_video_memory.py: error: OpenCV cannot write MPEG-4 video here")
    for index in tqdm(range(count), desc=f"writing {path.name}"):
        amplitude = max(0.0, 1.0 - abs(index - apex_index) / 5.0)
        moved = cv2.remap(face, xs - amplitude * field[..., 0], ys - amplitude * field[..., 1], cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)
        frame = scene.copy()
        frame[top:top + side, left:left + side] = moved
        writer.write(cv2.cvtColor(np.clip(frame, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR))
    writer.release()
    return apex_index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, default=None, help="write the video here and keep it (default: temp)")
    args = parser.parse_args()

    from epir_hf import EPIRConfig, EPIRForImageClassification, EPIRImageProcessor, save_for_hub

    with tempfile.TemporaryDirectory() as scratch:
        video = args.keep or Path(scratch) / "long.mp4"
        apex_index = write_video(video, args.minutes, args.width, args.height, args.fps, args.seed)
        folder = Path(scratch) / "model"
        save_for_hub(EPIRForImageClassification(EPIRConfig()), EPIRImageProcessor(), folder)
        size_mb = video.stat().st_size / 2**20
        print(f"video: {args.minutes:g} min at {args.width}x{args.height}, {args.fps} fps "
              f"({int(round(args.minutes * 60 * args.fps))} frames, {size_mb:.0f} MB, MPEG-4 Part 2); "
              f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}); each row is a fresh "
              "process, peak RSS from getrusage(RUSAGE_SELF).ru_maxrss")
        print("| run | peak RSS (MB) | wall (s) | apex index (true: %d) |" % apex_index)
        print("|---|---:|---:|---:|")
        for mode in ("import only", "given onset and apex", "apex spotting"):
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", _CHILD, str(folder), str(video), mode, str(apex_index)],
                                  capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise SystemExit(f"bench_video_memory.py: error: the {mode!r} run failed:\n{done.stderr[-2000:]}")
            row = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"| {mode} | {row['peak_rss_mb']:.0f} | {time.perf_counter() - started:.1f} | "
                  f"{'' if row['apex_index'] is None else row['apex_index']} |", flush=True)


if __name__ == "__main__":
    main()

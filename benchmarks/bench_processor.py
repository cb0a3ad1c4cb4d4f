"""Speed of the EPIR preprocessing: (onset, apex) pairs per second per flow method, with and without face detection,
and end-to-end pipeline latency per sample (pair and video).

Run: python benchmarks/bench_processor.py [--threads 2] [--seconds 3] [--clip-frames 30]
Inputs are procedurally drawn faces (dataset_scripts.synthetic.draw_face): for "face detection on", a 200 px face in
a 640×480 frame (the frame size of CASME II / SAMM recordings); for "off", an already-cropped 224×224 face (the size
of the MEGC2019 composite crops). Flow is computed at flow_size 128. Each figure comes from the median duration of
repeated calls (after a warm-up) over at least --seconds; the pipeline runs the default (untrained) EPIR model on CPU.
"""

import argparse
import tempfile
import time
from collections.abc import Callable

import cv2
import numpy as np
import torch
from transformers import pipeline

from dataset_scripts.synthetic import draw_face
from epir_hf import EPIRConfig, EPIRForImageClassification, EPIRImageProcessor, save_for_hub
from epir_hf.optical_flow import FLOW_METHODS


def moved(face: np.ndarray, amplitude: float) -> np.ndarray:
    """`face` after a smooth sub-pixel motion of the given amplitude (px): apex(x) = onset(x - d(x))."""
    size = face.shape[0]
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    dx = amplitude * np.sin(2 * np.pi * ys / size) * np.cos(np.pi * xs / size)
    dy = amplitude * np.cos(2 * np.pi * xs / size) * np.sin(np.pi * ys / size)
    apex = cv2.remap(face.astype(np.float32), xs - dx, ys - dy, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    return np.clip(np.rint(apex), 0, 255).astype(np.uint8)


def in_frame(face: np.ndarray, background: np.ndarray) -> np.ndarray:
    """`face` pasted into a copy of a 640×480 background."""
    frame = background.copy()
    frame[140:140 + face.shape[0], 220:220 + face.shape[1]] = face
    return frame


def rate(call: Callable[[], object], seconds: float) -> float:
    """Calls per second of `call()`: 1 / the median duration of repeated calls over at least `seconds`.

    The median keeps the figure stable on a shared machine, where other jobs stall a few calls.
    """
    call()  # warm-up
    durations, start = [], time.perf_counter()
    while time.perf_counter() - start < seconds or len(durations) < 3:
        begin = time.perf_counter()
        call()
        durations.append(time.perf_counter() - begin)
    return 1.0 / float(np.median(durations))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="OpenCV and torch threads (the target machine has 2)")
    parser.add_argument("--seconds", type=float, default=3.0, help="minimum timing window per measurement")
    parser.add_argument("--clip-frames", type=int, default=30, help="frames of the video for the pipeline latency")
    args = parser.parse_args()
    cv2.setNumThreads(args.threads)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    crop = draw_face(rng, 224)
    cropped = (crop, moved(crop, 1.0))
    face = draw_face(rng, 200)
    background = np.clip(rng.normal(60, 12, (480, 640)), 0, 255).astype(np.uint8)
    frames = (in_frame(face, background), in_frame(moved(face, 1.0), background))

    print(f"OpenCV {cv2.__version__}, torch {torch.__version__}, {args.threads} threads, flow_size 128, "
          f"output 3×28×28\n")
    print("| flow method | face detection | input | pairs/s | ms/pair |")
    print("|---|---|---|---:|---:|")
    for method in FLOW_METHODS:
        for detect, pair, described in ((True, frames, "640×480 frame"), (False, cropped, "224×224 crop")):
            processor = EPIRImageProcessor(flow_method=method, do_face_crop=detect)
            per_second = rate(lambda: processor(images=[pair]), args.seconds)
            print(f"| {method} | {'on' if detect else 'off'} | {described} | {per_second:.1f} | "
                  f"{1000 / per_second:.1f} |")

    with tempfile.TemporaryDirectory() as folder:
        torch.manual_seed(0)
        save_for_hub(EPIRForImageClassification(EPIRConfig()).eval(), EPIRImageProcessor(), folder)
        pipe = pipeline("micro-expression-recognition", model=folder, trust_remote_code=True, device="cpu")
        amplitudes = np.sin(np.linspace(0, np.pi, args.clip_frames))
        video = [in_frame(moved(face, float(amplitude)), background) for amplitude in amplitudes]
        pair_rate = rate(lambda: pipe({"onset": frames[0], "apex": frames[1]}), args.seconds)
        video_rate = rate(lambda: pipe(video), args.seconds)
        print("\n| end-to-end pipeline (default EPIR, tvl1, face detection) | latency per sample |")
        print("|---|---:|")
        print(f"| (onset, apex) pair, 640×480 | {1000 / pair_rate:.0f} ms |")
        print(f"| {args.clip_frames}-frame 640×480 video (apex spotting + pair) | {1000 / video_rate:.0f} ms |")


if __name__ == "__main__":
    main()

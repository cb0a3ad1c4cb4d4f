"""Speed of the MEGC2019 LBP-χ²-distance baseline (`epir_hf.evaluation.megc2019_baseline`) on face crops.

Run: python benchmarks/bench_megc2019_baseline.py [--frames 2000] [--fps 30] [--repeats 3]

A drawn face with sensor noise (sd 1.5 grey levels) is streamed through `LBPFeatureDifference.feature_difference`
as 128×128 crops (the working size: no resize) and as 224×224 crops (resized to 128 first, as the composite
release's crops would be), and `spot` is run on the signal. Reported: frames per second of the whole signal
(LBP codes, block histograms, χ² differences) with its wall and CPU time per frame, and the time of `spot` on that
signal. The best of `--repeats` runs is kept, as other processes may share the CPU.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from dataset_scripts.synthetic import render_face, sample_geometry
from epir_hf.evaluation.megc2019_baseline import THRESHOLD_P, LBPFeatureDifference, spot


def noisy_frames(side: int, count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    face = render_face(sample_geometry(rng), rng, side)
    return [np.clip(np.rint(face + rng.normal(0.0, 1.5, face.shape)), 0, 255).astype(np.uint8) for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    feature = LBPFeatureDifference(args.fps)
    print(f"{platform.processor() or platform.machine()}, k = {feature.k}, M = {feature.top_blocks}, "
          f"{args.frames} frames, best of {args.repeats}")
    for side in (128, 224):
        frames = noisy_frames(side, args.frames, args.seed)
        seconds, cpu_seconds = min(_timed(lambda: feature.feature_difference(frames)) for _ in range(args.repeats))
        signal = feature.feature_difference(frames)
        spot_seconds, _ = min(_timed(lambda: spot(signal, THRESHOLD_P["CAS(ME)2"], feature.k))
                              for _ in range(args.repeats))
        print(f"{side}×{side} crops: {args.frames / seconds:6.0f} frames/s ({seconds / args.frames * 1e3:.2f} ms "
              f"wall, {cpu_seconds / args.frames * 1e3:.2f} ms CPU per frame); spot on the signal "
              f"{spot_seconds * 1e3:.2f} ms")


def _timed(call) -> tuple[float, float]:
    """Wall and CPU seconds of one call (the CPU time of this process, less sensitive to other processes)."""
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return time.perf_counter() - wall, time.process_time() - cpu


if __name__ == "__main__":
    main()

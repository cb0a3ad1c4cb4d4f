"""Pairs per second of `epir-hf predict` on generated onset/apex pairs with the release checkpoint.

Run: python benchmarks/bench_predict.py [--num_pairs 100] [--processes 1 2] [--model checkpoints/epir-megc2019-3class]

Writes `--num_pairs` pairs of drawn faces (`dataset_scripts.synthetic`, 128 px frames, ten subjects) as PNG files and
a CSV listing them, then, for each entry of `--processes`, runs the command as a user would, in fresh processes:
`python -m epir_hf.cli predict pairs.csv --output ...` for one process, `accelerate launch --multi_gpu
--num_processes N -m epir_hf.cli predict ...` for N (on CPU when there is no GPU). Each process gets
cores / N OpenMP (torch) and OpenCV threads. Timed:

- the whole command (interpreter start, imports, model load, every pair, the file written), wall clock;
- its start-up: the same command again on the finished file, which then skips every pair (resume) and predicts
  nothing; the rate of the pairs is num_pairs / (whole − start-up);
- the ceiling of one process: the TV-L1 optical flow alone (the processor's flow at `flow_size`, which every pair
  needs and the model was trained on), timed in this process on the pairs' face crops.

The target: 20 pairs per second or more on 2 CPU cores. Timings on a machine busy with other work are slower than
its cores allow: the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
from bench_fold_workers import hardware

from dataset_scripts.synthetic import synthetic_samples
from epir_hf import EPIRImageProcessor
from epir_hf.optical_flow import compute_optical_flow

REPO_ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = REPO_ROOT / "checkpoints" / "epir-megc2019-3class"
TARGET = 20.0


def write_pairs(folder: Path, num_pairs: int) -> Path:
    """`num_pairs` generated pairs as PNG files, listed in `folder/pairs.csv` (id, onset, apex)."""
    subjects = 10
    rows = []
    for sample in synthetic_samples(subjects, -(-num_pairs // subjects), seed=0, image_size=128):
        if len(rows) == num_pairs:
            break
        names = [f"{sample['sample_id']}_{part}.png" for part in ("onset", "apex")]
        for name, part in zip(names, ("onset", "apex")):
            cv2.imwrite(str(folder / name), sample[part])
        rows.append({"id": sample["sample_id"], "onset": names[0], "apex": names[1]})
    sheet = folder / "pairs.csv"
    with sheet.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "onset", "apex"])
        writer.writeheader()
        writer.writerows(rows)
    return sheet


def command(processes: int, sheet: Path, output: Path, model: str) -> list[str]:
    predict = ["-m", "epir_hf.cli", "predict", str(sheet), "--output", str(output), "--model", model]
    if processes == 1:
        return [sys.executable, *predict]
    return ["accelerate", "launch", "--multi_gpu", "--num_processes", str(processes), "--num_machines", "1",
            "--mixed_precision", "no", "--dynamo_backend", "no", *predict]


def timed(argv: list[str], threads: int) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OPENCV_FOR_THREADS_NUM": str(threads),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO_ROOT, env=env, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return wall


def flow_ceiling(sheet: Path, model: str, threads: int, count: int = 20) -> float:
    """Pairs per second of the TV-L1 flow alone, on the face crops that the processor computes it on for the first
    `count` pairs (`threads` OpenCV threads, as each process of the command gets)."""
    processor = EPIRImageProcessor.from_pretrained(model)
    with sheet.open(newline="") as handle:
        rows = list(csv.DictReader(handle))[:count]
    faces = [(pair.onset_face, pair.apex_face) for pair in (
        processor.process_pair(str(sheet.parent / row["onset"]), str(sheet.parent / row["apex"]), name=row["id"])
        for row in rows)]
    method = processor.flow_settings().flow_method
    cv2.setNumThreads(threads)
    started = time.perf_counter()
    for onset, apex in faces:
        compute_optical_flow(onset, apex, method)
    return len(faces) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num_pairs", type=int, default=100)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--model", default=str(CHECKPOINT))
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    print(f"hardware: {hardware()}; load average before: {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory() as work:
        sheet = write_pairs(Path(work), args.num_pairs)
        for processes in args.processes:
            if processes > 1 and shutil.which("accelerate") is None:
                print(f"{processes} processes: skipped, the accelerate CLI is not on PATH")
                continue
            threads = max(1, cores // processes)
            output = Path(work) / f"predictions-{processes}.jsonl"
            argv = command(processes, sheet, output, args.model)
            whole = timed(argv, threads)
            rows = [json.loads(line) for line in output.read_text().splitlines()]
            if len(rows) != args.num_pairs:
                raise SystemExit(f"{output} holds {len(rows)} rows, expected {args.num_pairs}")
            start_up = timed(argv, threads)
            rate = args.num_pairs / (whole - start_up)
            print(f"{processes} process(es), {threads} OpenMP + {threads} OpenCV thread(s) each: "
                  f"{args.num_pairs} pairs in {whole:.1f} s whole ({args.num_pairs / whole:.2f} pairs/s), start-up "
                  f"{start_up:.1f} s, {rate:.2f} pairs/s after it (target {TARGET:g}: "
                  f"{'met' if rate >= TARGET else 'not met'})", flush=True)
        threads = max(1, cores // min(args.processes))
        print(f"ceiling of one process, the TV-L1 flow alone ({threads} OpenCV thread(s)): "
              f"{flow_ceiling(sheet, args.model, threads):.2f} pairs/s")
    print(f"load average after: {os.getloadavg()[0]:.2f}; command: {' '.join(sys.argv)}")


if __name__ == "__main__":
    main()

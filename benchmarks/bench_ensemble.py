"""What the four-model ensemble costs beside EPIR alone: the two release checkpoints' parameters, inference time and
honest LOSO accuracy, so that a user can pick one.

Run: python benchmarks/bench_ensemble.py [--threads 2] [--repeats 20] [--output benchmarks/bench_ensemble.json]

Each checkpoint is loaded from its folder. Model time: one call scores a (B, 3, 28, 28) batch of random flows as the
pipelines and the LOSO runner do, the flows and their mirrors (two eval-mode forward passes under
torch.inference_mode), for B = 1 and B = 64; the figure is the median of --repeats timed calls after 3 warm-up calls.
Pipeline time: the `micro-expression-recognition` pipeline on the drawn onset/apex pair of tests/release (face
location, TV-L1 flow, the model), median of --repeats calls after one warm-up call. The two checkpoints are timed in
turn, call by call, so that other work on the machine slows both alike. Accuracy: the 3-seed honest LOSO UF1
(mean ± sample std) of each checkpoint's recipe, from the committed summary.json of its run. The first line describes
the machine (CPU model, cores available, torch threads and kernels, the load average before and after).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch
from transformers import AutoModelForImageClassification, pipeline

import epir_hf  # noqa: F401  (registers the models and pipelines)
from epir_hf.flow_mirror import FlowMirror, average_with_mirror

REPO_ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = {"EPIR": ("checkpoints/epir-megc2019-3class", "results/megc2019-honest-60ep"),
               "ensemble": ("checkpoints/megc2019-3class-ensemble", "results/megc2019-ensemble-honest-60ep")}
BATCHES = (1, 64)
PAIR = {"onset": str(REPO_ROOT / "tests" / "release" / "onset.png"),
        "apex": str(REPO_ROOT / "tests" / "release" / "apex.png")}


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def machine(threads: int) -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"{cpu_model()}, {cores} CPU cores available, {threads} torch threads, torch {torch.__version__} "
            f"({torch.backends.cpu.get_cpu_capability()} kernels)")


def interleaved_ms(calls: dict[str, Callable[[], object]], repeats: int, warmup: int) -> dict[str, float]:
    """Median milliseconds of each call, timed in turn (one of each per round) so that a machine shared with other
    work slows them alike."""
    for call in calls.values():
        for _ in range(warmup):
            call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: 1000 * statistics.median(values) for name, values in times.items()}


def scorer(model: torch.nn.Module, batch: int) -> Callable[[], torch.Tensor]:
    """Scoring a batch of random flows with test-time flip, as the pipelines do."""
    pixel_values = torch.rand(batch, 3, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    mirror = FlowMirror()

    @torch.inference_mode()
    def score() -> torch.Tensor:
        return average_with_mirror(model(pixel_values=pixel_values).logits,
                                   model(pixel_values=mirror(pixel_values)).logits)

    return score


def honest_uf1(run: str) -> tuple[float, float]:
    """The 3-seed mean ± sample std of the run's summary.json."""
    figures = json.loads((REPO_ROOT / run / "summary.json").read_text())["overall"]["uf1"]
    return figures["mean"], figures["std"]


def measure(threads: int, repeats: int) -> dict:
    torch.set_num_threads(threads)
    models = {name: AutoModelForImageClassification.from_pretrained(REPO_ROOT / folder).eval()
              for name, (folder, _) in CHECKPOINTS.items()}
    pipelines = {name: pipeline("micro-expression-recognition", model=str(REPO_ROOT / folder), trust_remote_code=True)
                 for name, (folder, _) in CHECKPOINTS.items()}
    model_ms = {batch: interleaved_ms({name: scorer(model, batch) for name, model in models.items()}, repeats, 3)
                for batch in BATCHES}
    pipeline_ms = interleaved_ms({name: partial(recognize, PAIR) for name, recognize in pipelines.items()}, repeats, 1)
    rows = {}
    for name, (folder, run) in CHECKPOINTS.items():
        uf1 = honest_uf1(run)
        rows[name] = {"checkpoint": folder, "parameters": sum(p.numel() for p in models[name].parameters()),
                      "honest_uf1_mean": uf1[0], "honest_uf1_std": uf1[1],
                      "model_ms": {str(batch): model_ms[batch][name] for batch in BATCHES},
                      "pipeline_pair_ms": pipeline_ms[name]}
    return {"machine": machine(threads), "repeats": repeats, "checkpoints": rows}


def load_average() -> str:
    """The machine's 1-minute load average (runnable processes): above its core count, other work shared the cores."""
    return f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "unknown"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (the target machine has 2)")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per measurement (median reported)")
    parser.add_argument("--output", help="also write the measurements to this JSON file")
    args = parser.parse_args(argv)
    if args.threads < 1 or args.repeats < 1:
        parser.error("--threads and --repeats must be >= 1")
    load_before = load_average()
    measured = measure(args.threads, args.repeats)
    measured["load_average"] = {"before": load_before, "after": load_average()}
    print(f"{measured['machine']}; 1-minute load average {load_before} before, {measured['load_average']['after']} "
          "after")
    print(f"model: flow + mirror, median of {args.repeats} calls after 3 warm-up; pipeline: one onset/apex pair "
          f"(face location, TV-L1 flow, model), median of {args.repeats} calls after 1 warm-up; the checkpoints "
          "timed in turn, call by call")
    header = (f"{'checkpoint':10} {'params':>9} {'honest UF1':>16} {'ms b=1':>8} {'ms b=64':>8} "
              f"{'ms/sample b=64':>15} {'ms/pair (pipeline)':>19}")
    print(header)
    print("-" * len(header))
    for name, row in measured["checkpoints"].items():
        batched = row["model_ms"]["64"]
        print(f"{name:10} {row['parameters'] / 1e6:8.2f}M {row['honest_uf1_mean']:.4f} ± {row['honest_uf1_std']:.4f} "
              f"{row['model_ms']['1']:8.2f} {batched:8.2f} {batched / 64:15.3f} {row['pipeline_pair_ms']:19.1f}")
    if args.output:
        Path(args.output).write_text(json.dumps(measured, indent=1) + "\n")
    return measured


if __name__ == "__main__":
    main()

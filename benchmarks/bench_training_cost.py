"""The CPU cost of LOSO training: the step the runner repeats, its matrix products, and the floor they set.

Run: python benchmarks/bench_training_cost.py [--threads 1] [--batch_size 16] [--steps 40] [--run_dir RUN]

A full run's wall time is its optimizer steps × the step time ÷ the shards running side by side, so the step is
what to measure. This times the default model's training step (forward with loss, backward, gradient clipping at
1.0, fused AdamW: what `run_loso.py` repeats, here on random 28×28 inputs outside the Trainer), counts the FLOPs of
its matrix products (torch.utils.flop_counter, a multiply-add counts 2), times them (torch.profiler, self time of
mm/addmm/bmm) and measures the thread's fp32 matrix-product peak on the model's widest layer. FLOPs ÷ peak is a floor
on the step that no fp32 schedule of this model can beat. With --run_dir (a finished LOSO output dir, e.g. a merged
run) the figures are scaled to that run's optimizer steps and set beside its own fold times.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from epir_hf import EPIRConfig, EPIRForImageClassification
from epir_hf.training.cli import run_command
from epir_hf.training.results import read_fold_records

MATMUL_OPS = ("mm", "addmm", "bmm")


def training_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, pixel_values: torch.Tensor,
                  labels: torch.Tensor) -> Callable[[], None]:
    """One optimizer step as the runner takes it (its max_grad_norm is 1.0)."""

    def step() -> None:
        model(pixel_values=pixel_values, labels=labels).loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()

    return step


def median_seconds(step: Callable[[], None], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_flops(step: Callable[[], None]) -> int:
    with FlopCounterMode(display=False) as counter:
        step()
    counts = counter.get_flop_counts()["Global"]
    return sum(flops for op, flops in counts.items() if str(op).split(".")[-1] in MATMUL_OPS)


def matmul_seconds(step: Callable[[], None], repeats: int) -> float:
    """Mean self time of the matrix-product kernels per step."""
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        for _ in range(repeats):
            step()
    names = {f"aten::{op}" for op in MATMUL_OPS}
    total_us = sum(event.self_cpu_time_total for event in profiler.key_averages() if event.key in names)
    return total_us / 1e6 / repeats


def matmul_peak_flops(rows: int, inner: int, outer: int, repeats: int = 200) -> float:
    """fp32 FLOP/s of torch.mm at one shape: the best of three timed batches."""
    left, right = torch.randn(rows, inner), torch.randn(inner, outer)
    for _ in range(10):
        left @ right
    best = min(median_seconds(lambda: left @ right, repeats) for _ in range(3))
    return 2 * rows * inner * outer / best


def run_steps(run_dir: str | Path) -> tuple[int, int, float]:
    """(folds, optimizer steps, fold seconds) summed over a LOSO output dir's finished folds."""
    if not Path(run_dir).is_dir():
        raise FileNotFoundError(f"--run_dir {str(run_dir)!r} is not a folder (expected a LOSO output dir).")
    records = read_fold_records(run_dir)
    if not records:
        raise FileNotFoundError(f"--run_dir {str(run_dir)!r} holds no finished folds (expected folds/*.json from "
                                "run_loso.py or its merge command).")
    for record in records:
        if not all(isinstance(record.get(key), (int, float)) for key in ("global_step", "time_s")):
            raise ValueError(f"--run_dir {str(run_dir)!r}: the fold record of {record.get('subject')!r} lacks a "
                             "numeric global_step or time_s (expected fold records written by run_loso.py).")
    return len(records), sum(record["global_step"] for record in records), sum(record["time_s"] for record in records)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (run_loso.py shards use 1 each)")
    parser.add_argument("--batch_size", type=int, default=16, help="training batch (the recipe's default)")
    parser.add_argument("--steps", type=int, default=40, help="timed steps, after 10 warm-up steps")
    parser.add_argument("--run_dir", help="a finished LOSO output dir to scale the figures to")
    parser.add_argument("--processes", type=int, default=2, help="shards that ran side by side (for --run_dir)")
    args = parser.parse_args(argv)
    for name in ("threads", "batch_size", "steps", "processes"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be >= 1; got {getattr(args, name)}.")

    # The run is read first: the timing takes a while, and a bad folder must not fail only after it.
    run = run_steps(args.run_dir) if args.run_dir else None

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = EPIRConfig()
    model = EPIRForImageClassification(config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.05, fused=True)
    pixel_values = torch.randn(args.batch_size, config.num_channels, config.image_size, config.image_size)
    step = training_step(model, optimizer, pixel_values, torch.arange(args.batch_size) % config.num_labels)
    for _ in range(10):
        step()
    step_s = median_seconds(step, args.steps)
    flops = matmul_flops(step)
    matmul_s = matmul_seconds(step, args.steps)
    rows = args.batch_size * (config.num_patches + 1)
    peak = matmul_peak_flops(rows, config.hidden_size, config.intermediate_size)
    floor_s = flops / peak
    params = sum(p.numel() for p in model.parameters())
    print(f"torch {torch.__version__}, {args.threads} CPU thread(s), batch {args.batch_size}, default EPIR "
          f"({params / 1e6:.3f}M parameters), median of {args.steps} steps after 10 warm-up steps")
    print(f"training step: {1e3 * step_s:.1f} ms")
    print(f"  matrix products: {flops / 1e9:.2f} GFLOP in {1e3 * matmul_s:.1f} ms ({100 * matmul_s / step_s:.0f} % of "
          f"the step), {flops / matmul_s / 1e9:.1f} GFLOP/s")
    print(f"  fp32 peak of this thread (torch.mm {rows}×{config.hidden_size} @ {config.hidden_size}×"
          f"{config.intermediate_size}): {peak / 1e9:.1f} GFLOP/s → floor {1e3 * floor_s:.1f} ms per step "
          f"({100 * floor_s / step_s:.0f} % of the step)")
    report = {"step_s": step_s, "matmul_flops": flops, "matmul_s": matmul_s, "peak_flops": peak, "floor_s": floor_s}
    if run is not None:
        folds, steps, fold_s = run
        minutes = {name: seconds * steps / args.processes / 60 for name, seconds in
                   (("floor", floor_s), ("matmul", matmul_s), ("step", step_s))}
        minutes["run"] = fold_s / args.processes / 60
        print(f"run {args.run_dir}: {folds} folds, {steps:,} optimizer steps, fold times {fold_s:,.0f} s in all "
              f"({1e3 * fold_s / steps:.1f} ms per step)")
        print(f"  ÷ {args.processes} processes: matrix products at the peak {minutes['floor']:.1f} min, as timed "
              f"{minutes['matmul']:.1f} min; this step {minutes['step']:.1f} min; the run's folds "
              f"{minutes['run']:.1f} min")
        report.update(folds=folds, steps=steps, minutes=minutes)
    return report


if __name__ == "__main__":
    run_command(main, "bench_training_cost.py", errors=(ValueError, OSError))

"""Latency of the exported ONNX models under onnxruntime against the same models in PyTorch, at batch 1 and 64, on CPU.

Run: python benchmarks/bench_onnx.py [--models epir ststnet offapexnet sssnet] [--threads 2] [--seconds 3]

Models: EPIR is the release checkpoint `checkpoints/epir-megc2019-3class`; STSTNet, OFF-ApexNet and SSSNet are the
trained members of `checkpoints/megc2019-3class-ensemble`. Each is written to a temporary file by
`epir_hf.export.export_onnx` (what `epir-hf export` writes). Inputs: `epir_hf.export.sample_flows` (generated flows
through the processor), the same tensor for both runtimes. Both get --threads intra-op threads: `torch.set_num_threads`,
and onnxruntime's `intra_op_num_threads` (inter-op 1, CPU execution provider, its default graph optimisations).
PyTorch runs in eval mode under `torch.inference_mode`. Each call is timed on its own with `time.perf_counter`, after
--warmup calls, for at least --seconds and 10 calls per cell; printed are the median and the 90th percentile of the
calls (ms per call) and the median per sample. The max |logit difference| on the timed batch is printed beside it.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from transformers import AutoModelForImageClassification

from epir_hf.export import export_onnx, max_logit_difference, sample_flows
from epir_hf.export.onnx_export import INPUT_NAME, onnx_runtime

CHECKPOINTS = Path(__file__).resolve().parents[1] / "checkpoints"
MODELS = ("epir", "ststnet", "offapexnet", "sssnet")
BATCHES = (1, 64)


def load(name: str) -> torch.nn.Module:
    if name == "epir":
        return AutoModelForImageClassification.from_pretrained(CHECKPOINTS / "epir-megc2019-3class").eval()
    ensemble = AutoModelForImageClassification.from_pretrained(CHECKPOINTS / "megc2019-3class-ensemble")
    return next(member for member in ensemble.members if member.config.model_type == name).eval()


def call_times(call: Callable[[], object], warmup: int, seconds: float) -> list[float]:
    """Seconds of each timed call, after `warmup` untimed ones."""
    for _ in range(warmup):
        call()
    times, start = [], time.perf_counter()
    while time.perf_counter() - start < seconds or len(times) < 10:
        began = time.perf_counter()
        call()
        times.append(time.perf_counter() - began)
    return times


def summary(times: list[float], batch: int) -> str:
    median, p90 = statistics.median(times), float(np.percentile(times, 90))
    return f"{1e3 * median:9.2f} {1e3 * p90:8.2f} {1e3 * median / batch:9.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads of both runtimes (default 2)")
    parser.add_argument("--seconds", type=float, default=3.0, help="minimum timing window per cell (default 3)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls before each cell (default 5)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores visible; torch "
          f"{torch.__version__} and onnxruntime {onnxruntime.__version__} (CPUExecutionProvider), each with "
          f"{args.threads} intra-op threads; per cell >= {args.seconds:g} s and >= 10 calls after {args.warmup} "
          "warm-up calls; input: generated flows (3×28×28)")
    header = (f"{'model':11} {'batch':>5} {'runtime':12} {'median ms':>9} {'p90 ms':>8} {'ms/sample':>9} "
              f"{'ORT speed-up':>12} {'max |Δlogit|':>12}")
    print(header + "\n" + "-" * len(header))
    flows = sample_flows(max(BATCHES))
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models:
            model, path = load(name), Path(folder) / f"{name}.onnx"
            export_onnx(model, path)
            torch_times = {}
            with torch.inference_mode():
                for batch in BATCHES:
                    pixel_values = flows[:batch]
                    torch_times[batch] = call_times(lambda: model(pixel_values=pixel_values), args.warmup,
                                                    args.seconds)
            # The onnxruntime model (and its thread pool) exists only once PyTorch's cells are timed: no thread of one
            # runtime waits on a core while the other is measured.
            runtime = onnx_runtime(path, args.threads)
            for batch in BATCHES:
                array = flows[:batch].numpy()
                onnx_times = call_times(lambda: runtime.run(None, {INPUT_NAME: array}), args.warmup, args.seconds)
                difference = max_logit_difference(model, path, flows[:batch], batch)
                speedup = statistics.median(torch_times[batch]) / statistics.median(onnx_times)
                print(f"{name:11} {batch:5} {'PyTorch':12} {summary(torch_times[batch], batch)}")
                print(f"{name:11} {batch:5} {'onnxruntime':12} {summary(onnx_times, batch)} {speedup:11.2f}× "
                      f"{difference:12.1e}")

if __name__ == "__main__":
    main()

"""Time to build a synthetic corpus and turn it into EPIR inputs: generation + Arrow caching, cached reload, and
the optical-flow pass of `prepare_model_inputs` per flow method.

Run: python benchmarks/bench_datasets.py [--subjects 20] [--samples-per-subject 50] [--num-proc 2]
         [--flow-methods tvl1 dis]
Every stage starts from an empty cache folder (a temp dir), so nothing is reused between runs; the reload stage
measures a second `load_me_dataset` call on the cache the first one wrote. Flow is computed at the processor's
default flow_size (128) on the drawn faces' own boxes (no face detection). Wall-clock seconds, one run each.
"""

import argparse
import os
import platform
import tempfile
import time
from collections.abc import Callable
from typing import Any

from dataset_scripts import load_me_dataset, prepare_model_inputs
from epir_hf.image_processing_epir import EPIRImageProcessor


def timed(function: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subjects", type=int, default=20)
    parser.add_argument("--samples-per-subject", type=int, default=50)
    parser.add_argument("--num-proc", type=int, default=2)
    parser.add_argument("--flow-methods", nargs="+", default=["tvl1", "dis"])
    args = parser.parse_args()
    total = args.subjects * args.samples_per_subject
    print(f"{total} synthetic pairs ({args.subjects} subjects x {args.samples_per_subject}), num_proc={args.num_proc}, "
          f"{os.cpu_count()} CPUs visible, {platform.processor() or platform.machine()}")
    with tempfile.TemporaryDirectory() as cache:
        corpus = {"num_subjects": args.subjects, "samples_per_subject": args.samples_per_subject, "seed": 0,
                  "cache_dir": cache}
        dataset, seconds = timed(load_me_dataset, "synthetic", **corpus)
        print(f"generate + cache : {seconds:7.2f} s  ({total / seconds:7.1f} pairs/s)")
        _, seconds = timed(load_me_dataset, "synthetic", **corpus)
        print(f"cached reload    : {seconds:7.3f} s")
        for method in args.flow_methods:
            processor = EPIRImageProcessor(flow_method=method)
            inputs, seconds = timed(prepare_model_inputs, dataset, processor, num_proc=args.num_proc)
            assert len(inputs) == total
            print(f"inputs ({method:9s}): {seconds:7.2f} s  ({total / seconds:7.1f} pairs/s)")
            _, seconds = timed(prepare_model_inputs, dataset, processor, num_proc=args.num_proc)
            print(f"  cached again   : {seconds:7.3f} s")


if __name__ == "__main__":
    main()

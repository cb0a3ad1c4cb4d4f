"""Wall time of one LOSO command with 1 against N fold workers, and against hand-started shards.

Run: python benchmarks/bench_fold_workers.py --output_dir runs/bench_workers [--workers 1,2] [--shards 2]
         [--json PATH] -- RUN_LOSO_ARGUMENTS

e.g. the synthetic quickstart: `... --output_dir runs/bench_workers -- ` (nothing after `--`), or the composite
with the default recipe: `... -- --dataset megc2019_composite_flow --data_dir $EPIR_COMPOSITE_DIR --seed 1`.

Each variant is `examples/run_loso.py RUN_LOSO_ARGUMENTS` run from scratch in a fresh process, one after the other
on an otherwise idle machine, into its own folder under `--output_dir`:

- `workers=K`: one command with `--fold_workers K`;
- `shards=S` (with `--shards S`): S processes started at once, each with `--fold_shard i/S --fold_workers 1`, then
  `merge`; the time runs until the merge is done. This is how the folds were spread over the cores before the
  runner had workers, and what one command must match.

The wall time includes everything a user waits for: imports, data loading (the flow cache is built before the first
variant and reused by all, so no variant pays for it), worker start-up, training and scoring. After the runs, the
per-fold predictions of every variant are compared with the first's: they must be identical. Prints one line per
variant with its ratio to `workers=1`, the hardware, and the command.

A composite measurement takes hours, so each finished variant's time is recorded in `--output_dir`/timings.json as
soon as it is known. Re-running the same command there keeps the recorded variants and runs the others; a variant
that was interrupted is deleted and timed again from scratch, since a resumed run would not be a timing. The record
refuses to mix hardware or run arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

from epir_hf.training.files import atomic_write_json, read_json

REPO_ROOT = Path(__file__).resolve().parents[1]
RUN_LOSO = REPO_ROOT / "examples" / "run_loso.py"


def hardware() -> str:
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        model = names[0] if names else model
    return f"{len(os.sched_getaffinity(0))} CPU cores ({model})"


def run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")


def timed_workers(arguments: list[str], folder: Path, workers: int) -> float:
    started = time.perf_counter()
    run([sys.executable, str(RUN_LOSO), *arguments, "--output_dir", str(folder), "--fold_workers", str(workers),
         "--disable_tqdm", "true"])
    return time.perf_counter() - started


def timed_shards(arguments: list[str], folder: Path, shards: int) -> float:
    started = time.perf_counter()
    processes = [subprocess.Popen([sys.executable, str(RUN_LOSO), *arguments, "--output_dir", str(folder / f"shard{i}"),
                                   "--fold_shard", f"{i}/{shards}", "--fold_workers", "1", "--disable_tqdm", "true"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for i in range(shards)]
    for process in processes:
        _, stderr = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"shard failed:\n{stderr[-3000:]}")
    run([sys.executable, str(RUN_LOSO), "merge", *[str(folder / f"shard{i}") for i in range(shards)],
         "--output_dir", str(folder / "merged")])
    return time.perf_counter() - started


def recorded_timings(output_dir: Path, setting: dict) -> dict:
    """The variants already timed in `output_dir` under the same hardware and arguments (none in a new folder)."""
    record = output_dir / "timings.json"
    if not record.is_file():
        if output_dir.exists() and any(output_dir.iterdir()):
            raise FileExistsError(f"--output_dir {output_dir} holds files but no timings.json: not a benchmark folder "
                                  "of this script; choose an empty or new folder.")
        timings = {**setting, "wall_s": {}}
        atomic_write_json(record, timings)
        return timings
    timings = read_json(record)
    for key, value in setting.items():
        if timings.get(key) != value:
            raise ValueError(f"{record} was measured with {key} {timings.get(key)!r}, this run has {value!r}: timings "
                             "from different settings are not comparable; use another --output_dir.")
    return timings


def fold_predictions(folder: Path) -> dict[str, list]:
    merged = folder / "merged" if (folder / "merged").is_dir() else folder
    return {path.stem: json.loads(path.read_text())["logits"] for path in sorted((merged / "folds").glob("*.json"))}


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    own, arguments = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output_dir", required=True, help="one folder per variant is written under it")
    parser.add_argument("--workers", default="1,2", help="comma-separated --fold_workers values to time")
    parser.add_argument("--shards", type=int, default=0, help="also time this many hand-started shards (0: no)")
    parser.add_argument("--json", help="write the figures to this file")
    options = parser.parse_args(own)
    output_dir = Path(options.output_dir)
    if any(flag in arguments for flag in ("--output_dir", "--fold_workers", "--fold_shard")):
        raise ValueError("--output_dir, --fold_workers and --fold_shard are set by the benchmark, per variant.")
    timings = recorded_timings(output_dir, {"hardware": hardware(), "arguments": arguments})
    plan = {f"workers={workers}": (output_dir / f"workers{workers}", partial(timed_workers, workers=workers))
            for workers in [int(item) for item in options.workers.split(",")]}
    if options.shards:
        plan[f"shards={options.shards}"] = (output_dir / f"shards{options.shards}",
                                           partial(timed_shards, shards=options.shards))
    pending = [name for name in plan if name not in timings["wall_s"]]
    if pending:
        # The flow cache is built once, outside the timings: a one-step run of the first fold on the same data.
        shutil.rmtree(output_dir / "warmup", ignore_errors=True)
        run([sys.executable, str(RUN_LOSO), *arguments, "--output_dir", str(output_dir / "warmup"), "--max_steps", "1",
             "--fold_workers", "1", "--disable_tqdm", "true", "--fold_shard", "0/100000"])
        shutil.rmtree(output_dir / "warmup")
    variants = {}
    for name, (folder, timed) in plan.items():
        if name in pending:
            shutil.rmtree(folder, ignore_errors=True)  # an interrupted variant starts again from scratch
            timings["wall_s"][name] = timed(arguments, folder)
            atomic_write_json(output_dir / "timings.json", timings)
        variants[name] = (timings["wall_s"][name], folder)
        print(f"{name}: {variants[name][0]:.1f} s", flush=True)
    reference = next(iter(variants.values()))
    identical = {name: fold_predictions(folder) == fold_predictions(reference[1])
                 for name, (_, folder) in variants.items()}
    baseline = variants.get("workers=1", reference)[0]
    figures = {"hardware": hardware(), "command": f"examples/run_loso.py {' '.join(arguments)}",
               "wall_s": {name: seconds for name, (seconds, _) in variants.items()},
               "speedup_over_workers1": {name: baseline / seconds for name, (seconds, _) in variants.items()},
               "identical_predictions": identical}
    print(f"LOSO wall time on {figures['hardware']}, each variant from scratch in a fresh process, flows cached; "
          f"command: {figures['command']}")
    for name, seconds in figures["wall_s"].items():
        print(f"  {name:<10} {seconds:8.1f} s   {figures['speedup_over_workers1'][name]:.2f}x of workers=1   "
              f"predictions identical to {next(iter(variants))}: {identical[name]}")
    if options.json:
        Path(options.json).write_text(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    main()

"""Wall time of one LOSO command with 1 against N fold workers, and against hand-started shards.

Run: python benchmarks/bench_fold_workers.py --output_dir runs/bench_workers [--workers 1,2] [--shards 2]
         [--parts K] [--json PATH] -- RUN_LOSO_ARGUMENTS

e.g. the synthetic quickstart: `... --output_dir runs/bench_workers -- ` (nothing after `--`), or the composite
with the default recipe: `... -- --dataset megc2019_composite_flow --data_dir $EPIR_COMPOSITE_DIR --seed 1`.

Each variant is `examples/run_loso.py RUN_LOSO_ARGUMENTS` run from scratch in a fresh process, one after the other
on an otherwise idle machine, into its own folder under `--output_dir`:

- `workers=K`: one command with `--fold_workers K`;
- `shards=S` (with `--shards S`): S processes started at once, each with `--fold_shard i/S --fold_workers 1`, then
  `merge`; the time runs until the merge is done. This is how the folds were spread over the cores before the
  runner had workers, and what one command must match.

The wall time includes everything a user waits for: imports, data loading (the flow cache is built before the first
variant and reused by all, so no variant pays for it), worker start-up, training and scoring. After the runs, each
fold's predictions are compared across every variant whose folder holds that fold: they must be identical. A folder
lost after its time was recorded leaves its folds out of the comparison, and each variant's count of compared folds
says how much was checked. Prints one line per variant with its ratio to `workers=1`, the hardware, and the command.

A composite measurement takes hours, so each finished variant's time is recorded in `--output_dir`/timings.json as
soon as it is known. Re-running the same command there keeps the recorded variants and runs the others; a variant
that was interrupted is deleted and timed again from scratch, since a resumed run would not be a timing. The record
refuses to mix hardware (the CPU's name, family, model and stepping), run arguments or `--parts`.

`--parts K` times each variant in K parts when a whole variant takes longer than the machine can be held: part p runs
the folds of `--fold_shard p/K` (every K-th fold) in its own fresh process(es), and the variant's time is the sum of
its parts. Hand-started shards split each part between them (shard i of S in part p runs `--fold_shard` (p + iK)/(SK)),
so every variant trains the same folds in each part. Each part is recorded when it is done; an interrupted part is
timed again. The sum counts K start-ups (imports, data loading, worker start) where one run pays one, and each part's
last folds may leave a worker idle, so parts slightly favour `workers=1`; choose K so that each part holds an even
number of folds (the composite's 68 folds: K = 2).
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
    """The cores and the CPU, with its family, model and stepping where /proc/cpuinfo has them: a virtual machine may
    name very different CPUs alike ("AMD EPYC"), and timings of two of them must not be summed."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        lines = cpuinfo.read_text().split("\n\n")[0].splitlines()  # the first CPU
        fields = {key.strip(): value.strip() for key, value in (line.split(":", 1) for line in lines if ":" in line)}
        generation = ", ".join(f"{key} {fields[key]}" for key in ("cpu family", "model", "stepping") if key in fields)
        model = ", ".join(filter(None, [fields.get("model name", model), generation]))
    return f"{len(os.sched_getaffinity(0))} CPU cores ({model})"


def run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")


def timed_workers(arguments: list[str], folder: Path, workers: int, part: int = 0, parts: int = 1) -> float:
    selection = ["--fold_shard", f"{part}/{parts}"] if parts > 1 else []
    started = time.perf_counter()
    run([sys.executable, str(RUN_LOSO), *arguments, *selection, "--output_dir", str(folder), "--fold_workers",
         str(workers), "--disable_tqdm", "true"])
    return time.perf_counter() - started


def timed_shards(arguments: list[str], folder: Path, shards: int, part: int = 0, parts: int = 1) -> float:
    started = time.perf_counter()
    processes = [subprocess.Popen([sys.executable, str(RUN_LOSO), *arguments, "--output_dir", str(folder / f"shard{i}"),
                                   "--fold_shard", f"{part + i * parts}/{shards * parts}", "--fold_workers", "1",
                                   "--disable_tqdm", "true"],
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
        timings = {**setting, "wall_s": {}, "part_s": {}}
        atomic_write_json(record, timings)
        return timings
    timings = read_json(record)
    for key, value in setting.items():
        if timings.get(key) != value:
            raise ValueError(f"{record} was measured with {key} {timings.get(key)!r}, this run has {value!r}: timings "
                             "from different settings are not comparable; use another --output_dir.")
    return timings


def part_folders(folder: Path, parts: int) -> list[Path]:
    return [folder / f"part{part}" for part in range(parts)] if parts > 1 else [folder]


def fold_predictions(folder: Path, parts: int) -> dict[str, list]:
    predictions = {}
    for run_folder in part_folders(folder, parts):
        merged = run_folder / "merged" if (run_folder / "merged").is_dir() else run_folder
        predictions.update({path.stem: json.loads(path.read_text())["logits"]
                            for path in sorted((merged / "folds").glob("*.json"))})
    return predictions


def prediction_agreement(predictions: dict[str, dict[str, list]]) -> dict[str, tuple[bool | None, int]]:
    """Per variant: whether each of its folds has the same logits in every other variant holding that fold, and how
    many of its folds another variant holds (None when none does: nothing was compared)."""
    agreement = {}
    for name, own in predictions.items():
        others = [other for other_name, other in predictions.items() if other_name != name]
        pairs = [(own[fold], other[fold]) for fold in own for other in others if fold in other]
        shared = sum(any(fold in other for other in others) for fold in own)
        agreement[name] = (all(mine == theirs for mine, theirs in pairs) if shared else None, shared)
    return agreement


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    own, arguments = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output_dir", required=True, help="one folder per variant is written under it")
    parser.add_argument("--workers", default="1,2", help="comma-separated --fold_workers values to time")
    parser.add_argument("--shards", type=int, default=0, help="also time this many hand-started shards (0: no)")
    parser.add_argument("--parts", type=int, default=1,
                        help="time each variant in this many parts of its folds and sum them (see above)")
    parser.add_argument("--json", help="write the figures to this file")
    options = parser.parse_args(own)
    output_dir = Path(options.output_dir)
    if any(flag in arguments for flag in ("--output_dir", "--fold_workers", "--fold_shard")):
        raise ValueError("--output_dir, --fold_workers and --fold_shard are set by the benchmark, per variant.")
    if options.parts < 1:
        raise ValueError(f"--parts must be at least 1, got {options.parts}.")
    timings = recorded_timings(output_dir, {"hardware": hardware(), "arguments": arguments, "parts": options.parts})
    plan = {f"workers={workers}": (output_dir / f"workers{workers}", partial(timed_workers, workers=workers))
            for workers in [int(item) for item in options.workers.split(",")]}
    if options.shards:
        plan[f"shards={options.shards}"] = (output_dir / f"shards{options.shards}",
                                           partial(timed_shards, shards=options.shards))
    if any(name not in timings["wall_s"] for name in plan):
        # The flow cache is built once, outside the timings: a one-step run of the first fold on the same data.
        shutil.rmtree(output_dir / "warmup", ignore_errors=True)
        run([sys.executable, str(RUN_LOSO), *arguments, "--output_dir", str(output_dir / "warmup"), "--max_steps", "1",
             "--fold_workers", "1", "--disable_tqdm", "true", "--fold_shard", "0/100000"])
        shutil.rmtree(output_dir / "warmup")
    variants = {}
    for name, (folder, timed) in plan.items():
        done = timings["part_s"].setdefault(name, {})
        for part, part_folder in enumerate(part_folders(folder, options.parts)):
            if str(part) not in done:
                shutil.rmtree(part_folder, ignore_errors=True)  # an interrupted part starts again from scratch
                done[str(part)] = timed(arguments, part_folder, part=part, parts=options.parts)
                if len(done) == options.parts:
                    timings["wall_s"][name] = sum(done.values())
                atomic_write_json(output_dir / "timings.json", timings)
        variants[name] = (timings["wall_s"][name], folder)
        print(f"{name}: {variants[name][0]:.1f} s", flush=True)
    agreement = prediction_agreement({name: fold_predictions(folder, options.parts)
                                      for name, (_, folder) in variants.items()})
    baseline = variants.get("workers=1", next(iter(variants.values())))[0]
    figures = {"hardware": hardware(), "command": f"examples/run_loso.py {' '.join(arguments)}", "parts": options.parts,
               "wall_s": {name: seconds for name, (seconds, _) in variants.items()},
               "speedup_over_workers1": {name: baseline / seconds for name, (seconds, _) in variants.items()},
               "identical_predictions": {name: identical for name, (identical, _) in agreement.items()},
               "compared_folds": {name: shared for name, (_, shared) in agreement.items()}}
    parts = f" in {options.parts} parts summed" if options.parts > 1 else ""
    print(f"LOSO wall time on {figures['hardware']}, each variant from scratch in a fresh process{parts}, flows "
          f"cached; command: {figures['command']}")
    for name, seconds in figures["wall_s"].items():
        identical, shared = agreement[name]
        check = (f"predictions identical to the other variants' on {shared} shared folds: {identical}" if shared
                 else "predictions not compared (no other variant's folder holds its folds)")
        print(f"  {name:<10} {seconds:8.1f} s   {figures['speedup_over_workers1'][name]:.2f}x of workers=1   {check}")
    if options.json:
        Path(options.json).write_text(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    main()

"""How close generated flows are to the real composite's: a real-vs-generated classifier and per-channel statistics.

Run: python benchmarks/bench_generated_flows.py --data_dir $EPIR_COMPOSITE_DIR [--num_subjects 40]
         [--samples_per_subject 12] [--seed 0] [--dataset_kwargs '{"random_fraction": 0.25}']

Both sides are what EPIR is fed: the composite's precomputed flow images through the default `EPIRImageProcessor`,
and `synthetic_au` pairs whose flows the same processor computes from the frames (face crop, TV-L1 at 128 px,
strain, 28×28, per-channel min–max, scaled to [-1, 1]). Printed:

- per channel (u, v, strain): mean, standard deviation, and the mean absolute horizontal gradient (how smooth the
  maps are) over all samples, real beside generated;
- the 5-fold cross-validated accuracy of a logistic regression (standardised 28×28×3 inputs, C = 1) that tells real
  from generated, on balanced classes (as many generated samples as real ones are drawn, or all if fewer). 0.5 means
  indistinguishable by a linear classifier; 1.0 means the generated flows are trivially recognisable;
- the same accuracy per channel, on its 28×28 map and on its 784 values sorted (the distribution of values without
  their layout): where the map gives the generated flows away and the sorted values do not, the layout does.

No composite label is read: the measurement chooses nothing about any model.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
from datasets import Dataset
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from dataset_scripts import load_me_dataset, prepare_model_inputs
from epir_hf import EPIRImageProcessor

CHANNELS = ("u", "v", "strain")


def pixel_values(dataset: Dataset) -> np.ndarray:
    return np.asarray(dataset.with_format("numpy", columns=["pixel_values"])[:]["pixel_values"], dtype=np.float32)


def channel_statistics(inputs: np.ndarray) -> dict[str, dict[str, float]]:
    gradient = np.abs(np.diff(inputs, axis=3)).mean(axis=(0, 2, 3))
    return {name: {"mean": float(inputs[:, c].mean()), "std": float(inputs[:, c].std()),
                   "mean |d/dx|": float(gradient[c])} for c, name in enumerate(CHANNELS)}


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_dir", default=os.environ.get("EPIR_COMPOSITE_DIR"),
                        help="the composite flow release (default: $EPIR_COMPOSITE_DIR)")
    parser.add_argument("--num_subjects", type=int, default=40)
    parser.add_argument("--samples_per_subject", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated corpus and of the CV split")
    parser.add_argument("--dataset_kwargs", default="{}", help="JSON object of other synthetic_au options")
    args = parser.parse_args()
    if not args.data_dir:
        raise SystemExit("bench_generated_flows.py: error: pass --data_dir or set EPIR_COMPOSITE_DIR")
    started = time.perf_counter()
    processor = EPIRImageProcessor()
    real = pixel_values(prepare_model_inputs(load_me_dataset("megc2019_composite_flow", data_dir=args.data_dir),
                                             processor))
    generated_set = load_me_dataset("synthetic_au", num_subjects=args.num_subjects,
                                    samples_per_subject=args.samples_per_subject, seed=args.seed,
                                    **json.loads(args.dataset_kwargs))
    generated = pixel_values(prepare_model_inputs(generated_set, processor))
    count = min(len(real), len(generated))
    rng = np.random.default_rng(args.seed)
    real_part, generated_part = real[rng.permutation(len(real))[:count]], generated[:count]
    inputs = np.concatenate([real_part, generated_part])
    is_generated = np.repeat([0, 1], count)
    folds = StratifiedKFold(5, shuffle=True, random_state=args.seed)

    def separability(features: np.ndarray) -> np.ndarray:
        classifier = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
        return cross_val_score(classifier, features.reshape(2 * count, -1), is_generated, cv=folds,
                               scoring="accuracy")

    accuracy = separability(inputs)
    per_channel = {}
    for c, name in enumerate(CHANNELS):
        channel = inputs[:, c].reshape(2 * count, -1)
        per_channel[name] = {"map": float(separability(channel).mean()),
                             "sorted values": float(separability(np.sort(channel, axis=1)).mean())}
    figures = {"real": channel_statistics(real), "generated": channel_statistics(generated),
               "real_vs_generated_accuracy": (float(accuracy.mean()), float(accuracy.std())),
               "per_channel_accuracy": per_channel, "samples_per_side": count}
    print(f"Generated vs real flows: {len(real)} composite flow images, {len(generated)} synthetic_au pairs "
          f"({args.num_subjects} subjects × {args.samples_per_subject}, seed {args.seed}, {args.dataset_kwargs}); "
          f"default EPIRImageProcessor; {len(os.sched_getaffinity(0))} CPU cores ({platform.machine()}), "
          f"{time.perf_counter() - started:.0f} s")
    print(f"{'channel':8} {'statistic':12} {'real':>9} {'generated':>10}")
    for channel in CHANNELS:
        for statistic in ("mean", "std", "mean |d/dx|"):
            print(f"{channel:8} {statistic:12} {figures['real'][channel][statistic]:9.4f} "
                  f"{figures['generated'][channel][statistic]:10.4f}")
    print(f"real-vs-generated logistic regression, 5-fold CV on {count} + {count} samples: accuracy "
          f"{accuracy.mean():.3f} ± {accuracy.std():.3f} (0.5 = indistinguishable)")
    for channel, scores in per_channel.items():
        print(f"  {channel:7} alone: map {scores['map']:.3f}, sorted values (no layout) {scores['sorted values']:.3f}")
    return figures


if __name__ == "__main__":
    main()

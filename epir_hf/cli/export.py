"""`epir-hf export MODEL --format onnx --output model.onnx`: a saved classifier as a file that runs without PyTorch.

Why a command: an annotation tool, an app or a browser page should be able to run a trained model without this
package or PyTorch. MODEL is a saved folder (EPIR, a CNN baseline or an ensemble) or a Hub id. The written graph
maps the processor's `pixel_values` to the logits, and is written only after onnxruntime has run it on generated
flows (`epir_hf.export.sample_flows`), one at a time and as one batch, and its logits matched PyTorch's within
--tolerance; otherwise the command fails and writes nothing. Needs `pip install "epir-hf[onnx]"`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForImageClassification, PreTrainedModel

from .. import CONFIG_CLASSES
from .release import check_model_name, loading_error

FORMATS = ("onnx",)
ONNX_EXTRA = 'pip install "epir-hf[onnx]"'
CHECK_FLOWS, TOLERANCE = 16, 1e-4


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="a saved model folder or a Hub id (EPIR, STSTNet, OFF-ApexNet, "
                        "SSSNet or an ensemble of them)")
    parser.add_argument("--format", default="onnx", help=f"the file format: {', '.join(FORMATS)} (default onnx)")
    parser.add_argument("--output", required=True, help="the file to write, e.g. model.onnx")
    parser.add_argument("--check_flows", type=int, default=CHECK_FLOWS,
                        help=f"generated flows the written file is checked on (default {CHECK_FLOWS})")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE,
                        help=f"the largest |logit difference| from PyTorch that passes (default {TOLERANCE:g})")


def check_arguments(args: argparse.Namespace) -> None:
    """Refuse, before the model loads, what cannot give a checked file."""
    if args.format not in FORMATS:
        raise ValueError(f"--format {args.format!r} is not supported; supported: {', '.join(FORMATS)}")
    if not Path(args.output).parent.is_dir():
        raise FileNotFoundError(f"the folder of --output does not exist: {Path(args.output).parent}")
    if Path(args.output).is_dir():
        raise ValueError(f"--output {args.output} is a folder; give the file to write, e.g. {args.output}/model.onnx")
    if args.check_flows < 1:
        raise ValueError(f"--check_flows must be at least 1; got {args.check_flows}")
    if not 0 < args.tolerance < float("inf"):
        raise ValueError(f"--tolerance must be a positive number; got {args.tolerance}")


def load_classifier(name: str) -> PreTrainedModel:
    """The classifier saved in folder `name` or on the Hub under the id `name`, in float32 and eval mode; a missing
    folder, a folder that is not a saved model, a model of another kind and weights that do not fill the classifier
    (a saved bare encoder) fail in one line naming MODEL."""
    check_model_name(name, "MODEL")
    try:
        config = AutoConfig.from_pretrained(name)
    except (OSError, ValueError) as error:
        raise loading_error(error, name, "MODEL") from None
    if config.model_type not in CONFIG_CLASSES:
        raise ValueError(f"MODEL {name}: a {config.model_type!r} model; this command exports the package's "
                         f"classifiers: {', '.join(CONFIG_CLASSES)}")
    model, loading = AutoModelForImageClassification.from_pretrained(name, config=config, dtype=torch.float32,
                                                                     output_loading_info=True)
    untrained = sorted({*loading["missing_keys"], *(key for key, *_ in loading["mismatched_keys"])})
    if untrained:
        raise ValueError(f"MODEL {name}: its weights lack {', '.join(untrained[:3])}"
                         f"{f' and {len(untrained) - 3} more' if len(untrained) > 3 else ''} (a bare encoder, or "
                         "another model's weights); the file would hold untrained weights")
    return model.eval()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="epir-hf export", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    check_arguments(args)
    try:
        import onnxruntime

        from ..export import export_onnx, max_logit_difference, sample_flows
    except ImportError as error:
        raise ValueError(f"--format onnx needs {error.name}, which is not installed: {ONNX_EXTRA}") from None
    model = load_classifier(args.model)
    output = Path(args.output)
    partial = output.with_name(output.name + ".partial")
    print(f"exporting {args.model} ({type(model).__name__}) to ONNX ...", file=sys.stderr, flush=True)
    try:
        opset = export_onnx(model, partial)
        print(f"checking {partial.name} with onnxruntime against PyTorch ...", file=sys.stderr, flush=True)
        flows = sample_flows(args.check_flows, model.config.image_size)
        single, batched = (max_logit_difference(model, partial, flows, size) for size in (1, len(flows)))
        if not max(single, batched) <= args.tolerance:
            raise ValueError(f"the ONNX graph does not compute what the PyTorch model computes: max |Δlogit| "
                             f"{single:.2e} at batch 1 and {batched:.2e} at batch {len(flows)} on {len(flows)} "
                             f"generated flows, over the tolerance {args.tolerance:g}; {output} was not written")
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)
    config = model.config
    labels = ", ".join(f"{index} {label}" for index, label in sorted(config.id2label.items()))
    print(f"wrote {output} ({output.stat().st_size / 2**20:.1f} MiB): {type(model).__name__}, ONNX opset {opset}\n"
          f"input  pixel_values: float32 (batch, {config.num_channels}, {config.image_size}, {config.image_size}), as "
          "EPIRImageProcessor returns them (u, v, optical strain in [-1, 1]); the graph does not check for NaN\n"
          f"output logits: float32 (batch, {config.num_labels}), before softmax; {labels} (also in the file's "
          "metadata, id2label)\n"
          f"checked with onnxruntime {onnxruntime.__version__} (CPU) on {len(flows)} generated flows: max |Δlogit| "
          f"from PyTorch {single:.1e} at batch 1, {batched:.1e} at batch {len(flows)} (tolerance {args.tolerance:g})")
    return 0

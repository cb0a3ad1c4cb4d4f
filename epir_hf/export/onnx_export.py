"""ONNX export of a flow classifier (EPIR, a CNN baseline, an ensemble) and the parity check against PyTorch.

Exporter: `torch.onnx.export(dynamo=True)` (torch.export, then onnxscript's table from ATen ops to ONNX), the default
since torch 2.9. The older TorchScript exporter cannot export EPIR at all: it has no ONNX form of the stable argsort
with which token integration and DTSM rank tokens.

EPIR's token reduction is exportable as it is because its token counts are not data-dependent: how many tokens each
merge removes and how many DTSM keeps follow from the config (`EPIRConfig.token_schedule`), so every shape in the
graph is static except the batch; only which tokens are merged or kept depends on the input, and that is an argsort
and gathers, which ONNX has. Three things needed care, none of which changes a value:

- the model's input check (are all values finite?) and attention's "is every token one patch?" test branch on tensor
  values, which a graph cannot do: under torch.export the first is left to whoever runs the graph and the second
  always adds the log-size bias (log 1 = 0 where it was left out);
- `aten.sort.stable` has no entry in onnxscript's table: it is translated as onnxscript translates `aten.sort`, to an
  ONNX TopK over the whole axis, whose ties go to the lower index (ONNX's definition of TopK): a stable sort's order.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from onnxscript.function_libs.torch_lib.ops.core import aten_sort
from torch import nn
from transformers import PreTrainedModel

from .flows import sample_flows

INPUT_NAME, OUTPUT_NAME = "pixel_values", "logits"
TRANSLATIONS = {torch.ops.aten.sort.stable: aten_sort}
"""ATen ops that onnxscript's table lacks, with the ONNX function that computes them (see the module doc)."""


class OnnxLogits(nn.Module):
    """The classifier as the graph's one function: `pixel_values` → `logits` (the token bookkeeping, member logits
    and other outputs of the PyTorch model stay out of the file)."""

    def __init__(self, model: PreTrainedModel):
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=pixel_values).logits


def export_onnx(model: PreTrainedModel, path: str | Path) -> int:
    """Write `model` (put in eval mode) to `path` as one ONNX file: input `pixel_values`, float32
    `(batch, num_channels, image_size, image_size)` with a dynamic batch, output `logits` `(batch, num_labels)`. The
    metadata holds `id2label` and `model_type`, so the file alone says what its outputs mean. Returns the file's
    ONNX opset."""
    config = model.config
    wrapper = OnnxLogits(model).eval()
    example = sample_flows(2, config.image_size)  # 2, not 1: a batch of 1 would be specialised into the graph
    # The exporter's own notices (an op library it skips, deprecations of its internals) are not the user's business.
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore", FutureWarning)
            program = torch.onnx.export(
                wrapper, (example,), dynamo=True, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                dynamic_shapes=({0: torch.export.Dim("batch")},), custom_translation_table=TRANSLATIONS,
                verbose=False)
    finally:
        exporter_log.setLevel(level)
    program.model.doc_string = (f"{type(model).__name__} of epir-hf: {INPUT_NAME} as EPIRImageProcessor returns them "
                                f"(u, v, optical strain in [-1, 1]) → {OUTPUT_NAME} (before softmax).")
    program.model.metadata_props.update({"model_type": config.model_type,
                                         "id2label": json.dumps({str(k): v for k, v in config.id2label.items()})})
    program.save(str(path), external_data=False)
    return program.model.opset_imports[""]


def onnx_runtime(path: str | Path, threads: int | None = None) -> onnxruntime.InferenceSession:
    """The file loaded by onnxruntime on the CPU; `threads` sets its intra-op threads (None: onnxruntime's default)."""
    options = onnxruntime.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def max_logit_difference(model: PreTrainedModel, path: str | Path, pixel_values: torch.Tensor,
                         batch_size: int) -> float:
    """The largest |ONNX − PyTorch| over every logit of `pixel_values`, both run `batch_size` inputs at a time (the
    last batch may be smaller)."""
    runtime = onnx_runtime(path)
    model.eval()
    differences = []
    for chunk in torch.split(pixel_values, batch_size):
        with torch.no_grad():
            expected = model(pixel_values=chunk).logits.float().numpy()
        (exported,) = runtime.run([OUTPUT_NAME], {INPUT_NAME: chunk.numpy()})
        differences.append(np.abs(exported - expected).max())
    return float(np.max(differences))  # NaN if either side gave NaN: never read as a pass

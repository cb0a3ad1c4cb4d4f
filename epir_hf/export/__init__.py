"""The package's classifiers as files that run without PyTorch (ONNX), and the check that they compute what the
PyTorch model computes.

Why: a model that only runs inside this package's Python code cannot go where people meet micro-expressions (an
annotation tool, a phone, a browser). The exported graph maps the processor's `pixel_values` to the logits; what
comes before it (face crop, optical flow) stays with `EPIRImageProcessor`. Needs `pip install "epir-hf[onnx]"`.
"""

from .flows import sample_flows
from .onnx_export import OnnxLogits, export_onnx, max_logit_difference

__all__ = ["OnnxLogits", "export_onnx", "max_logit_difference", "sample_flows"]

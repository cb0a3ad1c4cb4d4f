"""What every flow classifier of this package does at its boundary: check the input and the loaded weights, and
compute the loss.

EPIR and the CNN baselines read the same processor output, are saved and loaded the same way and are trained by the
same LOSO recipe, so they reject the same bad inputs and weights files with the same message and weigh classes the
same way.
"""

from __future__ import annotations

import torch
from safetensors import SafetensorError
from torch import nn
from transformers import PreTrainedModel

from .configuration_epir import CLASS_WEIGHTS_HINT


def check_flow_pixel_values(pixel_values: torch.Tensor, num_channels: int, image_size: int) -> None:
    """Reject inputs that are not (B, num_channels, image_size, image_size) float flow tensors, naming the shape.

    While `torch.export` traces the model (ONNX export), the values are not checked: a graph cannot stop on a value,
    so whoever runs the exported graph checks its inputs' values (`epir-hf export` tells them so).
    """
    expected = f"(batch_size, {num_channels}, {image_size}, {image_size})"
    if not isinstance(pixel_values, torch.Tensor):
        raise ValueError(f"pixel_values must be a torch.Tensor of shape {expected}; got {type(pixel_values)}.")
    if not pixel_values.is_floating_point():
        raise ValueError(f"pixel_values must be a floating-point tensor; got dtype {pixel_values.dtype}. "
                         "Use EPIRImageProcessor to turn frames or flow images into pixel_values.")
    if (pixel_values.dim() != 4 or pixel_values.shape[0] == 0
            or tuple(pixel_values.shape[1:]) != (num_channels, image_size, image_size)):
        raise ValueError(f"pixel_values must have shape {expected} (channels u, v, optical strain); "
                         f"got {tuple(pixel_values.shape)}.")
    if torch.compiler.is_exporting():
        return
    finite = torch.isfinite(pixel_values)
    if not finite.all():
        first = tuple(int(i) for i in (~finite).nonzero()[0])
        raise ValueError(f"pixel_values must be finite; {int((~finite).sum())} value(s) are NaN or infinite (the first "
                         f"at index {first}: {pixel_values[first].item()}).")


class CheckedWeightsLoading:
    """Loads weights as transformers does, but a weights file that cannot be used fails with its path.

    A truncated or damaged `model.safetensors` otherwise raises safetensors' own error, which names no file, and a
    file whose values were corrupted to NaN or infinity loads silently and predicts NaN for every input. The check
    runs once per load, on the tensors read from the file, after transformers has put them in the model.
    """

    @staticmethod
    def _load_pretrained_model(model: PreTrainedModel, state_dict: dict | None, checkpoint_files: list[str] | None,
                               load_config, *args, **kwargs):
        source = ", ".join(map(str, checkpoint_files)) if checkpoint_files else "the given state_dict"
        try:
            loading_info, disk_offload_index = PreTrainedModel._load_pretrained_model(
                model, state_dict, checkpoint_files, load_config, *args, **kwargs)
        except SafetensorError as error:
            raise ValueError(f"{source}: the weights file is incomplete or corrupt ({error}); download or save it "
                             "again.") from None
        not_from_file = loading_info.missing_and_mismatched()
        for name, tensor in model.state_dict().items():
            if name in not_from_file or tensor.is_meta or not tensor.is_floating_point():
                continue
            if not torch.isfinite(tensor).all():
                raise ValueError(f"{source}: the weights {name!r} hold NaN or infinite values; the file is corrupt, "
                                 "download or save it again.")
        return loading_info, disk_offload_index


def weighted_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, class_weights: list[float] | None,
                           label_smoothing: float) -> torch.Tensor:
    """Cross-entropy with optional class weights (the recipe's class balance) and label smoothing; labels that are
    not one class id per sample in [0, num_labels) are rejected with their shape and values."""
    labels = labels.to(logits.device).long()
    num_labels = logits.shape[-1]
    if labels.shape != logits.shape[:1] or labels.min() < 0 or labels.max() >= num_labels:
        raise ValueError(f"labels must be a ({logits.shape[0]},) tensor of class ids in [0, {num_labels - 1}]; "
                         f"got shape {tuple(labels.shape)} with values {labels.unique().tolist()}.")
    if class_weights is not None and len(class_weights) != num_labels:
        # The config's labels were replaced after it was built (e.g. from_pretrained(path, id2label=...)).
        raise ValueError(f"config.class_weights has {len(class_weights)} weights but the model has {num_labels} "
                         f"labels. {CLASS_WEIGHTS_HINT}")
    weight = None if class_weights is None else logits.new_tensor(class_weights)
    return nn.functional.cross_entropy(logits, labels, weight=weight, label_smoothing=label_smoothing)

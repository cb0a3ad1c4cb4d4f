"""The frame the CNN baselines (STSTNet, OFF-ApexNet, SSSNet) share.

They are the small networks published micro-expression results are compared with. Giving them EPIR's interface (the
processor's flow input, the config fields the LOSO runner sets, `ImageClassifierOutput`) lets one runner train every
model on the same folds, inputs, seeds and metric. Each baseline's own module defines only its config fields and its
network (pixel values → logits).
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import PreTrainedConfig, PreTrainedModel
from transformers.modeling_outputs import ImageClassifierOutput
from transformers.utils import auto_docstring, can_return_tuple

from .configuration_epir import (
    SavedPipelinesMixin,
    check_classes,
    check_field_types,
    check_label_maps,
    drop_class_weights_of_replaced_labels,
    require,
    set_default_labels,
)
from .flow_classification import CheckedWeightsLoading, check_flow_pixel_values, weighted_cross_entropy
from .hub_card import ModelCardMixin


class FlowCNNConfig(SavedPipelinesMixin, PreTrainedConfig):
    r"""
    The fields every baseline config has; `num_labels` / `id2label` default to the three MEGC2019 classes.

    Args:
        image_size (`int`, *optional*, defaults to 28):
            Side of the square flow image.
        num_channels (`int`, *optional*, defaults to 3):
            Channels of `pixel_values` (u, v, optical strain, as `EPIRImageProcessor` returns them). A network that
            reads fewer of them (OFF-ApexNet: u and v) selects its own.
        dropout (`float`, *optional*, defaults to 0.5):
            Dropout probability of the network's dropout layers.
        label_smoothing (`float`, *optional*, defaults to 0.0):
            Label smoothing of the cross-entropy.
        class_weights (`list[float]`, *optional*, defaults to `None`):
            Per-class weights of the cross-entropy (the LOSO recipe sets balanced weights per fold).
    """

    image_size: int = 28
    num_channels: int = 3
    dropout: float | int = 0.5
    label_smoothing: float | int = 0.0
    class_weights: list[float | int] | None = None

    def __post_init__(self, **kwargs):
        check_field_types(self)
        set_default_labels(self, kwargs)
        drop_class_weights_of_replaced_labels(self, kwargs.get("num_labels"))
        super().__post_init__(**kwargs)
        check_label_maps(self)
        self.check_fields()

    def check_fields(self) -> None:
        """Raise a `ValueError` naming the first field whose value cannot build the network."""
        require(self, self.image_size >= self.min_image_size(), "image_size", f">= {self.min_image_size()}",
                self.image_size)
        require(self, self.num_channels > 0, "num_channels", "a positive integer", self.num_channels)
        require(self, 0.0 <= self.dropout < 1.0, "dropout", "in [0, 1)", self.dropout)
        require(self, 0.0 <= self.label_smoothing < 1.0, "label_smoothing", "in [0, 1)", self.label_smoothing)
        check_classes(self)

    def min_image_size(self) -> int:
        """The smallest side the network's pooling leaves at least one cell of."""
        return 1



class FlowCNNPreTrainedModel(CheckedWeightsLoading, ModelCardMixin, PreTrainedModel):
    """Base of the baselines: `self.network` maps checked pixel values to logits; the loss is the recipe's
    weighted cross-entropy. Weights start from PyTorch's own initialisation, as in the published codes."""

    config: FlowCNNConfig
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    # The loss is a per-batch mean, so Trainer must not rescale it by `num_items_in_batch`.
    accepts_loss_kwargs = False

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Conv2d, nn.Linear, nn.BatchNorm2d)):
            module.reset_parameters()

    @can_return_tuple
    @auto_docstring
    def forward(self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None,
                **kwargs) -> ImageClassifierOutput:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch_size, num_channels, image_size, image_size)`):
            Onset→apex optical flow (u, v, optical strain) of cropped faces, as `EPIRImageProcessor` returns it.
        labels (`torch.LongTensor` of shape `(batch_size,)`, *optional*):
            Class ids in `[0, config.num_labels - 1]`; when given, the loss is computed.
        """
        check_flow_pixel_values(pixel_values, self.config.num_channels, self.config.image_size)
        logits = self.network(pixel_values.to(self.dtype))
        loss = None if labels is None else weighted_cross_entropy(logits, labels, self.config.class_weights,
                                                                  self.config.label_smoothing)
        return ImageClassifierOutput(loss=loss, logits=logits)


def pooled_side(side: int, kernel: int, stride: int, padding: int = 0) -> int:
    """Output side of a convolution or pooling layer (floor mode)."""
    return (side + 2 * padding - kernel) // stride + 1


__all__ = ["FlowCNNConfig", "FlowCNNPreTrainedModel", "pooled_side"]

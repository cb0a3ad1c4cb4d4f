"""OFF-ApexNet (Gan, Liong et al., "OFF-ApexNet on micro-expression recognition system", Signal Processing: Image
Communication 2019): the horizontal and vertical onset→apex flow each go through their own small LeNet-style
stream; the two streams' features are concatenated and classified by two wide dense layers.

Per stream: 5×5 convolution (6 filters) → ReLU → 2×2 max pooling → 5×5 convolution (16 filters) → ReLU → 2×2 max
pooling; then two dense layers of 1024 units (ReLU, dropout) and the output layer: depth 5 on a 28×28×2 input, the
figures the authors' STSTNet paper gives for it. The network reads only u and v (channels 0 and 1 of the processor's
output), as published; the strain channel is ignored. About 2.66M parameters at 28×28.
"""

from __future__ import annotations

from dataclasses import field

import torch
from torch import nn

from .configuration_epir import require
from .flow_cnn import FlowCNNConfig, FlowCNNPreTrainedModel, pooled_side


class OffApexNetConfig(FlowCNNConfig):
    r"""
    Configuration of OFF-ApexNet. Besides the fields of every baseline (`image_size`, `num_channels`, `dropout`,
    `label_smoothing`, `class_weights`):

    Args:
        flow_channels (`list[int]`, *optional*, defaults to `[0, 1]`):
            The input channels that get a stream each (u and v).
        conv_widths (`list[int]`, *optional*, defaults to `[6, 16]`):
            Filters of each stream's two convolutions.
        kernel_size (`int`, *optional*, defaults to 5):
            Side of the convolution kernels ('same' padding).
        dense_sizes (`list[int]`, *optional*, defaults to `[1024, 1024]`):
            Units of the dense layers before the output layer.
    """

    model_type = "offapexnet"

    flow_channels: list[int] = field(default_factory=lambda: [0, 1])
    conv_widths: list[int] = field(default_factory=lambda: [6, 16])
    kernel_size: int = 5
    dense_sizes: list[int] = field(default_factory=lambda: [1024, 1024])

    def check_fields(self) -> None:
        super().check_fields()
        require(self, len(self.flow_channels) > 0 and all(0 <= c < self.num_channels for c in self.flow_channels),
                "flow_channels", f"a non-empty list of channel indices in [0, {self.num_channels - 1}]",
                self.flow_channels)
        require(self, len(self.conv_widths) == 2 and all(width > 0 for width in self.conv_widths), "conv_widths",
                "two positive integers", self.conv_widths)
        require(self, self.kernel_size > 0 and self.kernel_size % 2 == 1, "kernel_size", "a positive odd integer",
                self.kernel_size)
        require(self, all(size > 0 for size in self.dense_sizes), "dense_sizes", "positive integers",
                self.dense_sizes)

    def min_image_size(self) -> int:
        return 4

    def feature_side(self) -> int:
        """Side of a stream's maps after its two 2×2 poolings."""
        return pooled_side(pooled_side(self.image_size, 2, 2), 2, 2)


class OffApexNetStream(nn.Module):
    def __init__(self, config: OffApexNetConfig):
        super().__init__()
        first, second = config.conv_widths
        padding = config.kernel_size // 2
        self.conv1 = nn.Conv2d(1, first, config.kernel_size, padding=padding)
        self.conv2 = nn.Conv2d(first, second, config.kernel_size, padding=padding)
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)

    def forward(self, flow: torch.Tensor) -> torch.Tensor:
        return self.pool(torch.relu(self.conv2(self.pool(torch.relu(self.conv1(flow)))))).flatten(1)


class OffApexNet(nn.Module):
    def __init__(self, config: OffApexNetConfig):
        super().__init__()
        self.flow_channels = list(config.flow_channels)
        self.streams = nn.ModuleList(OffApexNetStream(config) for _ in self.flow_channels)
        width = len(self.flow_channels) * config.conv_widths[1] * config.feature_side() ** 2
        layers = []
        for size in config.dense_sizes:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(config.dropout)]
            width = size
        self.dense = nn.Sequential(*layers)
        self.classifier = nn.Linear(width, config.num_labels)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        features = torch.cat([stream(pixel_values[:, channel:channel + 1])
                              for stream, channel in zip(self.streams, self.flow_channels)], dim=1)
        return self.classifier(self.dense(features))


class OffApexNetPreTrainedModel(FlowCNNPreTrainedModel):
    config_class = OffApexNetConfig
    config: OffApexNetConfig
    base_model_prefix = "offapexnet"


class OffApexNetForImageClassification(OffApexNetPreTrainedModel):
    def __init__(self, config: OffApexNetConfig):
        super().__init__(config)
        self.network = OffApexNet(config)
        self.post_init()


__all__ = ["OffApexNetConfig", "OffApexNetPreTrainedModel", "OffApexNetForImageClassification"]

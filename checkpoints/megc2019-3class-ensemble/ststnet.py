"""STSTNet (Liong et al., "Shallow Triple Stream Three-dimensional CNN (STSTNet) for Micro-expression Recognition",
FG 2019): three shallow convolution streams of different widths over the (u, v, optical strain) flow, concatenated.

Per stream: 3×3 convolution ('same' padding, as in the paper's table and the authors' MATLAB network) → ReLU → batch
norm → 3×3 max pooling with stride 3 → dropout; then the streams' maps are concatenated, average-pooled 2×2 and
classified by one linear layer. The paper's table lists only the convolution, pooling and dense layers; ReLU, batch
norm and dropout (0.5) are in both of the authors' released networks. About 1.7k parameters at 28×28.
"""

from __future__ import annotations

from dataclasses import field

import torch
from torch import nn

from .configuration_epir import require
from .flow_cnn import FlowCNNConfig, FlowCNNPreTrainedModel, pooled_side


class STSTNetConfig(FlowCNNConfig):
    r"""
    Configuration of STSTNet. Besides the fields of every baseline (`image_size`, `num_channels`, `dropout`,
    `label_smoothing`, `class_weights`):

    Args:
        stream_widths (`list[int]`, *optional*, defaults to `[3, 5, 8]`):
            Filters of each stream's convolution.
    """

    model_type = "ststnet"

    stream_widths: list[int] = field(default_factory=lambda: [3, 5, 8])

    def check_fields(self) -> None:
        super().check_fields()
        require(self, len(self.stream_widths) > 0 and all(width > 0 for width in self.stream_widths),
                "stream_widths", "a non-empty list of positive integers", self.stream_widths)

    def min_image_size(self) -> int:
        return 4

    def feature_side(self) -> int:
        """Side of the concatenated maps after the streams' max pooling and the 2×2 average pooling."""
        return pooled_side(pooled_side(self.image_size, 3, 3, padding=1), 2, 2)


class STSTNetStream(nn.Module):
    def __init__(self, in_channels: int, width: int, dropout: float):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, width, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm2d(width)
        self.pool = nn.MaxPool2d(kernel_size=3, stride=3, padding=1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.pool(self.norm(torch.relu(self.conv(pixel_values)))))


class STSTNet(nn.Module):
    def __init__(self, config: STSTNetConfig):
        super().__init__()
        self.streams = nn.ModuleList(STSTNetStream(config.num_channels, width, config.dropout)
                                     for width in config.stream_widths)
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)
        self.classifier = nn.Linear(sum(config.stream_widths) * config.feature_side() ** 2, config.num_labels)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        features = torch.cat([stream(pixel_values) for stream in self.streams], dim=1)
        return self.classifier(self.pool(features).flatten(1))


class STSTNetPreTrainedModel(FlowCNNPreTrainedModel):
    config_class = STSTNetConfig
    config: STSTNetConfig
    base_model_prefix = "ststnet"


class STSTNetForImageClassification(STSTNetPreTrainedModel):
    def __init__(self, config: STSTNetConfig):
        super().__init__(config)
        self.network = STSTNet(config)
        self.post_init()


__all__ = ["STSTNetConfig", "STSTNetPreTrainedModel", "STSTNetForImageClassification"]

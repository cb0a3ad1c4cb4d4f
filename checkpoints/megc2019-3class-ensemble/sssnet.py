"""SSSNet, the shallow single-stream network of Varanka et al. (MEB, the micro-expression benchmark library): two
convolution blocks over the (u, v, optical strain) flow and two dense layers.

Block 1: 5×5 convolution (32 filters, no padding) → ReLU → 3×3 max pooling with stride 3 → batch norm → channel
dropout; block 2: 3×3 convolution (64 filters) → ReLU → 2×2 max pooling → batch norm → channel dropout; then a
dense layer of 256 units (ReLU, dropout) and the output layer. MEB trains it on 64×64 flow (about 1.35M parameters);
the dense layer's input follows `image_size`, so it also takes this package's 28×28 flow (about 0.17M parameters).
"""

from __future__ import annotations

from dataclasses import field

import torch
from torch import nn

from .configuration_epir import require
from .flow_cnn import FlowCNNConfig, FlowCNNPreTrainedModel, pooled_side


class SSSNetConfig(FlowCNNConfig):
    r"""
    Configuration of SSSNet. Besides the fields of every baseline (`image_size`, `num_channels`, `dropout`,
    `label_smoothing`, `class_weights`):

    Args:
        conv_widths (`list[int]`, *optional*, defaults to `[32, 64]`):
            Filters of the two convolutions.
        dense_size (`int`, *optional*, defaults to 256):
            Units of the dense layer before the output layer.
    """

    model_type = "sssnet"

    conv_widths: list[int] = field(default_factory=lambda: [32, 64])
    dense_size: int = 256

    def check_fields(self) -> None:
        super().check_fields()
        require(self, len(self.conv_widths) == 2 and all(width > 0 for width in self.conv_widths), "conv_widths",
                "two positive integers", self.conv_widths)
        require(self, self.dense_size > 0, "dense_size", "a positive integer", self.dense_size)

    def min_image_size(self) -> int:
        return 16

    def feature_side(self) -> int:
        """Side of the maps after both blocks."""
        return pooled_side(pooled_side(pooled_side(pooled_side(self.image_size, 5, 1), 3, 3), 3, 1), 2, 2)


class SSSNetBlock(nn.Module):
    def __init__(self, in_channels: int, width: int, kernel_size: int, pool: int, dropout: float):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, width, kernel_size)
        self.pool = nn.MaxPool2d(kernel_size=pool, stride=pool)
        self.norm = nn.BatchNorm2d(width)
        self.dropout = nn.Dropout2d(dropout)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.norm(self.pool(torch.relu(self.conv(hidden)))))


class SSSNet(nn.Module):
    def __init__(self, config: SSSNetConfig):
        super().__init__()
        first, second = config.conv_widths
        self.block1 = SSSNetBlock(config.num_channels, first, kernel_size=5, pool=3, dropout=config.dropout)
        self.block2 = SSSNetBlock(first, second, kernel_size=3, pool=2, dropout=config.dropout)
        self.dense = nn.Sequential(nn.Linear(second * config.feature_side() ** 2, config.dense_size), nn.ReLU(),
                                   nn.Dropout(config.dropout))
        self.classifier = nn.Linear(config.dense_size, config.num_labels)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dense(self.block2(self.block1(pixel_values)).flatten(1)))


class SSSNetPreTrainedModel(FlowCNNPreTrainedModel):
    config_class = SSSNetConfig
    config: SSSNetConfig
    base_model_prefix = "sssnet"


class SSSNetForImageClassification(SSSNetPreTrainedModel):
    def __init__(self, config: SSSNetConfig):
        super().__init__(config)
        self.network = SSSNet(config)
        self.post_init()


__all__ = ["SSSNetConfig", "SSSNetPreTrainedModel", "SSSNetForImageClassification"]

"""Supervised contrastive loss (Khosla et al., 2020) on the CLS representation.

Micro-expression corpora are tiny and their subjects differ more than their classes do. Pulling same-class samples
together (and pushing other classes apart) across subjects in a batch regularises the representation beyond what
cross-entropy alone asks for.
"""

import torch
from torch import nn


class ContrastiveProjection(nn.Module):
    """Two-layer MLP whose L2-normalised output is where the contrastive term is computed."""

    def __init__(self, hidden_size: int, projection_dim: int):
        super().__init__()
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.activation = nn.GELU()
        self.projection = nn.Linear(hidden_size, projection_dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.projection(self.activation(self.dense(features))), dim=-1)


def supervised_contrastive_loss(embeddings: torch.Tensor, labels: torch.Tensor, temperature: float) -> torch.Tensor:
    """SupCon loss ("L_out" form) of L2-normalised `embeddings` (B, d) under `labels` (B,).

    Anchors without a positive partner in the batch are left out of the mean; a batch with no positive pair at all
    gives 0 (still connected to the graph, so every parameter receives a gradient under data parallelism).
    """
    logits = embeddings @ embeddings.T / temperature
    self_mask = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    log_prob = logits - logits.logsumexp(dim=1, keepdim=True)
    positives = (labels[:, None] == labels[None, :]) & ~self_mask
    positive_counts = positives.sum(dim=1)
    anchors = positive_counts > 0
    if not anchors.any():
        return embeddings.sum() * 0.0
    per_anchor = log_prob.masked_fill(~positives, 0.0).sum(dim=1)[anchors] / positive_counts[anchors]
    return -per_anchor.mean()

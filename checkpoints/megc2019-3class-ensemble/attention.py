"""Multi-head attention with self-token suppression (the discriminative token extractor's attention).

With 49 weak flow tokens, softmax attention tends to put most of each token's mass on itself, so a block adds
little context. Masking the diagonal forces every token to gather evidence from the others, and a learnable
per-layer temperature (initialised at the usual sqrt(head_dim)) lets each block choose how sharp that gathering is.

Merged tokens stand for several patches; adding log(size) to the logits (proportional attention) keeps their
weight equal to that of the patches they replaced.
"""

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class AttentionResult:
    """What one attention call returns to its block and to the token-reduction steps after it."""

    output: torch.Tensor
    keys: torch.Tensor
    probs: torch.Tensor | None = None
    cls_attention: torch.Tensor | None = None


def attention_bias(sizes: torch.Tensor, suppress_self: bool) -> torch.Tensor | None:
    """Additive logit bias (B, 1, N, N): log(size) of each key plus -inf on the diagonal; None when both are off.

    Unit sizes need no bias (log 1 = 0), and leaving it out keeps scaled_dot_product_attention's unmasked fast path.
    An exported graph (`torch.export`, ONNX) cannot branch on the sizes' values, so there the bias is always added:
    the same logits, since adding log 1 = 0 changes no value.
    """
    batch, length = sizes.shape
    bias = None
    if torch.compiler.is_exporting() or not torch.all(sizes == 1):
        bias = sizes.log()[:, None, None, :].expand(batch, 1, length, length)
    if suppress_self:
        diagonal = torch.eye(length, dtype=torch.bool, device=sizes.device)
        mask = torch.zeros(length, length, dtype=sizes.dtype, device=sizes.device).masked_fill(diagonal, -math.inf)
        bias = mask.expand(batch, 1, length, length) if bias is None else bias + mask
    return bias


class SelfSuppressedAttention(nn.Module):
    """Multi-head self-attention; `suppress_self=False` gives standard scaled dot-product attention."""

    def __init__(self, hidden_size: int, num_heads: int, dropout: float, suppress_self: bool):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = hidden_size // num_heads
        self.suppress_self = suppress_self
        self.dropout = dropout
        self.qkv = nn.Linear(hidden_size, 3 * hidden_size)
        self.output = nn.Linear(hidden_size, hidden_size)
        if suppress_self:
            self.log_temperature = nn.Parameter(torch.tensor(0.5 * math.log(self.head_dim)))

    def temperature(self) -> torch.Tensor | float:
        """Divisor of the logits: learned when suppressing self-attention, else sqrt(head_dim)."""
        return self.log_temperature.exp() if self.suppress_self else math.sqrt(self.head_dim)

    def forward(self, hidden_states: torch.Tensor, sizes: torch.Tensor, output_attentions: bool = False,
                output_cls_attention: bool = False) -> AttentionResult:
        batch, length, width = hidden_states.shape
        qkv = self.qkv(hidden_states).view(batch, length, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        query, key, value = qkv.unbind(0)
        query = query / self.temperature()
        bias = attention_bias(sizes, self.suppress_self)
        dropout = self.dropout if self.training else 0.0
        probs = None
        if output_attentions:
            logits = query @ key.transpose(-2, -1)
            probs = (logits if bias is None else logits + bias).softmax(dim=-1)
            context = nn.functional.dropout(probs, dropout, self.training) @ value
        else:
            context = nn.functional.scaled_dot_product_attention(query, key, value, attn_mask=bias,
                                                                 dropout_p=dropout, scale=1.0)
        cls_attention = None
        if output_cls_attention:
            cls_attention = probs[:, :, 0] if probs is not None else self._cls_row(query, key, bias)
            cls_attention = cls_attention.mean(dim=1)
        output = self.output(context.transpose(1, 2).reshape(batch, length, width))
        keys = key.transpose(1, 2).reshape(batch, length, width)
        return AttentionResult(output=output, keys=keys, probs=probs, cls_attention=cls_attention)

    @staticmethod
    def _cls_row(query: torch.Tensor, key: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        """The CLS token's attention distribution (B, heads, N), computed alone so the fast path stays fused."""
        logits = query[:, :, :1] @ key.transpose(-2, -1)
        if bias is not None:
            logits = logits + bias[:, :, :1]
        return logits.softmax(dim=-1)[:, :, 0]

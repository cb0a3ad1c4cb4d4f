"""Token integration: bipartite soft matching between Transformer blocks.

Neighbouring flow patches on a still face are nearly identical, so many tokens are redundant. Merging the most
similar pairs (a size-weighted average, never a drop) shrinks the token count block by block, which is where
EPIR's FLOPs savings come from, while every patch still contributes to some token.
"""

from dataclasses import dataclass

import torch

from .token_ops import expand_index, gather_tokens


@dataclass
class TokenMerge:
    """Which patch tokens merge into which, found once per gap and applied to every per-token quantity.

    Indices refer to the two alternating sets of the non-CLS tokens: A (even positions) and B (odd positions).
    """

    kept_a: torch.Tensor
    merged_a: torch.Tensor
    into_b: torch.Tensor

    def merge_sum(self, tokens: torch.Tensor) -> torch.Tensor:
        """Merge a (B, n, ...) per-token quantity by summation: unmerged A tokens first, then B tokens."""
        set_a, set_b = tokens[:, ::2], tokens[:, 1::2]
        moving = gather_tokens(set_a, self.merged_a)
        set_b = set_b.scatter_add(1, expand_index(self.into_b, moving), moving)
        return torch.cat([gather_tokens(set_a, self.kept_a), set_b], dim=1)


def bipartite_soft_matching(keys: torch.Tensor, merges: int) -> TokenMerge:
    """Match every A token to its most similar B token (cosine of attention keys) and keep the `merges` best pairs.

    `keys` are the non-CLS tokens' keys (B, n, d) from the block that just ran.
    """
    keys = keys / keys.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    similarity = keys[:, ::2] @ keys[:, 1::2].transpose(1, 2)
    best_similarity, best_b = similarity.max(dim=-1)
    order = best_similarity.argsort(dim=-1, descending=True, stable=True)
    merged_a = order[:, :merges]
    kept_a = order[:, merges:].sort(dim=-1).values
    return TokenMerge(kept_a=kept_a, merged_a=merged_a, into_b=best_b.gather(1, merged_a))


def integrate_tokens(hidden_states: torch.Tensor, sizes: torch.Tensor, sources: torch.Tensor, keys: torch.Tensor,
                     merges: int, cls_attention: torch.Tensor | None = None):
    """Merge `merges` patch-token pairs; the CLS token (index 0) is never merged.

    Returns the new hidden states, sizes, sources (which original patches each token covers) and, when given, the
    CLS attention summed over merged tokens (attention mass adds up), so that DTSM can rank merged tokens.
    """
    plan = bipartite_soft_matching(keys[:, 1:], merges)
    patch_sizes = sizes[:, 1:]
    merged_sizes = plan.merge_sum(patch_sizes)
    weighted = plan.merge_sum(hidden_states[:, 1:] * patch_sizes.unsqueeze(-1)) / merged_sizes.unsqueeze(-1)
    hidden_states = torch.cat([hidden_states[:, :1], weighted], dim=1)
    sizes = torch.cat([sizes[:, :1], merged_sizes], dim=1)
    if cls_attention is not None:
        cls_attention = torch.cat([cls_attention[:, :1], plan.merge_sum(cls_attention[:, 1:])], dim=1)
    return hidden_states, sizes, plan.merge_sum(sources), cls_attention

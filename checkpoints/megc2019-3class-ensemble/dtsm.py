"""Dynamic token selection module (DTSM).

Only a few facial regions move in a micro-expression. The CLS token's attention says which tokens the classifier
reads, so DTSM keeps the most-attended tokens and fuses all the others into a single token: later blocks spend
their compute on the discriminative regions, yet nothing is discarded outright.
"""

import torch

from .token_ops import gather_tokens


def select_tokens(hidden_states: torch.Tensor, sizes: torch.Tensor, sources: torch.Tensor,
                  cls_attention: torch.Tensor, keep: int):
    """Keep the `keep` patch tokens the CLS token attends to most; fuse the rest into one extra token.

    `cls_attention` (B, N) is the CLS row of the block's attention, averaged over heads, CLS first. The fused token
    is the attention-weighted average of the dropped tokens and its size is the sum of theirs. Returns the new hidden
    states, sizes and sources, and the mask (B, num_patches) of the original patches covered by the kept tokens.
    """
    patch_states, patch_sizes, scores = hidden_states[:, 1:], sizes[:, 1:], cls_attention[:, 1:]
    order = scores.argsort(dim=-1, descending=True, stable=True)
    kept, dropped = order[:, :keep], order[:, keep:]

    kept_sources = gather_tokens(sources, kept)
    states = [hidden_states[:, :1], gather_tokens(patch_states, kept)]
    new_sizes = [sizes[:, :1], gather_tokens(patch_sizes, kept)]
    new_sources = [kept_sources]
    if dropped.shape[1]:
        weights = gather_tokens(scores, dropped)
        weights = weights / weights.sum(dim=1, keepdim=True).clamp_min(torch.finfo(weights.dtype).tiny)
        states.append((gather_tokens(patch_states, dropped) * weights.unsqueeze(-1)).sum(dim=1, keepdim=True))
        new_sizes.append(gather_tokens(patch_sizes, dropped).sum(dim=1, keepdim=True))
        new_sources.append(gather_tokens(sources, dropped).sum(dim=1, keepdim=True))
    kept_mask = kept_sources.sum(dim=1) > 0
    return torch.cat(states, dim=1), torch.cat(new_sizes, dim=1), torch.cat(new_sources, dim=1), kept_mask

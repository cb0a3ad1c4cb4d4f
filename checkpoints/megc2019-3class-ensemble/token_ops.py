"""Index helpers shared by the token-reduction steps (integration and DTSM)."""

import torch


def expand_index(index: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Broadcast a (B, k) token index over the trailing feature dims of (B, n, ...) `values`."""
    trailing = values.shape[2:]
    return index.view(*index.shape, *(1,) * len(trailing)).expand(*index.shape, *trailing)


def gather_tokens(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Pick tokens (B, k, ...) from (B, n, ...) `values` along the token axis."""
    return values.gather(1, expand_index(index, values))

"""Q-former encoder (docs/method.md §4, paper A.1): learnable queries read an image through joint attention.

Two streams, the image latents and T learnable query tokens, each with its own transformer
weights; attention runs over both sequences joined, with Selftok's mask: image tokens attend
only to image tokens, queries attend to image and queries. The output is the T transformed
queries. The patch embedding is bias-free so an empty (all-zero ink) patch embeds to zero
(docs/tokenizer.md, tokenizer finding 1). Tensor names: B batch, N latent tokens, D latent dim,
T queries, W width.
"""

from __future__ import annotations

import torch
from torch import nn

from physar_ray.tokenizer.joint import JointBlock


def qformer_mask(num_image: int, num_queries: int) -> torch.Tensor:
    """[1, 1, L, L] bool, True where the row token may attend to the column token."""
    length = num_image + num_queries
    mask = torch.ones(length, length, dtype=torch.bool)
    mask[:num_image, num_image:] = False
    return mask[None, None]


class QFormer(nn.Module):
    """latents [B, N, D] → query features [B, T, W]."""

    def __init__(self, in_dim: int, num_patches: int, num_queries: int, width: int, depth: int, heads: int) -> None:
        super().__init__()
        self.embed = nn.Linear(in_dim, width, bias=False)
        self.pos = nn.Parameter(0.02 * torch.randn(num_patches, width))
        self.queries = nn.Parameter(0.02 * torch.randn(num_queries, width))
        self.blocks = nn.ModuleList(JointBlock(width, heads, pre_only="a" if i == depth - 1 else "") for i in range(depth))
        self.norm = nn.LayerNorm(width)
        self.register_buffer("mask", qformer_mask(num_patches, num_queries), persistent=False)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        image = self.embed(latents) + self.pos
        queries = self.queries.expand(latents.shape[0], -1, -1)
        for block in self.blocks:
            image, queries = block(image, queries, self.mask)
        return self.norm(queries)

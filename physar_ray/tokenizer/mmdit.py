"""MMDiT decoder conditioned on a prefix of the quantized tokens (docs/method.md §4, paper A.1).

Streams: the noisy latents x_t and the T quantized tokens (projected code_dim → W, replacing
SD3's text tokens; no pooled embedding). The noise level t drives adaLN modulation of both
streams. At noise level t the decoder sees only tokens 0..k(t) (``visible_tokens``): hidden
tokens are zeroed and masked out of attention as keys, so they cannot change the output.
The visible tokens are also added to every image token through a per-patch linear map of
their concatenation (the "token injection" that broke the plateau in
docs/tokenizer.md, tokenizer finding 1; low rank so the paper size stays small).
Tensor names: B batch, N latent tokens, D latent dim, T tokens, d code_dim, W width.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from physar_ray.tokenizer.joint import JointBlock, Modulation

INJECT_RANK = 32
"""R: rank of the per-patch token injection."""


def visible_tokens(t: torch.Tensor, num_tokens: int, schedule: str = "prefix", visible_below: float = 0.5) -> torch.Tensor:
    """[B] noise levels → [B, T] bool: which tokens the decoder sees.

    prefix (Selftok): k = min(floor(T·t), T − 1) from the unshifted t; tokens 0..k visible.
    prefix_all_below: as prefix, but every token visible while t < visible_below.
    """
    k = torch.clamp(torch.floor(num_tokens * t), max=num_tokens - 1).long()
    visible = torch.arange(num_tokens, device=t.device)[None] <= k[:, None]
    if schedule == "prefix":
        return visible
    if schedule == "prefix_all_below":
        return visible | (t < visible_below)[:, None]
    raise ValueError(f"prefix schedule {schedule!r} unknown: use prefix or prefix_all_below")


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """[B] t in [0, 1] → [B, dim] sinusoidal features of 1000·t (DDPM/DiT convention)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = 1000.0 * t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


class MMDiT(nn.Module):
    """(x_t [B, N, D] or None, t [B], codes [B, T, d], visible [B, T] bool) → x̂_0 [B, N, D].

    ``noisy_input=False`` builds the deterministic decoder: no x_t input (its image stream starts
    from positions and the injected tokens alone).
    """

    def __init__(self, in_dim: int, num_patches: int, num_tokens: int, code_dim: int,
                 width: int, depth: int, heads: int, noisy_input: bool = True) -> None:
        super().__init__()
        self.width = width
        self.image_in = nn.Linear(in_dim, width) if noisy_input else None
        self.pos = nn.Parameter(0.02 * torch.randn(num_patches, width))
        self.token_in = nn.Linear(code_dim, width)
        self.token_pos = nn.Parameter(0.02 * torch.randn(num_tokens, width))
        # Per-patch token injection: the visible tokens (concatenated) → a rank-R code, then a
        # separate R → W map for every patch, so each patch reads its own content from the tokens
        # (one shared vector for all patches left the decoder at the mean image on the CPU).
        self.inject = nn.Linear(num_tokens * code_dim, INJECT_RANK)
        self.inject_patch = nn.Parameter(torch.randn(num_patches, INJECT_RANK, width) / math.sqrt(INJECT_RANK))
        self.t_mlp = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.blocks = nn.ModuleList(JointBlock(width, heads, pre_only="b" if i == depth - 1 else "") for i in range(depth))
        self.mods = nn.ModuleList(nn.ModuleList([Modulation(width), Modulation(width)]) for _ in range(depth))
        self.final_norm = nn.LayerNorm(width, elementwise_affine=False)
        self.final_mod = nn.Linear(width, 2 * width)
        nn.init.zeros_(self.final_mod.weight)
        nn.init.zeros_(self.final_mod.bias)
        self.out = nn.Linear(width, in_dim)

    def forward(self, x_t: torch.Tensor | None, t: torch.Tensor, codes: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
        n = self.pos.shape[0]
        codes = codes * visible[..., None].to(codes.dtype)  # hidden tokens zeroed ...
        image = self.pos + torch.einsum("br,nrw->bnw", self.inject(codes.flatten(1)), self.inject_patch)
        if self.image_in is not None:
            image = image + self.image_in(x_t)
        tokens = self.token_in(codes) + self.token_pos
        keys = torch.cat([visible.new_ones(visible.shape[0], n), visible], dim=1)
        mask = keys[:, None, None, :]  # ... and masked out as keys: [B, 1, 1, N + T]
        cond = self.t_mlp(timestep_embedding(t, self.width))
        for block, (mod_image, mod_tokens) in zip(self.blocks, self.mods):
            image, tokens = block(image, tokens, mask, mod_image(cond), mod_tokens(cond))
        shift, scale = self.final_mod(cond).chunk(2, dim=-1)
        return self.out(self.final_norm(image) * (1 + scale[:, None]) + shift[:, None])

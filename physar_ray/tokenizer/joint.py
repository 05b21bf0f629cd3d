"""Two-stream transformer block with joint attention (SD3's MMDiT block), shared by the
Q-former encoder and the MMDiT decoder.

Each stream has its own norms, projections and MLP; the attention runs once over the joined
sequence [a; b], and a boolean mask says which keys each query may see. Optional adaLN
modulation (shift, scale, gate per sub-layer) comes from a conditioning vector; gates start
at 1, not 0 (adaLN-Zero stalled for hundreds of steps in docs/tokenizer.md, tokenizer finding 1).

Written out (≈ 80 lines) rather than imported from diffusers: diffusers stays an optional
dependency, needed only for the VAE latent space, and both uses here need a per-key boolean
attention mask (Selftok's query-only cross attention, the token-prefix mask) and gates that
start at 1. Tensor names: B batch, Na/Nb stream lengths, L = Na + Nb, W width.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

MOD_INIT = (0.0, 0.0, 1.0, 0.0, 0.0, 1.0)
"""(shift, scale, gate) of the attention and MLP sub-layers with no conditioning."""


class Stream(nn.Module):
    """One stream's weights: qkv, and unless ``pre_only`` the attention output and MLP."""

    def __init__(self, width: int, mlp_ratio: int, pre_only: bool = False) -> None:
        super().__init__()
        self.pre_only = pre_only
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False)
        self.qkv = nn.Linear(width, 3 * width)
        if not pre_only:
            self.norm2 = nn.LayerNorm(width, elementwise_affine=False)
            self.proj = nn.Linear(width, width)
            self.mlp = nn.Sequential(nn.Linear(width, mlp_ratio * width), nn.GELU(), nn.Linear(mlp_ratio * width, width))


def _modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale[:, None]) + shift[:, None]


class JointBlock(nn.Module):
    """(a [B, Na, W], b [B, Nb, W], mask [B|1, 1, L|1, L] bool, mods [B, 6, W] or None) → (a, b).

    ``pre_only`` ("a" or "b"): that stream only gives keys and values and its output is
    discarded, as in SD3's last block; the last block of a stack whose output is one stream
    uses it, so no weight goes untrained.
    """

    def __init__(self, width: int, heads: int, mlp_ratio: int = 4, pre_only: str = "") -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"transformer width {width} is not divisible by {heads} heads")
        self.heads = heads
        if pre_only not in ("", "a", "b"):
            raise ValueError(f"pre_only={pre_only!r}: use '', 'a' or 'b'")
        self.a, self.b = Stream(width, mlp_ratio, pre_only == "a"), Stream(width, mlp_ratio, pre_only == "b")

    def forward(self, a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor,
                mod_a: torch.Tensor | None = None, mod_b: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        mods = [self._mods(mod_a, a), self._mods(mod_b, b)]
        qkv = torch.cat([s.qkv(_modulate(s.norm1(x), m[:, 0], m[:, 1]))
                         for s, x, m in zip((self.a, self.b), (a, b), mods)], dim=1)
        bsz, length, _ = qkv.shape
        q, k, v = qkv.view(bsz, length, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        attn = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        attn = attn.transpose(1, 2).reshape(bsz, length, -1)
        out = []
        for s, x, m, y in zip((self.a, self.b), (a, b), mods, attn.split([a.shape[1], b.shape[1]], dim=1)):
            if s.pre_only:
                out.append(x)
                continue
            x = x + m[:, 2, None] * s.proj(y)
            x = x + m[:, 5, None] * s.mlp(_modulate(s.norm2(x), m[:, 3], m[:, 4]))
            out.append(x)
        return out[0], out[1]

    @staticmethod
    def _mods(mod: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
        if mod is not None:
            return mod
        return x.new_tensor(MOD_INIT)[None, :, None].expand(x.shape[0], 6, x.shape[-1])


class Modulation(nn.Module):
    """Conditioning vector [B, W] → per-block modulations [B, 6, W], starting at MOD_INIT."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.linear = nn.Linear(width, 6 * width)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        self.register_buffer("init", torch.tensor(MOD_INIT)[:, None])

    def forward(self, cond: torch.Tensor) -> torch.Tensor:
        return self.linear(F.silu(cond)).view(cond.shape[0], 6, -1) + self.init

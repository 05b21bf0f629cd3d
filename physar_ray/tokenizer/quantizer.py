"""EMA vector quantizer with an L2-normalised low-dimensional lookup (docs/method.md §4, paper A.1).

Features are projected to ``code_dim`` (paper: 256 → 16), L2-normalised and matched to the
nearest code by cosine similarity. Codes are not trained by gradients: each code follows the
EMA of the (normalised) features assigned to it, and every training step resets dead codes
(EMA usage below a threshold) to random features of the batch, as in the paper and
vector-quantize-pytorch's ``threshold_ema_dead_code``. The encoder receives the
straight-through gradient and a commitment loss β‖z − sg(q)‖².

Warm-up (docs/tokenizer.md, tokenizer finding 1): for the first ``warmup_steps`` training steps the
output is the continuous feature z while the codebook still follows by EMA; a freshly
initialised encoder otherwise collapses the codebook before its features carry information.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn


@dataclass
class Quantized:
    """What one quantizer call returns.

    codes: [..., d] straight-through quantized vectors (continuous z during warm-up).
    indices: [...] int64 code indices.
    commit_loss: scalar β·‖z − sg(q)‖².
    usage: number of distinct codes used in this batch.
    perplexity: exp(entropy) of this batch's code histogram.
    """

    codes: torch.Tensor
    indices: torch.Tensor
    commit_loss: torch.Tensor
    usage: torch.Tensor
    perplexity: torch.Tensor


class EMAQuantizer(nn.Module):
    """features [..., D_in] → codes [..., d] and indices [...] from a codebook of K entries."""

    def __init__(
        self,
        in_dim: int,
        codebook_size: int = 256,
        code_dim: int = 16,
        decay: float = 0.99,
        commitment: float = 0.25,
        dead_code_threshold: float = 0.03,
        warmup_steps: int = 0,
    ) -> None:
        super().__init__()
        self.codebook_size, self.code_dim = codebook_size, code_dim
        self.decay, self.commitment = decay, commitment
        self.dead_code_threshold, self.warmup_steps = dead_code_threshold, warmup_steps
        self.project = nn.Linear(in_dim, code_dim, bias=False) if in_dim != code_dim else nn.Identity()
        # Every code starts dead, so the first training step resets each unused one to a batch
        # feature; random initial codes would otherwise linger for log(threshold)/log(decay) steps.
        self.register_buffer("codebook", F.normalize(torch.randn(codebook_size, code_dim), dim=-1))
        self.register_buffer("cluster_size", torch.zeros(codebook_size))
        self.register_buffer("embed_sum", torch.zeros(codebook_size, code_dim))
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def lookup(self, features: torch.Tensor) -> torch.Tensor:
        """[..., D_in] → [..., d] L2-normalised lookup vectors z."""
        return F.normalize(self.project(features).float(), dim=-1)

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """[N, d] normalised → [N] index of the most similar code (cosine)."""
        return (z @ self.codebook.t()).argmax(dim=-1)

    def embed(self, indices: torch.Tensor) -> torch.Tensor:
        """[...] int64 → [..., d] codes; raises on indices outside [0, K)."""
        if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= self.codebook_size):
            raise ValueError(
                f"token values span [{int(indices.min())}, {int(indices.max())}] but the codebook has "
                f"{self.codebook_size} codes: tokens must lie in [0, {self.codebook_size})"
            )
        return self.codebook[indices]

    def forward(self, features: torch.Tensor) -> Quantized:
        z = self.lookup(features)
        flat = z.reshape(-1, self.code_dim)
        indices = self.nearest(flat.detach())
        counts = torch.bincount(indices, minlength=self.codebook_size).float()
        warming = self.training and int(self.steps) < self.warmup_steps
        if self.training:
            self._update(flat.detach(), indices, counts)
        q = self.codebook[indices].view_as(z)
        commit = self.commitment * F.mse_loss(z, q.detach())
        codes = z if warming else z + (q - z).detach()
        probs = counts / counts.sum().clamp(min=1)
        perplexity = torch.exp(-(probs * torch.log(probs.clamp(min=1e-10))).sum())
        return Quantized(codes, indices.view(z.shape[:-1]), commit, (counts > 0).sum(), perplexity)

    @torch.no_grad()
    def _update(self, z: torch.Tensor, indices: torch.Tensor, counts: torch.Tensor) -> None:
        """EMA of cluster sizes and feature sums, then dead codes → random batch features."""
        sums = torch.zeros_like(self.embed_sum).index_add_(0, indices, z)
        distributed = dist.is_available() and dist.is_initialized()
        if distributed:  # every rank keeps the same codebook: average the statistics
            dist.all_reduce(counts)
            dist.all_reduce(sums)
            counts, sums = counts / dist.get_world_size(), sums / dist.get_world_size()
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.embed_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        self.codebook.copy_(F.normalize(self.embed_sum / self.cluster_size.clamp(min=1e-5)[:, None], dim=-1))
        dead = self.cluster_size < self.dead_code_threshold
        n_dead = int(dead.sum())
        if n_dead:
            picks = torch.randint(0, z.shape[0], (n_dead,), device=z.device)
            fresh = z[picks]
            if distributed:
                dist.broadcast(fresh, src=0)
            # Usage restarts at the threshold (as vector-quantize-pytorch does): a revived code that
            # catches no feature in the next step is dead again and moves to another feature.
            self.codebook[dead] = fresh
            self.embed_sum[dead] = fresh * self.dead_code_threshold
            self.cluster_size[dead] = self.dead_code_threshold
        self.steps += 1

"""Sampling over the visual codes only, and the log-probabilities of that same distribution.

Every engine samples through :func:`sample_codes`, and the GRPO learner scores chosen tokens
with :func:`chosen_logprobs`, so both use one support (docs/method.md §6): the logits are restricted
to the C visual codes (text tokens can never be emitted), divided by the temperature τ, cut
to the top-k codes, then to the top-p nucleus, and renormalised. τ = 0 is greedy (a point
mass on the argmax, log-probability 0).
"""

from __future__ import annotations

import torch

from physar_ray.config import SamplingConfig
from physar_ray.lm.vocab import VisualVocab


def visual_logits(logits: torch.Tensor, vocab: VisualVocab) -> torch.Tensor:
    """logits: [..., V] over the LM vocabulary → [..., C] over the visual codes (a slice, no copy)."""
    return logits[..., vocab.code_offset: vocab.code_offset + vocab.num_codes]


def filtered_logits(logits: torch.Tensor, sampling: SamplingConfig) -> torch.Tensor:
    """logits: [..., C] → [..., C] float32: z/τ, with −inf outside the top-k ∩ top-p support.

    top-p keeps code i when the probability of the codes ranked above it is < p (so the most
    likely code always stays), computed after the top-k cut, as in HF and vLLM.
    """
    z = logits.float() / sampling.temperature
    if 0 < sampling.top_k < z.shape[-1]:
        kth = torch.topk(z, sampling.top_k, dim=-1).values[..., -1:]
        z = z.masked_fill(z < kth, float("-inf"))
    if sampling.top_p < 1.0:
        sorted_z, order = torch.sort(z, dim=-1, descending=True)
        probs = torch.softmax(sorted_z, dim=-1)
        mass_above = torch.cumsum(probs, dim=-1) - probs
        drop_sorted = mass_above >= sampling.top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        z = z.masked_fill(drop, float("-inf"))
    return z


def sample_codes(logits: torch.Tensor, vocab: VisualVocab, sampling: SamplingConfig,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """logits: [B, V] next-token logits → (ids [B] LM ids of visual codes, logprobs [B] under the restricted support)."""
    v = visual_logits(logits, vocab)
    if sampling.temperature == 0:
        return v.argmax(dim=-1) + vocab.code_offset, torch.zeros(v.shape[0], device=v.device)
    logp = torch.log_softmax(filtered_logits(v, sampling), dim=-1)
    codes = torch.multinomial(logp.exp(), 1, generator=generator).squeeze(-1)
    return codes + vocab.code_offset, logp.gather(-1, codes[:, None]).squeeze(-1)


def chosen_logprobs(logits: torch.Tensor, ids: torch.Tensor, vocab: VisualVocab,
                    sampling: SamplingConfig) -> torch.Tensor:
    """log π(ids) under the support :func:`sample_codes` samples from.

    logits: [B, L, V] (the logits that predicted each chosen token), ids: [B, L] LM ids →
    [B, L] log-probabilities; −inf where a token lies outside the support (a text token, or a
    code cut by top-k/top-p). Differentiable in logits.
    """
    v = visual_logits(logits, vocab)
    codes = ids - vocab.code_offset
    inside = (codes >= 0) & (codes < vocab.num_codes)
    safe = codes.clamp(0, vocab.num_codes - 1)[..., None]
    if sampling.temperature == 0:
        hit = v.argmax(dim=-1) == safe.squeeze(-1)
        logp = torch.zeros(hit.shape, device=v.device).masked_fill(~hit, float("-inf"))
    else:
        logp = torch.log_softmax(filtered_logits(v, sampling), dim=-1).gather(-1, safe).squeeze(-1)
    return logp.masked_fill(~inside, float("-inf"))

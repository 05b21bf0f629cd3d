"""Input-code noise against exposure bias: SFT inputs shifted by a few codes in value order.

Under teacher forcing the LM always reads clean codes; in free generation it reads its own,
which are a code or two off. Trained only on clean inputs it extrapolates each small error into
a velocity error (docs/results.md: slope 0.96–0.99 under teacher forcing, heads drifting apart in
free generation). Shifting every generated-frame input code by ``round(N(0, σ))`` ranks of the
codes' scalar values, with clean labels, teaches it to read a trajectory through that noise. This is the
token-space form of noisy-context training for autoregressive video models (e.g. the "noise
augmentation" of Diffusion Forcing / GameNGen's context corruption).
"""

from __future__ import annotations

import numpy as np
import torch

from physar_ray.lm.sequence import IGNORE
from physar_ray.lm.vocab import VisualVocab


def value_ranks(values: np.ndarray | list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """values [C] (the scalar each code stands for) → (order [C]: codes sorted by value,
    rank [C]: each code's position in that order); ``order[rank[c]] == c``."""
    order = torch.as_tensor(np.argsort(np.asarray(values, dtype=np.float64), kind="stable"), dtype=torch.long)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(len(order))
    return order, rank


def rank_noise(shape: tuple[int, ...], sigma: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """round(N(0, σ)) integer rank shifts of the given shape (on the CPU, so a seed gives the same
    draws on every device)."""
    return torch.round(torch.randn(shape, generator=generator) * sigma).long()


def shift_codes(input_ids: torch.Tensor, labels: torch.Tensor, vocab: VisualVocab, order: torch.Tensor,
                rank: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """input_ids [B, L] → the same with every generated-frame code moved by ``shifts`` [B, L] ranks
    in value order (clamped to the lowest/highest code).

    Only positions with a label (the target frames, which the model reads back from its own
    samples at generation time) move; the prompt's condition frames come clean from the
    tokenizer at generation time too, so they stay clean, as does the prefix."""
    codes = input_ids - vocab.code_offset
    is_code = (codes >= 0) & (codes < vocab.num_codes) & (labels != IGNORE)
    ranks = rank.to(input_ids.device)[codes.clamp(0, vocab.num_codes - 1)]
    moved = (ranks + shifts.to(input_ids.device)).clamp(0, vocab.num_codes - 1)
    return torch.where(is_code, order.to(input_ids.device)[moved] + vocab.code_offset, input_ids)

"""Learning-rate schedules, as multipliers of the peak rate (``torch.optim.lr_scheduler.LambdaLR`` takes them)."""

from __future__ import annotations

import math


def warmup_cosine(step: int, warmup: int, total: int) -> float:
    """Learning-rate multiplier: linear warm-up, then cosine decay to 0 at ``total``.

    m(s) = (s + 1) / warmup for s < warmup, else ½·(1 + cos(π·(s − warmup) / (total − warmup))).
    """
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.5 * (1.0 + math.cos(math.pi * progress))

"""AdamW with weight decay on matrices only, under the warm-up + cosine schedule (SFT and the GRPO learner)."""

from __future__ import annotations

from typing import Any

import torch

from physar_ray.config import OptimConfig
from physar_ray.optim.schedules import warmup_cosine


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: matrices decay; biases, norms (1-D tensors) do not (nanoGPT's rule)."""
    params = [p for p in model.parameters() if p.requires_grad]
    return [{"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]


def adamw(model: torch.nn.Module, cfg: OptimConfig,
          total_steps: int) -> tuple[torch.optim.AdamW, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW at cfg.lr, cfg.betas, cfg.eps, cfg.weight_decay and its schedule: cfg.warmup_steps of linear warm-up,
    then a cosine that reaches 0 after ``total_steps`` optimizer steps."""
    optimizer = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=cfg.betas, eps=cfg.eps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: warmup_cosine(s, cfg.warmup_steps, total_steps))
    return optimizer, scheduler

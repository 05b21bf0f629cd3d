"""What a step backend is told and what it offers: :class:`StepShape` and the :class:`Backend` protocol."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch


@dataclass(frozen=True)
class StepShape:
    """How one optimizer step is cut: ``grad_accum`` micro-steps of ``micro_batch_size`` sequences on each of
    ``world_size`` data-parallel ranks (SFT: sft.batch_size, sft.grad_accum; GRPO: the learner's micro-batches
    of its share, ``GRPOConfig.grad_accum``)."""

    micro_batch_size: int
    grad_accum: int
    world_size: int

    @property
    def global_batch(self) -> int:
        """Sequences per optimizer step over all ranks."""
        return self.micro_batch_size * self.grad_accum * self.world_size


class Backend(Protocol):
    """The step API of DDPBackend and DeepSpeedBackend, built as ``Backend(model, optimizer, scheduler,
    cfg: OptimConfig, shape: StepShape, device)``; ``model(**batch)`` returns an object with ``.loss``."""

    @property
    def module(self) -> torch.nn.Module: ...

    def micro_step(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, bool]: ...

    def grad_norm(self) -> float: ...

    def lr(self) -> float: ...

    def full_state_dict(self, module: torch.nn.Module | None = None) -> dict[str, torch.Tensor] | None: ...

    def save(self, folder: Path) -> None: ...

    def load(self, folder: Path) -> None: ...

"""Plain torch DistributedDataParallel behind the step API of SFT and the GRPO learner (the baseline to ZeRO)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch
import torch.distributed as dist

from physar_ray.config import OptimConfig
from physar_ray.optim.step import StepShape

STATE_FILE = "ddp_state.pt"


class DDPBackend:
    """Accumulates ``grad_accum`` micro-batches (no gradient all-reduce until the last), clips, steps.

    Moves the model to ``device``; every rank holds the whole model.
    """

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                 scheduler: torch.optim.lr_scheduler.LRScheduler, cfg: OptimConfig, shape: StepShape,
                 device: torch.device) -> None:
        self.ddp = torch.nn.parallel.DistributedDataParallel(model.to(device))
        self.optimizer, self.scheduler, self.cfg, self.grad_accum = optimizer, scheduler, cfg, shape.grad_accum
        self._micro = 0
        self._norm = float("nan")
        self._bf16 = cfg.dtype_name == "bf16"

    @property
    def module(self) -> torch.nn.Module:
        return self.ddp.module

    def micro_step(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, bool]:
        """Forward + backward one micro-batch; (loss, True when it closed an optimizer step)."""
        self._micro += 1
        boundary = self._micro % self.grad_accum == 0
        sync = contextlib.nullcontext() if boundary else self.ddp.no_sync()
        autocast = torch.autocast("cuda", torch.bfloat16) if self._bf16 else contextlib.nullcontext()
        with sync:
            with autocast:
                loss = self.ddp(**batch).loss
            (loss / self.grad_accum).backward()
        if boundary:
            if self.cfg.grad_clip > 0:
                self._norm = float(torch.nn.utils.clip_grad_norm_(self.ddp.parameters(), self.cfg.grad_clip))
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
        return loss.detach(), boundary

    def grad_norm(self) -> float:
        return self._norm

    def lr(self) -> float:
        return self.scheduler.get_last_lr()[0]

    def full_state_dict(self, module: torch.nn.Module | None = None) -> dict[str, torch.Tensor] | None:
        """The state dict of ``module`` (default: the trained model) on rank 0, None on the others."""
        return (self.module if module is None else module).state_dict() if dist.get_rank() == 0 else None

    def save(self, folder: Path) -> None:
        if dist.get_rank() == 0:
            torch.save({"model": self.module.state_dict(), "optimizer": self.optimizer.state_dict(),
                        "scheduler": self.scheduler.state_dict(), "micro": self._micro}, folder / STATE_FILE)

    def load(self, folder: Path) -> None:
        state = torch.load(folder / STATE_FILE, map_location="cpu", weights_only=True)
        self.module.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self._micro = state["micro"]

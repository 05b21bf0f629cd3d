"""DeepSpeed for SFT: the JSON config built from ``SFTConfig``, and the engine behind the step API.

On CPU DeepSpeed runs torch's AdamW (``zero_allow_untested_optimizer``, no DeepSpeedCPUAdam)
in fp32 over gloo; its first use compiles a small op once into ``TORCH_EXTENSIONS_DIR``
(default here: ~/.cache/physar/torch_extensions, shared by tests and Ray workers).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from physar_ray.config import SFTConfig

EXTENSIONS_DIR = Path.home() / ".cache" / "physar" / "torch_extensions"


def deepspeed_config(cfg: SFTConfig, world_size: int, num_params: int) -> dict[str, Any]:
    """The DeepSpeed JSON for ``cfg``: ZeRO stage, precision, batch sizes, clipping.

    Communication buckets are capped at the model's size: DeepSpeed's default of 5e8 elements
    allocates 2 GB buffers, which costs a tiny CPU model ~25 s at start-up (measured).
    """
    bucket = int(min(5e8, max(1e6, num_params)))
    return {
        "train_micro_batch_size_per_gpu": cfg.batch_size,
        "gradient_accumulation_steps": cfg.grad_accum,
        "train_batch_size": cfg.batch_size * cfg.grad_accum * world_size,
        "gradient_clipping": cfg.grad_clip,
        "zero_optimization": {"stage": cfg.zero_stage, "reduce_bucket_size": bucket,
                              "allgather_bucket_size": bucket},
        "bf16": {"enabled": cfg.dtype_name == "bf16"},
        "zero_allow_untested_optimizer": True,
        "zero_force_ds_cpu_optimizer": False,
        "steps_per_print": 2**31 - 1,
    }


class DeepSpeedBackend:
    """The SFT loop's step API over a DeepSpeed engine (which accumulates, clips and schedules)."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                 scheduler: torch.optim.lr_scheduler.LRScheduler, cfg: SFTConfig, world_size: int) -> None:
        os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(EXTENSIONS_DIR))
        import deepspeed

        self.engine, _, _, _ = deepspeed.initialize(model=model, optimizer=optimizer, lr_scheduler=scheduler,
                                                    config=deepspeed_config(cfg, world_size, sum(p.numel() for p in model.parameters())),
                                                    dist_init_required=False)

    @property
    def module(self) -> torch.nn.Module:
        return self.engine.module

    def micro_step(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, bool]:
        """Forward + backward one micro-batch; (loss, True when it closed an optimizer step)."""
        loss = self.engine(**batch).loss
        self.engine.backward(loss)
        boundary = self.engine.is_gradient_accumulation_boundary()
        self.engine.step()
        return loss.detach(), boundary

    def grad_norm(self) -> float:
        norm = self.engine.get_global_grad_norm()
        return float(norm) if norm is not None else float("nan")

    def lr(self) -> float:
        return self.engine.get_lr()[0]

    def save(self, folder: Path) -> None:
        """Every rank writes its own ZeRO partition (Ray Train merges the ranks' folders)."""
        self.engine.save_checkpoint(str(folder), tag="deepspeed")

    def load(self, folder: Path) -> None:
        path, _ = self.engine.load_checkpoint(str(folder), tag="deepspeed")
        if path is None:
            raise FileNotFoundError(f"{folder} holds no DeepSpeed state (deepspeed/): cannot resume from it")

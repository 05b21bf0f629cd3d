"""DeepSpeed for SFT and the GRPO learner: the JSON config built from an ``OptimConfig``, the engine behind
the step API, and the full weights of a model whose parameters ZeRO-3 partitions.

ZeRO stages: 1 partitions the fp32 Adam state over the ranks, 2 also the gradients, 3 also the
weights themselves. Stage 3 pays for it in communication: every forward (and the backward
again) all-gathers each layer's weights just before it runs and frees them after, about 1.5×
the traffic of stage 2. It is for a model whose stage-2 share does not fit, e.g. an 8B learner
on 40 GB GPUs: stage 2 on 4 ranks keeps ~16 GB of bf16 weights whole on every rank plus
~24 GB of partitioned fp32 master weights and Adam moments plus gradients; stage 3 cuts the
weights to ~4 GB a rank. Whatever needs the full weights (an HF checkpoint, the weight sync to
the rollout actors) goes through :func:`gathered_state_dict`, a collective that every rank enters.

On CPU DeepSpeed runs torch's AdamW (``zero_allow_untested_optimizer``, no DeepSpeedCPUAdam)
in fp32 over gloo, stage 3 included; its first use compiles a small op once into
``TORCH_EXTENSIONS_DIR`` (default here: ~/.cache/physar/torch_extensions, shared by tests and Ray workers).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from physar_ray.config import OptimConfig
from physar_ray.optim.step import StepShape

EXTENSIONS_DIR = Path.home() / ".cache" / "physar" / "torch_extensions"


def zero_config(cfg: OptimConfig, num_params: int) -> dict[str, Any]:
    """The ``zero_optimization`` section, its buffers sized for the model.

    Communication buckets are capped at the model's size: DeepSpeed's default of 5e8 elements
    allocates 2 GB buffers, which costs a tiny CPU model ~25 s at start-up (measured). Under
    stage 3 a parameter smaller than 0.1% of the model (at most DeepSpeed's default of 1e5
    elements: norms, biases) stays whole on every rank, as one all-gather each would cost more
    than it saves; the prefetch bucket (DeepSpeed's default, 5e7 elements) is capped likewise.
    """
    bucket = int(min(5e8, max(1e6, num_params)))
    zero = {"stage": cfg.zero_stage, "reduce_bucket_size": bucket, "allgather_bucket_size": bucket}
    if cfg.zero_stage == 3:
        zero.update(stage3_prefetch_bucket_size=int(min(5e7, bucket)),
                    stage3_param_persistence_threshold=int(min(1e5, num_params // 1000)))
    return zero


def deepspeed_config(cfg: OptimConfig, shape: StepShape, num_params: int) -> dict[str, Any]:
    """The DeepSpeed JSON for ``cfg`` and ``shape``: ZeRO stage, precision, batch sizes, clipping."""
    return {
        "train_micro_batch_size_per_gpu": shape.micro_batch_size,
        "gradient_accumulation_steps": shape.grad_accum,
        "train_batch_size": shape.global_batch,
        "gradient_clipping": cfg.grad_clip,
        "zero_optimization": zero_config(cfg, num_params),
        "bf16": {"enabled": cfg.dtype_name == "bf16"},
        "zero_allow_untested_optimizer": True,
        "zero_force_ds_cpu_optimizer": False,
        "steps_per_print": 2**31 - 1,
    }


def _initialize(model: torch.nn.Module, config: dict[str, Any], device: torch.device, **kwargs: Any) -> Any:
    """``deepspeed.initialize``; DeepSpeed casts the model to bf16 and then moves it to its accelerator
    (cuda:LOCAL_RANK, or cpu): the caller leaves it where it is, as an fp32 copy on the GPU first
    would double the start-up peak. A device of another kind than ``device`` is an error."""
    os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(EXTENSIONS_DIR))
    import deepspeed

    engine, _, _, _ = deepspeed.initialize(model=model, config=config, dist_init_required=False, **kwargs)
    if engine.device.type != device.type:
        raise RuntimeError(f"DeepSpeed's accelerator put the model on {engine.device} but this run trains on {device}: "
                           "set use_gpu (sft or grpo.learner) to match the machine, or DS_ACCELERATOR=cpu|cuda")
    return engine


def _own_entries(module: torch.nn.Module) -> list[tuple[str, torch.Tensor]]:
    """The entries ``module.state_dict()`` holds for ``module`` itself: its parameters and persistent buffers."""
    buffers = [(n, b) for n, b in module.named_buffers(recurse=False) if n not in module._non_persistent_buffers_set]
    return [*module.named_parameters(recurse=False), *buffers]


def gathered_state_dict(module: torch.nn.Module) -> dict[str, torch.Tensor] | None:
    """``module.state_dict()`` with every ZeRO-3 partitioned parameter whole, on CPU on rank 0; None on
    the other ranks. Every rank must call it (the gather is a collective; a missing rank deadlocks it).

    It gathers one submodule's own parameters at a time (``deepspeed.zero.GatheredParameters``,
    read-only, so nothing is broadcast back), copies them to CPU on rank 0 and frees them before
    the next: the device holds one layer's full weights at most, never the model's. A tied weight
    (one parameter under two names) stays one tensor, so ``save_pretrained`` sees the tie.
    """
    import deepspeed

    rank0 = dist.get_rank() == 0
    state: dict[str, torch.Tensor] = {}
    copies: dict[int, torch.Tensor] = {}
    for prefix, sub in module.named_modules(remove_duplicate=False):
        with deepspeed.zero.GatheredParameters(list(sub.parameters(recurse=False))):
            if rank0:
                for name, tensor in _own_entries(sub):
                    if id(tensor) not in copies:  # a copy, also on CPU: the gathered storage is freed on exit
                        copies[id(tensor)] = tensor.detach().to("cpu", copy=True)
                    state[f"{prefix}.{name}" if prefix else name] = copies[id(tensor)]
    return state if rank0 else None


class DeepSpeedBackend:
    """The step API over a DeepSpeed engine (which accumulates, clips and schedules)."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                 scheduler: torch.optim.lr_scheduler.LRScheduler, cfg: OptimConfig, shape: StepShape,
                 device: torch.device) -> None:
        config = deepspeed_config(cfg, shape, sum(p.numel() for p in model.parameters()))
        self.engine = _initialize(model, config, device, optimizer=optimizer, lr_scheduler=scheduler)

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

    def full_state_dict(self, module: torch.nn.Module | None = None) -> dict[str, torch.Tensor] | None:
        """The full state dict of ``module`` (default: the trained model) on rank 0, None on the others.

        Every rank must call it: under ZeRO-3 it is :func:`gathered_state_dict` (CPU tensors);
        otherwise every rank holds the weights whole and rank 0 returns its own (device tensors).
        """
        module = self.module if module is None else module
        if self.engine.zero_optimization_partition_weights():
            return gathered_state_dict(module)
        return module.state_dict() if dist.get_rank() == 0 else None

    def save(self, folder: Path) -> None:
        """Every rank writes its own ZeRO partition (Ray Train merges the ranks' folders)."""
        self.engine.save_checkpoint(str(folder), tag="deepspeed")

    def load(self, folder: Path) -> None:
        path, _ = self.engine.load_checkpoint(str(folder), tag="deepspeed")
        if path is None:
            raise FileNotFoundError(f"{folder} holds no DeepSpeed state (deepspeed/): cannot resume from it")


def partitioned_model(model: torch.nn.Module, cfg: OptimConfig, micro_batch_size: int,
                      device: torch.device) -> torch.nn.Module:
    """A frozen ``model`` with its weights partitioned by ZeRO-3 over the ranks, without an optimizer
    (OpenRLHF keeps its reference model so): the GRPO reference of a ZeRO-3 learner costs each rank
    1/N of its weights instead of all of them. Call it on every rank; its forward gathers layer by
    layer like the policy's. The returned DeepSpeed engine must stay referenced: it owns the hooks."""
    num_params = sum(p.numel() for p in model.parameters())
    zero = zero_config(dataclasses.replace(cfg, zero_stage=3), num_params)
    config = {"train_micro_batch_size_per_gpu": micro_batch_size, "zero_optimization": zero,
              "bf16": {"enabled": cfg.dtype_name == "bf16"}, "steps_per_print": 2**31 - 1}
    engine = _initialize(model.eval().requires_grad_(False), config, device)
    engine.eval()  # not chained: DeepSpeedEngine.train (so .eval) returns None
    return engine

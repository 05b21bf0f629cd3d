"""OptimConfig: the optimizer and step-backend settings that ``sft`` and ``grpo.learner`` share.

SFTConfig and LearnerConfig inherit these fields (so the keys stay ``sft.lr``, ``grpo.learner.lr``),
override the defaults that differ (lr, betas, warm-up) and set ``SECTION``, the dotted prefix the
checks name. physar_ray/optim/ reads an OptimConfig: the AdamW groups, the warm-up + cosine
schedule, and the DDP and DeepSpeed backends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from physar_ray.config.base import ConfigError, at_least, one_of, within

SFT_BACKENDS = ("deepspeed", "ddp")
ZERO_STAGES = (0, 1, 2, 3)
PRECISIONS = ("auto", "bf16", "fp32")


@dataclass(frozen=True)
class OptimConfig:
    """AdamW, its schedule and the data-parallel step backend (DeepSpeed ZeRO or DDP)."""

    SECTION: ClassVar[str] = "optim"
    """The dotted prefix of this config in the tree, named by the error messages."""

    lr: float = 1e-4
    """Peak AdamW learning rate."""
    betas: tuple[float, float] = (0.9, 0.95)
    """(β1, β2) of AdamW."""
    eps: float = 1e-6
    """ε of AdamW (paper: 1e-6)."""
    weight_decay: float = 0.05
    """AdamW weight decay on matrices; biases and norms are not decayed (paper: 0.05)."""
    grad_clip: float = 1.0
    """Global gradient-norm clip (paper: 1.0); 0 disables it."""
    warmup_steps: int = 0
    """Linear warm-up optimizer steps before the cosine decay."""
    backend: str = "deepspeed"
    """deepspeed (ZeRO, stage from zero_stage) or ddp (plain torch DistributedDataParallel, the benchmark baseline)."""
    zero_stage: int = 2
    """DeepSpeed ZeRO stage: 0 partitions nothing, 1 the Adam state over the ranks, 2 also the gradients,
    3 also the weights, which every forward and backward then all-gathers layer by layer (~1.5× the traffic
    of 2): for a model whose stage-2 share does not fit a GPU (8B on 40 GB GPUs). Checkpoints (and GRPO's
    weight sync) gather the weights layer by layer on every rank, rank 0 writes them; GRPO's reference π_ref
    is partitioned too (grpo.learner.reference=same); sft.lora needs 2 or less."""
    gradient_checkpointing: bool = False
    """Recompute each block's activations in the backward pass (HF gradient checkpointing, non-reentrant):
    activation memory falls from every layer's to about one layer's, for ~30% more compute; same loss and
    gradients."""
    precision: str = "auto"
    """auto (bf16 on GPU, fp32 on CPU), bf16 or fp32 (paper: bf16)."""
    use_gpu: bool = False
    """One GPU per rank (NCCL); false trains on CPU with gloo."""

    def __post_init__(self) -> None:
        key = self.SECTION
        one_of(self, key, backend=SFT_BACKENDS, precision=PRECISIONS, zero_stage=ZERO_STAGES)
        at_least(self, key, warmup_steps=0, eps=0, weight_decay=0, grad_clip=0)
        within(self, key, lr="(0, 1]")
        if not all(0.0 <= b < 1.0 for b in self.betas):
            raise ConfigError(f"{key}.betas={list(self.betas)}: each must be in [0, 1)")
        if not self.use_gpu and self.precision == "bf16":
            raise ConfigError(f"{key}.precision='bf16' needs {key}.use_gpu=true: CPU training runs in fp32 "
                              "(use auto or fp32)")

    @property
    def dtype_name(self) -> str:
        """The training precision after resolving auto: bf16 on GPU, fp32 on CPU."""
        if self.precision == "auto":
            return "bf16" if self.use_gpu else "fp32"
        return self.precision

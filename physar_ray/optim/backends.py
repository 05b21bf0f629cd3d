"""The step backends by name (``OptimConfig.backend``): DeepSpeed ZeRO or plain torch DDP."""

from __future__ import annotations

from physar_ray.optim.ddp import DDPBackend
from physar_ray.optim.deepspeed import DeepSpeedBackend

BACKENDS = {"deepspeed": DeepSpeedBackend, "ddp": DDPBackend}

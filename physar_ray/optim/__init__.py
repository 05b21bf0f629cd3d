"""The optimizer layer that SFT and the GRPO learner share (core: torch only; DeepSpeed is imported inside functions).

- ``adamw``: AdamW over :func:`~physar_ray.optim.adamw.param_groups` (matrices decay, biases and norms do not)
  under the warm-up + cosine schedule of ``schedules``, from an :class:`~physar_ray.config.OptimConfig`.
- ``step``: :class:`StepShape` (micro-batch, accumulation, ranks) and the :class:`Backend` step API.
- ``ddp``, ``deepspeed``: the two backends; ``backends.BACKENDS`` chooses one by ``OptimConfig.backend``.
"""

"""Ray Tune sweeps of GRPO over the reward and RL knobs α, k, β, g (docs/method.md §6)."""

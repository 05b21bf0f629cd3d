"""Ray helpers between the stages and the core, thin: ``cluster`` (ensure_ray, S3 settings once per process,
resource checks), ``placement`` (placement groups), ``actor_group`` (start, health, kill, replace),
``reward_pool`` (the reward actors of GRPO and `physar eval score`) and ``train_reporter`` (Ray Train).
Nothing is imported here: ``from physar_ray.runtime.cluster import ensure_ray`` does not pull in Ray."""

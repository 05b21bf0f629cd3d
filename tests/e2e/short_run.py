"""Overrides that shrink `physar run --preset tiny` to a smoke test of every stage (seconds each)."""

SHORT_RUN = ("data.num_videos.sft=4", "data.num_videos.rl=4", "data.num_videos.eval_iid=2", "data.num_videos.eval_ood=3",
             "data.videos_per_shard=4", "data.resolution=32", "tokenizer.max_steps=5",
             "sft.max_steps=3", "sft.warmup_steps=1", "sft.batch_size=2", "sft.log_every=1",
             "generate.eval_per_scenario=2", "generate.batch_size=8",
             "grpo.batch_size=4", "grpo.rollout.group_size=2", "grpo.max_steps=2", "grpo.eval_every=0",
             "grpo.eval_videos=2", "grpo.learner.micro_batch_size=2", "grpo.checkpoint_every=2")

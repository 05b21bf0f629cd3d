"""A tiny GRPO world built in seconds: config, scratch LM, untrained coord tokenizer, prompts."""

from __future__ import annotations

from pathlib import Path

from physar_ray import config
from physar_ray.config import Config

TINY_OVERRIDES = [
    "data.resolution=32", "data.num_frames=12", "data.cond_frames=3", "data.contact_frames=[3,8]",
    "data.min_in_view_frames=4", "data.scenarios=[uniform]",
    "data.num_videos.sft=0", "data.num_videos.rl=12", "data.num_videos.eval_iid=0", "data.num_videos.eval_ood=4",
    "data.videos_per_shard=16", "data.num_cpus_per_task=0.25",
    "sft.hidden_size=32", "sft.num_layers=1", "sft.num_heads=2",
    # an untrained tokenizer draws balls at random places: a low bar keeps most samples scored,
    # so rewards (R_mass) differ within a group and advantages are not all zero
    "measure.min_valid_fraction=0.05", "measure.num_actors=2", "measure.num_cpus_per_actor=0.25",
    "measure.batch_size=4",
    "grpo.batch_size=8", "grpo.rollout.group_size=4", "grpo.rollout.num_cpus_per_worker=0.25",
    "grpo.learner.num_workers=2", "grpo.learner.micro_batch_size=2", "grpo.learner.backend=ddp",
    "grpo.learner.num_cpus_per_worker=0.25", "grpo.learner.lr=0.001", "grpo.learner.warmup_steps=0",
    "grpo.max_steps=3", "grpo.eval_every=0", "grpo.eval_videos=2", "grpo.checkpoint_every=2",
]


def tiny_config(*overrides: str) -> Config:
    return config.load(None, [*TINY_OVERRIDES, *overrides])


def build_assets(cfg: Config, root: Path) -> tuple[str, str]:
    """(model folder, tokenizer folder) under ``root``: a scratch LM and an untrained DDT."""
    from physar_ray.lm.model import build_scratch_model, save_pretrained
    from physar_ray.lm.sequence import VideoLayout
    from physar_ray.lm.vocab import scratch_vocab
    from physar_ray.tokenizer.ddt import DDTokenizer

    layout = VideoLayout.from_config(cfg)
    model, _ = build_scratch_model(cfg.sft, layout.codebook_size, layout.sequence_length(scratch_vocab(layout.codebook_size)))
    model_dir, tok_dir = root / "model", root / "tokenizer"
    save_pretrained(model, None, model_dir)
    DDTokenizer(cfg.tokenizer, cfg.data.resolution).save(tok_dir)
    return str(model_dir), str(tok_dir)


def build_world(cfg: Config, root: Path) -> tuple[Config, str, str, str, Path]:
    """(cfg, model folder, tokenizer folder, data folder, root): the assets plus the run's simulated videos
    (needs Ray: the data stage runs on Ray Data)."""
    from physar_ray.data.generate import generate

    model_dir, tok_dir = build_assets(cfg, root)
    generate(cfg, str(root / "data"))
    return cfg, model_dir, tok_dir, str(root / "data"), root


def prompts(cfg: Config, count: int):
    """``count`` rl-split prompts simulated in process (no Ray)."""
    from physar_ray.grpo.rollout import Prompt
    from physar_ray.records import table_to_records
    from physar_ray.sim.video import make_video_table

    table, _ = make_video_table("uniform", "rl", cfg.data.seed, range(count), cfg.data)
    return [Prompt(r.frames[: cfg.data.cond_frames], r.states, f"uniform/rl/{r.index}") for r in table_to_records(table)]

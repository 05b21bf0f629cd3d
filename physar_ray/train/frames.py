"""Training frames straight from the simulator: a plain iterator, no Ray, no files."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from physar_ray.config import DataConfig
from physar_ray.sim.video import make_video


def simulator_frames(
    cfg: DataConfig, batch_size: int, start_step: int = 0, split: str = "sft", videos_per_batch: int = 8
) -> Iterator[np.ndarray]:
    """Endless uint8 [B, H, W, 3] batches; batch i holds random frames of fresh videos
    (scenarios in turn), so the stream is a pure function of (cfg.seed, i) and resumes at any
    step."""
    step = start_step
    while True:
        rng = np.random.default_rng([cfg.seed, step])
        per_video = -(-batch_size // videos_per_batch)
        frames = []
        for j in range(videos_per_batch):
            scenario = cfg.scenarios[(step * videos_per_batch + j) % len(cfg.scenarios)]
            record, _ = make_video(scenario, split, cfg.seed, step * videos_per_batch + j, cfg)
            frames.append(record.frames[rng.choice(record.frames.shape[0], per_video, replace=False)])
        yield np.concatenate(frames)[:batch_size]
        step += 1

"""Synthetic token videos with a learnable structure, for tests and benchmarks (no tokenizer needed).

Each video is a "ball" moving through code space: frame t's token k is
``(x0 + v·t + k) mod C`` with a random start x0 and velocity v per video. Within a frame each
token is the previous + 1; the first token of a frame follows from the velocity seen in the
previous frames. A model that learns this beats the unigram baseline (≈ log C nats) by far.
"""

from __future__ import annotations

import numpy as np

from physar_ray.lm.sequence import VideoLayout


def moving_code_videos(num_videos: int, layout: VideoLayout, seed: int = 0, max_speed: int = 3) -> np.ndarray:
    """→ codes [N, T, K] int64 in [0, C)."""
    rng = np.random.default_rng(seed)
    x0 = rng.integers(0, layout.codebook_size, (num_videos, 1, 1))
    v = rng.integers(-max_speed, max_speed + 1, (num_videos, 1, 1))
    t = np.arange(layout.num_frames)[None, :, None]
    k = np.arange(layout.tokens_per_frame)[None, None, :]
    return (x0 + v * t + k) % layout.codebook_size

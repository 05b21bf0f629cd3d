"""One video end to end: sample → simulate → check → render, reproducible from its key."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa

from physar_ray.config import DataConfig
from physar_ray.records import VIDEO_SCHEMA, States, VideoRecord
from physar_ray.sim.engine import rejection_reason, simulate
from physar_ray.sim.render import render
from physar_ray.sim.scenarios import sample_params


class SamplingError(RuntimeError):
    """No attempt produced a usable video within ``data.max_attempts``."""


def _accepted_states(scenario: str, split: str, seed: int, index: int, cfg: DataConfig) -> tuple[dict[str, Any], States, Counter]:
    """Parameters and states of the first accepted attempt, and the rejected attempts by reason.

    Attempts are numbered, so a rejected draw is replaced by the same next draw everywhere.
    """
    rejected: Counter = Counter()
    for attempt in range(cfg.max_attempts):
        params = sample_params(scenario, split, seed, index, attempt, cfg)
        states = simulate(params, cfg)
        reason = rejection_reason(scenario, states, cfg)
        if reason is None:
            return params, states, rejected
        rejected[reason] += 1
    raise SamplingError(
        f"{scenario}/{split} index {index}: all {cfg.max_attempts} attempts rejected ({dict(rejected)}); "
        "widen data.ranges, lower data.min_in_view_frames or raise data.max_attempts"
    )


def make_video(scenario: str, split: str, seed: int, index: int, cfg: DataConfig) -> tuple[VideoRecord, Counter]:
    """The video keyed by (scenario, split, seed, index) and the rejected attempts by reason."""
    params, states, rejected = _accepted_states(scenario, split, seed, index, cfg)
    frames = render(states, cfg.resolution, cfg.antialias)
    return VideoRecord(scenario, split, params["ood_level"], seed, index, frames, states, params), rejected


def make_video_table(scenario: str, split: str, seed: int, indices: range, cfg: DataConfig) -> tuple[pa.Table, Counter]:
    """Videos ``indices`` of one scenario/split as a table in VIDEO_SCHEMA, and rejections by reason.

    All frames render into one buffer that becomes the Arrow ``frames`` column without a copy.
    """
    n = len(indices)
    t, size = cfg.num_frames, cfg.resolution
    video_bytes = t * size * size * 3
    if n * video_bytes >= 2**31:
        raise ValueError(
            f"{n} videos of {video_bytes} bytes exceed one Parquet shard's 2 GiB binary column: "
            "lower data.videos_per_shard"
        )
    buffer = np.empty((n, t, size, size, 3), dtype=np.uint8)
    rejected: Counter = Counter()
    rows = []
    for k, index in enumerate(indices):
        params, states, why = _accepted_states(scenario, split, seed, index, cfg)
        rejected += why
        render(states, size, cfg.antialias, out=buffer[k])
        record = VideoRecord(scenario, split, params["ood_level"], seed, index, buffer[k], states, params)
        rows.append(record.to_row(include_frames=False))
    columns = {name: [row[name] for row in rows] for name in VIDEO_SCHEMA.names if name != "frames"}
    offsets = pa.py_buffer((np.arange(n + 1, dtype=np.int32) * video_bytes).tobytes())
    columns["frames"] = pa.Array.from_buffers(pa.binary(), n, [None, offsets, pa.py_buffer(buffer)])
    return pa.table([columns[name] for name in VIDEO_SCHEMA.names], schema=VIDEO_SCHEMA), rejected

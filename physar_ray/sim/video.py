"""One video end to end: sample → simulate → check → render, reproducible from its key."""

from __future__ import annotations

from collections import Counter

from physar_ray.config import DataConfig
from physar_ray.records import VideoRecord
from physar_ray.sim.engine import rejection_reason, simulate
from physar_ray.sim.render import render
from physar_ray.sim.scenarios import sample_params


class SamplingError(RuntimeError):
    """No attempt produced a usable video within ``data.max_attempts``."""


def make_video(scenario: str, split: str, seed: int, index: int, cfg: DataConfig) -> tuple[VideoRecord, Counter]:
    """The video keyed by (scenario, split, seed, index) and the rejected attempts by reason.

    Attempts are numbered, so a rejected draw is replaced by the same next draw everywhere.
    """
    rejected: Counter = Counter()
    for attempt in range(cfg.max_attempts):
        params = sample_params(scenario, split, seed, index, attempt, cfg)
        states = simulate(params, cfg)
        reason = rejection_reason(scenario, states, cfg)
        if reason is None:
            frames = render(states, cfg.resolution, cfg.antialias)
            record = VideoRecord(scenario, split, params["ood_level"], seed, index, frames, states, params)
            return record, rejected
        rejected[reason] += 1
    raise SamplingError(
        f"{scenario}/{split} index {index}: all {cfg.max_attempts} attempts rejected ({dict(rejected)}); "
        "widen data.ranges, lower data.min_in_view_frames or raise data.max_attempts"
    )

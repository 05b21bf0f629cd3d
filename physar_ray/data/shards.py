"""The layout of a video dataset on storage: which shards there are and which split a file holds.

``physar data generate`` writes ``<data>/<scenario>/<split>/videos-<start>-<stop>.parquet``
(:attr:`Shard.relpath`); a stage that wants one split's videos asks :func:`split_files`
rather than matching folder names itself, so the layout is spelled in this module only.
Datasets written by hand in the same ``<scenario>/<split>/<file>.parquet`` shape (tests, the
reference predictors of ``physar eval baselines``) are read the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from physar_ray import storage
from physar_ray.config import DataConfig

SHARD_PREFIX = "videos-"
"""File-name prefix of the shards ``physar data generate`` writes (other Parquet files are not its shards)."""


@dataclass(frozen=True)
class Shard:
    """Videos [start, stop) of one scenario and split."""

    scenario: str
    split: str
    start: int
    stop: int

    @property
    def relpath(self) -> str:
        return f"{self.scenario}/{self.split}/{SHARD_PREFIX}{self.start:07d}-{self.stop:07d}.parquet"


def plan_shards(cfg: DataConfig) -> list[Shard]:
    """Every shard of the configured scenarios and splits, ``data.videos_per_shard`` videos each."""
    shards = []
    for scenario in cfg.scenarios:
        for split in cfg.splits:
            n = getattr(cfg.num_videos, split)
            for start in range(0, n, cfg.videos_per_shard):
                shards.append(Shard(scenario, split, start, min(start + cfg.videos_per_shard, n)))
    return shards


def is_shard(relpath: str) -> bool:
    """Whether a file (relative to its dataset) is named like a shard of ``physar data generate``."""
    return relpath.rsplit("/", 1)[-1].startswith(SHARD_PREFIX)


def split_of(relpath: str) -> str | None:
    """The split a Parquet file of the dataset holds (``<scenario>/<split>/<file>``), None outside that layout."""
    parts = relpath.split("/")
    return parts[-2] if len(parts) >= 3 else None


def split_files(data_uri: str, split: str) -> list[str]:
    """The Parquet files (URIs, sorted) under ``data_uri`` that hold the videos of ``split``."""
    return [uri for uri in storage.list_files(data_uri) if split_of(storage.relative(uri, data_uri)) == split]

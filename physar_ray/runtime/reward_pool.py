"""CPU reward actors: score videos whose frames sit in the object store (docs/method.md §1 GRPO, §3).

``RewardWorker`` is a plain class (it runs in process in a notebook or a unit test);
``RewardPool`` starts the actors as an :class:`ActorGroup` (``ray.remote(num_cpus=…)``) and runs
batches on them as a :class:`WorkPool` (whichever actor frees up; a dead actor replaced and its
unfinished batches re-run, so every video is scored exactly once in the result).
GRPO scores its rollouts here and `physar eval score` its datasets.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import ray

from physar_ray import storage
from physar_ray.config import MeasureConfig
from physar_ray.measure.score import VideoScore, score_record, score_videos
from physar_ray.records import States, check_schema, table_to_records
from physar_ray.runtime.actor_group import ActorGroup
from physar_ray.runtime.work_pool import Pending, WorkPool


class RewardWorker:
    """Scores videos with one MeasureConfig; holds no state between calls."""

    def __init__(self, cfg: MeasureConfig, cond_frames: int):
        self.cfg, self.cond_frames = cfg, cond_frames

    def score(self, *videos: tuple[Any, States]) -> list[VideoScore]:
        """One VideoScore per (frames [T, H, W, 3] uint8, States) video, in order."""
        return score_videos(videos, self.cfg, self.cond_frames)

    def score_file(self, uri: str, source: str, baselines: tuple[str, ...] = ()) -> list[dict]:
        """Per-video rows (measure.score.score_record plus the file's URI) of one Parquet shard."""
        table = storage.read_table(uri)
        check_schema(table.schema, uri)
        records = table_to_records(table)
        return [{**row, "file": uri} for rec in records
                for row in score_record(rec, self.cfg, self.cond_frames, source, baselines)]


class RewardPool(WorkPool):
    """``num_actors`` RewardWorker actors (measure.num_actors by default) on Ray CPUs."""

    def __init__(self, cfg: MeasureConfig, cond_frames: int, num_actors: int | None = None, max_retries: int = 3,
                 placement: Callable[[int], dict] | None = None):
        """``placement(slot)``: actor options for the actor of that slot (a GRPO run pins each to its bundle)."""
        self.cfg, self.cond_frames = cfg, cond_frames
        super().__init__(ActorGroup(RewardWorker, num_actors or cfg.num_actors, lambda slot: (cfg, cond_frames),
                                    placement, name="reward actor", num_cpus=cfg.num_cpus_per_actor), max_retries)

    def submit(self, videos: Sequence[ray.ObjectRef]) -> Pending:
        """Start scoring refs to (frames, states) tuples in batches of measure.batch_size.

        Frames go from the object store straight to the actors, never through the driver; the
        caller may do other work (a learner step) before ``gather``.
        """
        size = self.cfg.batch_size
        return self.start("score", [tuple(videos[i:i + size]) for i in range(0, len(videos), size)])

    def gather(self, pending: Pending) -> list[VideoScore]:
        """The VideoScores of a ``submit``, in the order of its videos."""
        return [s for scores in self.finish(pending) for s in scores]

    def score(self, videos: Sequence[ray.ObjectRef]) -> list[VideoScore]:
        return self.gather(self.submit(videos))

    def score_files(self, uris: Sequence[str], source: str, baselines: tuple[str, ...] = ()) -> list[dict]:
        """Per-video rows of every Parquet shard (``source``: what its videos are, see score_record);
        each actor reads its shards straight from storage."""
        return [row for rows in self.map("score_file", [(u, source, baselines) for u in uris], progress="scoring shards")
                for row in rows]

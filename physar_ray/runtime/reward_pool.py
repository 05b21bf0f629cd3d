"""CPU reward actors: score videos whose frames sit in the object store (docs/method.md §1 GRPO, §3).

``RewardWorker`` is a plain class (it runs in process in a notebook or a unit test);
``RewardPool`` starts the actors as an :class:`ActorGroup` (``ray.remote(num_cpus=…)``), hands
batches to whichever actor frees up, and when an actor dies it starts a replacement in its slot and
re-runs the dead actor's unfinished batches, so every video is scored exactly once in the result.
GRPO scores its rollouts here and `physar eval score` its datasets.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import ray
from ray.exceptions import RayActorError
from tqdm import tqdm

from physar_ray import storage
from physar_ray.config import MeasureConfig
from physar_ray.measure.score import VideoScore, score_record, score_videos
from physar_ray.records import States, check_schema, table_to_records
from physar_ray.runtime.actor_group import ActorGroup


class RewardWorker:
    """Scores videos with one MeasureConfig; holds no state between calls."""

    def __init__(self, cfg: MeasureConfig, cond_frames: int):
        self.cfg, self.cond_frames = cfg, cond_frames

    def score(self, *videos: tuple[Any, States]) -> list[VideoScore]:
        """One VideoScore per (frames [T, H, W, 3] uint8, States) video, in order."""
        return score_videos(videos, self.cfg, self.cond_frames)

    def score_file(self, uri: str, baselines: tuple[str, ...] = ()) -> list[dict]:
        """Per-video rows (measure.score.score_record plus the file's URI) of one Parquet shard."""
        table = storage.read_table(uri)
        check_schema(table.schema, uri)
        records = table_to_records(table)
        return [{**row, "file": uri} for rec in records
                for row in score_record(rec, self.cfg, self.cond_frames, baselines)]


IN_FLIGHT = 2
"""Calls queued on each actor at a time: one running, one waiting, so no actor idles on the driver."""


@dataclass
class Pending:
    """One batch of calls: those not yet sent (queue) and those in flight (refs → (call, slot, actor))."""

    method: str
    calls: list[tuple]
    queue: deque[int]
    refs: dict[ray.ObjectRef, tuple[int, int, Any]] = field(default_factory=dict)


class RewardPool:
    """``num_actors`` RewardWorker actors (measure.num_actors by default) on Ray CPUs."""

    def __init__(self, cfg: MeasureConfig, cond_frames: int, num_actors: int | None = None, max_retries: int = 3,
                 placement: Callable[[int], dict] | None = None):
        """``placement(slot)``: actor options for the actor of that slot (a GRPO run pins each to its bundle)."""
        self.cfg, self.cond_frames, self.max_retries = cfg, cond_frames, max_retries
        self.actors = ActorGroup(RewardWorker, num_actors or cfg.num_actors, lambda slot: (cfg, cond_frames),
                                 placement, name="reward actor", num_cpus=cfg.num_cpus_per_actor)
        self.failures: list[dict[str, float]] = []
        """One per actor replaced: its slot, seconds from the start of ``finish`` to the failure being known
        (``detect_s``), and from then until every call of that ``finish`` had its result (``recover_s``)."""

    @property
    def restarts(self) -> int:
        """Reward actors replaced so far."""
        return self.actors.restarts

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

    def score_files(self, uris: Sequence[str], baselines: tuple[str, ...] = ()) -> list[dict]:
        """Per-video rows of every Parquet shard; each actor reads its shards straight from storage."""
        pending = self.start("score_file", [(u, baselines) for u in uris])
        return [row for rows in self.finish(pending, progress="scoring shards") for row in rows]

    def start(self, method: str, calls: Sequence[tuple]) -> Pending:
        """Send ``actor.<method>(*args)`` calls, IN_FLIGHT per actor; ``finish`` sends the rest
        as actors free up, so uneven calls still keep every actor busy."""
        pending = Pending(method, list(calls), deque(range(len(calls))))
        for slot in range(len(self.actors)):
            for _ in range(IN_FLIGHT):
                self._send_next(pending, slot)
        return pending

    def finish(self, pending: Pending, progress: str | None = None) -> list[Any]:
        """Results in call order. A call whose actor died goes back to the queue and runs on a
        fresh actor in the same slot (at most max_retries times per call); finished calls keep
        their results, so each call counts exactly once. ``progress`` names a progress bar.
        """
        results: list[Any] = [None] * len(pending.calls)
        tries = [0] * len(pending.calls)
        began, detected = time.perf_counter(), []
        bar = tqdm(total=len(pending.calls), desc=progress, disable=progress is None, unit="call")
        while pending.refs:
            (ref,), _ = ray.wait(list(pending.refs), num_returns=1)
            i, slot, actor = pending.refs.pop(ref)
            try:
                results[i] = ray.get(ref)
                bar.update()
            except RayActorError as exc:
                tries[i] += 1
                if tries[i] > self.max_retries:
                    raise RuntimeError(f"reward call {i} ({pending.method}) lost its actor {tries[i]} times: {exc}") from exc
                if self.actors[slot] is actor:  # the first of the dead actor's calls to fail replaces it
                    detected.append((slot, time.perf_counter()))
                    self.actors.replace(slot)
                pending.queue.appendleft(i)
            self._send_next(pending, slot)
        bar.close()
        done = time.perf_counter()
        self.failures.extend({"slot": slot, "detect_s": at - began, "recover_s": done - at} for slot, at in detected)
        return results

    def _send_next(self, pending: Pending, slot: int) -> None:
        if pending.queue:
            i, actor = pending.queue.popleft(), self.actors[slot]
            pending.refs[getattr(actor, pending.method).remote(*pending.calls[i])] = (i, slot, actor)

    def shutdown(self) -> None:
        self.actors.shutdown()

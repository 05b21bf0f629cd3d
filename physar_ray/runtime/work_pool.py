"""A list of calls run on an :class:`ActorGroup`, each handed to whichever actor frees up, surviving actor deaths.

``start`` sends ``IN_FLIGHT`` calls to every actor; ``finish`` sends the rest as actors free up (uneven calls
still keep every actor busy) and returns the results in call order. When an actor dies, the first of its calls
to fail replaces it in its slot and every call it held goes back to the queue, so each call counts exactly
once in the result. The reward actors (GRPO's rewards, `physar eval score`) and the tokenizer's encode /
reconstruct actors run on it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import ray
from ray.exceptions import RayActorError
from tqdm import tqdm

from physar_ray.runtime.actor_group import ActorGroup

IN_FLIGHT = 2
"""Calls queued on each actor at a time: one running, one waiting, so no actor idles on the driver."""


@dataclass
class Pending:
    """One batch of calls: those not yet sent (queue) and those in flight (refs → (call, slot, actor))."""

    method: str
    calls: list[tuple]
    queue: deque[int]
    refs: dict[ray.ObjectRef, tuple[int, int, Any]] = field(default_factory=dict)


class WorkPool:
    """Runs ``actor.<method>(*call)`` calls on ``actors``; a call whose actor died is retried up to ``max_retries`` times."""

    def __init__(self, actors: ActorGroup, max_retries: int = 3):
        self.actors, self.max_retries = actors, max_retries
        self.failures: list[dict[str, float]] = []
        """One per actor replaced: its slot, seconds from the start of ``finish`` to the failure being known
        (``detect_s``), and from then until every call of that ``finish`` had its result (``recover_s``)."""

    @property
    def restarts(self) -> int:
        """Actors replaced so far."""
        return self.actors.restarts

    def start(self, method: str, calls: Sequence[tuple]) -> Pending:
        """Send the first calls (IN_FLIGHT per actor); the caller may do other work before ``finish``."""
        pending = Pending(method, list(calls), deque(range(len(calls))))
        for slot in range(len(self.actors)):
            for _ in range(IN_FLIGHT):
                self._send_next(pending, slot)
        return pending

    def finish(self, pending: Pending, progress: str | None = None) -> list[Any]:
        """Results in call order; ``progress`` names a progress bar (None: no bar)."""
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
                    raise RuntimeError(f"{self.actors.name} call {i} ({pending.method}) lost its actor {tries[i]} times: "
                                       f"{exc}") from exc
                if self.actors[slot] is actor:  # the first of the dead actor's calls to fail replaces it
                    detected.append((slot, time.perf_counter()))
                    self.actors.replace(slot)
                pending.queue.appendleft(i)
            self._send_next(pending, slot)
        bar.close()
        done = time.perf_counter()
        self.failures.extend({"slot": slot, "detect_s": at - began, "recover_s": done - at} for slot, at in detected)
        return results

    def map(self, method: str, calls: Sequence[tuple], progress: str | None = None) -> list[Any]:
        """``start`` then ``finish``."""
        return self.finish(self.start(method, calls), progress)

    def _send_next(self, pending: Pending, slot: int) -> None:
        if pending.queue:
            i, actor = pending.queue.popleft(), self.actors[slot]
            pending.refs[getattr(actor, pending.method).remote(*pending.calls[i])] = (i, slot, actor)

    def shutdown(self) -> None:
        self.actors.shutdown()

"""N Ray actors of one plain class, each in a slot of its own: start them, check their health, kill them,
and replace one in its slot (same options, so the same placement-group bundle), counting restarts.

The class stays plain (a unit test or a notebook runs it in process); ``ray.remote`` is applied here,
and each slot's options (resources, bundle) come from ``options(slot)``. Which work a dead actor
leaves behind, and when to replace it, is the owner's business (``RewardPool`` re-runs its calls,
the GRPO controller re-runs a rollout, a learner group restarts whole from its checkpoint).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger("physar.ray")


class ActorGroup:
    """``count`` actors of ``cls``; slot i is built as ``cls(*args(i))`` with ``options(i)``."""

    def __init__(self, cls: type, count: int, args: Callable[[int], tuple], options: Callable[[int], dict] | None = None,
                 name: str = "actor", **remote: Any) -> None:
        """``remote``: default ``ray.remote`` options (num_cpus, ...) that ``options(slot)`` may override."""
        import ray

        self.args, self.options, self.name = args, options or (lambda slot: {}), name
        self._class = ray.remote(**remote)(cls) if remote else ray.remote(cls)
        self.actors = [self._spawn(slot) for slot in range(count)]
        self.restarts = 0
        """Actors replaced so far."""

    def _spawn(self, slot: int) -> Any:
        return self._class.options(**self.options(slot)).remote(*self.args(slot))

    def __len__(self) -> int:
        return len(self.actors)

    def __getitem__(self, slot: int) -> Any:
        return self.actors[slot]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.actors)

    def call(self, method: str, *args: Any) -> list[Any]:
        """``actor.<method>.remote(*args)`` on every actor, in slot order: the refs."""
        return [getattr(actor, method).remote(*args) for actor in self.actors]

    def dead(self, timeout_s: float = 30.0) -> list[int]:
        """Slots whose actor failed, or did not answer within ``timeout_s``, a ping (Ray's ``__ray_ready__``)."""
        import ray
        from ray.exceptions import GetTimeoutError, RayActorError

        refs = [actor.__ray_ready__.remote() for actor in self.actors]
        ray.wait(refs, num_returns=len(refs), timeout=timeout_s)
        dead = []
        for slot, ref in enumerate(refs):
            try:
                ray.get(ref, timeout=0)
            except (RayActorError, GetTimeoutError):
                dead.append(slot)
        return dead

    def replace(self, slot: int) -> Any:
        """A new actor in ``slot`` (the old one killed, if it still runs); returns it."""
        log.warning("%s %d died; starting a replacement in its slot", self.name, slot)
        self._kill(self.actors[slot])
        self.actors[slot] = self._spawn(slot)
        self.restarts += 1
        return self.actors[slot]

    def shutdown(self) -> None:
        """Kill every actor (no restart)."""
        for actor in self.actors:
            self._kill(actor)
        self.actors = []

    @staticmethod
    def _kill(actor: Any) -> None:
        import ray

        ray.kill(actor)

"""Where a GRPO run's actors go: one placement group, one bundle per actor, each actor pinned to its own.

Bundles in order (``run_bundles``, from ``resources.grpo_demands``): rollout actors, learner ranks,
reward actors; with ``grpo.colocate`` rollout actor i and learner rank i share bundle i (one GPU on
a GPU cluster, each asking for half of it), then the reward actors. The controller reserves them
all at once (gang scheduling: the run starts only when every actor fits, and an autoscaler sees
the whole request), or, inside a Ray Tune trial, uses the trial's group, whose bundle 0 is the
trial's driver (``tune.sweep.trial_bundles``). Each actor asks for its bundle by index: with
captured but unpinned actors, a small actor can land in a larger actor's bundle and leave that one
unschedulable. A replaced actor goes back into the bundle of the one it replaces.
"""

from __future__ import annotations

from typing import Any

from physar_ray import resources
from physar_ray.config import Config

def _counts(cfg: Config) -> dict[str, int]:
    return {"rollout": cfg.grpo.rollout.num_workers, "learner": cfg.grpo.learner.num_workers,
            "reward": cfg.measure.num_actors}


def run_bundles(cfg: Config) -> list[dict[str, float]]:
    """One bundle per actor of a run (per colocated pair with grpo.colocate), then the reward actors."""
    return [d.request.bundle() for d in resources.grpo_demands(cfg) for _ in range(d.count)]


def actor_request(cfg: Config, kind: str) -> resources.Request:
    """What one actor of ``kind`` asks for (inside its bundle)."""
    if kind == "reward":
        return resources.reward_actor(cfg)
    if cfg.grpo.colocate:
        cpus = cfg.grpo.rollout.num_cpus_per_worker if kind == "rollout" else cfg.grpo.learner.num_cpus_per_worker
        return resources.colocated_member(cfg, cpus)
    return resources.rollout_actor(cfg) if kind == "rollout" else resources.learner_rank(cfg)


def bundle_index(cfg: Config, kind: str, index: int, offset: int = 0) -> int:
    """The bundle of the ``index``-th actor of ``kind`` when the run's bundles start at ``offset``."""
    counts = _counts(cfg)
    if kind not in counts or not 0 <= index < counts[kind]:
        raise ValueError(f"no bundle for {kind} actor {index}: the run has {counts}")
    pairs = counts["learner"] if cfg.grpo.colocate else 0  # colocated: rollout i and learner i share bundle i
    starts = {"rollout": 0, "learner": counts["rollout"] - pairs, "reward": counts["rollout"] + counts["learner"] - pairs}
    return offset + starts[kind] + index


class Placement:
    """Actor options: each actor's resources, pinned to its bundle when the run has a group."""

    def __init__(self, cfg: Config, group: Any = None, offset: int = 0) -> None:
        self.cfg, self.group, self.offset = cfg, group, offset

    @classmethod
    def reserve(cls, cfg: Config, timeout_s: float = 600.0) -> Placement:
        """Inside a placement group (a Tune trial): use it, after its driver bundle; else reserve one."""
        from ray.util import get_current_placement_group, placement_group, remove_placement_group

        current = get_current_placement_group()
        if current is not None:
            return cls(cfg, current, offset=1)
        group = placement_group(run_bundles(cfg), strategy="PACK")
        if not group.wait(timeout_s):
            remove_placement_group(group)
            raise RuntimeError(f"GRPO's actors ({run_bundles(cfg)}) could not all be placed within {timeout_s:g} s: "
                               "the cluster is short of CPUs/GPUs (an autoscaler may still be adding nodes); lower "
                               "grpo.rollout / grpo.learner num_workers or their resources, or measure.num_actors")
        return cls(cfg, group)

    def options(self, kind: str, index: int) -> dict[str, Any]:
        request = actor_request(self.cfg, kind).options()
        if self.group is None:
            return request
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        return {**request, "scheduling_strategy": PlacementGroupSchedulingStrategy(
            placement_group=self.group, placement_group_bundle_index=bundle_index(self.cfg, kind, index, self.offset))}

    def release(self) -> None:
        """Remove a group this run reserved (a Tune trial's group belongs to Tune)."""
        if self.group is not None and self.offset == 0:
            from ray.util import remove_placement_group

            remove_placement_group(self.group)

"""Where a GRPO run's actors go: one placement group, one bundle per actor, each actor pinned to its own.

Bundles in order: rollout actors, learner ranks, reward actors (``run_bundles``). The controller
reserves them all at once (gang scheduling: the run starts only when every actor fits, and an
autoscaler sees the whole request), or, inside a Ray Tune trial, uses the trial's group, whose
bundle 0 is the trial's driver (``tune.sweep.trial_bundles``). Each actor asks for its bundle by
index: with captured but unpinned actors, a small actor can land in a larger actor's bundle and
leave that one unschedulable. A replaced actor goes back into the bundle of the one it replaces.
"""

from __future__ import annotations

from typing import Any

from physar_ray.config import Config

KINDS = ("rollout", "learner", "reward")


def _counts(cfg: Config) -> dict[str, int]:
    return {"rollout": cfg.grpo.rollout.num_workers, "learner": cfg.grpo.learner.num_workers,
            "reward": cfg.measure.num_actors}


def run_bundles(cfg: Config) -> list[dict[str, float]]:
    """One bundle per actor of a run: rollout actors, learner ranks, reward actors."""
    g, m = cfg.grpo, cfg.measure

    def bundle(cpus: float, gpus: float = 0.0) -> dict[str, float]:
        return {"CPU": cpus, "GPU": gpus} if gpus else {"CPU": cpus}

    return ([bundle(g.rollout.num_cpus_per_worker, g.rollout.num_gpus_per_worker)] * g.rollout.num_workers
            + [bundle(g.learner.num_cpus_per_worker, 1.0 if g.learner.use_gpu else 0.0)] * g.learner.num_workers
            + [bundle(m.num_cpus_per_actor)] * m.num_actors)


def bundle_index(cfg: Config, kind: str, index: int, offset: int = 0) -> int:
    """The bundle of the ``index``-th actor of ``kind`` when the run's bundles start at ``offset``."""
    counts = _counts(cfg)
    if kind not in counts or not 0 <= index < counts[kind]:
        raise ValueError(f"no bundle for {kind} actor {index}: the run has {counts}")
    before = sum(counts[k] for k in KINDS[: KINDS.index(kind)])
    return offset + before + index


class Placement:
    """Actor options that pin each actor of a run to its bundle (empty options: no group)."""

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
        if self.group is None:
            return {}
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        return {"scheduling_strategy": PlacementGroupSchedulingStrategy(
            placement_group=self.group, placement_group_bundle_index=bundle_index(self.cfg, kind, index, self.offset))}

    def release(self) -> None:
        """Remove a group this run reserved (a Tune trial's group belongs to Tune)."""
        if self.group is not None and self.offset == 0:
            from ray.util import remove_placement_group

            remove_placement_group(self.group)

"""Where a GRPO run's actors go: one placement group, one bundle per actor, each actor pinned to its own.

Bundles in order (``run_bundles``, from ``resources.grpo_demands``): rollout actors, learner ranks,
reward actors; with ``grpo.colocate`` rollout actor i and learner rank i share bundle i (one GPU on
a GPU cluster, each asking for half of it), then the reward actors. The controller reserves them
all at once (gang scheduling: the run starts only when every actor fits, and an autoscaler sees
the whole request), or, inside a Ray Tune trial, uses the trial's group, whose bundle 0 is the
trial's driver (``tune.sweep.trial_bundles``). Each actor asks for its bundle by index
(``runtime.placement.BundleGroup``); a replaced actor goes back into the bundle of the one it replaces.
"""

from __future__ import annotations

from typing import Any

from physar_ray import resources
from physar_ray.config import Config, ConfigError
from physar_ray.runtime.cluster import shortfall
from physar_ray.runtime.placement import BundleGroup

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


def check_resources(cfg: Config, available: dict[str, float]) -> None:
    """Fail before starting any actor when the cluster cannot hold them all at once (every resource of the run's
    bundles, custom ones included)."""
    grown = " at its largest (run.max_cluster_resources)" if cfg.run.max_cluster_resources else ""
    for key, total, have in shortfall(run_bundles(cfg), available):
        knobs = {"CPU": "num_cpus_per_worker", "GPU": "num_gpus_per_worker / grpo.learner.use_gpu"}
        what = knobs.get(key, f"the custom resource of run.train_resource / run.infer_resource ({key!r})")
        raise ConfigError(f"GRPO's actors need {total:g} {key} (rollout, learner and reward bundles: "
                          f"{run_bundles(cfg)}) but the Ray cluster has {have:g}{grown}: lower grpo.rollout/grpo.learner "
                          f"num_workers or {what}, measure.num_actors, or add nodes")


class Placement:
    """Actor options: each actor's resources, pinned to its bundle when the run has a group."""

    def __init__(self, cfg: Config, bundles: BundleGroup | None = None) -> None:
        self.cfg, self.bundles = cfg, bundles or BundleGroup()

    @classmethod
    def reserve(cls, cfg: Config, timeout_s: float = 600.0) -> Placement:
        """Inside a placement group (a Tune trial): use it, after its driver bundle; else reserve one."""
        return cls(cfg, BundleGroup.reserve(run_bundles(cfg), timeout_s, "GRPO's actors",
                                            "lower grpo.rollout / grpo.learner num_workers or their resources, "
                                            "or measure.num_actors"))

    def options(self, kind: str, index: int) -> dict[str, Any]:
        return self.bundles.pin(actor_request(self.cfg, kind).options(), bundle_index(self.cfg, kind, index))

    def release(self) -> None:
        self.bundles.release()

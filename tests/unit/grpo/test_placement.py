"""Each GRPO actor has its own bundle: rollout actors, learner ranks, reward actors, in that order."""

import pytest

from physar_ray.config import load
from physar_ray.grpo.placement import Placement, bundle_index, run_bundles


def test_every_actor_gets_its_own_bundle_in_a_fixed_order():
    cfg = load(None, ["grpo.rollout.num_workers=2", "grpo.rollout.num_gpus_per_worker=1", "grpo.batch_size=32",
                      "grpo.learner.num_workers=2", "grpo.learner.use_gpu=true", "measure.num_actors=3",
                      "measure.num_cpus_per_actor=0.25"])
    assert run_bundles(cfg) == [{"CPU": 1.0, "GPU": 1.0}] * 4 + [{"CPU": 0.25}] * 3
    indices = [bundle_index(cfg, kind, i) for kind, n in (("rollout", 2), ("learner", 2), ("reward", 3)) for i in range(n)]
    assert indices == list(range(7))
    assert bundle_index(cfg, "learner", 0, offset=1) == 3  # inside a Tune trial, after the driver's bundle
    with pytest.raises(ValueError, match="no bundle for reward actor 3"):
        bundle_index(cfg, "reward", 3)


def test_without_a_group_actors_get_plain_options():
    assert Placement(load(None, [])).options("rollout", 0) == {}

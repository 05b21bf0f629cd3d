"""Each GRPO actor has its own bundle: rollout actors, learner ranks, reward actors, in that order;
with grpo.colocate rollout actor i and learner rank i share bundle i, each asking for half its GPU."""

import pytest

from physar_ray.config import ConfigError, load
from physar_ray.grpo.controller import check_resources
from physar_ray.grpo.placement import Placement, bundle_index, run_bundles

GPU_RUN = ["grpo.rollout.num_workers=2", "grpo.rollout.num_gpus_per_worker=1", "grpo.batch_size=32",
           "grpo.learner.num_workers=2", "grpo.learner.use_gpu=true", "measure.num_actors=3",
           "measure.num_cpus_per_actor=0.25"]


def test_every_actor_gets_its_own_bundle_in_a_fixed_order():
    cfg = load(None, GPU_RUN)
    assert run_bundles(cfg) == [{"CPU": 1.0, "GPU": 1.0}] * 4 + [{"CPU": 0.25}] * 3
    indices = [bundle_index(cfg, kind, i) for kind, n in (("rollout", 2), ("learner", 2), ("reward", 3)) for i in range(n)]
    assert indices == list(range(7))
    assert bundle_index(cfg, "learner", 0, offset=1) == 3  # inside a Tune trial, after the driver's bundle
    with pytest.raises(ValueError, match="no bundle for reward actor 3"):
        bundle_index(cfg, "reward", 3)


def test_gpu_actors_ask_for_the_custom_resource_of_their_node_type():
    cfg = load(None, [*GPU_RUN, "run.train_resource=learner", "run.infer_resource=rollout"])
    assert run_bundles(cfg) == ([{"CPU": 1.0, "GPU": 1.0, "rollout": 1.0}] * 2 + [{"CPU": 1.0, "GPU": 1.0, "learner": 1.0}] * 2
                                + [{"CPU": 0.25}] * 3)  # CPU reward actors ask for no custom resource
    assert Placement(cfg).options("learner", 1) == {"num_cpus": 1.0, "num_gpus": 1.0, "resources": {"learner": 1.0}}
    with pytest.raises(ConfigError, match=r"need 2 learner .* has 0"):
        check_resources(cfg, {"CPU": 16, "GPU": 8, "rollout": 4})
    check_resources(cfg, {"CPU": 16, "GPU": 8, "rollout": 4, "learner": 8})


def test_colocated_pairs_share_a_bundle_and_split_its_gpu():
    cfg = load(None, [*GPU_RUN, "grpo.colocate=true", "run.train_resource=learner", "grpo.rollout.num_cpus_per_worker=2"])
    assert run_bundles(cfg) == [{"CPU": 3.0, "GPU": 1.0, "learner": 1.0}] * 2 + [{"CPU": 0.25}] * 3
    assert [bundle_index(cfg, "rollout", i) for i in range(2)] == [bundle_index(cfg, "learner", i) for i in range(2)] == [0, 1]
    assert [bundle_index(cfg, "reward", i) for i in range(3)] == [2, 3, 4]
    placement = Placement(cfg)
    assert placement.options("rollout", 0) == {"num_cpus": 2.0, "num_gpus": 0.5, "resources": {"learner": 0.5}}
    assert placement.options("learner", 0) == {"num_cpus": 1.0, "num_gpus": 0.5, "resources": {"learner": 0.5}}


def test_colocation_needs_pairs():
    with pytest.raises(ConfigError, match="must equal grpo.learner.num_workers=2"):
        load(None, [*GPU_RUN, "grpo.colocate=true", "grpo.rollout.num_workers=1"])
    with pytest.raises(ConfigError, match="NCCL refuses two ranks on one GPU"):
        load(None, [*GPU_RUN, "grpo.colocate=true", "grpo.sync.backend=nccl"])


def test_without_a_group_actors_get_their_resources_only():
    assert Placement(load(None, [])).options("rollout", 0) == {"num_cpus": 1.0, "num_gpus": 0.0}


def test_an_autoscaling_cluster_is_checked_against_what_it_can_grow_to():
    grows = ["run.train_resource=learner", "run.max_cluster_resources=[CPU=64,GPU=8,learner=4]"]
    cfg = load(None, [*GPU_RUN, *grows])
    assert cfg.run.max_resources() == {"CPU": 64.0, "GPU": 8.0, "learner": 4.0}
    check_resources(cfg, cfg.run.max_resources())  # 2 learner units needed, 4 at most: waits for nodes
    small = load(None, [*GPU_RUN, "run.train_resource=learner", "run.max_cluster_resources=[CPU=64,GPU=8,learner=1]"])
    with pytest.raises(ConfigError, match=r"need 2 learner .* has 1 at its largest \(run.max_cluster_resources\)"):
        check_resources(small, small.run.max_resources())
    with pytest.raises(ConfigError, match=r"entry 'GPU:8' must be RESOURCE=AMOUNT"):
        load(None, ["run.max_cluster_resources=[GPU:8]"])

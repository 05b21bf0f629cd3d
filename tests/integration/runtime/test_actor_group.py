"""The actor-group helper on a real local Ray: slots, health check, replacement in the slot, restart count;
and the job's runtime_env carrying the S3 settings into an actor that was given none."""

from __future__ import annotations

from physar_ray import storage
from physar_ray.runtime.actor_group import ActorGroup


class Echo:
    def __init__(self, slot: int) -> None:
        self.slot = slot

    def who(self) -> int:
        return self.slot

    def s3(self) -> dict[str, str]:
        return storage.s3_settings()


def test_start_check_replace_in_the_slot_and_count_restarts(ray_local):
    ray = ray_local
    group = ActorGroup(Echo, 2, args=lambda slot: (slot,), num_cpus=0)
    try:
        assert ray.get(group.call("who")) == [0, 1] and len(group) == 2
        assert group.dead() == []
        doomed = group[1]
        ray.kill(doomed)
        assert group.dead() == [1]
        fresh = group.replace(1)
        assert fresh is group[1] and fresh is not doomed and group.restarts == 1
        assert ray.get(group[1].who.remote()) == 1 and group.dead() == []
    finally:
        group.shutdown()
    assert len(group) == 0


def test_an_actor_reads_the_s3_settings_from_the_runtime_env(ray_local):
    ray = ray_local
    env = {"env_vars": {"PHYSAR_S3_ENDPOINT": "http://127.0.0.1:9", "PHYSAR_S3_REGION": "eu-west-1"}}
    group = ActorGroup(Echo, 1, args=lambda slot: (slot,), num_cpus=0, runtime_env=env)  # as ensure_ray's job env
    try:
        assert ray.get(group[0].s3.remote()) == {"endpoint": "http://127.0.0.1:9", "region": "eu-west-1"}
    finally:
        group.shutdown()

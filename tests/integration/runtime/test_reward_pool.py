"""The reward actor pool on a real local Ray: same scores as in process, survives a killed actor."""

from __future__ import annotations


import numpy as np
import pytest

from physar_ray.config import load
from physar_ray.runtime.reward_pool import RewardPool, RewardWorker
from physar_ray.sim.video import make_video


@pytest.fixture(scope="module")
def videos():
    cfg = load(None, ["measure.batch_size=2"])
    recs = [make_video(s, "eval_iid", 0, i, cfg.data)[0] for s in ("uniform", "parabola", "collision") for i in range(4)]
    return cfg, recs


def test_pool_survives_an_actor_killed_mid_batch_and_scores_every_video_once(ray_local, videos):
    ray = ray_local
    cfg, recs = videos
    expected = RewardWorker(cfg.measure, 3).score(*[(r.frames, r.states) for r in recs])
    refs = [ray.put((r.frames, r.states)) for r in recs]
    pool = RewardPool(cfg.measure, 3, num_actors=2)
    try:
        assert len(pool.score(refs[:4])) == 4  # both actors up and warm
        pending = pool.submit(refs)  # 6 batches of 2: two in flight on each actor, two waiting
        doomed = pool.actors[0]
        ray.kill(doomed)  # actor 0 dies with its batches in flight
        got = pool.gather(pending)
        assert pool.restarts == 1 and pool.actors[0] is not doomed
    finally:
        pool.shutdown()
    assert len(got) == len(recs)  # every video once, in order, with its own score
    assert [g.v_err for g in got] == pytest.approx([e.v_err for e in expected], nan_ok=True)
    assert [g.reward for g in got] == [e.reward for e in expected]
    assert np.isfinite([g.reward for g in got]).all()


def test_pool_gives_up_on_a_call_that_keeps_killing_actors(ray_local, videos):
    ray = ray_local
    cfg, recs = videos
    pool = RewardPool(cfg.measure, 3, num_actors=1, max_retries=0)
    try:
        pending = pool.submit([ray.put((recs[0].frames, recs[0].states))])
        ray.kill(pool.actors[0])
        with pytest.raises(RuntimeError, match=r"reward actor call 0 \(score\) lost its actor 1 times"):
            pool.gather(pending)
    finally:
        pool.shutdown()

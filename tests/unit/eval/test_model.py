"""Which videos `physar eval model` scores: eval splits capped per scenario, rl only where GRPO never trains."""

import numpy as np
import pyarrow as pa

from physar_ray.config import load
from physar_ray.data.holdout import rl_holdout, video_key
from physar_ray.eval.model import evaluation_videos


def _tokens(counts: dict[str, int]) -> pa.Table:
    rows = [{"scenario": scenario, "split": split, "index": i, "tokens": [0] * 4}
            for scenario in ("uniform", "parabola") for split, n in counts.items() for i in range(n)]
    return pa.Table.from_pylist(rows[::-1])  # stored order must not matter


def test_caps_each_scenario_and_set_and_skips_training_splits():
    cfg = load("tiny", ["generate.eval_per_scenario=3", "grpo.eval_videos=4"])
    picked = evaluation_videos(cfg, _tokens({"sft": 9, "eval_iid": 5, "eval_ood": 2, "rl": 12}))
    groups = {}
    for s, sp in zip(picked.column("scenario").to_pylist(), picked.column("split").to_pylist()):
        groups[(s, sp)] = groups.get((s, sp), 0) + 1
    # rl: 4 of the 24 rl videos are held out (over both scenarios), at most 3 per scenario kept
    assert {k: v for k, v in groups.items() if k[1] != "rl"} == {
        ("uniform", "eval_iid"): 3, ("parabola", "eval_iid"): 3, ("uniform", "eval_ood"): 2, ("parabola", "eval_ood"): 2}
    assert sum(v for k, v in groups.items() if k[1] == "rl") <= 4


def test_rl_videos_are_exactly_grpos_held_out_ones():
    cfg = load("tiny", ["generate.eval_per_scenario=0", "grpo.eval_videos=5"])
    picked = evaluation_videos(cfg, _tokens({"rl": 8}))
    keys = sorted(video_key(s, "rl", i) for s in ("uniform", "parabola") for i in range(8))
    held, train = rl_holdout(len(keys), cfg.grpo)
    chosen = {video_key(s, sp, i) for s, sp, i in zip(*(picked.column(c).to_pylist() for c in ("scenario", "split", "index")))}
    assert chosen == {keys[i] for i in held} and len(chosen) == 5
    assert chosen.isdisjoint(keys[i] for i in train)
    assert np.intersect1d(held, train).size == 0
    other_seed, _ = rl_holdout(len(keys), load("tiny", ["grpo.eval_videos=5", "grpo.seed=7"]).grpo)
    assert (other_seed == held).all()  # a GRPO run with another seed never trains on these

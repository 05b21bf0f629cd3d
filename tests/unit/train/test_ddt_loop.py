import itertools
import json

import numpy as np
import pytest
import torch

from physar_ray.config import load
from physar_ray.tokenizer.ddt import DDTokenizer
from physar_ray.train.ddt import learning_rate, train_ddt
from physar_ray.train.frames import simulator_frames

RES = 32


def _setup(*overrides):
    cfg = load(None, [f"data.resolution={RES}", "tokenizer.batch_size=8", "tokenizer.warmup_steps=2",
                      "tokenizer.vq_warmup_steps=3", *overrides])
    return cfg.tokenizer, (lambda start: simulator_frames(cfg.data, 8, start, videos_per_batch=2))


def test_learning_rate_schedule_hand_computed():
    cfg = load(None, ["tokenizer.lr=1.0", "tokenizer.warmup_steps=4"]).tokenizer
    assert learning_rate(cfg, 0, 0.0) == 0.25  # warm-up: (0 + 1) / 4
    assert abs(learning_rate(cfg, 10, 0.5) - 0.5) < 1e-12  # cosine: (1 + cos(π/2)) / 2
    assert learning_rate(cfg, 10, 1.0) < 1e-12


def test_simulator_frames_resume_at_any_step():
    _, batches = _setup()
    a = list(itertools.islice(batches(0), 3))
    b = next(batches(2))
    assert a[0].shape == (8, RES, RES, 3) and a[0].dtype == np.uint8 and np.array_equal(a[2], b)


@pytest.mark.parametrize("family", ["coord", "paper"])
def test_short_training_lowers_the_loss_and_changes_every_parameter(family):
    cfg, batches = _setup(f"tokenizer.family={family}", "tokenizer.max_steps=30", "tokenizer.vq_warmup_steps=30")
    held_out = torch.from_numpy(next(simulator_frames(load(None, [f"data.resolution={RES}", "data.seed=7"]).data, 32)))
    torch.manual_seed(cfg.seed)
    untrained = DDTokenizer(cfg, RES)
    before = {k: v.clone() for k, v in untrained.model.named_parameters()}
    result = train_ddt(cfg, RES, batches, progress_bar=False)
    assert result.step == 30 and np.isfinite([h["ddt/loss"] for h in result.history]).all()
    with torch.no_grad():  # eval mode: continuous-feature warm-up over, codebook frozen
        loss_before = untrained.eval().loss(held_out)[1]["recon_mse"]
        loss_after = result.tokenizer.loss(held_out)[1]["recon_mse"]
    assert loss_after < 0.7 * loss_before, (float(loss_before), float(loss_after))
    unchanged = [k for k, v in result.tokenizer.model.named_parameters() if torch.equal(v, before[k])]
    assert not unchanged, unchanged


def test_a_step_budget_gives_the_same_tokenizer_on_every_run():
    # time_budget_s=0: no wall-clock cap, so the machine's speed cannot change where training stops.
    cfg, batches = _setup("tokenizer.max_steps=6", "tokenizer.time_budget_s=0")
    runs = [train_ddt(cfg, RES, batches, progress_bar=False) for _ in range(2)]
    assert [r.step for r in runs] == [6, 6]
    a, b = (r.tokenizer.model.state_dict() for r in runs)
    assert all(torch.equal(a[k], b[k]) for k in a)


class Crash(RuntimeError):
    pass


def _crashing(batches, at):
    def factory(start):
        for i, batch in enumerate(batches(start), start):
            if i == at:
                raise Crash
            yield batch
    return factory


@pytest.mark.parametrize("family", ["coord", "paper"])
def test_resume_continues_from_the_same_step_with_the_same_loss(tmp_path, family):
    cfg, batches = _setup(f"tokenizer.family={family}", "tokenizer.max_steps=6", "tokenizer.checkpoint_every=3",
                          "tokenizer.decoder=flow")
    straight = train_ddt(cfg, RES, batches, tmp_path / "a", progress_bar=False)
    with pytest.raises(Crash):
        train_ddt(cfg, RES, _crashing(batches, 4), tmp_path / "b", progress_bar=False)
    resumed = train_ddt(cfg, RES, batches, tmp_path / "b", progress_bar=False)
    assert [h["step"] for h in resumed.history] == [4, 5, 6]
    expected = [h["ddt/loss"] for h in straight.history[3:]]
    assert np.allclose([h["ddt/loss"] for h in resumed.history], expected, rtol=1e-5, atol=1e-7)
    lines = [json.loads(x) for x in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [1, 2, 3, 4, 4, 5, 6]  # the crashed run logged step 4 before dying

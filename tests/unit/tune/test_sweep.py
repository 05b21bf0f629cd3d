"""The sweep's pure parts: search points as configs, checks, bundles, trials.csv rows, the best trial."""

from __future__ import annotations

import csv
import io

import pytest

from physar_ray.config import ConfigError, load
from physar_ray.tune.sweep import (UNTRACKED_V_ERR, best_row, check_sweep, check_trial_fits, csv_text, sweep_plot,
                                   trial_bundles, trial_config, trial_row, trial_tracking)


def row(trial_id, v, steps=4, status="completed", alpha=4.0):
    return {"trial_id": trial_id, "alpha": alpha, "k": 1.4, "beta": 0.04, "group_size": 4, "ood_v_err": v,
            "status": status, "steps": steps, "rl_v_err": None, "reward": 1.0}


def test_a_trial_sets_alpha_k_beta_and_g_through_the_dotted_keys():
    cfg = trial_config(load(), {"alpha": 2.0, "k": 0.7, "beta": 0.0, "group_size": 7})
    assert (cfg.measure.alpha, cfg.measure.k, cfg.grpo.kl.beta, cfg.grpo.rollout.group_size) == (2.0, 0.7, 0.0, 7)


@pytest.mark.parametrize("overrides, message", [
    (["tune.group_size=[4,3]"], "the search point {'alpha': 2.0, 'k': 0.7, 'beta': 0.0, 'group_size': 3} gives an "
                                "invalid config: grpo.batch_size=28 must be divisible by grpo.rollout.group_size=3"),
    (["grpo.eval_every=0"], "grpo.eval_every=0: a sweep reports v_err after every evaluation"),
    (["tune.max_t=2000"], "tune.max_t=2000 exceeds grpo.max_steps=1600"),
    (["tune.grace_period=200", "grpo.max_steps=100"], "ASHA's grace period 200 (tune.grace_period, or "
                                                       "grpo.eval_every when 0) must be <= its max_t=100"),
    (["grpo.eval_every=300", "grpo.max_steps=200"], "ASHA's grace period 300"),
])
def test_sweep_checks_name_the_key_and_the_value(overrides, message):
    with pytest.raises(ConfigError) as err:
        check_sweep(load(None, overrides))
    assert message in str(err.value)


@pytest.mark.parametrize("override, message", [
    ("tune.metric=reward", "tune.metric='reward': allowed are ood_v_err, rl_v_err (a measured v_err; reward is not "
                           "comparable across trials"),
    ("tune.search=bayes", "tune.search='bayes': allowed are grid, random, optuna"),
    ("tune.alpha=[]", "tune.alpha=[] is empty"),
    ("tune.beta=[0.04,200.0]", "tune.beta has 200.0: values must be in [0, 100]"),
    ("tune.group_size=[1]", "tune.group_size has 1: values must be >= 2"),
    ("tune.reduction_factor=1", "tune.reduction_factor=1 must be >= 2"),
    ("tune.trial_cpus=0", "tune.trial_cpus=0.0 must be in (0, 64]"),
])
def test_bad_tune_values_are_rejected_at_load(override, message):
    with pytest.raises(ConfigError) as err:
        load(None, [override])
    assert message in str(err.value)


def test_a_trial_bundles_its_driver_and_every_actor_and_must_fit_the_cluster():
    cfg = load(None, ["tune.trial_cpus=0.5", "grpo.rollout.num_gpus_per_worker=1", "grpo.learner.num_workers=2",
                      "grpo.learner.use_gpu=true", "grpo.learner.micro_batch_size=2", "measure.num_actors=3",
                      "measure.num_cpus_per_actor=0.25"])
    assert trial_bundles(cfg) == [{"CPU": 0.5}, {"CPU": 1.0, "GPU": 1.0}, {"CPU": 1.0, "GPU": 1.0},
                                  {"CPU": 1.0, "GPU": 1.0}] + [{"CPU": 0.25}] * 3
    check_trial_fits(cfg, {"CPU": 4.25, "GPU": 3})  # 0.5 + 1 + 2 + 0.75
    with pytest.raises(ConfigError) as err:
        check_trial_fits(cfg, {"CPU": 4.0, "GPU": 3})
    assert "tune.trial_cpus=0.5 of its 4 CPUs go to the trial's driver, leaving 3.5" in str(err.value)
    assert "lower tune.trial_cpus" in str(err.value) and "measure.num_actors" in str(err.value)


def test_trial_rows_mark_errors_early_stops_and_unmeasured_v_err():
    params = {"alpha": 2.0, "k": 1.4, "beta": 0.0, "group_size": 4}
    done = trial_row("t1", params, {"step": 4, "ood_v_err": 0.25, "rl_v_err": 0.5, "reward": 3.0}, False, 4)
    assert done == {"trial_id": "t1", **params, "ood_v_err": 0.25, "status": "completed", "steps": 4,
                    "rl_v_err": 0.5, "reward": 3.0}
    stopped = trial_row("t2", params, {"step": 2, "ood_v_err": UNTRACKED_V_ERR, "reward": float("nan")}, False, 4)
    assert (stopped["status"], stopped["ood_v_err"], stopped["reward"]) == ("stopped", None, None)
    assert trial_row("t3", params, {}, True, 4)["status"] == "error"


def test_best_trial_went_furthest_then_has_the_lowest_v_err():
    rows = [row("a", 0.05, steps=2, status="stopped"), row("b", 0.3), row("c", 0.2), row("d", None),
            row("e", 0.01, status="error")]
    assert best_row(rows)["trial_id"] == "c"  # a was stopped by ASHA at an earlier rung; e failed
    assert best_row([row("x", 0.2), row("w", 0.2)])["trial_id"] == "w"  # ties: first trial id
    assert best_row([row("d", None), row("e", 0.1, status="error")]) is None


def test_csv_has_one_row_per_trial_sorted_with_empty_unmeasured_values():
    text = csv_text([row("b", None, status="stopped", steps=2), row("a", 0.125)])
    lines = list(csv.DictReader(io.StringIO(text)))
    assert text.splitlines()[0] == "trial_id,alpha,k,beta,group_size,ood_v_err,status,steps,rl_v_err,reward"
    assert [r["trial_id"] for r in lines] == ["a", "b"]
    assert lines[0]["ood_v_err"] == "0.125" and lines[1]["ood_v_err"] == "" and lines[1]["steps"] == "2"


def test_sweep_plot_is_a_png():
    png = sweep_plot({"a": [(0, 0.5), (2, 0.25)], "b": [(0, 0.6), (1, UNTRACKED_V_ERR)]},
                     [row("a", 0.25), row("b", None, steps=1, status="stopped")])
    assert png[:4] == b"\x89PNG"


def test_a_trial_tracks_its_grpo_steps_to_tensorboard_only_under_the_sweeps_root():
    # MLflow gets the trials' reports from Tune's callback on the driver: one writer to the local store
    cfg = trial_tracking(load("tiny"), "/runs/demo")
    assert cfg.run.tracking.backends == ("tensorboard",) and cfg.run.tracking.dir == "/runs/demo"
    assert trial_tracking(load("tiny", ["run.tracking.backends=[mlflow]"]), "/r").run.tracking.backends == ()

"""`physar tune sweep`: a Ray Tune sweep of GRPO runs over α, k, β and g, ranked by held-out v_err (docs/method.md §6).

Each trial is one whole GRPO run (``run_grpo``: controller, rollout, reward and learner actors)
with the trial's values set through the same dotted overrides as the CLI (``SEARCH_KEYS``). The
trial reports after every evaluation (``grpo.eval_every``) and ASHA stops the worse trials at its
rungs. Trials are ranked by a measured physics metric (``tune.metric``, default held-out OOD
v_err, lower is better), never by reward, whose scale α and k change.

Resources: every trial is one placement group, a bundle for its driver (``tune.trial_cpus``) and
one per actor it starts; Tune captures the actors in it, so concurrent trials never take more than
the cluster has. Outputs under ``out``:

- ``trials/sweep/``: Tune's experiment (resume state, each trial's progress); rerunning the same
  command restores it (finished trials are kept, unfinished and errored ones resume).
- ``runs/<trial_id>/``: each trial's GRPO outputs (metrics.jsonl, checkpoints/, result.json).
- ``trials.csv``, ``best.yaml`` (the best trial's resolved config, a preset file), ``sweep.png``,
  ``result.json`` (the summary), ``sweep.json`` (what the sweep was started with).

Tracking (run.tracking): what each trial reports goes to MLflow through Tune's own MLflowLoggerCallback, on
this driver, one MLflow run per trial (a single writer to a local SQLite store, however many trials run at
once); Tune writes its TensorBoard events into each trial's folder under ``trials/sweep/`` (TBXLoggerCallback,
added by Tune itself once tensorboardX is installed). Each trial's GRPO steps go to TensorBoard under
``<tracking root>/tensorboard/tune/<trial_id>/``.
"""

from __future__ import annotations

import csv
import io
import itertools
import logging
import math
from pathlib import Path
from typing import Any

from physar_ray import storage
from physar_ray.config import Config, ConfigError, TuneConfig, dump, from_dict, replace, to_dict
from physar_ray.data.shards import split_files
from physar_ray.extras import require
from physar_ray.report import plots
from physar_ray.tracking import prepared_mlflow_uri, tracking_root

log = logging.getLogger("physar.tune")

SEARCH_KEYS = {"alpha": "measure.alpha", "k": "measure.k", "beta": "grpo.kl.beta",
               "group_size": "grpo.rollout.group_size"}
"""Searched knob → the dotted config key a trial sets (the CLI's override function applies it)."""

EXPERIMENT = "sweep"
"""Tune's experiment name: the experiment lives at ``<out>/trials/sweep``."""

UNTRACKED_V_ERR = 1e6
"""v_err (units/s) reported for an evaluation in which no video could be tracked: worse than any
measured value, so ASHA stops such a trial and it ranks last; trials.csv leaves it empty."""

CSV_COLUMNS = ("trial_id", "alpha", "k", "beta", "group_size", "ood_v_err", "status", "steps", "rl_v_err", "reward")


# -- the search space and its checks (no Ray) ---------------------------------------------------


def search_values(tune_cfg: TuneConfig) -> dict[str, list[Any]]:
    """The values searched per knob, in ``SEARCH_KEYS`` order."""
    return {name: list(getattr(tune_cfg, name)) for name in SEARCH_KEYS}


def trial_config(cfg: Config, params: dict[str, Any]) -> Config:
    """The sweep's config with one trial's α, k, β, g set through the dotted keys."""
    return replace(cfg, {SEARCH_KEYS[name]: value for name, value in params.items()})


def max_t(cfg: Config) -> int:
    """ASHA's max_t in GRPO steps (tune.max_t, or grpo.max_steps when 0)."""
    return cfg.tune.max_t or cfg.grpo.max_steps


def grace_period(cfg: Config) -> int:
    """ASHA's grace period in GRPO steps (tune.grace_period, or grpo.eval_every when 0)."""
    return cfg.tune.grace_period or cfg.grpo.eval_every


def check_sweep(cfg: Config) -> None:
    """Cross-field checks: reports to rank by, ASHA within the run, every search point a valid config."""
    t, grpo = cfg.tune, cfg.grpo
    if grpo.eval_every < 1:
        raise ConfigError("grpo.eval_every=0: a sweep reports v_err after every evaluation and ASHA needs several "
                          "reports per trial; set grpo.eval_every > 0, e.g. a tenth of grpo.max_steps")
    if t.max_t > grpo.max_steps:
        raise ConfigError(f"tune.max_t={t.max_t} exceeds grpo.max_steps={grpo.max_steps}: a trial ends at "
                          "grpo.max_steps; lower tune.max_t (0 means grpo.max_steps)")
    if grace_period(cfg) > max_t(cfg):
        raise ConfigError(f"ASHA's grace period {grace_period(cfg)} (tune.grace_period, or grpo.eval_every when 0) "
                          f"must be <= its max_t={max_t(cfg)} (tune.max_t, or grpo.max_steps when 0)")
    values = search_values(t)
    for point in itertools.product(*values.values()):
        params = dict(zip(values, point))
        try:
            trial_config(cfg, params)
        except ConfigError as exc:
            raise ConfigError(f"the search point {params} gives an invalid config: {exc}; "
                              "change the tune.* lists (or the grpo settings they must fit)") from None


def trial_bundles(cfg: Config) -> list[dict[str, float]]:
    """One trial's placement group: its driver, then the run's bundles (grpo.placement.run_bundles),
    into which the trial's GRPO controller pins its actors."""
    from physar_ray.grpo.placement import run_bundles

    return [{"CPU": cfg.tune.trial_cpus}] + run_bundles(cfg)


def check_trial_fits(cfg: Config, available: dict[str, float]) -> None:
    """Fail before any trial starts when one trial's placement group is larger than the whole cluster."""
    from physar_ray.grpo.controller import check_resources

    driver = cfg.tune.trial_cpus
    have = available.get("CPU", 0.0)
    left = {**available, "CPU": have - driver}
    try:
        check_resources(cfg, left)
    except ConfigError as exc:
        raise ConfigError(f"one tune trial does not fit the cluster: tune.trial_cpus={driver:g} of its {have:g} "
                          f"CPUs go to the trial's driver, leaving {max(left['CPU'], 0):g}. {exc}; "
                          "or lower tune.trial_cpus") from None


# -- results (no Ray) ------------------------------------------------------------------------------


def measured(value: Any) -> float | None:
    """A reported v_err as a number, or None when unmeasured (missing, NaN, or the untracked marker)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) and value < UNTRACKED_V_ERR else None


def trial_row(trial_id: str, params: dict[str, Any], metrics: dict[str, Any], error: bool,
              total_steps: int) -> dict[str, Any]:
    """One trials.csv row from a trial's parameters and its last reported metrics.

    status: error (the trial raised), completed (reached ``total_steps``, ASHA's max_t) or
    stopped (ended earlier: stopped by ASHA at a rung, or out of grpo.time_budget_s).
    """
    steps = int(metrics.get("step", 0) or 0)
    status = "error" if error else "completed" if steps >= total_steps else "stopped"
    reward = metrics.get("reward")
    return {"trial_id": trial_id, **{name: params.get(name) for name in SEARCH_KEYS},
            "ood_v_err": measured(metrics.get("ood_v_err")), "status": status, "steps": steps,
            "rl_v_err": measured(metrics.get("rl_v_err")),
            "reward": float(reward) if reward is not None and math.isfinite(float(reward)) else None}


def best_row(rows: list[dict[str, Any]], metric: str = "ood_v_err") -> dict[str, Any] | None:
    """The best trial: among trials without error and with a measured metric, those that trained the most
    steps (they passed every ASHA rung), then the lowest metric; ties go to the first trial id."""
    ranked = [r for r in rows if r["status"] != "error" and r[metric] is not None]
    if not ranked:
        return None
    return min(ranked, key=lambda r: (-r["steps"], r[metric], r["trial_id"]))


def csv_text(rows: list[dict[str, Any]]) -> str:
    """trials.csv: one row per trial, sorted by trial id; unmeasured values are empty."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in sorted(rows, key=lambda r: r["trial_id"]):
        writer.writerow({k: "" if row[k] is None else row[k] for k in CSV_COLUMNS})
    return buf.getvalue()


def sweep_plot(histories: dict[str, list[tuple[int, float]]], rows: list[dict[str, Any]],
               metric: str = "ood_v_err") -> bytes:
    """PNG: the metric over GRPO steps per trial (left) and each trial's last value (right, best in red);
    unmeasured evaluations are left out (report.plots.sweep_plot draws it)."""
    best = best_row(rows, metric)
    points = {trial_id: [(s, v) for s, v in pts if measured(v) is not None] for trial_id, pts in histories.items()}
    return plots.sweep_plot(points, rows, metric, best["trial_id"] if best else None)


def sweep_identity(cfg: Config, model_uri: str, tokenizer_uri: str, data_uri: str) -> dict[str, Any]:
    """What a restored sweep must share with the one on disk: every branch but run and storage (where
    Ray and the bucket are may change between submissions), and the inputs."""
    branches = [name for name in to_dict(cfg) if name not in ("run", "storage")]
    return {"config_hash": cfg.hash(*branches), "model": model_uri, "tokenizer": tokenizer_uri, "data": data_uri}


# -- Ray Tune --------------------------------------------------------------------------------------


def trial_tracking(cfg: Config, root: str) -> Config:
    """A trial's tracking: its GRPO steps to TensorBoard under ``root``; not to MLflow, which gets the trial's
    reports from Tune's callback on the driver (one writer to a local store, not one per concurrent trial)."""
    backends = [b for b in cfg.run.tracking.backends if b != "mlflow"]
    return replace(cfg, {"run.tracking.backends": backends, "run.tracking.dir": root})


def _trial(params: dict[str, Any], *, tree: dict[str, Any], model_uri: str, tokenizer_uri: str, data_uri: str,
           runs_uri: str, tracking: str) -> None:
    """One trial (runs in Tune's trial actor): a GRPO run that reports to Tune after every evaluation."""
    from ray import tune

    from physar_ray.grpo.controller import run_grpo

    cfg = trial_tracking(trial_config(from_dict(tree), params), tracking)
    trial_id = tune.get_context().get_trial_id()

    def report(m: dict[str, Any]) -> None:
        def v_err(name: str) -> float:
            value = measured(m.get(f"eval/{name}_v_err_mean"))
            return UNTRACKED_V_ERR if value is None else value

        reward = m.get("eval/ood_reward_mean")
        tune.report({"step": int(m["grpo/step"]), "ood_v_err": v_err("ood"), "rl_v_err": v_err("rl"),
                     "reward": float("nan") if reward is None else float(reward),
                     "ood_untrackable_fraction": m.get("eval/ood_untrackable_fraction", float("nan"))})

    run_grpo(cfg, model_uri, tokenizer_uri, data_uri, storage.join(runs_uri, trial_id), on_eval=report,
             track_as=f"tune/{trial_id}")


def _param_space(tune_cfg: TuneConfig) -> dict[str, Any]:
    from ray import tune

    wrap = tune.grid_search if tune_cfg.search == "grid" else tune.choice
    return {name: wrap(values) for name, values in search_values(tune_cfg).items()}


def _searcher(tune_cfg: TuneConfig) -> Any:
    from ray.tune.search.basic_variant import BasicVariantGenerator

    if tune_cfg.search != "optuna":
        return BasicVariantGenerator(random_state=tune_cfg.seed)
    optuna = require("optuna", "optuna", "tune.search='optuna'",
                     " (on every node), or use tune.search=random or grid")
    from ray.tune.search.optuna import OptunaSearch

    return OptunaSearch(sampler=optuna.samplers.TPESampler(seed=tune_cfg.seed))


def _scheduler(cfg: Config) -> Any:
    from ray.tune.schedulers import ASHAScheduler

    return ASHAScheduler(time_attr="step", max_t=max_t(cfg), grace_period=grace_period(cfg),
                         reduction_factor=cfg.tune.reduction_factor)


def _callbacks(cfg: Config, root: str) -> list[Any]:
    """Tune's MLflowLoggerCallback into run.tracking's store (none without mlflow in run.tracking.backends)."""
    uri = prepared_mlflow_uri(cfg.run.tracking, root, "the tune sweep")
    if uri is None:
        return []
    from ray.air.integrations.mlflow import MLflowLoggerCallback

    return [MLflowLoggerCallback(tracking_uri=uri, experiment_name=cfg.run.tracking.experiment, save_artifact=False,
                                 tags={"physar.stage": "tune", "physar.out": root})]


def _histories(result: Any, metric: str) -> list[tuple[int, float]]:
    frame = result.metrics_dataframe
    if frame is None or metric not in frame or "step" not in frame:
        return []
    return [(int(s), float(v)) for s, v in zip(frame["step"], frame[metric])]


def _trial_id(result: Any) -> str:
    return str(result.metrics.get("trial_id") or Path(str(result.path)).name)


def run_tune(cfg: Config, model_uri: str, tokenizer_uri: str, data_uri: str, out: str) -> dict[str, Any]:
    """`physar tune sweep`: run (or restore) the sweep, then write trials.csv, best.yaml, sweep.png, result.json."""
    from ray import tune

    from physar_ray.runtime.cluster import capacity, ensure_ray

    check_sweep(cfg)
    searcher = _searcher(cfg.tune)  # fails now if optuna is missing
    cfg.storage.apply()
    # trials run in a working directory of their own: local paths must not be relative
    out, model_uri, tokenizer_uri, data_uri = (uri if storage.is_s3(uri) else str(Path(uri).expanduser().resolve())
                                               for uri in (out, model_uri, tokenizer_uri, data_uri))
    if cfg.tune.metric == "ood_v_err" and not split_files(data_uri, "eval_ood"):
        raise ValueError(f"{data_uri} holds no eval_ood videos, but tune.metric=ood_v_err ranks trials by them: "
                         "generate the eval_ood split (physar data generate ... data.splits=[eval_ood])")
    storage.check_writable(out)
    ensure_ray(cfg.run)
    check_trial_fits(cfg, capacity(cfg.run))

    identity = sweep_identity(cfg, model_uri, tokenizer_uri, data_uri)
    trials_uri, runs_uri = storage.join(out, "trials"), storage.join(out, "runs")
    experiment = storage.join(trials_uri, EXPERIMENT)
    fs, trials_path = storage.filesystem(trials_uri)
    _, experiment_path = storage.filesystem(experiment)
    restoring = tune.Tuner.can_restore(experiment_path, storage_filesystem=fs)
    if restoring:
        marker = storage.join(out, "sweep.json")
        started = storage.read_json(marker) if storage.exists(marker) else None
        if started != identity:
            raise ConfigError(f"{out} holds a sweep started with a different config or inputs ({started} vs "
                              f"{identity}): use a new --out, or remove {experiment} to start over")
    else:
        storage.write_json(storage.join(out, "sweep.json"), identity)
        storage.write_text(storage.join(out, "config.resolved.yaml"), dump(cfg))

    tracking = tracking_root(cfg.run.tracking, out)
    trainable = tune.with_resources(
        tune.with_parameters(_trial, tree=to_dict(cfg), model_uri=model_uri, tokenizer_uri=tokenizer_uri,
                             data_uri=data_uri, runs_uri=runs_uri, tracking=tracking),
        tune.PlacementGroupFactory(trial_bundles(cfg), strategy="PACK"))
    space = _param_space(cfg.tune)
    if restoring:
        log.info("restoring the sweep at %s (finished trials are kept)", experiment)
        tuner = tune.Tuner.restore(experiment_path, trainable, resume_errored=True, param_space=space,
                                   storage_filesystem=fs)
    else:
        t = cfg.tune
        tuner = tune.Tuner(
            trainable, param_space=space,
            tune_config=tune.TuneConfig(metric=t.metric, mode="min", search_alg=searcher,
                                        scheduler=_scheduler(cfg), num_samples=t.num_samples,
                                        max_concurrent_trials=t.max_concurrent_trials or None),
            run_config=tune.RunConfig(name=EXPERIMENT, storage_path=trials_path, storage_filesystem=fs, verbose=1,
                                      callbacks=_callbacks(cfg, tracking)))
    grid = tuner.fit()

    total = max_t(cfg)
    rows, histories = [], {}
    for result in grid:
        trial_id = _trial_id(result)
        params = {name: result.config.get(name) for name in SEARCH_KEYS}
        rows.append(trial_row(trial_id, params, result.metrics or {}, result.error is not None, total))
        histories[trial_id] = _histories(result, cfg.tune.metric)
    errors = [r for r in rows if r["status"] == "error"]
    best = best_row(rows, cfg.tune.metric)
    if best is None:
        first = next((res.error for res in grid if res.error is not None), None)
        raise RuntimeError(f"no trial of the sweep under {out} measured {cfg.tune.metric} "
                           f"({len(errors)} of {len(rows)} failed; first error: {first}); see {experiment}")

    best_cfg = trial_config(cfg, {name: best[name] for name in SEARCH_KEYS})
    outputs = {key: storage.join(out, name) for key, name in (("csv", "trials.csv"), ("best_config", "best.yaml"),
                                                             ("plot", "sweep.png"), ("result", "result.json"))}
    storage.write_text(outputs["csv"], csv_text(rows))
    storage.write_text(outputs["best_config"],
                       f"# best trial {best['trial_id']} of the sweep under {out}, by lowest {cfg.tune.metric}\n"
                       f"# GRPO outputs (policy checkpoints): {storage.join(runs_uri, best['trial_id'])}\n"
                       + dump(best_cfg))
    storage.write_bytes(outputs["plot"], sweep_plot(histories, rows, cfg.tune.metric))
    summary = {"trials": len(rows), "errors": len(errors), "restored": restoring,
               "completed": sum(r["status"] == "completed" for r in rows),
               "stopped": sum(r["status"] == "stopped" for r in rows),
               "metric": cfg.tune.metric, "best": best, "best_run": storage.join(runs_uri, best["trial_id"]),
               **outputs}
    storage.write_json(outputs["result"], summary)
    return summary

"""The run folder and the stages `physar run` chains, with lineage, skip and resume (docs/method.md §1).

Each stage names the config branches it reads and the stages it consumes. Its hash covers
those branches and its inputs' hashes, so changing ``data.seed`` redoes data and everything
downstream while changing only a later branch keeps data. ``<out>/lineage.json`` records, per
stage, its hash, status (running | done), inputs, output folder and wall time; a done stage whose
recorded hash matches and whose output exists is skipped, a running one with the same hash
resumes, a stage for another config first clears its folders. ``--from STAGE`` redoes that stage
and all after it. At the end ``summary.json`` (each stage's wall time as recorded when it last
ran, ``this_run``: what this invocation ran), the learning curves (``curves/``) and ``report.md`` are
rewritten. Every stage tracks its metrics (run.tracking) into the run folder: ``mlflow/``, ``tensorboard/``.
The run folder's paths are named in physar_ray/layout.py (``RunLayout``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from physar_ray import layout, storage
from physar_ray.config import Config, dump, replace, to_dict
from physar_ray.layout import RunLayout
from physar_ray.provenance import code_changes, code_version
from physar_ray.report.curves import write_curves
from physar_ray.report.plots import verr_by_level
from physar_ray.report.run_report import POLICIES, REFERENCES, build_summary, compared_groups, report_markdown
from physar_ray.run_log import RunLog

log = logging.getLogger("physar.pipeline")


@dataclass(frozen=True)
class Stage:
    """One step of the pipeline: ``run(cfg, layout)`` writes ``<out>/<output>`` (paths of physar_ray/layout.py)."""

    name: str
    run: Callable[[Config, RunLayout], None]
    output: str
    branches: tuple[str, ...]
    """Config branches the stage reads; dotted paths pick one key of a branch."""
    inputs: tuple[str, ...] = ()
    folders: tuple[str, ...] = ()
    """Folders the stage owns (default: ``output``), cleared before it runs for another config."""
    enabled: Callable[[Config], bool] = lambda cfg: True
    """Whether ``physar run`` includes the stage for this config."""

    @property
    def owned(self) -> tuple[str, ...]:
        return self.folders or (self.output,)


def _data(cfg: Config, run: RunLayout) -> None:
    from physar_ray.data.generate import generate

    generate(cfg, run.data)


def _samples(cfg: Config, run: RunLayout) -> None:
    from physar_ray.report.samples import show

    show(run.data, run.path(layout.SAMPLES), per_scenario=3)


def _floor(cfg: Config, run: RunLayout) -> None:
    from physar_ray.eval.score import score_dataset

    score_dataset(run.data, run.evaluation(layout.FLOOR), cfg, "ground_truth")


def _tokenizer(cfg: Config, run: RunLayout) -> None:
    from physar_ray.train.ddt_job import run_ddt_training

    run_ddt_training(cfg, run.tokenizer)


def _tokens(cfg: Config, run: RunLayout) -> None:
    from physar_ray.data.tokenize import encode

    encode(cfg, run.data, run.tokenizer, run.tokens)


RECON_SPLITS = ("eval_iid", "eval_ood")
"""The videos the Table-4 analogue reconstructs (training splits would only cost time)."""


def _recon(cfg: Config, run: RunLayout) -> None:
    """The Table-4 analogue: decoded token videos scored against their ground truth."""
    from physar_ray.data.tokenize import reconstruct
    from physar_ray.eval.score import score_dataset

    recon = run.path(layout.RECON)
    reconstruct(cfg, run.tokens, run.tokenizer, recon, splits=RECON_SPLITS)
    score_dataset(recon, run.evaluation(layout.RECON), cfg, "reconstruction", baselines=())


def _sft(cfg: Config, run: RunLayout) -> None:
    from physar_ray.train.sft_job import run_sft

    run_sft(cfg, run.tokens, run.path(layout.SFT), run.tokenizer)


def _evaluate(model: str) -> Callable[[Config, RunLayout], None]:
    """A stage scoring ``<out>/<model>/model`` on the evaluation sets into ``<out>/eval/<model>``."""

    def evaluate(cfg: Config, run: RunLayout) -> None:
        from physar_ray.eval.model import evaluate_model

        evaluate_model(cfg, run.model(model), run.tokenizer, run.tokens, run.evaluation(model), model)

    return evaluate


def _grpo(cfg: Config, run: RunLayout) -> None:
    from physar_ray.grpo.controller import run_grpo
    from physar_ray.lm.model import export_model

    result = run_grpo(cfg, run.model(layout.SFT), run.tokenizer, run.data, run.path(layout.GRPO))
    export_model(result["model"], run.model(layout.GRPO))


def _tune(cfg: Config, run: RunLayout) -> None:
    from physar_ray.tune.sweep import run_tune

    run_tune(cfg, run.model(layout.SFT), run.tokenizer, run.data, run.path(layout.TUNE))


MODEL_EVAL = ("generate", "measure", "grpo.eval_videos", "grpo.rollout.sampling")
"""What a model evaluation reads: sampling, scoring, the held-out rl videos' choice and GRPO's
exploration sampling (scored too with generate.eval_rollout_sampling)."""

STAGES: tuple[Stage, ...] = (
    Stage("data", _data, layout.DATA, ("data",)),
    Stage("samples", _samples, layout.SAMPLES, (), ("data",)),
    Stage("floor", _floor, layout.evaluation(layout.FLOOR), ("measure",), ("data",)),
    Stage("tokenizer", _tokenizer, layout.TOKENIZER_WEIGHTS, ("tokenizer",), ("data",), (layout.TOKENIZER,)),
    Stage("tokens", _tokens, layout.TOKENS, (), ("data", "tokenizer")),
    Stage("recon", _recon, layout.evaluation(layout.RECON), ("measure",), ("tokens",),
          (layout.RECON, layout.evaluation(layout.RECON))),
    Stage("sft", _sft, layout.model(layout.SFT), ("sft",), ("tokens", "tokenizer"), (layout.SFT,)),
    Stage("eval_sft", _evaluate(layout.SFT), layout.evaluation(layout.SFT, layout.METRICS), MODEL_EVAL,
          ("sft", "tokenizer", "tokens"), (layout.evaluation(layout.SFT),)),
    Stage("grpo", _grpo, layout.model(layout.GRPO), ("grpo", "measure", "generate.sampling"),
          ("sft", "tokenizer", "data"), (layout.GRPO,)),
    Stage("eval_grpo", _evaluate(layout.GRPO), layout.evaluation(layout.GRPO, layout.METRICS), MODEL_EVAL,
          ("grpo", "tokenizer", "tokens"), (layout.evaluation(layout.GRPO),)),
    Stage("tune", _tune, layout.TUNE_BEST, ("tune", "grpo", "measure"), ("sft", "tokenizer", "data"),
          (layout.TUNE,), enabled=lambda cfg: cfg.run.tune),
)
"""The pipeline in order."""


def stage_names() -> list[str]:
    return [s.name for s in STAGES]


def stage_hashes(cfg: Config) -> dict[str, str]:
    """Each stage's hash over its config branches and its inputs' hashes."""
    tree = to_dict(cfg)
    hashes: dict[str, str] = {}
    for stage in STAGES:
        payload = {"branches": {b: _branch(tree, b) for b in stage.branches}, "inputs": {i: hashes[i] for i in stage.inputs}}
        hashes[stage.name] = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
    return hashes


def _branch(tree: dict[str, Any], dotted: str) -> Any:
    for key in dotted.split("."):
        tree = tree[key]
    return tree


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def read_lineage(out: str) -> dict[str, Any]:
    uri = RunLayout(out).path(layout.LINEAGE)
    return storage.read_json(uri) if storage.exists(uri) else {}


def run_pipeline(cfg: Config, out: str, start_from: str | None = None) -> dict[str, Any]:
    """Run the stages into ``out`` (skipping finished ones), logging to ``out/run.log`` too; returns and writes
    ``summary.json``."""
    if start_from is not None and start_from not in stage_names():
        raise ValueError(f"--from {start_from!r} is not a stage: choose one of {', '.join(stage_names())}")
    cfg.storage.apply()
    storage.check_writable(out)
    run = RunLayout(out)
    run_log = RunLog(run.path(layout.LOG))
    try:
        return _run_stages(cfg, run, start_from, run_log)
    finally:
        run_log.close()


def _generated_samples(run: RunLayout, ran: list[str]) -> None:
    """Sheets and GIFs of the policies' generated videos beside the ground truth (redone when a policy's
    evaluation ran, or when they are missing)."""
    from physar_ray.report.samples import show_generated

    sources = {"ground truth": run.path(layout.DATA)}
    for model in (layout.SFT, layout.GRPO):
        videos = run.evaluation(model, layout.EVAL_VIDEOS)
        if storage.exists(videos):
            sources[model] = videos
    out = run.path(layout.GENERATED_SAMPLES)
    if len(sources) > 1 and ({"eval_sft", "eval_grpo"} & set(ran) or not storage.exists(out)):
        storage.remove(out)
        show_generated(sources, out)


def _run_stages(cfg: Config, run: RunLayout, start_from: str | None, run_log: RunLog) -> dict[str, Any]:
    storage.write_text(run.path(layout.CONFIG), dump(cfg))
    hashes, lineage = stage_hashes(cfg), read_lineage(run.root)
    redo = set(stage_names()[stage_names().index(start_from):]) if start_from else set()
    code = code_version()
    # every stage tracks into the run folder (one MLflow store, tensorboard/<stage>/), unless run.tracking.dir says
    staged = cfg if cfg.run.tracking.dir else replace(cfg, {"run.tracking.dir": run.root})
    ran: list[str] = []
    start = time.perf_counter()
    for stage in (s for s in STAGES if s.enabled(cfg)):
        entry, current = lineage.get(stage.name, {}), hashes[stage.name]
        finished = entry.get("hash") == current and entry.get("status", "done") == "done"
        if finished and stage.name not in redo and storage.exists(run.path(stage.output)):
            log.info("stage %s: up to date (hash %s), skipped", stage.name, current)
            if changes := code_changes(entry.get("code"), code):
                log.warning("stage %s was computed by other code (%s); its outputs are kept: rerun it with "
                            "--from %s", stage.name, "; ".join(changes), stage.name)
            continue
        if entry.get("hash") != current or stage.name in redo:
            if entry.get("status") == "done" and entry.get("hash") != current:
                log.warning("stage %s: its config changed since it ran (hash %s → %s): removing its outputs %s",
                            stage.name, entry["hash"], current, ", ".join(stage.owned) or stage.output)
            for folder in stage.owned:  # another config's outputs: start clean (same config: resume)
                storage.remove(run.path(folder))
        log.info("stage %s: starting", stage.name)
        lineage[stage.name] = {"hash": current, "status": "running", "inputs": list(stage.inputs),
                               "output": stage.output, "config_branches": list(stage.branches),
                               "code": code, "started_at": _now()}
        storage.write_json(run.path(layout.LINEAGE), lineage)
        t0 = time.perf_counter()
        stage.run(staged, run)
        lineage[stage.name].update(status="done", wall_s=round(time.perf_counter() - t0, 2), finished_at=_now())
        storage.write_json(run.path(layout.LINEAGE), lineage)
        ran.append(stage.name)
        log.info("stage %s: done in %.1f s", stage.name, lineage[stage.name]["wall_s"])
        run_log.flush()
    _generated_samples(run, ran)
    took = {name: entry["wall_s"] for name, entry in lineage.items() if "wall_s" in entry}
    write_curves(run.root)
    if groups := compared_groups(run.root):
        storage.write_bytes(run.path(layout.MODELS_PLOT), verr_by_level(groups, (*REFERENCES, *POLICIES)))
    summary = build_summary(cfg.run.preset, cfg.hash(), {**took, "total": round(sum(took.values()), 2)}, run.root)
    summary["this_run"] = {"stages": ran, "wall_s": round(time.perf_counter() - start, 2)}
    storage.write_json(run.path(layout.SUMMARY), summary)
    storage.write_text(run.path(layout.REPORT), report_markdown(summary, run.root))
    return summary

"""The run folder and the stages `physar run` chains, with lineage, skip and resume (SPEC §1).

Each stage names the config branches it reads and the stages it consumes. Its hash covers
those branches and its inputs' hashes, so changing ``data.seed`` redoes data and everything
downstream while changing only a later branch keeps data. ``<out>/lineage.json`` records, per
stage, its hash, status (running | done), inputs, output folder and wall time; a done stage whose
recorded hash matches and whose output exists is skipped, a running one with the same hash
resumes, a stage for another config first clears its folders. ``--from STAGE`` redoes that stage
and all after it. At the end ``summary.json`` (each stage's wall time as recorded when it last
ran, ``this_run``: what this invocation ran) and ``report.md`` are rewritten.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from physar_ray import storage
from physar_ray.config import Config, dump, to_dict
from physar_ray.report.run_report import build_summary, report_markdown

log = logging.getLogger("physar.pipeline")
LINEAGE = "lineage.json"


@dataclass(frozen=True)
class Stage:
    """One step of the pipeline: ``run(cfg, out)`` writes ``<out>/<output>``."""

    name: str
    run: Callable[[Config, str], None]
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


def _data(cfg: Config, out: str) -> None:
    from physar_ray.data.generate import generate

    generate(cfg, storage.join(out, "data"))


def _samples(cfg: Config, out: str) -> None:
    from physar_ray.report.samples import show

    show(storage.join(out, "data"), storage.join(out, "samples"), per_scenario=3)


def _floor(cfg: Config, out: str) -> None:
    from physar_ray.report.evaluation import score_dataset

    score_dataset(storage.join(out, "data"), storage.join(out, "eval", "floor"), cfg)


def _tokenizer(cfg: Config, out: str) -> None:
    from physar_ray.train.ddt_job import run_ddt_training

    run_ddt_training(cfg, storage.join(out, "tokenizer"))


def _tokens(cfg: Config, out: str) -> None:
    from physar_ray.data.tokenize import encode

    encode(cfg, storage.join(out, "data"), storage.join(out, "tokenizer"), storage.join(out, "tokens"))


RECON_SPLITS = ("eval_iid", "eval_ood")
"""The videos the Table-4 analogue reconstructs (training splits would only cost time)."""


def _recon(cfg: Config, out: str) -> None:
    """The Table-4 analogue: decoded token videos scored against their ground truth."""
    from physar_ray.data.tokenize import reconstruct
    from physar_ray.report.evaluation import score_dataset

    recon = storage.join(out, "recon")
    reconstruct(cfg, storage.join(out, "tokens"), storage.join(out, "tokenizer"), recon, splits=RECON_SPLITS)
    score_dataset(recon, storage.join(out, "eval", "recon"), cfg, baselines=())


def _sft(cfg: Config, out: str) -> None:
    from physar_ray.train.sft_job import run_sft

    run_sft(cfg, storage.join(out, "tokens"), storage.join(out, "sft"), storage.join(out, "tokenizer"))


def _evaluate(model: str) -> Callable[[Config, str], None]:
    """A stage scoring ``<out>/<model>/model`` on the evaluation sets into ``<out>/eval/<model>``."""

    def run(cfg: Config, out: str) -> None:
        from physar_ray.report.model_eval import evaluate_model

        evaluate_model(cfg, storage.join(out, model, "model"), storage.join(out, "tokenizer"),
                       storage.join(out, "tokens"), storage.join(out, "eval", model))

    return run


def _grpo(cfg: Config, out: str) -> None:
    from physar_ray.grpo.controller import run_grpo
    from physar_ray.lm.model import export_model

    result = run_grpo(cfg, storage.join(out, "sft", "model"), storage.join(out, "tokenizer"),
                      storage.join(out, "data"), storage.join(out, "grpo"))
    export_model(result["model"], storage.join(out, "grpo", "model"))


def _tune(cfg: Config, out: str) -> None:
    from physar_ray.tune.sweep import run_tune

    run_tune(cfg, storage.join(out, "sft", "model"), storage.join(out, "tokenizer"), storage.join(out, "data"),
             storage.join(out, "tune"))


MODEL_EVAL = ("generate", "measure", "grpo.eval_videos", "grpo.rollout.sampling")
"""What a model evaluation reads: sampling, scoring, the held-out rl videos' choice and GRPO's
exploration sampling (scored too with generate.eval_rollout_sampling)."""

STAGES: tuple[Stage, ...] = (
    Stage("data", _data, "data", ("data",)),
    Stage("samples", _samples, "samples", (), ("data",)),
    Stage("floor", _floor, "eval/floor", ("measure",), ("data",)),
    Stage("tokenizer", _tokenizer, "tokenizer/model.safetensors", ("tokenizer",), ("data",), ("tokenizer",)),
    Stage("tokens", _tokens, "tokens", (), ("data", "tokenizer")),
    Stage("recon", _recon, "eval/recon", ("measure",), ("tokens",), ("recon", "eval/recon")),
    Stage("sft", _sft, "sft/model", ("sft",), ("tokens", "tokenizer"), ("sft",)),
    Stage("eval_sft", _evaluate("sft"), "eval/sft/metrics.json", MODEL_EVAL, ("sft", "tokenizer", "tokens"),
          ("eval/sft",)),
    Stage("grpo", _grpo, "grpo/model", ("grpo", "measure", "generate.sampling"), ("sft", "tokenizer", "data"),
          ("grpo",)),
    Stage("eval_grpo", _evaluate("grpo"), "eval/grpo/metrics.json", MODEL_EVAL, ("grpo", "tokenizer", "tokens"),
          ("eval/grpo",)),
    Stage("tune", _tune, "tune/best.yaml", ("tune", "grpo", "measure"), ("sft", "tokenizer", "data"), ("tune",),
          enabled=lambda cfg: cfg.run.tune),
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
    uri = storage.join(out, LINEAGE)
    return storage.read_json(uri) if storage.exists(uri) else {}


def run_pipeline(cfg: Config, out: str, start_from: str | None = None) -> dict[str, Any]:
    """Run the stages into ``out`` (skipping finished ones); returns and writes ``summary.json``."""
    if start_from is not None and start_from not in stage_names():
        raise ValueError(f"--from {start_from!r} is not a stage: choose one of {', '.join(stage_names())}")
    storage.configure(cfg.storage.s3_endpoint, cfg.storage.s3_region)
    storage.check_writable(out)
    storage.write_text(storage.join(out, "config.resolved.yaml"), dump(cfg))
    hashes, lineage = stage_hashes(cfg), read_lineage(out)
    redo = set(stage_names()[stage_names().index(start_from):]) if start_from else set()
    ran: list[str] = []
    start = time.perf_counter()
    for stage in (s for s in STAGES if s.enabled(cfg)):
        entry, current = lineage.get(stage.name, {}), hashes[stage.name]
        finished = entry.get("hash") == current and entry.get("status", "done") == "done"
        if finished and stage.name not in redo and storage.exists(storage.join(out, stage.output)):
            log.info("stage %s: up to date (hash %s), skipped", stage.name, current)
            continue
        if entry.get("hash") != current or stage.name in redo:
            for folder in stage.owned:  # another config's outputs: start clean (same config: resume)
                storage.remove(storage.join(out, folder))
        log.info("stage %s: starting", stage.name)
        lineage[stage.name] = {"hash": current, "status": "running", "inputs": list(stage.inputs),
                               "output": stage.output, "config_branches": list(stage.branches),
                               "started_at": _now()}
        storage.write_json(storage.join(out, LINEAGE), lineage)
        t0 = time.perf_counter()
        stage.run(cfg, out)
        lineage[stage.name].update(status="done", wall_s=round(time.perf_counter() - t0, 2), finished_at=_now())
        storage.write_json(storage.join(out, LINEAGE), lineage)
        ran.append(stage.name)
        log.info("stage %s: done in %.1f s", stage.name, lineage[stage.name]["wall_s"])
    took = {name: entry["wall_s"] for name, entry in lineage.items() if "wall_s" in entry}
    summary = build_summary(cfg.run.preset, cfg.hash(), {**took, "total": round(sum(took.values()), 2)}, out)
    summary["this_run"] = {"stages": ran, "wall_s": round(time.perf_counter() - start, 2)}
    storage.write_json(storage.join(out, "summary.json"), summary)
    storage.write_text(storage.join(out, "report.md"), report_markdown(summary, out))
    return summary

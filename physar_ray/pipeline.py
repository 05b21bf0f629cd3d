"""The run folder and the stages `physar run` chains, with lineage, skip and resume (SPEC §1).

Each stage names the config branches it reads and the stages it consumes. Its hash covers
those branches and its inputs' hashes, so changing ``data.seed`` redoes data and everything
downstream while changing only a later branch keeps data. ``<out>/lineage.json`` records, per
finished stage, its hash, inputs, output folder and wall time; a stage whose recorded hash
matches and whose output exists is skipped. ``--from STAGE`` redoes that stage and all after it.
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

log = logging.getLogger("physar.pipeline")
LINEAGE = "lineage.json"


@dataclass(frozen=True)
class Stage:
    """One step of the pipeline: ``run(cfg, out)`` writes ``<out>/<output>``."""

    name: str
    run: Callable[[Config, str], None]
    output: str
    branches: tuple[str, ...]
    inputs: tuple[str, ...] = ()


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
    from physar_ray.train.ddt import train_ddt
    from physar_ray.train.frames import simulator_frames

    result = train_ddt(cfg.tokenizer, cfg.data.resolution,
                       lambda start: simulator_frames(cfg.data, cfg.tokenizer.batch_size, start))
    result.tokenizer.save(storage.join(out, "tokenizer"))


def _tokens(cfg: Config, out: str) -> None:
    from physar_ray.data.tokenize import encode

    encode(cfg, storage.join(out, "data"), storage.join(out, "tokenizer"), storage.join(out, "tokens"))


def _recon(cfg: Config, out: str) -> None:
    """The Table-4 analogue: decoded token videos scored against their ground truth."""
    from physar_ray.data.tokenize import reconstruct
    from physar_ray.report.evaluation import score_dataset

    recon = storage.join(out, "recon")
    reconstruct(cfg, storage.join(out, "tokens"), storage.join(out, "tokenizer"), recon)
    score_dataset(recon, storage.join(out, "eval", "recon"), cfg, baselines=())


STAGES: tuple[Stage, ...] = (
    Stage("data", _data, "data", ("data",)),
    Stage("samples", _samples, "samples", (), ("data",)),
    Stage("floor", _floor, "eval/floor", ("measure",), ("data",)),
    Stage("tokenizer", _tokenizer, "tokenizer", ("tokenizer",), ("data",)),
    Stage("tokens", _tokens, "tokens", (), ("data", "tokenizer")),
    Stage("recon", _recon, "eval/recon", ("measure",), ("tokens",)),
)
"""The pipeline in order."""


def stage_names() -> list[str]:
    return [s.name for s in STAGES]


def stage_hashes(cfg: Config) -> dict[str, str]:
    """Each stage's hash over its config branches and its inputs' hashes."""
    tree = to_dict(cfg)
    hashes: dict[str, str] = {}
    for stage in STAGES:
        payload = {"branches": {b: tree[b] for b in stage.branches}, "inputs": {i: hashes[i] for i in stage.inputs}}
        hashes[stage.name] = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
    return hashes


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
    wall: dict[str, float] = {}
    start = time.perf_counter()
    for stage in STAGES:
        done = lineage.get(stage.name, {})
        fresh = done.get("hash") == hashes[stage.name] and storage.exists(storage.join(out, stage.output))
        if fresh and stage.name not in redo:
            log.info("stage %s: up to date (hash %s), skipped", stage.name, hashes[stage.name])
            wall[stage.name] = 0.0
            continue
        log.info("stage %s: starting", stage.name)
        t0 = time.perf_counter()
        stage.run(cfg, out)
        wall[stage.name] = round(time.perf_counter() - t0, 2)
        lineage[stage.name] = {"hash": hashes[stage.name], "inputs": list(stage.inputs), "output": stage.output,
                               "config_branches": list(stage.branches), "wall_s": wall[stage.name],
                               "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        storage.write_json(storage.join(out, LINEAGE), lineage)
        log.info("stage %s: done in %.1f s", stage.name, wall[stage.name])
    wall["total"] = round(time.perf_counter() - start, 2)
    summary = {"preset": cfg.run.preset, "config_hash": cfg.hash(), "wall_s": wall}
    storage.write_json(storage.join(out, "summary.json"), summary)
    return summary

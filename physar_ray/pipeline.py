"""The run folder and the stages `physar run` chains (SPEC §1).

Stages so far: ``data`` (simulate to ``<out>/data``) and ``samples`` (sample sheets of it in
``<out>/samples``). Each stage is timed into ``<out>/summary.json``; a stage whose work is
already on disk for the same config finishes quickly (generation writes only missing shards).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from physar_ray import storage
from physar_ray.config import Config, dump

log = logging.getLogger("physar.pipeline")


def _data(cfg: Config, out: str) -> None:
    from physar_ray.data.generate import generate

    generate(cfg, storage.join(out, "data"))


def _samples(cfg: Config, out: str) -> None:
    from physar_ray.report.samples import show

    show(storage.join(out, "data"), storage.join(out, "samples"), per_scenario=3)


STAGES: dict[str, Callable[[Config, str], None]] = {"data": _data, "samples": _samples}
"""Stage name → function(cfg, run folder), in pipeline order."""


def run_pipeline(cfg: Config, out: str) -> dict[str, Any]:
    """Run every stage into ``out``; returns (and writes) ``summary.json``."""
    storage.configure(cfg.storage.s3_endpoint, cfg.storage.s3_region)
    storage.check_writable(out)
    storage.write_text(storage.join(out, "config.resolved.yaml"), dump(cfg))
    wall: dict[str, float] = {}
    start = time.perf_counter()
    for name, stage in STAGES.items():
        log.info("stage %s: starting", name)
        t0 = time.perf_counter()
        stage(cfg, out)
        wall[name] = round(time.perf_counter() - t0, 2)
        log.info("stage %s: done in %.1f s", name, wall[name])
    wall["total"] = round(time.perf_counter() - start, 2)
    summary = {"preset": cfg.run.preset, "config_hash": cfg.hash(), "wall_s": wall}
    storage.write_json(storage.join(out, "summary.json"), summary)
    return summary

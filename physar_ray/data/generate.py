"""Simulator → Parquet shards with Ray Data, resumable shard by shard (`physar data generate`).

Layout under the output URI::

    <out>/config.resolved.yaml
    <out>/manifest.json                                   config hash, counts, rejections, shards
    <out>/<scenario>/<split>/videos-<start>-<stop>.parquet      (data/shards.py)

A shard is named by its index range and written atomically by the Ray task that simulates
it, with its data-config hash and rejection counts in the Parquet footer. A rerun after a
crash lists what exists and simulates only the missing shards; files from another config
are refused, stale ranges (e.g. after changing a count) are removed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from typing import Any

import pyarrow.parquet as pq

from physar_ray import storage
from physar_ray.config import Config, DataConfig, dump, to_dict
from physar_ray.data.dataset import over_shards
from physar_ray.data.shards import Shard, is_shard, plan_shards
from physar_ray.records import check_schema

log = logging.getLogger("physar.data")

FOOTER_KEY = b"physar"


def data_hash(cfg: DataConfig) -> str:
    """Hash of everything that changes a video's bytes or a shard's boundaries.

    Which scenarios/splits and how many videos are left out: every video depends only on
    its key, so a run may extend or add to an earlier one.
    """
    tree = to_dict(cfg)
    for key in ("scenarios", "splits", "num_videos", "num_cpus_per_task", "max_attempts"):
        tree.pop(key)
    return hashlib.sha256(json.dumps(tree, sort_keys=True).encode()).hexdigest()[:16]


def write_shard(shard: Shard, out: str, cfg: DataConfig) -> dict[str, Any]:
    """Simulate, render and atomically write one shard; returns its summary (runs in a Ray task, whose S3
    settings come from the job's runtime_env)."""
    from physar_ray.sim.video import make_video_table

    table, rejected = make_video_table(shard.scenario, shard.split, cfg.seed, range(shard.start, shard.stop), cfg)
    summary = {"scenario": shard.scenario, "split": shard.split, "start": shard.start, "stop": shard.stop,
               "videos": shard.stop - shard.start, "rejected": dict(rejected), "data_hash": data_hash(cfg)}
    table = table.replace_schema_metadata({FOOTER_KEY: json.dumps(summary).encode()})
    storage.write_table(storage.join(out, shard.relpath), table)
    return summary


def read_footer(uri: str) -> dict[str, Any]:
    """The summary a shard carries in its Parquet footer; a clear error for foreign files."""
    fs, path = storage.filesystem(uri)
    try:
        with fs.open_input_file(path) as src:
            meta = pq.read_metadata(src)
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise storage.StorageError(f"{uri} is not a readable Parquet file ({exc})") from None
    check_schema(meta.schema.to_arrow_schema(), uri)
    raw = (meta.metadata or {}).get(FOOTER_KEY)
    if raw is None:
        raise storage.StorageError(f"{uri} has the video columns but no physar footer: not written by physar data generate")
    return json.loads(raw)


def existing_shards(out: str) -> dict[str, dict[str, Any]]:
    """relpath → footer summary of every shard already under ``out``."""
    if not storage.exists(out):
        return {}
    found = {}
    for uri in storage.list_files(out):
        rel = storage.relative(uri, out)
        if is_shard(rel):
            found[rel] = read_footer(uri)
    return found


def _check_compatible(found: dict[str, dict[str, Any]], cfg: DataConfig, out: str) -> None:
    want = data_hash(cfg)
    foreign = sorted(rel for rel, s in found.items() if s["data_hash"] != want)
    if foreign:
        raise ValueError(
            f"{out} already holds shards of another data config (e.g. {foreign[0]}, hash "
            f"{found[foreign[0]]['data_hash']} vs {want}): use a new --out or remove that folder"
        )


def _run_shards(shards: list[Shard], out: str, cfg: Config) -> dict[str, dict[str, Any]]:
    """Simulate and write ``shards`` with Ray Data; relpath → the summary each shard's footer holds."""
    data_cfg = cfg.data

    def simulate_shard(shard: Shard) -> dict[str, Any]:
        return {"relpath": [shard.relpath], "summary": [json.dumps(write_shard(shard, out, data_cfg))]}

    rows = over_shards(shards, simulate_shard, data_cfg.num_cpus_per_task).iter_rows()
    return {row["relpath"]: json.loads(row["summary"]) for row in rows}


def generate(cfg: Config, out: str) -> dict[str, Any]:
    """Write every planned shard that is missing under ``out``; return the manifest."""
    from physar_ray.runtime.cluster import ensure_ray

    cfg.storage.apply()
    storage.check_writable(out)
    found = existing_shards(out)
    _check_compatible(found, cfg.data, out)
    planned = plan_shards(cfg.data)
    wanted = {s.relpath for s in planned}
    selected = {(sc, sp) for sc in cfg.data.scenarios for sp in cfg.data.splits}
    for rel, summary in list(found.items()):
        if (summary["scenario"], summary["split"]) in selected and rel not in wanted:
            log.info("removing stale shard %s (its index range is not in this plan)", rel)
            storage.remove(storage.join(out, rel))
            del found[rel]
    missing = [s for s in planned if s.relpath not in found]
    log.info("data: %d shards planned, %d present, %d to simulate", len(planned), len(planned) - len(missing), len(missing))
    storage.write_text(storage.join(out, "config.resolved.yaml"), dump(cfg))
    if missing:
        ensure_ray(cfg.run)
        found.update(_run_shards(missing, out, cfg))
    manifest = build_manifest(found, cfg)
    storage.write_json(storage.join(out, storage.MANIFEST), manifest)
    return manifest


def build_manifest(found: dict[str, dict[str, Any]], cfg: Config) -> dict[str, Any]:
    """Counts, rejections and shard list from the shards' footer summaries (relpath → summary)."""
    counts: dict[str, dict[str, int]] = {}
    rejected: dict[str, Counter] = {}
    for summary in found.values():
        sc, sp = summary["scenario"], summary["split"]
        counts.setdefault(sc, {}).setdefault(sp, 0)
        counts[sc][sp] += summary["videos"]
        rejected.setdefault(sc, Counter()).update(summary["rejected"])
    return {
        "kind": "physar-videos",
        "data_hash": data_hash(cfg.data),
        "counts": counts,
        "rejected": {sc: dict(c) for sc, c in rejected.items()},
        "shards": sorted(found),
    }

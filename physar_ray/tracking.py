"""Experiment tracking: a stage's metrics by step to MLflow and TensorBoard (run.tracking, docs/concepts.md).

``Tracker(cfg.run.tracking, root, "sft")`` opens an MLflow run named after the stage (in the store of
``run.tracking.mlflow_uri``, or the local SQLite store ``<root>/mlflow/mlflow.db``: MLflow 3 refuses its old
file store, and SQLite is its default) and a TensorBoard writer on ``<root>/tensorboard/<stage>/``; ``log``
sends one step's numbers to both, plus this process's peak memory; ``close`` ends the run. The
metrics.jsonl files stay the record the report reads: tracking is a view on them, so it never stops a
stage. A missing tracking extra is one warning and no tracking; a backend whose call fails is warned about
once and left out from then on. An s3:// ``root`` gets its TensorBoard events through a local folder
uploaded at ``close``; MLflow there needs a server (``run.tracking.mlflow_uri``).
"""

from __future__ import annotations

import logging
import math
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from physar_ray import storage
from physar_ray.config import TrackingConfig
from physar_ray.extras import MissingExtraError, require

log = logging.getLogger("physar.tracking")

MLFLOW_DIR = "mlflow"
"""The local MLflow store under the tracking root: mlflow.db (runs, params, metrics) and artifacts/."""
MLFLOW_DB = "mlflow.db"
TENSORBOARD_DIR = "tensorboard"
"""TensorBoard event files under the tracking root, one folder per stage (``tensorboard --logdir``)."""

MAX_BATCH = 1000
"""MLflow's limit on the metrics of one log_batch call."""
FLUSH_S = 5.0
"""Seconds between MLflow writes: a stage's steps are buffered in between (and flushed at close)."""
MAX_PARAM_CHARS = 6000
"""MLflow's limit on a parameter value."""

_warned: set[str] = set()
"""Warnings given once per process (a missing extra, a failing backend), not once per stage or step."""


def _warn_once(key: str, message: str, *args: Any) -> None:
    if key not in _warned:
        _warned.add(key)
        log.warning(message, *args)


def tracking_root(cfg: TrackingConfig, default: str) -> str:
    """Where the local store and the events go: ``run.tracking.dir``, else ``default`` (the stage's --out;
    ``physar run`` sets run.tracking.dir to its run folder). A local folder comes back absolute, so Ray
    workers, whose working directory is another, write to the same place."""
    root = cfg.dir or default
    return root if storage.is_s3(root) else str(Path(root).expanduser().resolve())


def local_mlflow_uri(root: str) -> str:
    """The SQLite store under a local tracking root, as `mlflow ui --backend-store-uri` takes it."""
    return "sqlite:///" + str(Path(root, MLFLOW_DIR, MLFLOW_DB).expanduser().resolve())


def mlflow_uri(cfg: TrackingConfig, root: str) -> str | None:
    """run.tracking.mlflow_uri, else the local store under ``root``; None for an s3:// root without a server."""
    if cfg.mlflow_uri:
        return cfg.mlflow_uri
    return None if storage.is_s3(root) else local_mlflow_uri(root)


def peak_memory() -> dict[str, float]:
    """This process's peak resident memory (MiB) and, once torch has used CUDA here, the peak allocated by
    torch on the current device (MiB). Torch is not imported for it: a process that never loaded it has
    no CUDA memory to report."""
    peak = {"system/peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}  # Linux: KiB
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        peak["system/cuda_max_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return peak


def numeric(metrics: dict[str, Any]) -> dict[str, float]:
    """The finite numbers of a metrics record (None, NaN, strings and lists are not curves)."""
    found = {}
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if math.isfinite(value):
            found[key] = float(value)
    return found


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """A config (sub)tree as ``{"sft.lr": "0.001", ...}``: the MLflow run's params."""
    flat: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = str(value)[:MAX_PARAM_CHARS]
    return flat


def ensure_experiment(client: Any, name: str, uri: str, root: str) -> str:
    """The id of MLflow experiment ``name``, created if missing; a local store keeps its artifacts beside
    its database (``<root>/mlflow/artifacts``), not in the working directory."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    artifacts = Path(root, MLFLOW_DIR, "artifacts").expanduser().resolve().as_uri() \
        if uri.startswith("sqlite:") and not storage.is_s3(root) else None
    try:
        return client.create_experiment(name, artifact_location=artifacts)
    except Exception:  # created meanwhile by another stage or trial
        return client.get_experiment_by_name(name).experiment_id


def prepared_mlflow_uri(cfg: TrackingConfig, root: str, why: str) -> str | None:
    """For a logger that opens its own MLflow runs (Ray Tune's MLflowLoggerCallback): the tracking URI with
    run.tracking.experiment created in it, or None (one warning naming ``why``) when mlflow is not in
    run.tracking.backends, the extra is missing, the root is s3:// without a server, or the store fails."""
    if "mlflow" not in cfg.backends:
        return None
    uri = mlflow_uri(cfg, root)
    try:
        require("mlflow", "tracking", "run.tracking.backends=[mlflow]", " (or drop mlflow from run.tracking.backends)")
        if uri is None:
            raise RuntimeError(f"{root} is on s3:// and MLflow's local store is not: set run.tracking.mlflow_uri "
                               "to a tracking server")
        from mlflow.tracking import MlflowClient

        if uri.startswith("sqlite:///"):
            Path(uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        ensure_experiment(MlflowClient(tracking_uri=uri), cfg.experiment, uri, root)
    except Exception as exc:
        _warn_once(f"prepare:{why}", "experiment tracking of %s to mlflow is skipped: %s", why, exc)
        return None
    return uri


class _MLflow:
    """One MLflow run through MlflowClient (no fluent API: no process-global active run)."""

    def __init__(self, uri: str, experiment: str, root: str, run_name: str, tags: dict[str, str],
                 params: dict[str, str]) -> None:
        mlflow = require("mlflow", "tracking", "run.tracking.backends=[mlflow]",
                         " (or drop mlflow from run.tracking.backends)")
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        self._entities = mlflow.entities
        if uri.startswith("sqlite:///"):
            Path(uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        self.client = MlflowClient(tracking_uri=uri)
        experiment_id = ensure_experiment(self.client, experiment, uri, root)
        self.run_id = self.client.create_run(experiment_id, run_name=run_name, tags=tags).info.run_id
        items = [Param(k, v) for k, v in params.items()]
        for i in range(0, len(items), 100):  # MLflow's batch limit on params
            self.client.log_batch(self.run_id, params=items[i:i + 100])
        self._pending: list[Any] = []
        self._sent = time.monotonic()

    def log(self, metrics: dict[str, float], step: int) -> None:
        """Buffered: one write per FLUSH_S seconds (or MAX_BATCH metrics), not one per step."""
        now = int(time.time() * 1000)
        self._pending += [self._entities.Metric(k, v, now, step) for k, v in metrics.items()]
        if len(self._pending) >= MAX_BATCH or time.monotonic() - self._sent > FLUSH_S:
            self.flush()

    def flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            self.client.log_batch(self.run_id, metrics=batch)
        self._sent = time.monotonic()

    def close(self, status: str) -> None:
        self.flush()
        self.client.set_terminated(self.run_id, status=status)


class _TensorBoard:
    """A tensorboardX writer on ``<root>/tensorboard/<stage>`` (an s3:// root: a local folder, uploaded at close)."""

    def __init__(self, root: str, stage: str) -> None:
        tensorboardx = require("tensorboardX", "tracking", "run.tracking.backends=[tensorboard]",
                               " (or drop tensorboard from run.tracking.backends)")
        self.uri = storage.join(root, TENSORBOARD_DIR, *stage.split("/"))
        if storage.is_s3(root):
            self._tmp: tempfile.TemporaryDirectory | None = tempfile.TemporaryDirectory(prefix="physar-tb-")
            local = self._tmp.name
        else:
            self._tmp, local = None, self.uri
        self.local = Path(local)
        self.writer = tensorboardx.SummaryWriter(logdir=local, flush_secs=30)

    def log(self, metrics: dict[str, float], step: int) -> None:
        for key, value in metrics.items():
            self.writer.add_scalar(key, value, step)

    def close(self, status: str) -> None:
        self.writer.close()
        if self._tmp is not None:
            for path in sorted(p for p in self.local.rglob("*") if p.is_file()):
                storage.write_bytes(storage.join(self.uri, *path.relative_to(self.local).parts), path.read_bytes())
            self._tmp.cleanup()


class Tracker:
    """One stage's tracking run: ``log(metrics, step)`` per step, ``close()`` at the end (or use ``with``).

    ``stage`` names the MLflow run and the TensorBoard folder (``tune/<trial>`` nests); ``params``: the
    config the stage ran with (logged flattened as MLflow params); ``tags``: more MLflow tags.
    """

    def __init__(self, cfg: TrackingConfig, root: str, stage: str, params: dict[str, Any] | None = None,
                 tags: dict[str, str] | None = None) -> None:
        self.stage, self.backends = stage, {}
        for name in cfg.backends:
            try:
                self.backends[name] = self._open(name, cfg, root, stage, params or {}, tags or {})
            except MissingExtraError as exc:
                _warn_once(f"extra:{name}", "experiment tracking to %s is skipped: %s", name, exc)
            except Exception as exc:  # a tracking server down, a store that does not open: the stage goes on
                _warn_once(f"open:{name}", "experiment tracking to %s is skipped (%s: %s)", name,
                           type(exc).__name__, exc)

    @staticmethod
    def _open(name: str, cfg: TrackingConfig, root: str, stage: str, params: dict[str, Any],
              tags: dict[str, str]) -> Any:
        if name == "tensorboard":
            return _TensorBoard(root, stage)
        uri = mlflow_uri(cfg, root)
        if uri is None:
            raise RuntimeError(f"the run folder {root} is on s3:// and MLflow's local store is not: set "
                               "run.tracking.mlflow_uri to a tracking server (or run.tracking.dir to a local folder)")
        from physar_ray.provenance import code_version

        code = code_version()
        tags = {"physar.stage": stage, "physar.root": root, "physar.git": str(code["git"]),
                "physar.version": str(code["package"]), **tags}
        return _MLflow(uri, cfg.experiment, root, stage.replace("/", "-"), tags, flatten(params))

    @property
    def active(self) -> bool:
        return bool(self.backends)

    def log(self, metrics: dict[str, Any], step: int, system: bool = True) -> None:
        """The finite numbers of ``metrics`` at ``step``, with :func:`peak_memory` unless ``system`` is False."""
        if not self.backends:
            return
        values = {**numeric(metrics), **(peak_memory() if system else {})}
        for name, backend in list(self.backends.items()):
            try:
                backend.log(values, int(step))
            except Exception as exc:
                _warn_once(f"log:{name}", "experiment tracking to %s failed and stops for stage %s (%s: %s)",
                           name, self.stage, type(exc).__name__, exc)
                self.backends.pop(name)

    def close(self, status: str = "FINISHED") -> None:
        """End the MLflow run (``status`` FINISHED or FAILED) and flush the events (an s3:// root: upload them)."""
        for name, backend in self.backends.items():
            try:
                backend.close(status)
            except Exception as exc:
                log.warning("closing experiment tracking to %s failed (%s: %s)", name, type(exc).__name__, exc)
        self.backends = {}

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, kind: Any, *_: Any) -> None:
        self.close("FAILED" if kind is not None else "FINISHED")


"""Experiment tracking (physar_ray/tracking.py): a real MLflow SQLite store and real TensorBoard event files,
written by the Tracker and read back with MLflow's client and the event files' own record format."""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import pytest

from physar_ray import tracking
from physar_ray.config import ConfigError, TrackingConfig, load
from physar_ray.tracking import Tracker, flatten, local_mlflow_uri, mlflow_uri, numeric

mlflow = pytest.importorskip("mlflow", reason="the tracking extra (pip install 'physar-ray[tracking]')")
pytest.importorskip("tensorboardX", reason="the tracking extra (pip install 'physar-ray[tracking]')")


def read_scalars(logdir: Path) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(step, value), ...]} from every event file under ``logdir`` (TFRecord framing: length,
    its CRC, an Event proto, its CRC)."""
    from tensorboardX.proto.event_pb2 import Event

    found: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(logdir.rglob("events.out.tfevents.*")):
        data, offset = path.read_bytes(), 0
        while offset < len(data):
            (length,) = struct.unpack_from("<Q", data, offset)
            event = Event.FromString(data[offset + 12:offset + 12 + length])
            offset += 12 + length + 4
            for value in event.summary.value:
                found.setdefault(value.tag, []).append((event.step, value.simple_value))
    return found


def test_tracker_writes_the_local_mlflow_store_and_tensorboard_events(tmp_path):
    cfg = TrackingConfig()
    with Tracker(cfg, str(tmp_path), "sft", params={"sft": {"lr": 0.001, "max_steps": 3}}) as tracker:
        assert set(tracker.backends) == {"mlflow", "tensorboard"}
        for step in (1, 2, 3):
            tracker.log({"sft/loss": 1.0 / step, "sft/step": float(step), "note": "text", "gap": None,
                         "undefined": float("nan")}, step)

    assert (tmp_path / "mlflow" / "mlflow.db").exists()
    client = mlflow.tracking.MlflowClient(tracking_uri=local_mlflow_uri(str(tmp_path)))
    experiment = client.get_experiment_by_name("physar")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "sft" and run.info.status == "FINISHED"
    assert run.data.params == {"sft.lr": "0.001", "sft.max_steps": "3"}
    assert run.data.tags["physar.stage"] == "sft"
    history = client.get_metric_history(run.info.run_id, "sft/loss")
    assert [(m.step, m.value) for m in history] == [(1, 1.0), (2, 0.5), (3, pytest.approx(1 / 3))]
    assert "undefined" not in run.data.metrics and "note" not in run.data.metrics
    assert run.data.metrics["system/peak_rss_mb"] > 10  # this process's peak memory rides along

    scalars = read_scalars(tmp_path / "tensorboard" / "sft")
    assert [s for s, _ in scalars["sft/loss"]] == [1, 2, 3]
    assert scalars["sft/loss"][1][1] == pytest.approx(0.5)
    assert "system/peak_rss_mb" in scalars


def test_a_second_stage_files_its_run_under_the_same_experiment(tmp_path):
    for stage in ("tokenizer", "grpo"):
        with Tracker(TrackingConfig(backends=("mlflow",)), str(tmp_path), stage) as tracker:
            tracker.log({"x": 1.0}, 0, system=False)
    client = mlflow.tracking.MlflowClient(tracking_uri=local_mlflow_uri(str(tmp_path)))
    runs = client.search_runs([client.get_experiment_by_name("physar").experiment_id])
    assert sorted(r.info.run_name for r in runs) == ["grpo", "tokenizer"]
    assert not (tmp_path / "tensorboard").exists()


def test_a_failing_stage_marks_its_run_failed(tmp_path):
    with pytest.raises(RuntimeError), Tracker(TrackingConfig(backends=("mlflow",)), str(tmp_path), "sft"):
        raise RuntimeError("the stage died")
    client = mlflow.tracking.MlflowClient(tracking_uri=local_mlflow_uri(str(tmp_path)))
    (run,) = client.search_runs([client.get_experiment_by_name("physar").experiment_id])
    assert run.info.status == "FAILED"


def test_no_backend_no_files(tmp_path):
    tracker = Tracker(TrackingConfig(backends=()), str(tmp_path), "sft")
    tracker.log({"x": 1.0}, 0)
    tracker.close()
    assert not tracker.active and list(tmp_path.iterdir()) == []


def test_a_missing_extra_is_one_warning_and_no_tracking(tmp_path, monkeypatch, caplog):
    real = tracking.require

    def without_tensorboardx(module, *args, **kwargs):
        return real("tensorboardX_not_installed" if module == "tensorboardX" else module, *args, **kwargs)

    monkeypatch.setattr(tracking, "require", without_tensorboardx)
    monkeypatch.setattr(tracking, "_warned", set())
    with caplog.at_level(logging.WARNING, logger="physar.tracking"):
        for _ in range(2):
            Tracker(TrackingConfig(backends=("tensorboard",)), str(tmp_path), "sft").close()
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "pip install 'physar-ray[tracking]'" in warnings[0]
    assert "run.tracking.backends=[tensorboard]" in warnings[0]


def test_an_unreachable_server_does_not_stop_the_stage(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(tracking, "_warned", set())
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    cfg = TrackingConfig(backends=("mlflow",), mlflow_uri="http://127.0.0.1:9")  # discard port: refused
    with caplog.at_level(logging.WARNING, logger="physar.tracking"):
        tracker = Tracker(cfg, str(tmp_path), "sft")
    tracker.log({"x": 1.0}, 0)
    tracker.close()
    assert not tracker.active and "skipped" in caplog.text


def test_uris_and_records():
    assert mlflow_uri(TrackingConfig(mlflow_uri="http://mlflow:5000"), "/r") == "http://mlflow:5000"
    assert mlflow_uri(TrackingConfig(), "/r") == "sqlite:////r/mlflow/mlflow.db"
    assert mlflow_uri(TrackingConfig(), "s3://bucket/run") is None  # no local store on s3: a server or nothing
    assert numeric({"a": 1, "b": 2.5, "c": None, "d": float("inf"), "e": "x", "f": True}) == {"a": 1.0, "b": 2.5}
    assert flatten({"grpo": {"kl": {"beta": 0.04}, "seed": 1}}) == {"grpo.kl.beta": "0.04", "grpo.seed": "1"}


def test_tracking_config_names_the_key_and_the_fix():
    assert load("tiny").run.tracking.backends == ("mlflow", "tensorboard")
    with pytest.raises(ConfigError, match=r"run.tracking.backends has 'wandb'.*\[\] turns tracking off"):
        load("tiny", ["run.tracking.backends=[wandb]"])
    assert load("tiny", ["run.tracking.backends=[]"]).run.tracking.backends == ()

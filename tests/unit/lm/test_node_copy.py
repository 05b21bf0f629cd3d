"""An s3:// model is copied once per node: every caller reuses the copy, concurrent callers wait for one
download, and a model rewritten at the same URI gets a fresh copy."""

from __future__ import annotations

import threading

import pytest

from physar_ray import storage
from physar_ray.lm import model as lm_model
from physar_ray.lm.model import local_folder, node_copy


def _upload(uri: str, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        storage.write_bytes(f"{uri}/{name}", data)


def test_one_download_per_node_shared_by_concurrent_callers(s3_bucket, tmp_path, monkeypatch):
    monkeypatch.setenv("PHYSAR_MODEL_CACHE", str(tmp_path / "cache"))
    uri = f"{s3_bucket}/models/m"
    _upload(uri, {"config.json": b'{"a": 1}', "model.safetensors": b"w" * 1000, "sub/tokenizer.json": b"{}"})
    reads = []
    real_read = storage.read_bytes
    monkeypatch.setattr(lm_model.storage, "read_bytes", lambda u: reads.append(u) or real_read(u))

    paths = []
    threads = [threading.Thread(target=lambda: paths.append(node_copy(uri))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(paths)) == 1 and len(reads) == 3  # three files, downloaded once for four callers
    path = paths[0]
    assert (path / "model.safetensors").read_bytes() == b"w" * 1000 and (path / "sub" / "tokenizer.json").exists()
    with local_folder(uri) as again:
        assert again == path and len(reads) == 3
    assert sorted(p.name for p in (tmp_path / "cache").iterdir() if not p.name.startswith(".")) == [path.name]

    _upload(uri, {"model.safetensors": b"v" * 1001})  # a new model at the same URI
    fresh = node_copy(uri)
    assert fresh != path and (fresh / "model.safetensors").read_bytes() == b"v" * 1001


def test_config_only_copy_and_a_prefix_that_is_no_model(s3_bucket, tmp_path, monkeypatch):
    monkeypatch.setenv("PHYSAR_MODEL_CACHE", str(tmp_path / "cache"))
    uri = f"{s3_bucket}/models/m"
    _upload(uri, {"config.json": b"{}", "model.safetensors": b"w"})
    assert sorted(p.name for p in node_copy(uri, weights=False).iterdir()) == [".complete", "config.json"]
    _upload(f"{s3_bucket}/models/empty", {"notes.txt": b"x"})
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        node_copy(f"{s3_bucket}/models/empty")

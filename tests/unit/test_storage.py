import os

import pyarrow as pa
import pytest

from physar_ray import storage


def test_atomic_write_leaves_no_temp_files(tmp_path):
    target = tmp_path / "a" / "b.json"
    storage.write_json(str(target), {"x": 1})
    storage.write_json(str(target), {"x": 2})
    assert storage.read_json(str(target)) == {"x": 2}
    assert os.listdir(target.parent) == ["b.json"]


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "f.txt"
    storage.write_text(str(target), "old")

    def boom(*_):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        storage.write_text(str(target), "new")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["f.txt"]


def test_tables_folders_and_listing(tmp_path):
    for i in range(3):
        storage.write_table(str(tmp_path / "d" / f"part-{i}.parquet"), pa.table({"v": [i, i]}))
    (tmp_path / "d" / "notes.txt").write_text("ignored")
    assert len(storage.list_files(str(tmp_path / "d"))) == 3
    assert sorted(storage.read_table(str(tmp_path / "d"))["v"].to_pylist()) == [0, 0, 1, 1, 2, 2]


def test_errors_name_the_uri(tmp_path):
    with pytest.raises(storage.StorageError, match="does not exist"):
        storage.list_files(str(tmp_path / "missing"))
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(storage.StorageError, match="bad.parquet is not a readable Parquet file"):
        storage.read_table(str(tmp_path / "bad.parquet"))
    with pytest.raises(storage.StorageError, match="no bucket"):
        storage.filesystem("s3://")
    with pytest.raises(storage.StorageError, match="only local paths and s3://"):
        storage.filesystem("gs://bucket/x")


def test_join():
    assert storage.join("s3://b/p/", "x", "y.parquet") == "s3://b/p/x/y.parquet"
    assert storage.join("/tmp/r", "x") == "/tmp/r/x"

"""encode → reconstruct through Ray Data actor pools, on s3://, with a tokenizer trained for a few steps."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from physar_ray import storage
from physar_ray.config import load
from physar_ray.data.generate import generate
from physar_ray.records import TOKENS_SCHEMA, table_to_records
from physar_ray.tokenizer.ddt import DDTokenizer
from physar_ray.train.ddt import train_ddt
from physar_ray.train.frames import simulator_frames
from tests.conftest import PLACED, actors_asking_for

RES = 32
SMALL = [f"data.resolution={RES}", "data.num_videos.sft=4", "data.num_videos.rl=0", "data.num_videos.eval_iid=0",
         "data.num_videos.eval_ood=0", "data.scenarios=[uniform]", "tokenizer.batch_size=8",
         "tokenizer.max_steps=10", "tokenizer.encode_batch_size=2"]


def test_encode_then_reconstruct_round_trip_on_s3(ray_local, s3_bucket):
    cfg = load(None, [*SMALL, *PLACED])
    generate(cfg, f"{s3_bucket}/data")
    tokenizer = train_ddt(cfg.tokenizer, RES, lambda s: simulator_frames(cfg.data, 8, s), progress_bar=False).tokenizer
    tokenizer.save(f"{s3_bucket}/tokenizer")
    from physar_ray.data.tokenize import encode, reconstruct

    before = actors_asking_for("rollout")
    assert encode(cfg, f"{s3_bucket}/data", f"{s3_bucket}/tokenizer", f"{s3_bucket}/tokens") >= 1
    pool = [r for a, r in actors_asking_for("rollout").items() if a not in before]
    assert pool == [{"CPU": cfg.tokenizer.num_cpus_per_actor, "rollout": 1.0}] * cfg.tokenizer.encode_actors
    tokens = pa.concat_tables(storage.read_table(f) for f in storage.list_files(f"{s3_bucket}/tokens"))
    assert tokens.schema.names == TOKENS_SCHEMA.names and tokens.column("num_tokens")[0].as_py() == cfg.tokenizer.num_tokens == 6
    codes_of = dict(zip(tokens.column("index").to_pylist(), tokens.column("tokens").to_pylist()))
    assert reconstruct(cfg, f"{s3_bucket}/tokens", f"{s3_bucket}/tokenizer", f"{s3_bucket}/recon") >= 1
    originals = {r.index: r for f in storage.list_files(f"{s3_bucket}/data") for r in table_to_records(storage.read_table(f))}
    recon = [r for f in storage.list_files(f"{s3_bucket}/recon") for r in table_to_records(storage.read_table(f))]
    assert sorted(r.index for r in recon) == sorted(originals)
    for r in recon:
        video = originals[r.index]
        assert r.frames.shape == video.frames.shape and np.array_equal(r.states.positions, video.states.positions)
        codes = np.asarray(codes_of[r.index])
        expected = tokenizer.decode(codes.reshape(1, -1, cfg.tokenizer.num_tokens), seed=0)[0]
        assert np.array_equal(r.frames, expected)  # the actor decodes exactly as the tokenizer does in process


def test_a_tokenizer_from_another_resolution_is_refused(ray_local, tmp_path):
    cfg = load(None, SMALL)
    generate(cfg, str(tmp_path / "data"))
    DDTokenizer(load(None, ["tokenizer.max_steps=1"]).tokenizer, 64).save(tmp_path / "tok64")
    from physar_ray.data.tokenize import encode

    with pytest.raises(Exception, match="trained on 64 px frames, the caller uses data.resolution=32"):
        encode(cfg, str(tmp_path / "data"), str(tmp_path / "tok64"), str(tmp_path / "tokens"))


def test_two_encodes_write_the_same_files_with_rows_in_input_order(ray_local, tmp_path):
    """Two actors take the shards in whatever order they free up; the token files are the same bytes each time."""
    cfg = load(None, [*SMALL, "data.num_videos.sft=6", "data.videos_per_shard=2", "tokenizer.max_steps=1",
                      "tokenizer.encode_actors=2", "tokenizer.num_cpus_per_actor=0.25"])
    generate(cfg, str(tmp_path / "data"))
    train_ddt(cfg.tokenizer, RES, lambda s: simulator_frames(cfg.data, 8, s), progress_bar=False).tokenizer.save(
        tmp_path / "tokenizer")
    from physar_ray.data.tokenize import encode

    written = []
    for run in ("a", "b"):
        out = str(tmp_path / f"tokens_{run}")
        assert encode(cfg, str(tmp_path / "data"), str(tmp_path / "tokenizer"), out) == 3
        written.append({storage.relative(f, out): storage.read_bytes(f) for f in storage.list_files(out)})
    assert written[0] == written[1]
    assert sorted(written[0]) == [storage.relative(f, str(tmp_path / "data")) for f in storage.list_files(str(tmp_path / "data"))]
    for rel in written[0]:
        assert storage.read_table(str(tmp_path / "tokens_a" / rel)).column("index").to_pylist() == \
            storage.read_table(str(tmp_path / "data" / rel)).column("index").to_pylist()

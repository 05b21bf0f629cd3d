"""A dataset's layout: shard names from the plan, a split's files found by the layout, not by matching URIs."""

from physar_ray import storage
from physar_ray.config import load
from physar_ray.data.shards import Shard, is_shard, plan_shards, split_files, split_of


def test_plan_covers_every_video_once_in_shards_of_the_configured_size():
    cfg = load("tiny", ["data.num_videos.rl=5", "data.videos_per_shard=2"]).data
    rl = [s for s in plan_shards(cfg) if s.split == "rl" and s.scenario == cfg.scenarios[0]]
    assert [(s.start, s.stop) for s in rl] == [(0, 2), (2, 4), (4, 5)]
    assert rl[0].relpath == f"{cfg.scenarios[0]}/rl/videos-0000000-0000002.parquet" and is_shard(rl[0].relpath)
    assert not is_shard("uniform/rl/part-0.parquet")


def test_split_files_reads_the_layout_under_the_dataset_only(tmp_path):
    root = tmp_path / "rl" / "data"  # a dataset folder whose own path names a split
    for rel in (Shard("uniform", "rl", 0, 2).relpath, "parabola/rl/part-0.parquet", "uniform/eval_ood/part-0.parquet",
                "uniform/eval_ood/rl.parquet", "stray.parquet"):
        storage.write_bytes(storage.join(str(root), rel), b"")
    assert [storage.relative(u, str(root)) for u in split_files(str(root), "rl")] == [
        "parabola/rl/part-0.parquet", "uniform/rl/videos-0000000-0000002.parquet"]
    assert len(split_files(str(root), "eval_ood")) == 2 and split_files(str(root), "sft") == []
    assert split_of("stray.parquet") is None

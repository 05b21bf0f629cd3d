"""How the tokens stage splits its input into parts: one output file per input file, at the same relative path."""

from __future__ import annotations

import pyarrow as pa

from physar_ray import storage
from physar_ray.data.tokenize import Part, part_names, plan_parts


def test_a_file_that_fits_keeps_its_name_and_a_larger_one_is_cut_in_parts_of_the_shard_size():
    assert part_names("uniform/sft/videos-0000000-0000096.parquet", 96, 96) == [
        ("uniform/sft/videos-0000000-0000096.parquet", 0, 96)]
    assert part_names("generated.parquet", 10, 4) == [("generated-part0000000.parquet", 0, 4),
                                                      ("generated-part0000004.parquet", 4, 8),
                                                      ("generated-part0000008.parquet", 8, 10)]
    assert part_names("empty.parquet", 0, 4) == []


def test_plan_parts_mirrors_the_layout_and_leaves_out_other_splits(tmp_path):
    rows = pa.table({"split": ["sft"] * 3})
    for rel in ("uniform/sft/videos-0000000-0000003.parquet", "uniform/eval_iid/videos-0000000-0000003.parquet",
                "flat.parquet"):
        storage.write_table(str(tmp_path / "src" / rel), rows)
    out = str(tmp_path / "out")
    assert plan_parts(str(tmp_path / "src"), out, 2, splits=("eval_iid",)) == [
        Part(str(tmp_path / "src" / "flat.parquet"), f"{out}/flat-part0000000.parquet", 0, 2),
        Part(str(tmp_path / "src" / "flat.parquet"), f"{out}/flat-part0000002.parquet", 2, 3),
        Part(str(tmp_path / "src/uniform/eval_iid/videos-0000000-0000003.parquet"),
             f"{out}/uniform/eval_iid/videos-0000000-0000003-part0000000.parquet", 0, 2),
        Part(str(tmp_path / "src/uniform/eval_iid/videos-0000000-0000003.parquet"),
             f"{out}/uniform/eval_iid/videos-0000000-0000003-part0000002.parquet", 2, 3)]
    single = str(tmp_path / "src" / "flat.parquet")  # a file given as the dataset: its own name
    assert plan_parts(single, out, 8) == [Part(single, f"{out}/flat.parquet", 0, 3)]

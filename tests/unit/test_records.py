import numpy as np
import pyarrow as pa
import pytest

from physar_ray.config import load
from physar_ray.records import VIDEO_SCHEMA, RecordError, VideoRecord, check_schema, rows_to_table, table_to_records
from physar_ray.sim.video import make_video, make_video_table

CFG = load(None, ["data.resolution=48"]).data


def test_row_round_trip_keeps_every_field():
    rec, _ = make_video("collision", "eval_ood", 0, 3, CFG)
    back = table_to_records(rows_to_table([rec.to_row()]))[0]
    assert back.frames.tobytes() == rec.frames.tobytes()
    np.testing.assert_allclose(back.states.positions, rec.states.positions, atol=1e-5)
    assert (back.scenario, back.split, back.ood_level, back.index, back.params) == \
        (rec.scenario, rec.split, rec.ood_level, rec.index, rec.params)


def test_batch_table_equals_per_video_rows():
    table, _ = make_video_table("parabola", "rl", 0, range(2, 5), CFG)
    assert table.schema == VIDEO_SCHEMA
    for rec in table_to_records(table):
        single, _ = make_video("parabola", "rl", 0, rec.index, CFG)
        assert rec.frames.tobytes() == single.frames.tobytes()


def test_bad_rows_and_tables_name_the_field():
    rec, _ = make_video("uniform", "sft", 0, 0, CFG)
    row = rec.to_row()
    with pytest.raises(RecordError, match="field 'frames' holds"):
        VideoRecord.from_row({**row, "frames": row["frames"][:-3]})
    with pytest.raises(RecordError, match="field 'positions' holds 63 values, expected shape"):
        VideoRecord.from_row({**row, "positions": row["positions"][:-1]})
    with pytest.raises(RecordError, match="missing column"):
        check_schema(pa.schema([("x", pa.int32())]), "foreign.parquet")

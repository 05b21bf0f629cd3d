"""Sheets and GIFs of generated videos beside the ground truth of the same conditions."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pyarrow as pa
from PIL import Image

from physar_ray import storage
from physar_ray.config import load
from physar_ray.report.samples import show_generated, side_by_side
from physar_ray.records import table_to_records
from physar_ray.sim.video import make_video_table


def test_generated_videos_are_drawn_beside_the_truth_of_the_same_condition(tmp_path):
    cfg = load(None, ["data.resolution=32"]).data
    truth = {split: make_video_table("uniform", split, 0, range(3), cfg)[0] for split in ("eval_iid", "eval_ood")}
    for split, table in truth.items():
        storage.write_table(str(tmp_path / "data" / "uniform" / split / "videos-0000000-0000003.parquet"), table)
    # the policy generated conditions 1 and 2 of eval_iid and 2 of eval_ood (black frames), in one flat file
    rows = [truth["eval_iid"].slice(1, 2), truth["eval_ood"].slice(2, 1)]
    generated = pa.concat_tables(rows)
    black = pa.array([bytes(len(b.as_py())) for b in generated.column("frames")], pa.binary())
    generated = generated.set_column(generated.schema.get_field_index("frames"), "frames", black)
    storage.write_table(str(tmp_path / "sft" / "generated.parquet"), generated)

    written = show_generated({"ground truth": str(tmp_path / "data"), "sft": str(tmp_path / "sft")}, str(tmp_path / "out"))
    names = sorted(storage.relative(w, str(tmp_path / "out")) for w in written)
    assert names == ["gifs/uniform-eval_iid-1.gif", "gifs/uniform-eval_ood-2.gif", "uniform.png"]  # first shared ones
    gif = Image.open(tmp_path / "out" / "gifs" / "uniform-eval_iid-1.gif")
    t, h, w, _ = table_to_records(truth["eval_iid"].slice(1, 1))[0].frames.shape
    assert 1 < gif.n_frames <= t and gif.size == (2 * w + 2, h)  # truth | 2 px gap | sft (PIL merges equal frames)
    first = np.asarray(gif.convert("RGB"))
    assert first[:, w + 2:].max() == 0 and first[:, :w].max() > 0  # the black video sits on the right
    assert Image.open(io.BytesIO((tmp_path / "out" / "uniform.png").read_bytes())).size[1] > 0


def test_side_by_side_puts_white_gaps_between_videos_and_keeps_the_shortest_length():
    cfg = load(None, ["data.resolution=32"]).data
    a, b = table_to_records(make_video_table("parabola", "sft", 0, range(2), cfg)[0])
    b = dataclasses.replace(b, frames=b.frames[:5])
    both = side_by_side([a, b], gap_px=3)
    assert both.shape == (5, 32, 67, 3) and (both[:, :, 32:35] == 255).all()
    assert np.array_equal(both[:, :, :32], a.frames[:5]) and np.array_equal(both[:, :, 35:], b.frames)

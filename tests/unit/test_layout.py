"""The run folder's paths: relative names for lineage.json and report.md, URIs under one run folder."""

from physar_ray import layout
from physar_ray.layout import RunLayout


def test_relative_names_and_uris():
    assert layout.model(layout.SFT) == "sft/model"
    assert layout.evaluation(layout.FLOOR) == "eval/floor"
    assert layout.evaluation(layout.GRPO, layout.METRICS) == "eval/grpo/metrics.json"
    run = RunLayout("s3://bucket/runs/demo")
    assert run.data == "s3://bucket/runs/demo/data" and run.model("grpo") == "s3://bucket/runs/demo/grpo/model"
    assert run.evaluation("sft", layout.ROLLOUT_SAMPLING, layout.DECODING) == \
        "s3://bucket/runs/demo/eval/sft/rollout_sampling/decoding.json"
    assert RunLayout("/tmp/run").path(layout.TOKENIZER_WEIGHTS) == "/tmp/run/tokenizer/model.safetensors"

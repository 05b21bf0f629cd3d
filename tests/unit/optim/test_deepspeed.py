"""DeepSpeed on CPU (gloo, one rank, real engines): ZeRO-3 trains as ZeRO-2 and DDP do, and its checkpoints
hold the full trained weights: HF folders that from_pretrained loads, DeepSpeed state that resumes."""

from __future__ import annotations

import json

import pytest
import torch
from tests.unit.train.test_sft_loop import VOCAB, batches, small_cfg

from physar_ray.config import ConfigError, load
from physar_ray.lm.model import load_pretrained, save_pretrained, video_lm
from physar_ray.lm.sequence import VideoLayout
from physar_ray.optim.adamw import param_groups
from physar_ray.optim.deepspeed import DeepSpeedBackend, deepspeed_config, zero_config
from physar_ray.optim.step import StepShape
from physar_ray.train.sft import FolderReporter, _ensure_process_group, loop_config, sft_loop

STEPS = ["sft.max_steps=4", "sft.grad_accum=2", "sft.log_every=1", "sft.checkpoint_every=1000", "sft.warmup_steps=2"]


def test_stage3_settings_are_sized_for_the_model():
    cfg = load(None, ["sft.zero_stage=3"]).sft
    zero = zero_config(cfg, 120_000)
    # buckets ≥ 1e6 elements; a parameter under 0.1% of the model (120 elements) stays whole on every rank
    assert zero == {"stage": 3, "reduce_bucket_size": 1_000_000, "allgather_bucket_size": 1_000_000,
                    "stage3_prefetch_bucket_size": 1_000_000, "stage3_param_persistence_threshold": 120}
    big = zero_config(cfg, 8_000_000_000)  # an 8B model: DeepSpeed's own defaults
    assert big["reduce_bucket_size"] == 500_000_000 and big["stage3_prefetch_bucket_size"] == 50_000_000
    assert big["stage3_param_persistence_threshold"] == 100_000
    sft = load(None, []).sft
    stage2 = deepspeed_config(sft, StepShape(sft.batch_size, sft.grad_accum, 2), 120_000)["zero_optimization"]
    assert stage2["stage"] == 2 and not any(k.startswith("stage3") for k in stage2)


def test_lora_under_zero3_is_refused_with_the_fix():
    with pytest.raises(ConfigError, match="sft.lora=true with sft.zero_stage=3.*use sft.zero_stage=2"):
        load(None, ["sft.lora=true", "sft.zero_stage=3"])


def _losses(folder) -> list[float]:
    return [json.loads(x)["sft/loss"] for x in (folder / "metrics.jsonl").read_text().splitlines()]


def test_zero3_trains_as_zero2_and_ddp_and_its_checkpoint_holds_the_trained_weights(tmp_path):
    runs = {"ddp": ["sft.backend=ddp"], "zero2": ["sft.zero_stage=2"], "zero3": ["sft.zero_stage=3"],
            "zero3_checkpointing": ["sft.zero_stage=3", "sft.gradient_checkpointing=true"]}
    for name, extra in runs.items():
        cfg = small_cfg(*STEPS, *extra)
        sft_loop(loop_config(cfg, VOCAB), batches(cfg, num_videos=128), FolderReporter(tmp_path / name))
    want = _losses(tmp_path / "zero2")
    assert len(want) == 4 and want[-1] < want[0]
    for name in ("ddp", "zero3", "zero3_checkpointing"):
        assert _losses(tmp_path / name) == pytest.approx(want, rel=1e-5), name
    initial = video_lm(small_cfg().sft, VideoLayout.from_config(small_cfg()))[0].state_dict()
    zero2, _ = load_pretrained(str(tmp_path / "zero2" / "checkpoint_000000004"))
    for name in ("zero3", "zero3_checkpointing"):
        got, _ = load_pretrained(str(tmp_path / name / "checkpoint_000000004"))
        assert got.state_dict().keys() == initial.keys()
        for key, tensor in zero2.state_dict().items():
            torch.testing.assert_close(got.state_dict()[key], tensor, rtol=1e-4, atol=1e-6, msg=key)
            assert not torch.equal(tensor, initial[key]), f"{key} did not train"


def _backend(cfg) -> DeepSpeedBackend:
    _ensure_process_group()
    model = video_lm(cfg.sft, VideoLayout.from_config(cfg))[0].train()
    optimizer = torch.optim.AdamW(param_groups(model, cfg.sft.weight_decay), lr=cfg.sft.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
    shape = StepShape(cfg.sft.batch_size, cfg.sft.grad_accum, 1)
    return DeepSpeedBackend(model, optimizer, scheduler, cfg.sft, shape, torch.device("cpu"))


def _step(backend, batch) -> float:
    return float(backend.micro_step({k: torch.as_tensor(batch[k]) for k in ("input_ids", "labels")})[0])


def test_gathered_weights_are_the_engines_and_a_zero3_run_resumes_from_its_deepspeed_state(tmp_path):
    cfg = small_cfg("sft.zero_stage=3", "sft.grad_accum=2")
    data = batches(cfg, num_videos=96)
    backend = _backend(cfg)
    for batch in data[:4]:
        _step(backend, batch)
    partitioned = [n for n, p in backend.module.named_parameters() if p.numel() == 0]
    assert "model.layers.0.mlp.up_proj.weight" in partitioned and "model.norm.weight" not in partitioned  # norms persist
    full = backend.full_state_dict()
    assert all(full[n].shape == p.ds_shape for n, p in backend.module.named_parameters())
    save_pretrained(backend.module, None, tmp_path / "hf", full)
    from transformers import AutoModelForCausalLM

    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "hf").state_dict()
    assert loaded.keys() == full.keys() and all(torch.equal(loaded[k], full[k]) for k in full)

    backend.save(tmp_path / "ds")
    resumed = _backend(cfg)
    resumed.load(tmp_path / "ds")
    again = resumed.full_state_dict()
    assert all(torch.equal(again[k], full[k]) for k in full)
    assert [_step(resumed, b) for b in data[4:6]] == pytest.approx([_step(backend, b) for b in data[4:6]], rel=1e-6)

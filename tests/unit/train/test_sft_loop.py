"""The SFT loop without Ray: schedule, learning, checkpoints in HF format, resume, bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from physar_ray.config import load
from physar_ray.lm.model import build_scratch_model, init_code_embeddings, load_pretrained, save_pretrained, video_lm
from physar_ray.lm.sequence import VideoLayout, training_batch
from physar_ray.lm.synthetic import moving_code_videos
from physar_ray.lm.vocab import VisualVocab, scratch_vocab
from physar_ray.train.sft import EmptyShardError, FolderReporter, loop_config, sft_loop

SMALL = ["data.num_frames=8", "data.cond_frames=3", "data.contact_frames=[2, 5]", "tokenizer.num_tokens=4", "tokenizer.codebook_size=32",
         "sft.hidden_size=64", "sft.num_layers=2", "sft.num_heads=4", "sft.batch_size=16", "sft.lr=0.003",
         "sft.warmup_steps=20", "sft.log_every=10"]

VOCAB = scratch_vocab(32)


def small_cfg(*extra: str):
    return load(None, [*SMALL, *extra])


def batches(cfg, num_videos: int = 256, seed: int = 0) -> list[dict[str, np.ndarray]]:
    layout = VideoLayout.from_config(cfg)
    codes = moving_code_videos(num_videos, layout, seed)
    b = cfg.sft.batch_size
    return [training_batch(codes[i: i + b], layout, VOCAB)
            for i in range(0, num_videos - b + 1, b)]


def unigram_entropy(data: list[dict[str, np.ndarray]]) -> float:
    """Cross-entropy of the best context-free predictor: the entropy of the target-token marginal."""
    targets = np.concatenate([d["labels"][d["labels"] >= 0] for d in data])
    p = np.bincount(targets) / targets.size
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def test_loop_learns_well_below_unigram(tmp_path):
    cfg = small_cfg("sft.backend=ddp", "sft.max_steps=120", "sft.checkpoint_every=1000")
    data = batches(cfg)
    final = sft_loop(loop_config(cfg, VOCAB), data, FolderReporter(tmp_path))
    baseline = unigram_entropy(data)  # ≈ log 32
    assert final["sft/step"] == 120 and final["sft/loss"] < 0.5 * baseline, (final, baseline)


def test_deepspeed_step_changes_every_parameter_and_writes_a_hf_checkpoint(tmp_path):
    cfg = small_cfg("sft.max_steps=20", "sft.checkpoint_every=1000", "sft.log_every=5")
    before = {k: v.clone() for k, v in video_lm(cfg.sft, VideoLayout.from_config(cfg))[0].state_dict().items()}
    final = sft_loop(loop_config(cfg, VOCAB), batches(cfg), FolderReporter(tmp_path))
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert {"sft/loss", "sft/lr", "sft/grad_norm", "sft/tokens_per_s", "time/step_s"} <= set(final)
    assert lines[-1]["sft/loss"] < lines[0]["sft/loss"] and np.isfinite(final["sft/grad_norm"])
    ckpt = tmp_path / "checkpoint_000000020"
    assert json.loads((ckpt / "trainer.json").read_text())["step"] == 20
    assert (ckpt / "model.safetensors").exists() and (ckpt / "deepspeed").is_dir()
    model, _ = load_pretrained(str(ckpt))
    assert VisualVocab.from_model_config(model.config) == scratch_vocab(32)
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert sorted(changed) == sorted(before)  # every trainable tensor moved


def test_resume_continues_from_the_last_checkpoint_to_the_same_step(tmp_path):
    common = ["sft.max_steps=40", "sft.checkpoint_every=10", "sft.grad_accum=2"]
    data = batches(small_cfg(*common))
    killed = small_cfg(*common, "sft.checkpoint_every=10")

    class Crash(RuntimeError):
        pass

    class CrashAfter(FolderReporter):
        def report(self, metrics, checkpoint):
            super().report(metrics, checkpoint)
            if metrics["sft/step"] == 20:
                raise Crash

    with pytest.raises(Crash):
        sft_loop(loop_config(killed, VOCAB), data, CrashAfter(tmp_path))
    assert FolderReporter(tmp_path).latest_checkpoint().name == "checkpoint_000000020"
    final = sft_loop(loop_config(killed, VOCAB), data, FolderReporter(tmp_path))
    assert final["sft/step"] == 40
    steps = [json.loads(x)["sft/step"] for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert steps == [10, 20, 30, 40]  # resumed at 20, not from scratch


def test_bad_inputs_give_clear_errors(tmp_path):
    cfg = small_cfg("sft.max_steps=2", "sft.backend=ddp")
    with pytest.raises(EmptyShardError, match="rank 0 got no batch"):
        sft_loop(loop_config(cfg, VOCAB), [], FolderReporter(tmp_path / "a"))
    other = batches(small_cfg("data.num_frames=9"))
    with pytest.raises(ValueError, match="sequences have 37 tokens, the model expects 33"):
        sft_loop(loop_config(cfg, VOCAB), other, FolderReporter(tmp_path / "b"))
    model, _ = build_scratch_model(cfg.sft, 32, max_positions=16)
    save_pretrained(model, None, tmp_path / "m")
    short = small_cfg("sft.max_steps=2", f"sft.model_path={tmp_path / 'm'}")
    with pytest.raises(ValueError, match="33 tokens .* max_position_embeddings=16"):
        sft_loop(loop_config(short, VOCAB), batches(short), FolderReporter(tmp_path / "c"))


def test_lora_trains_adapters_and_saves_a_merged_plain_checkpoint(tmp_path):
    cfg = small_cfg("sft.backend=ddp", "sft.lora=true", "sft.lora_rank=4", "sft.max_steps=30",
                    "sft.checkpoint_every=1000", "sft.log_every=5")
    torch.manual_seed(cfg.sft.seed)
    before = video_lm(cfg.sft, VideoLayout.from_config(cfg))[0].state_dict()
    sft_loop(loop_config(cfg, VOCAB), batches(cfg), FolderReporter(tmp_path))
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert lines[-1]["sft/loss"] < lines[0]["sft/loss"]
    model, _ = load_pretrained(str(tmp_path / "checkpoint_000000030"))
    state = model.state_dict()
    assert set(state) == set(before) and not any("lora" in k for k in state)  # merged: plain HF weights
    attention = [k for k in state if k.endswith("q_proj.weight")]
    assert attention and all(not torch.equal(state[k], before[k]) for k in attention)  # adapters merged in


def test_code_values_initialise_the_visual_embeddings_the_loop_trains_from(tmp_path):
    cfg = small_cfg("sft.backend=ddp", "sft.max_steps=1", "sft.lr=1e-12", "sft.warmup_steps=1", "sft.log_every=1")
    values = np.random.default_rng(1).random(32).tolist()
    sft_loop(loop_config(cfg, VOCAB, values), batches(cfg, num_videos=16), FolderReporter(tmp_path))
    trained, _ = load_pretrained(str(tmp_path / "checkpoint_000000001"))
    expected, _, _ = video_lm(cfg.sft, VideoLayout.from_config(cfg))
    init_code_embeddings(expected, VOCAB, values)
    rows = slice(VOCAB.code_offset, VOCAB.code_offset + VOCAB.num_codes)
    for got, want in ((trained.get_input_embeddings(), expected.get_input_embeddings()),
                      (trained.get_output_embeddings(), expected.get_output_embeddings())):
        torch.testing.assert_close(got.weight[rows], want.weight[rows], atol=1e-6, rtol=0)
    off = small_cfg("sft.backend=ddp", "sft.max_steps=1", "sft.lr=1e-12", "sft.warmup_steps=1",
                    "sft.code_embeddings=random")
    sft_loop(loop_config(off, VOCAB, values), batches(off, num_videos=16), FolderReporter(tmp_path / "off"))
    plain, _ = load_pretrained(str(tmp_path / "off" / "checkpoint_000000001"))
    assert not torch.allclose(plain.get_input_embeddings().weight[rows], expected.get_input_embeddings().weight[rows])


def test_the_stream_resumes_at_the_checkpoints_epoch_and_batch():
    from physar_ray.train.sft import _epochs

    class Seeded:  # like sft_job's shard: each pass shuffles by its epoch
        epoch = 0

        def __iter__(self):
            self.epoch += 1
            return iter([(self.epoch - 1, i) for i in range(4)])

    stream = _epochs(Seeded(), rank=0, epoch=2, done=3)
    got = [next(stream) for _ in range(3)]
    assert got == [(2, 4, (2, 3)), (3, 1, (3, 0)), (3, 2, (3, 1))]  # the rest of epoch 2 (its shuffle), then 3
    plain = _epochs([10, 11, 12], rank=0, epoch=1, done=3)  # a checkpoint at an epoch's end: the next epoch
    assert [next(plain) for _ in range(2)] == [(2, 1, 10), (2, 2, 11)]

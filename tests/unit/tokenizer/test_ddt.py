import json

import numpy as np
import pytest
import torch

from physar_ray.config import load
from physar_ray.sim.video import make_video
from physar_ray.tokenizer.ddt import CheckpointError, DDTokenizer

RES = 32


def _tok(*overrides):
    torch.manual_seed(0)
    return DDTokenizer(load(None, list(overrides)).tokenizer, RES)


def _frames(n=4):
    record, _ = make_video("collision", "sft", 0, 0, load(None, [f"data.resolution={RES}"]).data)
    return record.frames[:n]


@pytest.mark.parametrize("family", ["coord", "paper"])
def test_shapes_types_and_determinism(family):
    tok = _tok(f"tokenizer.family={family}", "tokenizer.decoder=flow")
    frames = _frames()
    tokens = tok.encode(frames)
    k = tok.cfg.num_tokens  # coord_tiny's 6; the paper family takes the configured count
    assert isinstance(tokens, np.ndarray) and tokens.shape == (4, k) and tokens.dtype == np.int64
    assert ((tokens >= 0) & (tokens < 256)).all()
    video = tok.encode(torch.from_numpy(np.stack([frames, frames])))  # [B, T, H, W, 3]
    assert isinstance(video, torch.Tensor) and video.shape == (2, 4, k)
    assert torch.equal(video[0], torch.from_numpy(tokens)) and torch.equal(video[0], video[1])
    out = tok.decode(tokens, steps=2, seed=3)
    assert out.shape == (4, RES, RES, 3) and out.dtype == np.uint8
    assert np.array_equal(out, tok.decode(tokens, steps=2, seed=3))
    assert tok.decode(video, steps=1).shape == (2, 4, RES, RES, 3)


@pytest.mark.parametrize("family", ["coord", "paper"])
def test_save_load_round_trip(tmp_path, family):
    tok = _tok(f"tokenizer.family={family}")
    tok.save(tmp_path / "tok")
    again = DDTokenizer.load(tmp_path / "tok", expect=tok.cfg, resolution=RES)
    frames = _frames()
    tokens = tok.encode(frames)
    assert np.array_equal(tokens, again.encode(frames))
    assert np.array_equal(tok.decode(tokens), again.decode(tokens))
    assert (tmp_path / "tok" / "model.safetensors").exists()


def test_wrong_frames_are_named():
    tok = _tok()
    with pytest.raises(ValueError, match=r"64×64 px but this tokenizer was built for 32×32"):
        tok.encode(np.zeros((2, 64, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        tok.encode(np.zeros((2, RES, RES, 3), np.float32))
    with pytest.raises(ValueError, match=r"\[B, H, W, 3\]"):
        tok.encode(np.zeros((RES, RES, 3), np.uint8))


def test_bad_tokens_are_named():
    tok = _tok()
    with pytest.raises(ValueError, match=r"\[0, 256\)"):
        tok.decode(np.full((1, 6), 256))
    with pytest.raises(ValueError, match=r"\[\.\.\., 6\]"):
        tok.decode(np.zeros((1, 5), np.int64))


def test_mismatched_checkpoints_are_named(tmp_path):
    tok = _tok()
    tok.save(tmp_path / "tok")
    with pytest.raises(CheckpointError, match="trained on 32 px frames, the caller uses data.resolution=64"):
        DDTokenizer.load(tmp_path / "tok", resolution=64)
    other = load(None, ["tokenizer.family=paper"]).tokenizer
    with pytest.raises(CheckpointError, match="family: checkpoint 'coord' vs config 'paper'"):
        DDTokenizer.load(tmp_path / "tok", expect=other)
    meta = json.loads((tmp_path / "tok" / "tokenizer.json").read_text())
    meta["config"]["codebook_size"] = 128  # a codebook that disagrees with the stored tensors
    (tmp_path / "tok" / "tokenizer.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=r"quantizer.codebook has shape \[256, 16\] in the checkpoint but \[128, 16\]"):
        DDTokenizer.load(tmp_path / "tok")
    with pytest.raises(CheckpointError, match="not a tokenizer checkpoint: model.safetensors is missing"):
        DDTokenizer.load(tmp_path / "nowhere")

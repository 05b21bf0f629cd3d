"""The tiny preset's SFT recipe learns a law it can only tell apart by the scenario token.

Two synthetic "scenarios" share their condition frames: in `uniform` a code moves v places per
frame, in `parabola` it also accelerates after the condition frames (codes stand for their rank,
as a coordinate tokenizer's stand for positions). Trained briefly with the
tiny preset's sft settings (model size, lr, input-code noise, scenario token), teacher-forced
accuracy on held-out videos must rise from chance (1/64) to most tokens; the same recipe without
the scenario token cannot do better than guess on the accelerating frames.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from physar_ray.config import load, replace
from physar_ray.lm.model import video_lm, video_vocab
from physar_ray.lm.sequence import VideoLayout, training_batch
from physar_ray.train.sft import FolderReporter, loop_config, sft_loop

SHAPE = ["data.num_frames=8", "data.cond_frames=3", "data.contact_frames=[2, 5]", "tokenizer.num_tokens=2", "tokenizer.codebook_size=64",
         "sft.max_steps=300", "sft.warmup_steps=20", "sft.batch_size=16", "sft.backend=ddp",
         "sft.checkpoint_every=1000", "sft.log_every=50"]
SCENARIOS = ("uniform", "parabola")


def videos(count: int, layout: VideoLayout, seed: int) -> tuple[np.ndarray, list[str]]:
    """codes [2·count, T, K]: half uniform, half accelerating after the condition frames; positions
    stay inside the codebook (no wrap-around), as a coordinate inside the frame does."""
    rng = np.random.default_rng(seed)
    t = np.arange(layout.num_frames)[None, :, None]
    k = np.arange(layout.tokens_per_frame)[None, None, :]
    x0 = rng.integers(0, 16, (2 * count, 1, 1))
    v = rng.integers(0, 4, (2 * count, 1, 1))
    bend = np.maximum(0, t - (layout.cond_frames - 1))  # 0 in the condition frames, then 1, 2, 3 …
    fall = np.concatenate([np.zeros((count, 1, 1)), np.ones((count, 1, 1))]).astype(int)
    codes = x0 + v * t + fall * bend * (bend + 1) // 2 + k  # at most 15 + 21 + 15 + 1 < 64
    return codes, [s for s in SCENARIOS for _ in range(count)]


def accuracy(model: torch.nn.Module, batch: dict[str, np.ndarray], first_frame_only: bool = False) -> float:
    """Teacher-forced argmax accuracy on the target tokens (or on the first target frame's)."""
    ids, labels = torch.as_tensor(batch["input_ids"]), torch.as_tensor(batch["labels"])
    with torch.no_grad():
        predicted = model.eval()(input_ids=ids).logits[:, :-1].argmax(-1)
    mask = labels[:, 1:] != -100
    if first_frame_only:  # the K tokens right after the prompt
        first = mask.int().argmax(dim=1, keepdim=True)
        columns = torch.arange(mask.shape[1])[None]
        mask = mask & (columns < first + 2)
    return float((predicted == labels[:, 1:])[mask].float().mean())


def train(cfg, tmp_path) -> tuple[torch.nn.Module, torch.nn.Module, dict[str, np.ndarray]]:
    """(untrained model, trained model, held-out batch) of the recipe on the two synthetic laws."""
    from transformers import AutoModelForCausalLM

    layout = VideoLayout.from_config(cfg)
    vocab = video_vocab(cfg.sft, layout)
    codes, scenarios = videos(256, layout, seed=0)
    order = np.random.default_rng(1).permutation(len(codes))
    b = cfg.sft.batch_size
    data = [training_batch(codes[order[i: i + b]], layout, vocab, [scenarios[j] for j in order[i: i + b]])
            for i in range(0, len(codes), b)]
    held_codes, held_scenarios = videos(64, layout, seed=7)
    torch.manual_seed(cfg.sft.seed)
    untrained = video_lm(cfg.sft, layout)[0]
    values = (np.arange(64) / 64).tolist()  # each code stands for its own rank, as coordinate codes do
    sft_loop(loop_config(cfg, vocab, values), data, FolderReporter(tmp_path))
    trained = AutoModelForCausalLM.from_pretrained(next(tmp_path.glob("checkpoint_*")))
    return untrained, trained, training_batch(held_codes, layout, vocab, held_scenarios)


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    cfg = load("tiny", SHAPE)
    assert cfg.sft.scenario_token and cfg.sft.input_noise > 0  # the recipe under test
    return cfg, train(cfg, tmp_path_factory.mktemp("recipe"))


def test_the_tiny_recipe_learns_both_laws(recipe):
    _, (untrained, trained, held) = recipe
    before, after = accuracy(untrained, held), accuracy(trained, held)
    assert before < 0.05 and after > 0.7, (before, after)  # chance is 1/64


def test_only_the_scenario_token_tells_the_laws_apart_after_the_condition_frames(recipe, tmp_path):
    cfg, (_, trained, held) = recipe
    _, blind, blind_held = train(replace(cfg, {"sft.scenario_token": False}), tmp_path)
    told, guessed = accuracy(trained, held, first_frame_only=True), accuracy(blind, blind_held, first_frame_only=True)
    # the first generated frame moves by v or by v + 1: without the token its first code is a coin
    # toss (≤ 0.75 of the frame's tokens right at best), with it the model knows which
    assert guessed < 0.78 and told > guessed + 0.1, (told, guessed)

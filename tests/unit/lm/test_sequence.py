"""Token videos ↔ LM sequences: layout, loss mask, round trip, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from tests.unit.lm.lm_helpers import LAYOUT

from physar_ray.config import load
from physar_ray.lm.sequence import (
    IGNORE, SequenceError, VideoLayout, check_context, full_video, generated_codes, prompt_ids, tokens_to_codes,
    training_batch,
)
from physar_ray.lm.vocab import VisualVocab

VOCAB = VisualVocab(code_offset=45, num_codes=16, prefix=(0, 44), vocab_size=61)


def test_paper_layout_comes_from_config():
    layout = VideoLayout.from_config(load("paper", []))
    assert (layout.prompt_codes, layout.target_codes) == (48, 464)  # 3 × 16 and 29 × 16
    assert layout.sequence_length(VOCAB) == 2 + 512


def test_training_batch_layout_and_loss_mask():
    codes = np.arange(2 * 6 * 4).reshape(2, 6, 4) % 16
    batch = training_batch(codes, LAYOUT, VOCAB)
    ids, labels = batch["input_ids"], batch["labels"]
    assert ids.shape == labels.shape == (2, 2 + 24)
    assert ids[0, :2].tolist() == [0, 44] and ids[0, 2:].tolist() == (codes[0].ravel() + 45).tolist()
    # loss on the 3 × 4 target tokens only: the prefix and the 3 condition frames are ignored
    assert (labels[:, : 2 + 12] == IGNORE).all() and (labels[:, 14:] == ids[:, 14:]).all()
    assert (prompt_ids(codes, LAYOUT, VOCAB) == ids[:, :14]).all()


def test_a_conditioned_vocabulary_puts_each_videos_scenario_token_after_the_prefix():
    vocab = VisualVocab(code_offset=45, num_codes=16, prefix=(0, 44), vocab_size=64,
                        scenario_ids=(("uniform", 61), ("parabola", 62), ("collision", 63)))
    codes = np.arange(2 * 6 * 4).reshape(2, 6, 4) % 16
    batch = training_batch(codes, LAYOUT, vocab, ["parabola", "uniform"])
    ids, labels = batch["input_ids"], batch["labels"]
    assert ids.shape == (2, 3 + 24) and ids[:, :3].tolist() == [[0, 44, 62], [0, 44, 61]]
    assert (labels[:, : 3 + 12] == IGNORE).all() and (labels[:, 15:] == ids[:, 15:]).all()
    assert (prompt_ids(codes, LAYOUT, vocab, ["parabola", "uniform"]) == ids[:, :15]).all()
    assert LAYOUT.sequence_length(vocab) == 27
    assert (generated_codes(ids[:, 15:], LAYOUT, vocab) == codes[:, 3:]).all()


def test_generated_codes_round_trip_to_the_full_video():
    codes = np.random.default_rng(0).integers(0, 16, (3, 6, 4))
    ids = training_batch(codes, LAYOUT, VOCAB)["input_ids"]
    gen = generated_codes(ids[:, 14:], LAYOUT, VOCAB)
    assert (full_video(codes, gen, LAYOUT) == codes).all()


def test_tokens_column_flat_or_nested():
    codes = np.random.default_rng(1).integers(0, 16, (2, 6, 4))
    flat = [c.ravel().tolist() for c in codes]
    nested = np.empty(2, dtype=object)
    nested[:] = [np.array([np.array(f) for f in c], dtype=object) for c in codes]
    assert (tokens_to_codes(flat, LAYOUT) == codes).all()
    assert (tokens_to_codes(nested, LAYOUT) == codes).all()


def test_bad_inputs_name_what_disagrees():
    with pytest.raises(SequenceError, match=r"codes in \[0, 300\] but the codebook has 16"):
        training_batch(np.eye(6, 4, dtype=int)[None] * 300, LAYOUT, VOCAB)
    with pytest.raises(SequenceError, match=r"shape \[1, 5, 4\], expected \[B, 6, 4\]"):
        training_batch(np.zeros((1, 5, 4), int), LAYOUT, VOCAB)
    with pytest.raises(SequenceError, match="holds 20 codes, expected"):
        tokens_to_codes([list(range(20))], LAYOUT)
    with pytest.raises(SequenceError, match="26 tokens .* max_position_embeddings=16"):
        check_context(LAYOUT, VOCAB, 16)
    with pytest.raises(SequenceError, match="did not mask text tokens"):
        generated_codes(np.full((1, 12), 3), LAYOUT, VOCAB)

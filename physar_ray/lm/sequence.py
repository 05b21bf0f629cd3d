"""Token videos ↔ LM sequences (docs/tokens.md).

A video of T frames × K tokens (codes in [0, C)) becomes one sequence, no separators:

    prefix (BOS?, <|video_start|>) · <|scenario_NAME|>? · frame 0 · frame 1 · frame 2 · … · frame T−1

(the scenario token only for a model trained with ``sft.scenario_token``; lm/vocab.py).

Every frame has exactly K tokens, so frame boundaries are implicit. The first ``cond_frames``
frames are the prompt; the loss applies only to the (T − cond_frames) × K target tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from physar_ray.config import Config
from physar_ray.lm.vocab import VisualVocab

IGNORE = -100
"""Label of positions without loss (HF's ignore_index)."""


class SequenceError(ValueError):
    """Token videos that do not fit the layout or the model; the message names both sides."""


@dataclass(frozen=True)
class VideoLayout:
    """Sizes of a token video: T frames of K tokens over a codebook of C codes."""

    num_frames: int
    """T: frames per video (data.num_frames)."""
    cond_frames: int
    """Frames in the prompt (data.cond_frames)."""
    tokens_per_frame: int
    """K: tokens per frame (tokenizer.num_tokens)."""
    codebook_size: int
    """C: visual codes (tokenizer.codebook_size)."""

    @classmethod
    def from_config(cls, cfg: Config) -> VideoLayout:
        return cls(cfg.data.num_frames, cfg.data.cond_frames, cfg.tokenizer.num_tokens, cfg.tokenizer.codebook_size)

    @property
    def prompt_codes(self) -> int:
        return self.cond_frames * self.tokens_per_frame

    @property
    def target_codes(self) -> int:
        """Tokens the model generates: (T − cond_frames) × K (paper: 29 × 16 = 464)."""
        return (self.num_frames - self.cond_frames) * self.tokens_per_frame

    def sequence_length(self, vocab: VisualVocab) -> int:
        return vocab.prefix_length + self.num_frames * self.tokens_per_frame


def check_context(layout: VideoLayout, vocab: VisualVocab, max_positions: int) -> None:
    """Fail when one video's sequence does not fit the model's context window."""
    need = layout.sequence_length(vocab)
    if need > max_positions:
        raise SequenceError(
            f"a video is {need} tokens ({vocab.prefix_length} prefix + {layout.num_frames} frames × "
            f"{layout.tokens_per_frame}) but the model's context is max_position_embeddings={max_positions}: "
            "use a model with a longer context or fewer frames"
        )


def check_codes(codes: np.ndarray, layout: VideoLayout, frames: int) -> np.ndarray:
    """codes: [B, frames, K] ints in [0, C) → the same as int64, or a SequenceError."""
    codes = np.asarray(codes)
    want = (frames, layout.tokens_per_frame)
    if codes.ndim != 3 or codes.shape[1:] != want:
        raise SequenceError(f"token videos have shape {list(codes.shape)}, expected [B, {want[0]}, {want[1]}] "
                            "(data.num_frames / data.cond_frames × tokenizer.num_tokens)")
    if codes.size and (codes.min() < 0 or codes.max() >= layout.codebook_size):
        raise SequenceError(
            f"token videos hold codes in [{codes.min()}, {codes.max()}] but the codebook has "
            f"{layout.codebook_size} entries (tokenizer.codebook_size): tokenizer and LM disagree"
        )
    return codes.astype(np.int64)


def prompt_ids(codes: np.ndarray, layout: VideoLayout, vocab: VisualVocab,
               scenarios: Sequence[str] | None = None) -> np.ndarray:
    """codes: [B, ≥cond_frames, K] → [B, P] prompt ids, P = vocab.prefix_length + cond_frames·K;
    ``scenarios`` [B] names each video's scenario (needed when the vocabulary is conditioned)."""
    cond = check_codes(np.asarray(codes)[:, : layout.cond_frames], layout, layout.cond_frames)
    prefix = vocab.prefixes(cond.shape[0], scenarios)
    return np.concatenate([prefix, cond.reshape(cond.shape[0], -1) + vocab.code_offset], axis=1)


def training_batch(codes: np.ndarray, layout: VideoLayout, vocab: VisualVocab,
                   scenarios: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """codes: [B, T, K] (and ``scenarios`` [B] for a conditioned vocabulary) → input_ids [B, L] and
    labels [B, L] (IGNORE except on the target tokens).

    HF causal LMs shift labels inside, so labels[i] = input_ids[i] scores the prediction of
    token i from tokens < i.
    """
    codes = check_codes(codes, layout, layout.num_frames)
    b = codes.shape[0]
    input_ids = np.concatenate([vocab.prefixes(b, scenarios), codes.reshape(b, -1) + vocab.code_offset], axis=1)
    labels = input_ids.copy()
    labels[:, : vocab.prefix_length + layout.prompt_codes] = IGNORE
    return {"input_ids": input_ids, "labels": labels}


def generated_codes(ids: np.ndarray, layout: VideoLayout, vocab: VisualVocab) -> np.ndarray:
    """ids: [B, (T − cond)·K] generated LM ids → codes [B, T − cond, K]."""
    ids = np.asarray(ids)
    if ids.ndim != 2 or ids.shape[1] != layout.target_codes:
        raise SequenceError(f"generated ids have shape {list(ids.shape)}, expected [B, {layout.target_codes}]")
    codes = ids - vocab.code_offset
    if codes.size and (codes.min() < 0 or codes.max() >= vocab.num_codes):
        raise SequenceError(f"generated ids leave the visual range {vocab.code_ids}: the engine did not mask text tokens")
    return codes.reshape(ids.shape[0], -1, layout.tokens_per_frame)


def full_video(prompt_codes: np.ndarray, generated: np.ndarray, layout: VideoLayout) -> np.ndarray:
    """[B, cond, K] condition + [B, T − cond, K] generated → [B, T, K] codes for the tokenizer's decode."""
    return np.concatenate([np.asarray(prompt_codes)[:, : layout.cond_frames], generated], axis=1)


def tokens_to_codes(column: list | np.ndarray, layout: VideoLayout) -> np.ndarray:
    """A Parquet ``tokens`` column (one flat or nested list of T·K ints per video) → [B, T, K] codes."""
    rows = [np.asarray(v).reshape(-1) for v in column]
    size = layout.num_frames * layout.tokens_per_frame
    bad = [r.size for r in rows if r.size != size]
    if bad:
        raise SequenceError(f"a tokens row holds {bad[0]} codes, expected data.num_frames × tokenizer.num_tokens = "
                            f"{layout.num_frames} × {layout.tokens_per_frame} = {size}")
    return check_codes(np.stack(rows).reshape(-1, layout.num_frames, layout.tokens_per_frame) if rows else
                       np.zeros((0, layout.num_frames, layout.tokens_per_frame), np.int64), layout, layout.num_frames)

"""Visual codes in a causal LM's vocabulary: where they sit, and how a model gets them.

The C visual codes (C = tokenizer.codebook_size, 256) occupy one contiguous id range
``[code_offset, code_offset + C)``, so masking text tokens is a slice of the logits and vLLM's
``allowed_token_ids`` is one ``range``. ``<|video_start|>`` opens every video. A model trained with
``sft.scenario_token`` also has one ``<|scenario_NAME|>`` token per scenario, which follows the
prefix and tells it which law to continue (PhyWorld and Phys-AR train one model per scenario; one
model for all three must be told, since the 3 condition frames of a parabola and of uniform motion
differ by 0.3 px at 64 px). The layout is written into the model's ``config.json`` under
``physar_visual``, so a checkpoint says which ids are codes; ``config.vocab_size`` always equals the
embedding rows, so ``AutoModelForCausalLM.from_pretrained`` and vLLM load it unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from physar_ray.config.checkpoints import VISUAL_KEY as CONFIG_KEY

VIDEO_START = "<|video_start|>"


class VocabError(ValueError):
    """The model, its tokenizer and the visual tokenizer disagree; the message names both sides."""


def code_token(code: int) -> str:
    """The text form of visual code ``code`` in an extended HF tokenizer."""
    return f"<|vis_{code}|>"


@dataclass(frozen=True)
class VisualVocab:
    """Where the visual tokens live in an LM vocabulary of ``vocab_size`` ids."""

    code_offset: int
    """Id of visual code 0; code c has id code_offset + c."""
    num_codes: int
    """C: visual codes (the DDT codebook size)."""
    prefix: tuple[int, ...]
    """Ids that open every sequence: the base model's BOS (if it has one), then <|video_start|>."""
    vocab_size: int
    """Rows of the model's embedding matrix (= config.vocab_size)."""
    scenario_ids: tuple[tuple[str, int], ...] = ()
    """(scenario, id) of each scenario's conditioning token, which follows the prefix; empty: unconditioned."""

    def __post_init__(self) -> None:
        if self.code_offset < 0 or self.code_offset + self.num_codes > self.vocab_size:
            raise VocabError(
                f"visual codes [{self.code_offset}, {self.code_offset + self.num_codes}) do not fit a vocabulary "
                f"of {self.vocab_size} ids: the checkpoint's config.vocab_size and physar_visual disagree"
            )

    @property
    def code_ids(self) -> range:
        """The ids a sampler may emit."""
        return range(self.code_offset, self.code_offset + self.num_codes)

    @property
    def prefix_length(self) -> int:
        """Ids before a video's first code: the prefix, and the scenario token when conditioned."""
        return len(self.prefix) + (1 if self.scenario_ids else 0)

    def prefixes(self, count: int, scenarios: Sequence[str] | None = None) -> np.ndarray:
        """[count, prefix_length] int64: the prefix, then each video's scenario token when conditioned."""
        prefix = np.broadcast_to(np.asarray(self.prefix, dtype=np.int64), (count, len(self.prefix)))
        if not self.scenario_ids:
            return prefix
        ids = dict(self.scenario_ids)
        if scenarios is None or len(scenarios) != count:
            raise VocabError(f"this model is conditioned on the scenario ({', '.join(ids)}): give one scenario per "
                             f"video ({count}), e.g. the tokens table's 'scenario' column")
        unknown = sorted(set(scenarios) - set(ids))
        if unknown:
            raise VocabError(f"scenario {unknown[0]!r} has no conditioning token in this model (it knows "
                             f"{', '.join(ids)}): train it on that scenario")
        return np.concatenate([prefix, np.array([[ids[s]] for s in scenarios], dtype=np.int64)], axis=1)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "prefix": list(self.prefix), "scenario_ids": [list(p) for p in self.scenario_ids]}

    @classmethod
    def from_dict(cls, saved: dict[str, Any]) -> VisualVocab:
        """The inverse of :meth:`to_dict` (also reads layouts saved before scenario tokens existed)."""
        return cls(int(saved["code_offset"]), int(saved["num_codes"]), tuple(saved["prefix"]), int(saved["vocab_size"]),
                   tuple((str(n), int(i)) for n, i in saved.get("scenario_ids", ())))

    @classmethod
    def from_model_config(cls, config: Any, where: str = "the model") -> VisualVocab:
        """The layout saved in a HF config; a VocabError when the checkpoint has no visual tokens."""
        saved = getattr(config, CONFIG_KEY, None)
        if not saved:
            raise VocabError(
                f"{where} has no visual tokens (no '{CONFIG_KEY}' in its config.json): it is a plain LM; "
                "train it with `physar sft train` (sft.model_path=...) before generating videos"
            )
        vocab = cls.from_dict(saved)
        if vocab.vocab_size != config.vocab_size:
            raise VocabError(
                f"{where}: physar_visual says vocab_size={vocab.vocab_size} but config.vocab_size="
                f"{config.vocab_size}: the embeddings were resized after the visual tokens were added"
            )
        return vocab

    def check_codebook(self, codebook_size: int) -> None:
        """Fail when the visual tokenizer's codebook and the LM's visual codes differ in size."""
        if codebook_size != self.num_codes:
            raise VocabError(
                f"the visual tokenizer has {codebook_size} codes (tokenizer.codebook_size) but the LM has "
                f"{self.num_codes} visual tokens: use the LM trained on this tokenizer's codes"
            )


def scenario_token(scenario: str) -> str:
    """The text form of a scenario's conditioning token in an extended HF tokenizer."""
    return f"<|scenario_{scenario}|>"


def scratch_vocab(num_codes: int, scenarios: Sequence[str] = ()) -> VisualVocab:
    """A minimal vocabulary for a model built from scratch: the C codes, <|video_start|>, then one
    conditioning token per scenario (none: unconditioned)."""
    ids = tuple((s, num_codes + 1 + i) for i, s in enumerate(scenarios))
    return VisualVocab(code_offset=0, num_codes=num_codes, prefix=(num_codes,), vocab_size=num_codes + 1 + len(ids),
                       scenario_ids=ids)


def _add_to_tokenizer(tokenizer: Any, num_codes: int,
                      scenarios: Sequence[str]) -> tuple[int, tuple[int, ...], tuple[tuple[str, int], ...]]:
    """Add <|video_start|>, the scenario tokens and the code tokens as special tokens;
    returns (code_offset, prefix, scenario_ids)."""
    names = [code_token(c) for c in range(num_codes)]
    conditions = [scenario_token(s) for s in scenarios]
    clash = [n for n in [VIDEO_START, *conditions, *names] if n in tokenizer.get_vocab()]
    if clash:
        raise VocabError(f"the tokenizer already holds {clash[0]!r}: this model was extended before")
    tokenizer.add_special_tokens({"additional_special_tokens": [VIDEO_START, *conditions]})
    tokenizer.add_tokens(names, special_tokens=True)
    ids = tokenizer.convert_tokens_to_ids(names)
    if ids != list(range(ids[0], ids[0] + num_codes)):
        raise VocabError("the tokenizer gave the visual codes non-contiguous ids; extend a tokenizer without holes")
    bos = () if tokenizer.bos_token_id is None else (tokenizer.bos_token_id,)
    scenario_ids = tuple((s, tokenizer.convert_tokens_to_ids(t)) for s, t in zip(scenarios, conditions))
    return ids[0], (*bos, tokenizer.convert_tokens_to_ids(VIDEO_START)), scenario_ids


def plan_vocab(num_codes: int, vocab_size: int, tokenizer: Any = None, scenarios: Sequence[str] = ()) -> VisualVocab:
    """Where C codes, <|video_start|> and the scenario tokens go in a vocabulary of ``vocab_size`` rows.

    With a tokenizer (which gains the tokens: pass a copy to only look) the ids are the ones it
    assigns after its last token; without one they are appended after ``vocab_size`` (the codes
    after <|video_start|> and the scenario tokens). The vocabulary never shrinks, since some models
    (Qwen2) have more rows than tokenizer entries.
    """
    if tokenizer is None:
        ids = tuple((s, vocab_size + 1 + i) for i, s in enumerate(scenarios))
        offset = vocab_size + 1 + len(ids)
        return VisualVocab(offset, num_codes, (vocab_size,), offset + num_codes, ids)
    offset, prefix, ids = _add_to_tokenizer(tokenizer, num_codes, scenarios)
    return VisualVocab(offset, num_codes, prefix, max(vocab_size, len(tokenizer)), ids)


def extend_vocabulary(model: torch.nn.Module, num_codes: int, tokenizer: Any = None,
                      scenarios: Sequence[str] = ()) -> VisualVocab:
    """Give a HF causal LM (and its tokenizer, if any) C visual codes, <|video_start|> and the
    scenario tokens.

    Embeddings grow to :func:`plan_vocab`'s size (new rows start at the mean embedding, HF's
    ``mean_resizing``); the layout is saved into ``model.config`` (so into config.json).
    """
    if getattr(model.config, CONFIG_KEY, None):
        raise VocabError("the model already has visual tokens (physar_visual in its config): do not extend it twice")
    vocab = plan_vocab(num_codes, model.get_input_embeddings().weight.shape[0], tokenizer, scenarios)
    model.resize_token_embeddings(vocab.vocab_size)
    setattr(model.config, CONFIG_KEY, vocab.to_dict())
    return vocab

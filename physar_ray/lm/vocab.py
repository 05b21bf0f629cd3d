"""Visual codes in a causal LM's vocabulary: where they sit, and how a model gets them.

The C visual codes (C = tokenizer.codebook_size, 256) occupy one contiguous id range
``[code_offset, code_offset + C)``, so masking text tokens is a slice of the logits and vLLM's
``allowed_token_ids`` is one ``range``. ``<|video_start|>`` opens every video. The layout is
written into the model's ``config.json`` under ``physar_visual``, so a checkpoint says which ids
are codes; ``config.vocab_size`` always equals the embedding rows, so
``AutoModelForCausalLM.from_pretrained`` and vLLM load it unchanged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch

CONFIG_KEY = "physar_visual"
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

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "prefix": list(self.prefix)}

    @classmethod
    def from_model_config(cls, config: Any, where: str = "the model") -> VisualVocab:
        """The layout saved in a HF config; a VocabError when the checkpoint has no visual tokens."""
        saved = getattr(config, CONFIG_KEY, None)
        if not saved:
            raise VocabError(
                f"{where} has no visual tokens (no '{CONFIG_KEY}' in its config.json): it is a plain LM; "
                "train it with `physar sft train` (sft.model_path=...) before generating videos"
            )
        vocab = cls(int(saved["code_offset"]), int(saved["num_codes"]), tuple(saved["prefix"]),
                    int(saved["vocab_size"]))
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


def scratch_vocab(num_codes: int) -> VisualVocab:
    """A minimal vocabulary for a model built from scratch: the C codes, then <|video_start|>."""
    return VisualVocab(code_offset=0, num_codes=num_codes, prefix=(num_codes,), vocab_size=num_codes + 1)


def _add_to_tokenizer(tokenizer: Any, num_codes: int) -> tuple[int, tuple[int, ...]]:
    """Add <|video_start|> and the code tokens as special tokens; returns (code_offset, prefix)."""
    names = [code_token(c) for c in range(num_codes)]
    clash = [n for n in [VIDEO_START, *names] if n in tokenizer.get_vocab()]
    if clash:
        raise VocabError(f"the tokenizer already holds {clash[0]!r}: this model was extended before")
    tokenizer.add_special_tokens({"additional_special_tokens": [VIDEO_START]})
    tokenizer.add_tokens(names, special_tokens=True)
    ids = tokenizer.convert_tokens_to_ids(names)
    if ids != list(range(ids[0], ids[0] + num_codes)):
        raise VocabError("the tokenizer gave the visual codes non-contiguous ids; extend a tokenizer without holes")
    bos = () if tokenizer.bos_token_id is None else (tokenizer.bos_token_id,)
    return ids[0], (*bos, tokenizer.convert_tokens_to_ids(VIDEO_START))


def plan_vocab(num_codes: int, vocab_size: int, tokenizer: Any = None) -> VisualVocab:
    """Where C codes and <|video_start|> go in a vocabulary of ``vocab_size`` embedding rows.

    With a tokenizer (which gains the tokens: pass a copy to only look) the ids are the ones it
    assigns after its last token; without one they are appended after ``vocab_size``. The
    vocabulary never shrinks, since some models (Qwen2) have more rows than tokenizer entries.
    """
    if tokenizer is None:
        return VisualVocab(vocab_size + 1, num_codes, (vocab_size,), vocab_size + 1 + num_codes)
    offset, prefix = _add_to_tokenizer(tokenizer, num_codes)
    return VisualVocab(offset, num_codes, prefix, max(vocab_size, len(tokenizer)))


def extend_vocabulary(model: torch.nn.Module, num_codes: int, tokenizer: Any = None) -> VisualVocab:
    """Give a HF causal LM (and its tokenizer, if any) C visual codes and <|video_start|>.

    Embeddings grow to :func:`plan_vocab`'s size (new rows start at the mean embedding, HF's
    ``mean_resizing``); the layout is saved into ``model.config`` (so into config.json).
    """
    if getattr(model.config, CONFIG_KEY, None):
        raise VocabError("the model already has visual tokens (physar_visual in its config): do not extend it twice")
    vocab = plan_vocab(num_codes, model.get_input_embeddings().weight.shape[0], tokenizer)
    model.resize_token_embeddings(vocab.vocab_size)
    setattr(model.config, CONFIG_KEY, vocab.to_dict())
    return vocab

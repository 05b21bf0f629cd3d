"""Tiny models and tokenizers built in code (never downloaded) for the lm tests."""

from __future__ import annotations

from physar_ray.config import SFTConfig
from physar_ray.lm.sequence import VideoLayout

LAYOUT = VideoLayout(num_frames=6, cond_frames=3, tokens_per_frame=4, codebook_size=16)
TEXT_WORDS = [f"w{i}" for i in range(40)]


def tiny_sft(arch: str = "llama", scenario_token: bool = False) -> SFTConfig:
    return SFTConfig(arch=arch, hidden_size=32, num_layers=2, num_heads=4, scenario_token=scenario_token)


def text_model(arch: str = "llama", vocab_size: int = 44):
    """A tiny 'pretrained' text LM (random weights) whose vocabulary has only text tokens."""
    from transformers import AutoModelForCausalLM

    from physar_ray.lm.model import SCRATCH_CONFIGS

    cfg = SCRATCH_CONFIGS[arch](vocab_size, tiny_sft(arch), 64)
    return AutoModelForCausalLM.from_config(cfg)


def text_tokenizer():
    """A WordLevel PreTrainedTokenizerFast: <bos>, <eos>, <unk>, <pad> and 40 words (44 ids)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["<bos>", "<eos>", "<unk>", "<pad>", *TEXT_WORDS]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>",
                                   unk_token="<unk>", pad_token="<pad>")

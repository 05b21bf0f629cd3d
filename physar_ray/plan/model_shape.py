"""The sizes of the models a run trains and serves, counted without memory or weights.

The causal LM is the one SFT builds or loads (and GRPO and evaluation then load): from scratch
from sft.arch / hidden_size / num_layers / num_heads through lm/model.py's own ``SCRATCH_CONFIGS``,
or the HF ``config.json`` of sft.model_path (a local folder or s3://), or of a file given as
``--model-config`` where that path cannot be read (the paper preset's bucket is a placeholder).
Its embeddings hold the visual vocabulary SFT adds (lm/vocab.py: <|video_start|>, a scenario token
per scenario with sft.scenario_token, the C codes). Both the LM and the tokenizer are built on
PyTorch's meta device, which gives every tensor's shape and allocates nothing.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from physar_ray import storage
from physar_ray.config import Config
from physar_ray.lm.model import SCRATCH_CONFIGS, conditions
from physar_ray.lm.sequence import VideoLayout
from physar_ray.lm.vocab import CONFIG_KEY, VisualVocab, plan_vocab, scratch_vocab


class ModelConfigError(ValueError):
    """A model architecture that cannot be read; the message names the path and the fix."""


@dataclass(frozen=True)
class LMShape:
    """What the memory estimates need of the causal LM."""

    source: str
    """Where the architecture came from (a config.json path or "from scratch")."""
    model_type: str
    """HF model_type: llama, qwen2, gpt2, ..."""
    parameters: int
    """Ψ: every parameter, visual vocabulary included."""
    largest_tensor: int
    """Elements of the largest weight (the embeddings): ZeRO-3 gathers whole tensors."""
    embedding_parameters: int
    """Elements of the input and output embeddings (one matrix when tied)."""
    lora_adapter_parameters: int
    """LoRA adapters of rank sft.lora_rank on every linear layer but the output layer (sft.lora)."""
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    vocab_size: int
    """Embedding rows after the visual vocabulary is added."""
    added_tokens: int
    """Rows SFT adds to a pretrained vocabulary (0 for a from-scratch model or an SFT checkpoint)."""
    sequence_length: int
    """Tokens of one video's LM sequence: prefix, scenario token, T × K codes."""
    target_codes: int
    """Tokens generated per video: (T − cond_frames) × K."""

    @property
    def kv_elements_per_token(self) -> int:
        """2 · layers · kv_heads · head_dim: the keys and values one token leaves in the cache."""
        return 2 * self.num_layers * self.num_kv_heads * self.head_dim

    @property
    def lora_trainable(self) -> int:
        """Parameters sft.lora trains: the adapters and a trainable copy of the embeddings (peft's modules_to_save)."""
        return self.lora_adapter_parameters + self.embedding_parameters


@dataclass(frozen=True)
class TokenizerShape:
    """What the memory estimates need of the DDT tokenizer."""

    name: str
    """family/size."""
    parameters: int
    """Trainable parameters."""
    frozen_parameters: int
    """Parameters that never train (a VAE latent space)."""
    blocks: tuple[tuple[int, int], ...]
    """(tokens s, width h) of each transformer block (the paper family's Q-former and MMDiT)."""
    pixel_channels: int
    """Output channels of every convolution over the full frame, summed (the coordinate family's encoder)."""
    pixels: int
    """H · W of a frame."""


def _read_json(path: str, what: str) -> dict[str, Any]:
    try:
        text = storage.read_bytes(path).decode() if storage.is_s3(path) else Path(path).read_text()
        return json.loads(text)
    except (OSError, ValueError) as exc:
        raise ModelConfigError(
            f"cannot read {what} {path} ({type(exc).__name__}: {exc}): pass the model's architecture as "
            "--model-config FILE, a HF config.json such as cluster/models/llama-3.1-8b.json (no weights needed)"
        ) from None


def lm_config(cfg: Config, model_config: str = "") -> tuple[dict[str, Any], str]:
    """(HF config as a dict, where it came from); an empty dict for a from-scratch model."""
    if model_config:
        return _read_json(model_config, "--model-config"), model_config
    if cfg.sft.model_path:
        path = storage.join(cfg.sft.model_path, "config.json")
        return _read_json(path, "sft.model_path's config"), path
    return {}, f"from scratch: {cfg.sft.arch} {cfg.sft.num_layers} × {cfg.sft.hidden_size}"


@functools.lru_cache(maxsize=8)
def _counts(config_json: str, lora_rank: int) -> tuple[int, int, int, int]:
    """(parameters, largest tensor, embedding elements, LoRA adapter elements) of a HF config, built on meta."""
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.for_model(**json.loads(config_json))
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    params = list(model.parameters())
    embeddings = {id(m.weight): m.weight.numel() for m in (model.get_input_embeddings(), model.get_output_embeddings())}
    output = model.get_output_embeddings()
    adapters = sum(lora_rank * (m.in_features + m.out_features) for m in model.modules()
                   if isinstance(m, torch.nn.Linear) and m is not output)
    return sum(p.numel() for p in params), max(p.numel() for p in params), sum(embeddings.values()), adapters


def lm_shape(cfg: Config, model_config: str = "") -> LMShape:
    """The LM of ``cfg``'s SFT stage (see the module docstring for where its architecture comes from)."""
    layout = VideoLayout.from_config(cfg)
    scenarios = conditions(cfg.sft)
    tree, source = lm_config(cfg, model_config)
    if not tree:
        vocab = scratch_vocab(layout.codebook_size, scenarios)
        config = SCRATCH_CONFIGS[cfg.sft.arch](vocab.vocab_size, cfg.sft, layout.sequence_length(vocab))
        tree, added, bos = config.to_dict(), 0, 0
    elif CONFIG_KEY in tree:  # an SFT checkpoint: its vocabulary already holds the visual tokens
        vocab, added, bos = VisualVocab.from_dict(tree[CONFIG_KEY]), 0, 0
    else:
        if "model_type" not in tree or "vocab_size" not in tree:
            raise ModelConfigError(f"{source} is not a HF causal-LM config.json: it needs model_type and vocab_size")
        vocab = plan_vocab(layout.codebook_size, tree["vocab_size"], None, scenarios)
        # plan_vocab without the tokenizer files leaves out the BOS id a pretrained tokenizer puts first
        added, bos = vocab.vocab_size - tree["vocab_size"], int(tree.get("bos_token_id") is not None)
        tree = {**tree, "vocab_size": vocab.vocab_size}
    tree = {k: v for k, v in tree.items() if k != CONFIG_KEY}
    params, largest, embeddings, adapters = _counts(json.dumps(tree, sort_keys=True), cfg.sft.lora_rank)
    from transformers import AutoConfig

    hf = AutoConfig.for_model(**tree)
    heads = hf.num_attention_heads
    return LMShape(source=source, model_type=hf.model_type, parameters=params, largest_tensor=largest,
                   embedding_parameters=embeddings, lora_adapter_parameters=adapters, hidden_size=hf.hidden_size,
                   num_layers=hf.num_hidden_layers, num_heads=heads,
                   num_kv_heads=getattr(hf, "num_key_value_heads", None) or heads,
                   head_dim=getattr(hf, "head_dim", None) or hf.hidden_size // heads, vocab_size=vocab.vocab_size,
                   added_tokens=added, sequence_length=layout.sequence_length(vocab) + bos,
                   target_codes=layout.target_codes)


def tokenizer_shape(cfg: Config) -> TokenizerShape:
    """The tokenizer ``tokenizer.family`` / ``size`` builds (tokenizer/ddt.py's BUILDERS), counted on meta."""
    from physar_ray.tokenizer.ddt import build_model
    from physar_ray.tokenizer.joint import JointBlock

    tok = cfg.tokenizer
    with torch.device("meta"):
        model = build_model(tok, cfg.data.resolution)
    latent = getattr(model, "latent", None)
    tokens = (latent.num_patches + tok.num_tokens) if latent is not None else 0
    blocks = tuple((tokens, m.a.qkv.in_features) for m in model.modules() if isinstance(m, JointBlock))
    convs = sum(m.out_channels for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.weight.requires_grad)
    params = list(model.parameters())
    return TokenizerShape(name=f"{tok.family}/{tok.size}", parameters=sum(p.numel() for p in params if p.requires_grad),
                          frozen_parameters=sum(p.numel() for p in params if not p.requires_grad), blocks=blocks,
                          pixel_channels=convs, pixels=cfg.data.resolution ** 2)

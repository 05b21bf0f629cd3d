"""Causal LMs for video tokens: built from scratch, loaded from a local or s3:// folder, saved.

Nothing here downloads from a model hub: a pretrained model is a folder in HF format
(``config.json`` + safetensors, optionally tokenizer files) on disk or under an s3:// prefix,
which is copied once per node into ``$PHYSAR_MODEL_CACHE`` (default ~/.cache/physar/models).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import shutil
import tempfile
from dataclasses import asdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from physar_ray import storage
from physar_ray.config import SCENARIOS, SFTConfig
from physar_ray.config.checkpoints import LAYOUT_KEY
from physar_ray.lm.sequence import VideoLayout, check_context
from physar_ray.lm.vocab import CONFIG_KEY, VisualVocab, extend_vocabulary, plan_vocab, scratch_vocab


def _llama(vocab_size: int, cfg: SFTConfig, max_positions: int) -> Any:
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=vocab_size, hidden_size=cfg.hidden_size, intermediate_size=4 * cfg.hidden_size,
                       num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads,
                       num_key_value_heads=cfg.num_heads, max_position_embeddings=max_positions,
                       bos_token_id=None, eos_token_id=None, pad_token_id=None)


def _qwen2(vocab_size: int, cfg: SFTConfig, max_positions: int) -> Any:
    from transformers import Qwen2Config

    return Qwen2Config(vocab_size=vocab_size, hidden_size=cfg.hidden_size, intermediate_size=4 * cfg.hidden_size,
                       num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads,
                       num_key_value_heads=cfg.num_heads, max_position_embeddings=max_positions,
                       bos_token_id=None, eos_token_id=None, pad_token_id=None)


def _gpt2(vocab_size: int, cfg: SFTConfig, max_positions: int) -> Any:
    from transformers import GPT2Config

    return GPT2Config(vocab_size=vocab_size, n_embd=cfg.hidden_size, n_layer=cfg.num_layers, n_head=cfg.num_heads,
                      n_positions=max_positions, bos_token_id=None, eos_token_id=None)


SCRATCH_CONFIGS = {"llama": _llama, "qwen2": _qwen2, "gpt2": _gpt2}


def conditions(cfg: SFTConfig) -> tuple[str, ...]:
    """The scenarios that get a conditioning token (sft.scenario_token): all of them, or none."""
    return SCENARIOS if cfg.scenario_token else ()


def build_scratch_model(cfg: SFTConfig, num_codes: int, max_positions: int) -> tuple[torch.nn.Module, VisualVocab]:
    """A randomly initialised ``cfg.arch`` model whose vocabulary is only the visual codes + <|video_start|>
    (+ the scenario tokens with sft.scenario_token)."""
    from transformers import AutoModelForCausalLM

    vocab = scratch_vocab(num_codes, conditions(cfg))
    torch.manual_seed(cfg.seed)
    model = AutoModelForCausalLM.from_config(SCRATCH_CONFIGS[cfg.arch](vocab.vocab_size, cfg, max_positions))
    setattr(model.config, CONFIG_KEY, vocab.to_dict())
    return model, vocab


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


MODEL_CACHE_ENV = "PHYSAR_MODEL_CACHE"
"""Environment variable naming the per-node folder of s3:// model copies (default ~/.cache/physar/models)."""
COMPLETE = ".complete"


def model_cache() -> Path:
    return Path(os.environ.get(MODEL_CACHE_ENV) or Path.home() / ".cache" / "physar" / "models")


def node_copy(uri: str, weights: bool = True) -> Path:
    """The s3:// model folder ``uri`` copied once per node (without the weight files when ``weights`` is false).

    Every process of the node (SFT workers, learner ranks, rollout and generation actors) reuses one copy: its
    name hashes the files' URIs, sizes and modification times, so a model rewritten at the same URI gets a
    fresh copy. A file lock lets one process download while the others wait; the copy appears by an atomic
    rename, so a crash leaves no half-written model behind."""
    root = uri.rstrip("/")
    files = [f for f in storage.file_infos(root) if weights or not f[0].endswith(WEIGHT_SUFFIXES)]
    if not any(name == f"{root}/config.json" for name, _, _ in files):
        raise FileNotFoundError(f"{uri} is not a HF model folder: it has no config.json")
    key = hashlib.sha256(json.dumps([root, files]).encode()).hexdigest()[:20]
    cache = model_cache()
    target = cache / key
    if (target / COMPLETE).exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f".{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also when the process dies
        if not (target / COMPLETE).exists():
            staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=cache))
            for name, _, _ in files:
                local = staging / name[len(root) + 1:]
                local.parent.mkdir(parents=True, exist_ok=True)
                local.write_bytes(storage.read_bytes(name))
            (staging / COMPLETE).touch()
            shutil.rmtree(target, ignore_errors=True)
            os.replace(staging, target)
    return target


@contextmanager
def local_folder(uri: str, weights: bool = True) -> Iterator[Path]:
    """A local path for ``uri``: the folder itself, or the node's copy of an s3:// prefix (:func:`node_copy`)."""
    if storage.is_s3(uri):
        yield node_copy(uri, weights)
        return
    path = Path(uri)
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"{uri} is not a HF model folder: it has no config.json")
    yield path


def _tokenizer(path: Path) -> Any:
    """The folder's HF tokenizer, or None when it has no tokenizer files."""
    from transformers import AutoTokenizer

    if any((path / n).exists() for n in ("tokenizer.json", "tokenizer_config.json")):
        return AutoTokenizer.from_pretrained(path)
    return None


def load_pretrained(uri: str, dtype: torch.dtype = torch.float32) -> tuple[torch.nn.Module, Any]:
    """(model, tokenizer or None) from a HF folder, local or s3://; the tokenizer only if files exist."""
    from transformers import AutoModelForCausalLM

    with local_folder(uri) as path:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
        tokenizer = _tokenizer(path)
    return model, tokenizer


def save_pretrained(model: torch.nn.Module, tokenizer: Any, path: str | Path,
                    state: dict[str, torch.Tensor] | None = None) -> None:
    """HF format: config.json (with physar_visual) + model.safetensors (+ tokenizer files).

    ``state``: the weights to write instead of the model's own (the gathered full weights of a
    model whose parameters ZeRO-3 partitions); None writes ``model.state_dict()``. transformers empties
    the dict it is given as it writes, so it gets a shallow copy.
    """
    model.save_pretrained(path, safe_serialization=True, state_dict=None if state is None else dict(state))
    if tokenizer is not None:
        tokenizer.save_pretrained(path)


def enable_gradient_checkpointing(model: torch.nn.Module) -> None:
    """Recompute each block's activations in the backward pass instead of keeping them (HF gradient
    checkpointing): activation memory falls from every block's to about one block's, for one more
    forward per step. Non-reentrant torch.utils.checkpoint (torch's recommended variant; stated, not
    left to the library's default), which re-runs ZeRO-3's parameter gathers in the recompute."""
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


HF_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
            "special_tokens_map.json", "chat_template.jinja", "trainer.json")
"""What a checkpoint's exported model keeps besides its *.safetensors (no optimizer state)."""


def export_model(checkpoint_uri: str, target_uri: str) -> str:
    """Copy a checkpoint folder's HF files (local or s3://) to ``target_uri``, leaving optimizer
    state behind, so ``from_pretrained``, vLLM and `physar eval generate` load it; returns ``target_uri``."""
    for f in storage.list_files(checkpoint_uri, suffix=""):
        name = storage.relative(f, checkpoint_uri)
        if "/" not in name and (name in HF_FILES or name.endswith(".safetensors")):
            storage.write_bytes(storage.join(target_uri, name), storage.read_bytes(f))
    return target_uri


def init_code_embeddings(model: torch.nn.Module, vocab: VisualVocab, values: np.ndarray) -> None:
    """Give each visual code's input and output embedding sinusoidal features of the scalar it
    stands for (``DDTokenizer.code_values``), at the scale of the rows it replaces.

    Codes of a coordinate tokenizer are numbered arbitrarily; with these rows, codes of nearby
    values start with nearby embeddings and a hidden state that encodes a value scores every code
    by its distance to it, so the LM does not first have to discover the codes' order.
    """
    values = torch.as_tensor(values, dtype=torch.float32)
    if values.shape != (vocab.num_codes,):
        raise ValueError(f"{values.shape[0]} code values for {vocab.num_codes} visual codes: tokenizer and LM disagree")
    rows = slice(vocab.code_offset, vocab.code_offset + vocab.num_codes)
    for embedding in {model.get_input_embeddings().weight, model.get_output_embeddings().weight}:
        width = embedding.shape[1]
        freqs = math.pi * torch.logspace(0, math.log10(4 * vocab.num_codes), width // 2)
        angles = values[:, None] * freqs
        features = torch.cat([torch.sin(angles), torch.cos(angles), torch.zeros(len(values), width % 2)], dim=1)
        with torch.no_grad():
            scale = embedding[rows].std() / features.std()
            embedding[rows] = (features * scale).to(embedding.dtype)


def video_vocab(cfg: SFTConfig, layout: VideoLayout) -> VisualVocab:
    """The vocabulary :func:`video_lm` will give the model, read without loading any weights.

    The Ray driver needs it to build LM sequences in Ray Data before the workers load the model.
    """
    if not cfg.model_path:
        return scratch_vocab(layout.codebook_size, conditions(cfg))
    from transformers import AutoConfig

    with local_folder(cfg.model_path, weights=False) as path:
        config = AutoConfig.from_pretrained(path)
        if getattr(config, CONFIG_KEY, None):
            return VisualVocab.from_model_config(config, where=cfg.model_path)
        tokenizer = _tokenizer(path)
    return plan_vocab(layout.codebook_size, config.vocab_size, tokenizer, conditions(cfg))


def video_lm(cfg: SFTConfig, layout: VideoLayout) -> tuple[torch.nn.Module, Any, VisualVocab]:
    """(model, tokenizer or None, vocab) ready for SFT on ``layout`` videos.

    ``cfg.model_path`` set: a pretrained LM, extended with the visual codes unless it already
    has them (a previous SFT checkpoint); empty: a from-scratch ``cfg.arch`` model. Either way the
    codebook size and the context window are checked against the layout, and the layout is saved into
    ``model.config`` (``physar_layout`` in config.json), so the commands given this model read it from there.
    """
    if cfg.model_path:
        model, tokenizer = load_pretrained(cfg.model_path)
        if getattr(model.config, CONFIG_KEY, None):
            vocab = VisualVocab.from_model_config(model.config, where=cfg.model_path)
        else:
            vocab = extend_vocabulary(model, layout.codebook_size, tokenizer, conditions(cfg))
    else:
        tokenizer = None
        max_positions = layout.sequence_length(scratch_vocab(layout.codebook_size, conditions(cfg)))
        model, vocab = build_scratch_model(cfg, layout.codebook_size, max_positions)
    vocab.check_codebook(layout.codebook_size)
    check_context(layout, vocab, model.config.max_position_embeddings)
    setattr(model.config, LAYOUT_KEY, asdict(layout))
    return model, tokenizer, vocab

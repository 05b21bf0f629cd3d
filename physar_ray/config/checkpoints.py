"""The settings a checkpoint carries, so a command given one needs no matching preset.

A DDT tokenizer folder's ``tokenizer.json`` holds the frame resolution it was trained on and its model keys
(num_tokens, codebook_size, family ...); an LM checkpoint's ``config.json`` holds ``physar_visual`` (its visual
codes) and ``physar_layout`` (frames, prompt frames, tokens per frame, codebook). :func:`adopt` puts those
values into the config before any work starts: a key the user set on the command line to another value is a
ConfigError naming both sides; a key left to the preset takes the checkpoint's value, logged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from physar_ray import storage
from physar_ray.config.base import ConfigError, to_dict
from physar_ray.config.load import replace
from physar_ray.config.models import TokenizerConfig
from physar_ray.config.tree import Config

log = logging.getLogger("physar")

TOKENIZER_META = "tokenizer.json"
"""The DDT tokenizer's settings file, beside its model.safetensors (tokenizer/ddt.py writes it)."""
VISUAL_KEY = "physar_visual"
"""config.json key of an LM's visual-token ids (lm/vocab.py writes it)."""
LAYOUT_KEY = "physar_layout"
"""config.json key of the token-video layout an LM was trained on (lm/model.py writes it)."""
LAYOUT_FIELDS = {"num_frames": "data.num_frames", "cond_frames": "data.cond_frames",
                 "tokens_per_frame": "tokenizer.num_tokens", "codebook_size": "tokenizer.codebook_size"}
"""physar_layout's fields and the config keys they fix."""

Settings = dict[str, tuple[Any, str]]
"""Dotted config key → (the checkpoint's value, the file it was read from)."""


def _read_json(folder: str, name: str, what: str) -> tuple[dict[str, Any], str]:
    path = storage.join(folder, name)
    if not storage.exists(path):
        raise ConfigError(f"{path} is missing: is {folder} a {what}?")
    return storage.read_json(path), path


def tokenizer_settings(uri: str) -> Settings:
    """data.resolution and the tokenizer's model keys from a DDT tokenizer folder."""
    meta, path = _read_json(uri, TOKENIZER_META, "DDT tokenizer folder (`physar tokenizer train --out`)")
    saved = meta.get("config", {})
    settings = {"data.resolution": (meta["resolution"], path)}
    settings.update({f"tokenizer.{k}": (saved[k], path) for k in TokenizerConfig.MODEL_KEYS if k in saved})
    return settings


def model_settings(uri: str) -> Settings:
    """The codebook and the video layout from an LM checkpoint's config.json (older ones: the codebook only)."""
    config, path = _read_json(uri, "config.json", "Hugging Face model folder")
    settings: Settings = {}
    if VISUAL_KEY in config:
        settings["tokenizer.codebook_size"] = (config[VISUAL_KEY]["num_codes"], path)
    for field, key in LAYOUT_FIELDS.items():
        if field in config.get(LAYOUT_KEY, {}):
            settings[key] = (config[LAYOUT_KEY][field], path)
    return settings


def _value(tree: dict[str, Any], key: str) -> Any:
    node: Any = tree
    for part in key.split("."):
        node = node[part]
    return node


def _merged(parts: Iterable[Settings]) -> Settings:
    """One settings dict; two checkpoints that disagree on a key are an error (they cannot be used together)."""
    merged: Settings = {}
    for settings in parts:
        for key, (value, source) in settings.items():
            if key in merged and merged[key][0] != value:
                raise ConfigError(f"{merged[key][1]} has {key}={merged[key][0]!r} but {source} has {value!r}: "
                                  "give the tokenizer and the model of the same run")
            merged.setdefault(key, (value, source))
    return merged


def adopt(cfg: Config, explicit: Iterable[str], tokenizer: str | None = None, model: str | None = None) -> Config:
    """``cfg`` with the settings of the given checkpoints; ``explicit``: the keys the user set (overrides)."""
    parts = ([tokenizer_settings(tokenizer)] if tokenizer else []) + ([model_settings(model)] if model else [])
    settings = _merged(parts)
    explicit, tree = set(explicit), to_dict(cfg)
    changed = {}
    for key, (value, source) in sorted(settings.items()):
        current = _value(tree, key)
        if current == value:
            continue
        if key in explicit:
            raise ConfigError(f"{key}={current!r} was given, but {source} was trained with {key}={value!r}: drop "
                              "the override (the checkpoint's value is used) or give a checkpoint trained with it")
        changed[key] = value
    if changed:
        log.info("from the checkpoints: %s", ", ".join(f"{k}={v!r}" for k, v in changed.items()))
    return replace(cfg, changed) if changed else cfg

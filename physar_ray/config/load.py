"""Defaults ← preset ← overrides: reading presets, parsing ``dotted.key=value``, type-checking every value.

``load("tiny", ["data.num_videos.sft=200"])`` merges the dataclass defaults, the preset's partial
YAML (over the presets it extends with ``base:``, its own base first) and the overrides (parsed as
YAML scalars), type-checks every value against its field and returns a frozen :class:`Config`.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from physar_ray.config.base import ConfigError, to_dict
from physar_ray.config.tree import Config

PRESET_DIR = Path(__file__).parents[1] / "presets"


def dump(cfg: Config) -> str:
    """The resolved config as YAML, the text written as config.resolved.yaml."""
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def _all_keys(cls: type, prefix: str = "") -> list[str]:
    keys = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        keys.append(key)
        if dataclasses.is_dataclass(hints[f.name]):
            keys.extend(_all_keys(hints[f.name], key + "."))
    return keys


def _unknown_key(key: str) -> ConfigError:
    near = difflib.get_close_matches(key, _all_keys(Config), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(near)}?" if near else "; see docs/configuration.md"
    return ConfigError(f"unknown config key {key!r}{hint}")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a mapping of {tp.__name__} fields, got {value!r}")
        return _build(tp, value, key + ".")
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}={value!r} must be true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}={value!r} must be an integer")
        return value
    if tp is float:
        if isinstance(value, str):  # PyYAML (YAML 1.1) reads 3e-6 as a string; 3.0e-6 as a float
            try:
                value = float(value)
            except ValueError:
                raise ConfigError(f"{key}={value!r} must be a number") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}={value!r} must be a number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}={value!r} must be a string")
        return value
    if origin is tuple:
        if isinstance(value, str):  # "uniform,parabola" from a CLI flag
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}={value!r} must be a list")
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{key}={value!r} must have exactly {len(args)} entries")
        return tuple(_coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if origin in (typing.Union, types.UnionType):
        raise TypeError(f"config field {key} uses a Union type, which the loader does not support")
    raise TypeError(f"config field {key} has unsupported type {tp!r}")


def _build(cls: type, values: dict[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for name in values:
        if name not in names:
            raise _unknown_key(prefix + name)
    kwargs = {name: _coerce(v, hints[name], prefix + name) for name, v in values.items()}
    return cls(**kwargs)


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in update.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _set_dotted(tree: dict[str, Any], key: str, value: Any) -> None:
    node = tree
    parts = key.split(".")
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            raise _unknown_key(key)
        node = node[part]
    if parts[-1] not in node:
        raise _unknown_key(key)
    node[parts[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """``"data.num_videos.sft=200"`` → ("data.num_videos.sft", 200); values are YAML scalars."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like dotted.key=value")
    key, raw = text.split("=", 1)
    try:
        return key.strip(), yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {text!r}: value is not valid YAML ({exc})") from None


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def _preset_path(preset: str, named_by: Path | None = None) -> Path:
    """The YAML file of a preset name (``tiny``) or path; a relative path named by a file's ``base:``
    resolves against that file's folder."""
    path = Path(preset)
    if path.suffix in (".yaml", ".yml"):
        if named_by is not None and not path.is_absolute():
            path = named_by.parent / path
        if path.exists():
            return path
    path = PRESET_DIR / f"{preset}.yaml"
    if path.exists():
        return path
    where = f" (the base: of {named_by})" if named_by is not None else ""
    relative = f", relative to {named_by.parent}" if named_by is not None else ""
    raise ConfigError(f"preset {preset!r}{where} not found: use one of {', '.join(preset_names())} "
                      f"or a path to a YAML file{relative}")


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        tree = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"preset {path} is not valid YAML: {exc}") from None
    if not isinstance(tree, dict):
        raise ConfigError(f"preset {path} must be a mapping of config sections, got {type(tree).__name__}")
    return tree


def _check_run_preset(tree: dict[str, Any], path: Path) -> None:
    """``run.preset`` in a partial preset file would be silently replaced by the file's name: refuse it.

    A resolved config (``config.resolved.yaml``, a sweep's ``best.yaml``: every section, as :func:`dump`
    writes it) keeps it as a record of where it came from; it loads as before.
    """
    run = tree.get("run")
    if not (isinstance(run, dict) and "preset" in run):
        return
    if set(to_dict(Config())) <= set(tree):
        return
    raise ConfigError(
        f"preset {path} sets run.preset={run['preset']!r}, which a preset file cannot set (it is the name of the "
        f"preset being loaded): to extend a preset, write `base: {run['preset']}` at the top level of {path.name} "
        "instead of run.preset")


def _chain(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    """The tree of ``path`` over its ``base:`` (recursively, its own base first), ``base`` removed."""
    here = path.resolve()
    if here in seen:
        loop = " → ".join(str(p) for p in (*seen[seen.index(here):], here))
        raise ConfigError(f"presets extend each other in a cycle: {loop}; remove base: from one of them")
    tree = _read_yaml(path)
    _check_run_preset(tree, path)
    if "base" not in tree:
        return tree
    base = tree.pop("base")
    if not isinstance(base, str) or not base.strip():
        raise ConfigError(f"preset {path}: base={base!r} must be a preset name ({', '.join(preset_names())}) "
                          "or a path to a YAML file (relative to this file), e.g. `base: tiny`")
    return _merge(_chain(_preset_path(base.strip(), named_by=path), (*seen, here)), tree)


def read_preset(preset: str) -> dict[str, Any]:
    """A preset by name (``tiny``) or by path to a YAML file, merged over the presets it extends.

    A file's top-level ``base: NAME_OR_PATH`` names the preset it extends (a relative path resolves
    against the naming file's folder); the result is base ← file, the base's own base first.
    """
    return _chain(_preset_path(preset), ())


def load(preset: str | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Defaults ← preset ← overrides, type-checked and validated into a frozen Config."""
    tree = to_dict(Config())
    if preset:
        tree = _merge(tree, read_preset(preset))
        tree["run"]["preset"] = Path(preset).stem
    for text in overrides:
        key, value = parse_override(text)
        _set_dotted(tree, key, value)
    return _build(Config, tree)


def replace(cfg: Config, overrides: dict[str, Any]) -> Config:
    """A copy of cfg with dotted keys set (the same checks as CLI overrides)."""
    tree = to_dict(cfg)
    for key, value in overrides.items():
        _set_dotted(tree, key, value)
    return _build(Config, tree)


def from_dict(tree: dict[str, Any]) -> Config:
    """Rebuild a Config from ``to_dict`` output (e.g. a resolved YAML or a Ray worker's args)."""
    return _build(Config, tree)

"""What every branch of the config tree shares: the error type, the field checks and the walk to plain dicts.

A branch's ``__post_init__`` states its rules as data, one call per kind of rule
(``one_of(self, "sft", backend=SFT_BACKENDS)``, ``at_least(self, "sft", max_steps=1)``,
``within(self, "data", num_cpus_per_task="(0, 64]")``); each raises a :class:`ConfigError`
that names the dotted key, the value seen and the allowed values or range.
"""

from __future__ import annotations

import dataclasses
from typing import Any


class ConfigError(ValueError):
    """A config key or value that cannot be used; the message names the key and the fix."""


def one_of(cfg: Any, section: str, **allowed: tuple) -> None:
    """Each named field of ``cfg`` must be one of its allowed values."""
    for key, choices in allowed.items():
        value = getattr(cfg, key)
        if value not in choices:
            raise ConfigError(f"{section}.{key}={value!r}: allowed are {', '.join(map(str, choices))}")


def at_least(cfg: Any, section: str, **bounds: float) -> None:
    """Each named field of ``cfg`` must be >= its bound."""
    for key, lo in bounds.items():
        value = getattr(cfg, key)
        if value < lo:
            raise ConfigError(f"{section}.{key}={value} must be >= {lo}")


def within(cfg: Any, section: str, **intervals: str) -> None:
    """Each named field of ``cfg`` must lie in its interval, written as the message shows it: "(0, 64]"."""
    for key, interval in intervals.items():
        low, high = (float(x) for x in interval[1:-1].split(","))
        value = getattr(cfg, key)
        above = low < value if interval[0] == "(" else low <= value
        below = value < high if interval[-1] == ")" else value <= high
        if not (above and below):
            raise ConfigError(f"{section}.{key}={value} must be in {interval}")


def plain(value: Any) -> Any:
    """Tuples as lists, recursively (what YAML and JSON write)."""
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    return value


def to_dict(cfg: Any) -> dict[str, Any]:
    """A dataclass tree as plain dicts and lists (YAML/JSON ready)."""
    return {f.name: (to_dict(v) if dataclasses.is_dataclass(v) else plain(v))
            for f in dataclasses.fields(cfg) for v in [getattr(cfg, f.name)]}

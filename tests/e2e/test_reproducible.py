"""The same config and seed give the same run: two `physar run --preset tiny` (short) into two folders."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.e2e.short_run import SHORT_RUN
from tests.e2e.test_cli import physar

TIMINGS = ("wall_s", "seconds", "_at", "elapsed", "per_s", "this_run", "out", "path", "uri", "file")
"""Keys whose values name times or places, which differ between two runs by design."""


def numbers(tree: object, prefix: str = "") -> dict[str, float]:
    """Every number of a JSON tree by its dotted path, timing and path keys left out."""
    if isinstance(tree, dict):
        return {k: v for key, sub in tree.items() if not any(t in key for t in TIMINGS)
                for k, v in numbers(sub, f"{prefix}.{key}").items()}
    if isinstance(tree, list):
        return {k: v for i, sub in enumerate(tree) for k, v in numbers(sub, f"{prefix}[{i}]").items()}
    return {prefix: tree} if isinstance(tree, (int, float)) and not isinstance(tree, bool) else {}


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# e2e_long (`make test-long`): two whole short runs; test_cli.py covers every path they take.
@pytest.mark.e2e_long
def test_two_runs_of_one_config_write_the_same_tokens_weights_and_tables(tmp_path):
    runs = [tmp_path / "a", tmp_path / "b"]
    for out in runs:
        physar("run", "--preset", "tiny", "--out", str(out), *SHORT_RUN)
    a, b = (files(out / "tokens") for out in runs)
    assert a and a == b  # the tokens stage writes the same files, whichever encode actor finished first
    for model in ("sft", "grpo"):
        assert (runs[0] / model / "model" / "model.safetensors").read_bytes() == \
            (runs[1] / model / "model" / "model.safetensors").read_bytes(), f"{model} weights differ"
    first, second = (numbers(json.loads((out / "summary.json").read_text())) for out in runs)
    assert len(first) > 100 and first.keys() == second.keys()
    differ = [k for k in first if not (first[k] == second[k] or (math.isnan(first[k]) and math.isnan(second[k])))]
    assert not differ, f"{len(differ)} of {len(first)} summary numbers differ: {differ[:10]}"

"""Without --preset the CLI uses the laptop preset and says so: the built-in defaults are paper scale."""

from __future__ import annotations

import logging

import yaml

from physar_ray.cli import DEFAULT_PRESET, main
from physar_ray.config import load


def test_no_preset_means_tiny_with_a_warning(capsys, caplog):
    with caplog.at_level(logging.WARNING, logger="physar"):
        assert main(["config", "show", "grpo.max_steps=7"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    tiny = load(DEFAULT_PRESET)
    assert DEFAULT_PRESET == "tiny" and shown["run"]["preset"] == "tiny"
    assert shown["sft"]["max_steps"] == tiny.sft.max_steps == 3000 and shown["grpo"]["max_steps"] == 7
    assert "no --preset given: using 'tiny'" in caplog.text


def test_an_explicit_preset_is_used_silently(capsys, caplog):
    with caplog.at_level(logging.WARNING, logger="physar"):
        assert main(["config", "show", "--preset", "paper"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown["sft"]["max_steps"] == 360_000 and shown["run"]["train_resource"] == "learner"
    assert "no --preset" not in caplog.text

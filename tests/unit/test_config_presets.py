"""Composable presets: a preset file's ``base:`` names the preset it extends (physar_ray/config/load.py)."""

from dataclasses import replace as dc_replace
from pathlib import Path

import pytest

from physar_ray.config import ConfigError, dump, load


def _write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def test_a_file_with_base_tiny_is_tiny_but_for_its_override(tmp_path):
    mine = _write(tmp_path / "mine.yaml", "base: tiny\nsft:\n  max_steps: 7\n")
    cfg, tiny = load(mine), load("tiny")
    assert cfg.sft.max_steps == 7 and tiny.sft.max_steps != 7
    assert cfg.run.preset == "mine"
    # every other key is tiny's (tiny sets sft.hidden_size=128 etc., not the defaults)
    assert cfg.sft.hidden_size == tiny.sft.hidden_size == 128
    assert dc_replace(cfg, sft=dc_replace(cfg.sft, max_steps=tiny.sft.max_steps),
                      run=dc_replace(cfg.run, preset="tiny")) == tiny
    # overrides still go on top of the resolved chain
    assert load(mine, ["sft.max_steps=9"]).sft.max_steps == 9


def test_a_two_level_chain_resolves_relative_paths_against_the_naming_file(tmp_path):
    _write(tmp_path / "shared" / "common.yaml", "base: tiny\nsft:\n  max_steps: 11\n  lr: 0.002\n")
    # relative to exp/, not to the working directory
    child = _write(tmp_path / "exp" / "child.yaml", "base: ../shared/common.yaml\nsft:\n  lr: 0.003\n")
    cfg = load(child)
    assert cfg.sft.lr == 0.003  # this file wins over its base
    assert cfg.sft.max_steps == 11  # the base wins over tiny
    assert cfg.sft.hidden_size == 128  # tiny wins over the defaults
    assert cfg.run.preset == "child"


def test_a_cycle_names_the_files(tmp_path):
    a = _write(tmp_path / "a.yaml", "base: b.yaml\n")
    _write(tmp_path / "b.yaml", "base: a.yaml\n")
    with pytest.raises(ConfigError, match="cycle") as err:
        load(a)
    assert str(tmp_path / "a.yaml") in str(err.value) and str(tmp_path / "b.yaml") in str(err.value)
    assert "remove base:" in str(err.value)
    me = _write(tmp_path / "me.yaml", "base: me.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load(me)


def test_an_unknown_base_lists_the_presets(tmp_path):
    mine = _write(tmp_path / "mine.yaml", "base: tinyy\n")
    with pytest.raises(ConfigError, match=r"preset 'tinyy' \(the base: of .*mine.yaml\) not found") as err:
        load(mine)
    assert "paper, small, tiny" in str(err.value)
    missing = _write(tmp_path / "sub" / "x.yaml", "base: nowhere.yaml\n")
    with pytest.raises(ConfigError, match=f"relative to {tmp_path / 'sub'}"):
        load(missing)


@pytest.mark.parametrize("value", ["[tiny]", "3", "''", "{name: tiny}"])
def test_base_must_be_a_string(tmp_path, value):
    mine = _write(tmp_path / "mine.yaml", f"base: {value}\n")
    with pytest.raises(ConfigError, match="must be a preset name .* e.g. `base: tiny`"):
        load(mine)


def test_run_preset_in_a_preset_file_says_to_use_base(tmp_path):
    mine = _write(tmp_path / "mine.yaml", "run:\n  preset: tiny\nsft:\n  max_steps: 7\n")
    with pytest.raises(ConfigError, match=r"sets run.preset='tiny'.*write `base: tiny`"):
        load(mine)
    # also when it sits in a file further down the chain
    top = _write(tmp_path / "top.yaml", "base: mine.yaml\n")
    with pytest.raises(ConfigError, match="mine.yaml sets run.preset"):
        load(top)


def test_a_resolved_config_still_loads_as_a_preset(tmp_path):
    # config.resolved.yaml and a sweep's best.yaml carry run.preset as a record of their origin
    cfg = load("tiny", ["sft.max_steps=5"])
    resolved = _write(tmp_path / "config.resolved.yaml", dump(cfg))
    again = load(resolved)
    assert again.sft.max_steps == 5 and again.run.preset == "config.resolved"

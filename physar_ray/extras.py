"""The optional extras of pyproject.toml (vae, lora, optuna, vllm-cpu / gpu), imported where a config key needs one.

``require("peft", "lora", "sft.lora=true")`` returns the module, or stops with one line naming the key that
needed it and the pip command: ``sft.lora=true needs the peft package, which is not installed: pip install
'physar-ray[lora]'``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from physar_ray.config.base import ConfigError


class MissingExtraError(ConfigError, ImportError):
    """An optional package a config key needs does not import. A ConfigError (the CLI prints it as one line)
    and an ImportError (``except ImportError`` still catches it)."""


def require(module: str, extra: str | tuple[str, ...], why: str, hint: str = "") -> ModuleType:
    """``import module`` for ``why`` (the config key or command that needs it, e.g. ``"sft.lora=true"``);
    ``extra``: the pyproject extra(s) that install it; ``hint``: appended to the message (another way out)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = module.split(".")[0]
        install = " or ".join(f"pip install 'physar-ray[{e}]'" for e in ((extra,) if isinstance(extra, str) else extra))
        missing = exc.name is None or exc.name == module or module.startswith(exc.name + ".")
        if missing:
            message = f"{why} needs the {package} package, which is not installed: {install}{hint}"
        else:  # installed, but one of its own imports fails: a broken or mismatched install
            message = (f"{why} needs the {package} package, which is installed but does not import "
                       f"({type(exc).__name__}: {exc}): reinstall it with {install}{hint}")
        error = MissingExtraError(message)
        error.name = module
        raise error from exc

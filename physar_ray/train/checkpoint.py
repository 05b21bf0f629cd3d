"""Training checkpoints: tokenizer (safetensors + JSON) + optimizer state + step, no pickle.

Layout of ``<run>/checkpoint/``: the tokenizer's own ``model.safetensors`` and
``tokenizer.json`` (so the folder loads with ``DDTokenizer.load``), ``optimizer.safetensors``
(flattened AdamW state and RNG states) and ``trainer.json`` (step, elapsed seconds, optimizer
hyper-parameters). A new checkpoint is written to a temporary folder and swapped in by rename,
so a crash mid-write leaves the previous one intact.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from physar_ray.tokenizer.ddt import DDTokenizer

CURRENT, PREVIOUS = "checkpoint", "checkpoint.old"


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], list[dict[str, Any]]]:
    tensors = {f"state.{idx}.{name}": value.detach().cpu().contiguous()
               for idx, entry in state["state"].items() for name, value in entry.items()}
    return tensors, state["param_groups"]


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], groups: list[dict[str, Any]]) -> dict[str, Any]:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("state."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    return {"state": state, "param_groups": groups}


def save_checkpoint(run_dir: Path, tokenizer: DDTokenizer, optimizer: torch.optim.Optimizer,
                    step: int, elapsed_s: float, generator: torch.Generator) -> Path:
    """Atomically replace ``run_dir/checkpoint`` with the current training state."""
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=run_dir, prefix=".checkpoint-"))
    tokenizer.save(tmp)
    tensors, groups = _flatten_optimizer(optimizer.state_dict())
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["rng.generator"] = generator.get_state()
    save_file(tensors, tmp / "optimizer.safetensors")
    (tmp / "trainer.json").write_text(json.dumps({"step": step, "elapsed_s": elapsed_s, "param_groups": groups}))
    current, previous = run_dir / CURRENT, run_dir / PREVIOUS
    if current.exists():
        shutil.rmtree(previous, ignore_errors=True)
        current.rename(previous)
    tmp.rename(current)
    shutil.rmtree(previous, ignore_errors=True)
    return current


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint folder (the previous one if a swap was interrupted)."""
    for name in (CURRENT, PREVIOUS):
        if (run_dir / name / "trainer.json").exists():
            return run_dir / name
    return None


def load_checkpoint(path: Path, tokenizer: DDTokenizer, optimizer: torch.optim.Optimizer,
                    generator: torch.Generator) -> tuple[int, float]:
    """Restore model, optimizer and RNG states in place; returns (step, elapsed seconds)."""
    loaded = DDTokenizer.load(path, expect=tokenizer.cfg, resolution=tokenizer.resolution)
    tokenizer.model.load_state_dict(loaded.model.state_dict())
    meta = json.loads((path / "trainer.json").read_text())
    tensors = load_file(path / "optimizer.safetensors")
    optimizer.load_state_dict(_unflatten_optimizer(tensors, meta["param_groups"]))
    torch.set_rng_state(tensors["rng.torch"])
    generator.set_state(tensors["rng.generator"])
    return int(meta["step"]), float(meta["elapsed_s"])

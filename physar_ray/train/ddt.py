"""The whole per-worker DDT training loop, top to bottom, as a plain function (no Ray).

Ray Train wraps ``train_ddt`` later: it passes ``report=ray.train.report``-style callbacks and
a ``batches`` factory over its dataset shard; on one CPU the caller passes
``lambda start: simulator_frames(data_cfg, cfg.batch_size, start)``.

Schedule: AdamW, linear warm-up over ``warmup_steps``, then cosine or linear decay to 0 at
progress 1, where progress = max(step / max_steps, elapsed / time_budget_s): the schedule is
fitted to whichever budget ends first (cosine to 0 over the budget cut the error by 15% in
tokenizer-cpu-findings.md). fp32 on CPU, bf16 autocast on CUDA.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from physar_ray.config import TokenizerConfig
from physar_ray.tokenizer.ddt import DDTokenizer
from physar_ray.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint

log = logging.getLogger("physar.train.ddt")


@dataclass
class TrainResult:
    tokenizer: DDTokenizer
    step: int
    elapsed_s: float
    history: list[dict[str, float]] = field(default_factory=list)


def learning_rate(cfg: TokenizerConfig, step: int, progress: float) -> float:
    """Peak lr·min(1, (step+1)/warm-up) · decay(progress), decay 1 → 0 as progress 0 → 1."""
    warm = min(1.0, (step + 1) / cfg.warmup_steps) if cfg.warmup_steps else 1.0
    p = min(max(progress, 0.0), 1.0)
    decay = 0.5 * (1 + math.cos(math.pi * p)) if cfg.lr_schedule == "cosine" else 1.0 - p
    return cfg.lr * warm * decay


def train_ddt(
    cfg: TokenizerConfig,
    resolution: int,
    batches: Callable[[int], Iterator[np.ndarray]],
    run_dir: str | Path | None = None,
    device: str | torch.device = "cpu",
    report: Callable[[dict[str, float]], None] | None = None,
    progress_bar: bool = True,
) -> TrainResult:
    """Train (or resume from ``run_dir/checkpoint``) until the step or time budget ends.

    batches(start_step) yields uint8 frames [B, H, W, 3] beginning with batch ``start_step``.
    Metrics per step go to ``report`` and, with a run_dir, to ``run_dir/metrics.jsonl``.
    """
    # Phase: setup. Model, optimizer and RNG come from the seed, or from the checkpoint.
    device = torch.device(device)
    torch.manual_seed(cfg.seed)
    tokenizer = DDTokenizer(cfg, resolution).to(device)
    tokenizer.train()
    optimizer = torch.optim.AdamW(tokenizer.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    generator = torch.Generator(device).manual_seed(cfg.seed)
    run_dir = Path(run_dir) if run_dir is not None else None
    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
    step, elapsed = 0, 0.0
    found = latest_checkpoint(run_dir) if run_dir is not None else None
    if found is not None:
        step, elapsed = load_checkpoint(found, tokenizer, optimizer, generator)
        log.info("resumed %s at step %d (%.1f s trained)", found, step, elapsed)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
    metrics_file = (run_dir / "metrics.jsonl").open("a") if run_dir is not None else None
    history: list[dict[str, float]] = []
    stream = batches(step)
    bar = tqdm(total=cfg.max_steps, initial=step, disable=not progress_bar, desc="ddt", unit="step")
    try:
        while _progress(cfg, step, elapsed) < 1.0:
            start = time.perf_counter()
            # Phase: data.
            frames = torch.as_tensor(next(stream)).to(device, non_blocking=True)
            data_s = time.perf_counter() - start
            # Phase: step.
            lr = learning_rate(cfg, step, _progress(cfg, step, elapsed))
            for group in optimizer.param_groups:
                group["lr"] = lr
            with autocast:
                loss, parts = tokenizer.loss(frames, generator)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            elapsed += time.perf_counter() - start
            record = {"step": step, "ddt/loss": loss.detach().item(), "ddt/lr": lr, "time/data_s": data_s,
                      "time/step_s": time.perf_counter() - start - data_s, "time/elapsed_s": elapsed}
            record.update({f"ddt/{k}": float(v) for k, v in parts.items()})
            history.append(record)
            if report is not None:
                report(record)
            if metrics_file is not None:
                metrics_file.write(json.dumps(record) + "\n")
            bar.update(1)
            bar.set_postfix(loss=f"{record['ddt/loss']:.2e}", codes=int(record["ddt/codes_used"]))
            # Phase: checkpoint.
            if run_dir is not None and cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
                save_checkpoint(run_dir, tokenizer, optimizer, step, elapsed, generator)
    finally:
        bar.close()
        if metrics_file is not None:
            metrics_file.close()
    if run_dir is not None:
        save_checkpoint(run_dir, tokenizer, optimizer, step, elapsed, generator)
    tokenizer.eval()
    return TrainResult(tokenizer, step, elapsed, history)


def _progress(cfg: TokenizerConfig, step: int, elapsed: float) -> float:
    return max(step / cfg.max_steps, elapsed / cfg.time_budget_s)

"""The whole per-worker DDT training loop, top to bottom, as a plain function (no Ray).

On one CPU the caller passes ``lambda start: simulator_frames(data_cfg, cfg.batch_size, start)``.
Ray Train (``train/ddt_job.py``) runs the same function in each worker: a ``batches`` factory over
its rank's frames, ``on_checkpoint`` handing each checkpoint folder to ``ray.train.report``. When
a torch process group is up (world > 1), gradients are averaged across ranks and the ranks agree
on the elapsed time, so all of them stop at the same step; only rank 0 writes checkpoints.

Schedule: AdamW, linear warm-up over ``warmup_steps``, then cosine or linear decay to 0 at
progress 1, where progress = step / max_steps, or max(step / max_steps, elapsed / time_budget_s)
when a wall-clock cap is set: the schedule is fitted to whichever budget ends first (cosine to 0
over the budget cut the error by 15% in docs/tokenizer.md, tokenizer finding 1). fp32 on CPU, bf16 autocast
on CUDA.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

import torch.distributed as dist

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
    on_checkpoint: Callable[[Path | None, dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train (or resume from ``run_dir/checkpoint``) until the step or time budget ends.

    batches(start_step) yields uint8 frames [B, H, W, 3] beginning with batch ``start_step``.
    Metrics per step go to ``report`` and, with a run_dir, to ``run_dir/metrics.jsonl``.
    ``on_checkpoint(folder, last_metrics)`` runs on every rank after each checkpoint (folder is
    None on ranks other than 0, which write none).
    """
    # Phase: setup. Model, optimizer and RNG come from the seed, or from the checkpoint.
    device = torch.device(device)
    rank, world = _rank_and_world()
    torch.manual_seed(cfg.seed)
    tokenizer = DDTokenizer(cfg, resolution).to(device)
    tokenizer.train()
    optimizer = torch.optim.AdamW(tokenizer.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    generator = torch.Generator(device).manual_seed(cfg.seed + rank)
    run_dir = Path(run_dir) if run_dir is not None else None
    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
    step, elapsed = 0, 0.0
    found = latest_checkpoint(run_dir) if run_dir is not None else None
    if found is not None:
        step, elapsed = load_checkpoint(found, tokenizer, optimizer, generator)
        if rank:  # the checkpoint holds rank 0's noise stream; every other rank draws its own
            generator.manual_seed(cfg.seed + rank + 7919 * step)
        log.info("rank %d resumed %s at step %d (%.1f s trained)", rank, found, step, elapsed)
    if world > 1:
        _broadcast_state(tokenizer)
    writer = run_dir is not None and rank == 0
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
    metrics_file = (run_dir / "metrics.jsonl").open("a") if writer else None
    saved_at = -1
    history: list[dict[str, float]] = []
    stream = batches(step)
    bar = tqdm(total=cfg.max_steps, initial=step, disable=not progress_bar or rank != 0, desc="ddt", unit="step")
    try:
        while (progress := _progress(cfg, step, _agreed(elapsed, world, device))) < 1.0:
            start = time.perf_counter()
            # Phase: data.
            frames = torch.as_tensor(next(stream)).to(device, non_blocking=True)
            data_s = time.perf_counter() - start
            # Phase: step.
            lr = learning_rate(cfg, step, progress)
            for group in optimizer.param_groups:
                group["lr"] = lr
            with autocast:
                loss, parts = tokenizer.loss(frames, generator)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if world > 1:
                _average_gradients(tokenizer, world)
            optimizer.step()
            step += 1
            elapsed += time.perf_counter() - start
            step_s = time.perf_counter() - start - data_s
            record = {"step": step, "ddt/loss": loss.detach().item(), "ddt/lr": lr, "time/data_s": data_s,
                      "time/step_s": step_s, "time/elapsed_s": elapsed,
                      "ddt/frames_per_s": frames.shape[0] * world / (step_s + data_s)}
            record.update({f"ddt/{k}": float(v) for k, v in parts.items()})
            history.append(record)
            if report is not None:
                report(record)
            if metrics_file is not None:
                metrics_file.write(json.dumps(record) + "\n")
            bar.update(1)
            bar.set_postfix(loss=f"{record['ddt/loss']:.2e}", codes=int(record["ddt/codes_used"]))
            # Phase: checkpoint.
            if cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
                _checkpoint(run_dir if writer else None, tokenizer, optimizer, step, elapsed, generator,
                            record, metrics_file, on_checkpoint)
                saved_at = step
        if saved_at != step:  # phase: the final checkpoint
            _checkpoint(run_dir if writer else None, tokenizer, optimizer, step, elapsed, generator,
                        history[-1] if history else {"step": step}, metrics_file, on_checkpoint)
    finally:
        bar.close()
        if metrics_file is not None:
            metrics_file.close()
    tokenizer.eval()
    return TrainResult(tokenizer, step, elapsed, history)


def _checkpoint(run_dir: Path | None, tokenizer: DDTokenizer, optimizer: torch.optim.Optimizer, step: int,
                elapsed: float, generator: torch.Generator, record: dict[str, float], metrics_file: Any,
                on_checkpoint: Callable[[Path | None, dict[str, float]], None] | None) -> None:
    """Save (rank 0 with a run_dir), then hand the folder to the hook (every rank)."""
    folder = None
    if run_dir is not None:
        metrics_file.flush()
        folder = save_checkpoint(run_dir, tokenizer, optimizer, step, elapsed, generator)
    if on_checkpoint is not None:
        on_checkpoint(folder, record)


def _progress(cfg: TokenizerConfig, step: int, elapsed: float) -> float:
    return max(step / cfg.max_steps, elapsed / cfg.time_budget_s if cfg.time_budget_s else 0.0)


def _rank_and_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _agreed(elapsed: float, world: int, device: torch.device) -> float:
    """The slowest rank's elapsed seconds, so every rank ends the time budget at the same step."""
    if world == 1:
        return elapsed
    t = torch.tensor([elapsed], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t)


def _broadcast_state(tokenizer: DDTokenizer) -> None:
    """Rank 0's weights and codebook on every rank (same seed already gives the same init; this makes sure)."""
    for tensor in tokenizer.model.state_dict().values():
        dist.broadcast(tensor, src=0)


def _average_gradients(tokenizer: DDTokenizer, world: int) -> None:
    """One all-reduce over every gradient, flattened (what DDP does in buckets; the loss is not a
    ``forward`` call, so DDP's hooks would not fire). Parameters without a gradient count as 0."""
    params = [p for p in tokenizer.model.parameters() if p.requires_grad]
    flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset:offset + n].view_as(p).clone()
        offset += n

"""The SFT per-worker loop, top to bottom, runnable without Ray (docs/method.md §5).

``sft_loop(config, batches, reporter)`` takes :func:`loop_config` (the config tree and the
vocabulary the batches were built with), an iterable of ``{"input_ids", "labels"}`` batches
(``lm.sequence.training_batch``; re-iterated once per epoch) and a :class:`Reporter` that stores metrics and checkpoints: a local folder without
Ray (:class:`FolderReporter`), Ray Train's storage inside a ``TorchTrainer`` (``sft_job``).

Phases of one optimizer step: fetch ``grad_accum`` micro-batches, forward + backward each
(the backend all-reduces, clips, steps AdamW and the warm-up + cosine schedule), then every
``log_every`` steps report ``sft/*`` metrics, and every ``checkpoint_every`` steps (and at the
end) a checkpoint: the HF model (config.json with ``physar_visual`` + model.safetensors, so
``from_pretrained`` loads it; under ZeRO-3 every rank takes part in gathering its weights, rank
0 writes them) plus the backend's optimizer state and ``trainer.json``.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.distributed as dist
from tqdm import tqdm

from physar_ray.config import Config, SFTConfig, from_dict, to_dict
from physar_ray.extras import require
from physar_ray.lm.input_noise import rank_noise, shift_codes, value_ranks
from physar_ray.lm.model import enable_gradient_checkpointing, init_code_embeddings, save_pretrained, video_lm
from physar_ray.lm.sequence import VideoLayout
from physar_ray.lm.vocab import VisualVocab, VocabError
from physar_ray.optim.adamw import adamw
from physar_ray.optim.backends import BACKENDS
from physar_ray.optim.step import StepShape

log = logging.getLogger("physar.sft")

TRAINER_STATE = "trainer.json"


class EmptyShardError(ValueError):
    """A worker's data shard yielded no batch."""


class Reporter(Protocol):
    """Where metrics and checkpoints go; every rank calls both methods at the same points."""

    def report(self, metrics: dict[str, float], checkpoint: Path | None) -> None: ...

    def latest_checkpoint(self) -> Path | None: ...


class FolderReporter:
    """No Ray: metrics.jsonl and ``checkpoint_<step>/`` folders under ``out`` (one process)."""

    def __init__(self, out: str | Path) -> None:
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)

    def report(self, metrics: dict[str, float], checkpoint: Path | None) -> None:
        with open(self.out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(metrics) + "\n")
        if checkpoint is not None:
            target = self.out / f"checkpoint_{int(metrics['sft/step']):09d}"
            shutil.copytree(checkpoint, target, dirs_exist_ok=True)

    def latest_checkpoint(self) -> Path | None:
        done = sorted(p for p in self.out.glob("checkpoint_*") if (p / TRAINER_STATE).exists())
        return done[-1] if done else None


def loop_config(cfg: Config, vocab: VisualVocab, code_values: list[float] | None = None) -> dict[str, Any]:
    """The plain dict the loop takes (what Ray Train ships to each worker); ``code_values``
    (``DDTokenizer.code_values``) initialise the visual embeddings when sft.code_embeddings=value."""
    return {"cfg": to_dict(cfg), "vocab": vocab.to_dict(), "code_values": code_values}


def _ensure_process_group() -> None:
    """Ray Train starts the process group; a plain call gets a one-process gloo group.

    DeepSpeed also wants the launcher's LOCAL_RANK, which Ray Train sets and a plain call lacks.
    """
    if dist.is_initialized():
        return
    os.environ.setdefault("LOCAL_RANK", "0")
    store = dist.FileStore(tempfile.mktemp(prefix="physar-sft-store-"), 1)
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)


def _lora(model: torch.nn.Module, cfg: SFTConfig) -> torch.nn.Module:
    """LoRA adapters on every linear layer; the (resized) embeddings train in full."""
    peft = require("peft", "lora", "sft.lora=true")
    embeddings = {model.get_input_embeddings(), model.get_output_embeddings()}
    names = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if m in embeddings})
    return peft.get_peft_model(model, peft.LoraConfig(r=cfg.lora_rank, lora_alpha=cfg.lora_alpha,
                                                      target_modules="all-linear", modules_to_save=names,
                                                      task_type="CAUSAL_LM"))


def _epochs(batches: Iterable[dict[str, Any]], rank: int, epoch: int = 0, done: int = 0
            ) -> Iterator[tuple[int, int, dict[str, Any]]]:
    """(epoch, batches of it consumed, batch) forever, re-iterating ``batches`` once per epoch, from batch ``done``
    of ``epoch`` on: a resumed run skips what its checkpoint already trained on, so each sample of an epoch is
    seen once. Exact because the stream is repeatable: the same files in the same order (runtime.ingest) and a
    shuffle seeded by the epoch (``batches.epoch``, when it has one, is set to the resumed epoch); an epoch
    without a batch is an error."""
    if hasattr(batches, "epoch"):
        batches.epoch = epoch
    while True:
        empty = True
        for index, batch in enumerate(batches):
            empty = False
            if index >= done:
                yield epoch, index + 1, batch
        done = 0
        if empty:
            raise EmptyShardError(
                f"worker rank {rank} got no batch in epoch {epoch}: its data shard is empty; give the dataset "
                "at least sft.num_workers × sft.batch_size videos, or pass a re-iterable (not a one-shot iterator)"
            )
        epoch += 1


def _save(backend: Any, tokenizer: Any, cfg: SFTConfig, state: dict[str, Any], folder: Path) -> None:
    """HF weights (gathered on every rank under ZeRO-3, written by rank 0; LoRA merged into a copy)
    + backend state (every rank) + trainer.json."""
    weights = backend.full_state_dict()
    if dist.get_rank() == 0:
        if cfg.lora:  # merging needs whole weights in the copy: SFTConfig refuses LoRA under ZeRO-3
            save_pretrained(copy.deepcopy(backend.module).merge_and_unload(), tokenizer, folder)
        else:
            save_pretrained(backend.module, tokenizer, folder, weights)
        (folder / TRAINER_STATE).write_text(json.dumps(state))
    backend.save(folder)


def _device(cfg: SFTConfig) -> torch.device:
    if cfg.use_gpu:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def sft_loop(config: dict[str, Any], batches: Iterable[dict[str, Any]], reporter: Reporter,
             device: torch.device | None = None) -> dict[str, float]:
    """Train until ``sft.max_steps`` optimizer steps, resuming from the reporter's latest checkpoint."""
    root: Config = from_dict(config["cfg"])
    cfg, layout = root.sft, VideoLayout.from_config(root)
    _ensure_process_group()
    rank, world = dist.get_rank(), dist.get_world_size()
    device = device or _device(cfg)

    model, tokenizer, vocab = video_lm(cfg, layout)
    expected = VisualVocab.from_dict(config["vocab"])
    if vocab != expected:
        raise VocabError(f"the batches were built for {expected} but the model has {vocab}: "
                         "build them with lm.model.video_vocab for the same sft.model_path")
    values = config.get("code_values")
    if cfg.code_embeddings == "value" and values is not None:
        init_code_embeddings(model, vocab, values)
    if cfg.input_noise and values is None:
        raise ValueError(f"sft.input_noise={cfg.input_noise} shifts codes in value order, but no code values were "
                         "given: train from a coordinate-family tokenizer (`physar sft train --tokenizer URI`) or set "
                         "sft.input_noise=0")
    order, rank_of = value_ranks(values) if cfg.input_noise else (None, None)
    if cfg.gradient_checkpointing:
        enable_gradient_checkpointing(model)
    model = (_lora(model, cfg) if cfg.lora else model).train()  # the backend moves it to the device
    optimizer, scheduler = adamw(model, cfg, cfg.max_steps)
    shape = StepShape(cfg.batch_size, cfg.grad_accum, world)
    backend = BACKENDS[cfg.backend](model, optimizer, scheduler, cfg, shape, device)

    state: dict[str, Any] = {"step": 0, "tokens": 0, "resumed_at": [], "epoch": 0, "batches": 0}
    resume = reporter.latest_checkpoint()
    if resume is not None:
        backend.load(resume)
        state = json.loads((resume / TRAINER_STATE).read_text())
        state["resumed_at"].append(state["step"])
        log.info("rank %d resumed from %s at step %d", rank, resume, state["step"])

    seq_len = layout.sequence_length(vocab)
    stream = _epochs(batches, rank, state.get("epoch", 0), state.get("batches", 0))  # older checkpoints: from 0
    window = {"loss": 0.0, "micro": 0, "tokens": 0, "t0": time.perf_counter()}
    metrics: dict[str, float] = {"sft/step": float(state["step"])}
    bar = tqdm(total=cfg.max_steps, initial=state["step"], desc="sft", disable=rank != 0, mininterval=5)
    while state["step"] < cfg.max_steps:
        boundary, step_tokens = False, 0
        while not boundary:  # phase: one optimizer step of grad_accum micro-batches
            state["epoch"], state["batches"], raw = next(stream)
            batch = {k: torch.as_tensor(raw[k], dtype=torch.long).to(device) for k in ("input_ids", "labels")}
            if cfg.input_noise:  # seeded by (seed, rank, step, micro-step): a resumed run draws the same noise
                noise_seed = torch.Generator().manual_seed(
                    ((cfg.seed * 1_000_003 + rank) * 1_000_003 + state["step"]) * 64 + window["micro"])
                shifts = rank_noise(tuple(batch["input_ids"].shape), cfg.input_noise, noise_seed)
                batch["input_ids"] = shift_codes(batch["input_ids"], batch["labels"], vocab, order, rank_of, shifts)
            if batch["input_ids"].shape[1] != seq_len:
                raise ValueError(f"batch sequences have {batch['input_ids'].shape[1]} tokens, the model expects "
                                 f"{seq_len}: build them with lm.sequence.training_batch for this model's vocab")
            loss, boundary = backend.micro_step({**batch, "use_cache": False})  # training reads no KV cache
            window["loss"] += float(loss)
            window["micro"] += 1
            step_tokens += batch["input_ids"].numel() * world
        state["step"] += 1
        state["tokens"] += step_tokens
        window["tokens"] += step_tokens
        bar.update(1)
        last = state["step"] == cfg.max_steps
        if state["step"] % cfg.log_every == 0 or last:  # phase: metrics (global mean loss)
            total = torch.tensor([window["loss"], window["micro"]], dtype=torch.float64)
            dist.all_reduce(total)
            elapsed = time.perf_counter() - window["t0"]
            metrics = {"sft/step": float(state["step"]), "sft/loss": float(total[0] / total[1]),
                       "sft/lr": backend.lr(), "sft/grad_norm": backend.grad_norm(),
                       "sft/tokens_per_s": window["tokens"] / elapsed, "sft/tokens": float(state["tokens"]),
                       "time/step_s": elapsed * cfg.grad_accum / window["micro"]}
            window = {"loss": 0.0, "micro": 0, "tokens": 0, "t0": time.perf_counter()}
            bar.set_postfix(loss=f"{metrics['sft/loss']:.3f}")
        metrics["sft/step"] = float(state["step"])
        if state["step"] % cfg.checkpoint_every == 0 or last:  # phase: checkpoint
            with tempfile.TemporaryDirectory(prefix="physar-sft-ckpt-") as tmp:
                _save(backend, tokenizer, cfg, state, Path(tmp))
                reporter.report(metrics, Path(tmp))
        elif state["step"] % cfg.log_every == 0:
            reporter.report(metrics, None)
    bar.close()
    return metrics

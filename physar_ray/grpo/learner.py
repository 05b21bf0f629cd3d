"""Learner ranks: GRPO policy updates with a frozen reference (docs/method.md §6), on physar_ray/optim's step backends.

``LearnerWorker`` is a plain class (one rank; a unit test runs it in process with a one-rank
gloo group); ``LearnerGroup`` makes N of them Ray actors (a ``runtime.ActorGroup``) joined by
torch.distributed (gloo on CPU, NCCL on GPU). The policy is wrapped in :class:`PolicyLoss`, a module whose forward
returns the GRPO loss, so the step backends (DeepSpeed ZeRO or DDP: accumulation, clipping,
AdamW, warm-up + cosine) train it unchanged.

Under ZeRO-3 each rank holds a shard of the policy (and of the reference), so reading the full
weights (``state_dict``, ``push_weights``, ``save``) is a gather that every rank must enter at
once; ``LearnerGroup`` calls all ranks for these, and only rank 0 returns, pushes or writes them.

Phases of ``step``: score the batch with the current policy (old log-probs, so the first
update is exactly on-policy, ratio 1) and with the reference; then μ passes of micro-batches,
each pass one optimizer step.
"""

from __future__ import annotations

import copy
import json
import os
import socket
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from physar_ray import storage
from physar_ray.config import GRPOConfig, SamplingConfig
from physar_ray.grpo.weight_sync import (SYNC_TIMEOUT, CollectiveSync, ObjectStoreSync, Spec, SyncStats, WeightSync,
                                         weight_spec)
from physar_ray.lm.sampling import chosen_logprobs, filtered_logits, visual_logits
from physar_ray.lm.vocab import VisualVocab
from physar_ray.rl.kl import kl_penalty
from physar_ray.rl.losses import dpo_loss, grpo_loss
from physar_ray.runtime.actor_group import ActorGroup
from physar_ray.tracking import peak_memory

REF_LOGP_FLOOR = -30.0
"""The reference's log-probs are clamped here: a token outside π_ref's top-k/top-p support has
log-prob −inf there and an infinite k3 KL; at the floor its KL gradient still pushes π_θ away."""
TRAINER_STATE = "trainer.json"
COLLECTIVE_TIMEOUT = timedelta(minutes=5)
"""How long a rank waits in a collective for a peer (a dead peer fails the step after this at most)."""
LOSS_METRICS = ("loss", "policy_loss", "kl", "clip_fraction", "entropy", "masked_fraction")
PEAK_MEMORY = ("learner_peak_rss_mb", "learner_cuda_max_allocated_mb")
"""A rank's peak memory (tracking.peak_memory) after its update; the group reports the largest rank's."""
"""Per-micro-batch diagnostics of PolicyLoss, averaged over a step."""
DPO_LOSS_METRICS = ("loss", "kl", "entropy", "masked_fraction")
"""Per-micro-batch diagnostics of DPOLoss, averaged over a step."""


def sequence_logprobs(model: torch.nn.Module, input_ids: torch.Tensor, num_new: int, vocab: VisualVocab,
                      sampling: SamplingConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """input_ids [B, P + G] → (log π(generated) [B, G] on the sampler's support, logits [B, G, C]).

    The logits at position i predict token i + 1, so the G generated tokens are scored by the
    G positions before them (``logits_to_keep`` spares the full-vocabulary logits of the prompt).
    """
    logits = model(input_ids=input_ids, logits_to_keep=num_new + 1, use_cache=False).logits[:, :-1]
    return chosen_logprobs(logits, input_ids[:, -num_new:], vocab, sampling), visual_logits(logits, vocab)


def sampler_drift(learner_logp: torch.Tensor, sampler_logp: torch.Tensor) -> dict[str, float]:
    """Off-policy drift between the rollout engine and the learner on the same tokens, as NeMo-RL, SkyRL and
    slime log it: [N, G] log-probs each → logprob_gap_max / logprob_gap_mean (max, mean |Δ log p|) and
    sampler_ratio_mean (mean π_learner / π_sampler), over tokens finite in both (NaN when none is).

    Right after a sync both score one policy, so the gap is float noise; a stale or failed sync shows here.
    """
    finite = torch.isfinite(learner_logp) & torch.isfinite(sampler_logp)
    if not finite.any():
        return dict.fromkeys(("logprob_gap_max", "logprob_gap_mean", "sampler_ratio_mean"), float("nan"))
    delta = (learner_logp - sampler_logp)[finite].double()
    return {"logprob_gap_max": float(delta.abs().max()), "logprob_gap_mean": float(delta.abs().mean()),
            "sampler_ratio_mean": float(delta.exp().mean())}


def sampling_entropy(logits: torch.Tensor, sampling: SamplingConfig) -> torch.Tensor:
    """Mean entropy (nats) of the restricted sampling distribution; logits [B, G, C] over the codes."""
    logp = torch.log_softmax(filtered_logits(logits.detach(), sampling), dim=-1)
    return -(logp.exp() * logp.nan_to_num(neginf=0.0)).sum(-1).mean()


class LossOutput(NamedTuple):
    """PolicyLoss's output: ``.loss`` as the backends read it, in a type ZeRO-3's hooks can walk."""

    loss: torch.Tensor


class PolicyLoss(torch.nn.Module):
    """The HF policy whose forward returns the GRPO loss (``.loss``), as the step backends expect.

    The last micro-batch's diagnostics stay in ``self.last`` (the backends return only the loss).
    """

    def __init__(self, policy: torch.nn.Module, vocab: VisualVocab, sampling: SamplingConfig, cfg: GRPOConfig) -> None:
        super().__init__()
        self.policy, self.vocab, self.sampling, self.cfg = policy, vocab, sampling, cfg
        self.last: dict[str, float] = {}

    def forward(self, input_ids: torch.Tensor, old_logp: torch.Tensor, ref_logp: torch.Tensor,
                advantages: torch.Tensor) -> LossOutput:
        logp, logits = sequence_logprobs(self.policy, input_ids, old_logp.shape[1], self.vocab, self.sampling)
        # A token outside the current or the old policy's support (log-prob −inf: sampled by stale
        # weights, or a top-p tie) has ratio 0 or NaN; it leaves the loss instead of poisoning it.
        mask = torch.isfinite(logp.detach()) & torch.isfinite(old_logp)
        logp, old_logp = logp.masked_fill(~mask, 0.0), old_logp.masked_fill(~mask, 0.0)
        ref_logp = ref_logp.clamp(min=REF_LOGP_FLOOR).masked_fill(~mask, 0.0)
        beta = self.cfg.kl.beta
        out = grpo_loss(logp, old_logp, ref_logp if beta > 0 else None, advantages, mask,
                        self.cfg.learner.clip_eps, beta, self.cfg.kl.estimator)
        ratio = torch.exp(logp.detach() - old_logp)[mask]
        self.last = {"loss": float(out.total.detach()), "policy_loss": float(out.policy), "kl": float(out.kl),
                     "clip_fraction": float(out.clip_fraction), "entropy": float(sampling_entropy(logits, self.sampling)),
                     "masked_fraction": 1.0 - float(mask.float().mean()),
                     "ratio_min": float(ratio.min()) if ratio.numel() else 1.0,
                     "ratio_max": float(ratio.max()) if ratio.numel() else 1.0}
        return LossOutput(out.total)


def sequence_sums(logp: torch.Tensor, ref_logp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-token log-probs [N, G] of the policy and the reference → (Σ_t log π [N], Σ_t log π_ref [N],
    mask [N, G]: the tokens inside the policy's support).

    A token outside a support (−inf: pushed out of the top-k / top-p nucleus, or a top-p tie) counts at
    REF_LOGP_FLOOR, without a gradient. Dropping it from the sum instead would *raise* the sequence's
    log-prob: a rejected video whose tokens DPO pushes out of the nucleus would look more likely (seen on the
    tiny model: 40% of a rejected video's tokens left the support after one step at lr 1e-3).
    """
    mask = torch.isfinite(logp.detach())
    return (logp.masked_fill(~mask, REF_LOGP_FLOOR).sum(-1), ref_logp.clamp(min=REF_LOGP_FLOOR).sum(-1), mask)


class DPOLoss(torch.nn.Module):
    """grpo.objective=dpo: the HF policy whose forward returns the DPO loss of a micro-batch of preference pairs
    (``rl.losses.dpo_loss`` on sequence log-probs, the sampler's support), as the step backends expect.

    Chosen and rejected sequences go through the policy as one batch. ``self.last`` holds the micro-batch's
    diagnostics; ``kl`` is the k3 KL(π_θ ‖ π_ref) per token for the logs only (DPO's β is its regulariser).
    """

    def __init__(self, policy: torch.nn.Module, vocab: VisualVocab, sampling: SamplingConfig, cfg: GRPOConfig) -> None:
        super().__init__()
        self.policy, self.vocab, self.sampling, self.cfg = policy, vocab, sampling, cfg
        self.last: dict[str, float] = {}

    def forward(self, chosen_ids: torch.Tensor, rejected_ids: torch.Tensor, ref_chosen: torch.Tensor,
                ref_rejected: torch.Tensor, weights: torch.Tensor) -> LossOutput:
        num_new, n = ref_chosen.shape[1], chosen_ids.shape[0]
        logp, logits = sequence_logprobs(self.policy, torch.cat([chosen_ids, rejected_ids]), num_new, self.vocab,
                                         self.sampling)
        ref_logp = torch.cat([ref_chosen, ref_rejected])
        sums, ref_sums, mask = sequence_sums(logp, ref_logp)
        out = dpo_loss(sums[:n], sums[n:], ref_sums[:n], ref_sums[n:], self.cfg.dpo.beta, weights)
        kl = kl_penalty(logp.detach().masked_fill(~mask, 0.0),
                        ref_logp.clamp(min=REF_LOGP_FLOOR).masked_fill(~mask, 0.0), "k3")
        self.last = {"loss": float(out.total.detach()), "kl": float(kl[mask].mean()) if mask.any() else 0.0,
                     "entropy": float(sampling_entropy(logits, self.sampling)),
                     "masked_fraction": 1.0 - float(mask.float().mean())}
        return LossOutput(out.total)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def node_address() -> str:
    import ray

    return ray.util.get_node_ip_address() if ray.is_initialized() else "127.0.0.1"


def upload_folder(folder: Path, uri: str) -> None:
    """Every file under a local folder to ``uri`` (local or s3://), keeping relative paths."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        storage.write_bytes(storage.join(uri, str(path.relative_to(folder))), path.read_bytes())


class LearnerWorker:
    """One data-parallel rank: policy + optimizer behind a step backend, and the frozen reference."""

    def __init__(self, rank: int, world_size: int, model_uri: str, cfg: GRPOConfig) -> None:
        self.rank, self.world_size, self.model_uri, self.cfg = rank, world_size, model_uri, cfg
        torch.set_num_threads(max(1, int(cfg.learner.num_cpus_per_worker)))  # more threads than reserved CPUs thrash
        self.sync: WeightSync | None = None

    def address(self) -> tuple[str, int]:
        """(node address, a free port) for rank 0 to host a process group on."""
        return node_address(), free_port()

    def setup(self, address: str, port: int, resume_uri: str = "") -> int:
        """Join the learners' process group, load policy and reference, resume; returns the step."""
        import torch.distributed as dist

        from physar_ray.lm.model import enable_gradient_checkpointing, load_pretrained, local_folder
        from physar_ray.optim.adamw import adamw
        from physar_ray.optim.backends import BACKENDS
        from physar_ray.optim.step import StepShape

        learner = self.cfg.learner
        self.device = torch.device("cuda" if learner.use_gpu else "cpu")
        os.environ.update(LOCAL_RANK="0", RANK=str(self.rank), WORLD_SIZE=str(self.world_size),
                          MASTER_ADDR=address, MASTER_PORT=str(port))  # DeepSpeed reads these
        if not dist.is_initialized():
            dist.init_process_group("nccl" if learner.use_gpu else "gloo", init_method=f"tcp://{address}:{port}",
                                    rank=self.rank, world_size=self.world_size, timeout=COLLECTIVE_TIMEOUT)
        policy, _ = load_pretrained(self.model_uri)
        self.vocab = VisualVocab.from_model_config(policy.config, where=self.model_uri)
        self.reference = self._reference(policy)
        if learner.gradient_checkpointing:
            enable_gradient_checkpointing(policy)
        loss = DPOLoss if self.cfg.objective == "dpo" else PolicyLoss
        self.module = loss(policy.train(), self.vocab, self.cfg.rollout.sampling, self.cfg)
        optimizer, scheduler = adamw(self.module, learner, self.cfg.optimizer_steps)
        shape = StepShape(learner.micro_batch_size, self.cfg.grad_accum, self.world_size)
        self.backend = BACKENDS[learner.backend](self.module, optimizer, scheduler, learner, shape,
                                                 self.device)  # it moves the policy to the device
        self.step_count = 0
        if resume_uri:
            with local_folder(resume_uri) as folder:
                self.backend.load(folder)
                self.step_count = int(json.loads((folder / TRAINER_STATE).read_text())["step"])
        return self.step_count

    def _reference(self, policy: torch.nn.Module) -> torch.nn.Module | None:
        """π_ref, a frozen copy of the initial policy: on the learner's device (partitioned like the policy
        under ZeRO-3), or whole on CPU (grpo.learner.reference=cpu); None for GRPO with β = 0 (no KL term).
        DPO always needs it: its implicit reward is β·log(π/π_ref)."""
        from physar_ray.optim.deepspeed import partitioned_model

        if self.cfg.kl.beta == 0 and self.cfg.objective != "dpo":
            return None
        reference = copy.deepcopy(policy).eval().requires_grad_(False)
        if self.cfg.learner.reference == "cpu":
            return reference
        learner = self.cfg.learner
        if learner.backend == "deepspeed" and learner.zero_stage == 3:
            return partitioned_model(reference, learner, learner.micro_batch_size, self.device)
        return reference.to(self.device)

    @property
    def policy(self) -> torch.nn.Module:
        return self.backend.module.policy

    def _score(self, model: torch.nn.Module, ids: torch.Tensor, num_new: int) -> torch.Tensor:
        device = next(model.parameters()).device
        size = self.cfg.learner.micro_batch_size
        bf16 = self.cfg.learner.dtype_name == "bf16" and device.type == "cuda"  # as DDPBackend's autocast
        with torch.no_grad(), torch.autocast("cuda", torch.bfloat16, enabled=bf16):
            parts = [sequence_logprobs(model, part.to(device), num_new, self.vocab, self.cfg.rollout.sampling)[0]
                     for part in ids.split(size)]
        return torch.cat(parts).to(self.device)

    def step(self, batch: dict[str, np.ndarray]) -> dict[str, float]:
        """One GRPO update on this rank's share: prompt_ids [n, P], ids [n, G], logprobs [n, G], advantages [n]
        (with grpo.objective=dpo, pairs: :meth:`dpo_step`)."""
        if self.cfg.objective == "dpo":
            return self.dpo_step(batch)
        start = time.perf_counter()
        ids = torch.as_tensor(np.concatenate([batch["prompt_ids"], batch["ids"]], axis=1), dtype=torch.long)
        num_new = batch["ids"].shape[1]
        old_logp = self._score(self.policy, ids, num_new)  # phase: old and reference log-probs
        ref_logp = old_logp if self.reference is None else self._score(self.reference, ids, num_new)
        advantages = torch.as_tensor(batch["advantages"], dtype=torch.float32, device=self.device)
        drift = sampler_drift(old_logp, torch.as_tensor(batch["logprobs"], device=self.device))
        ids = ids.to(self.device)
        size, micro = self.cfg.learner.micro_batch_size, 0
        sums = dict.fromkeys(LOSS_METRICS, 0.0)
        ratio_min, ratio_max = float("inf"), float("-inf")
        for update in range(self.cfg.learner.updates_per_batch):  # phase: μ optimizer steps over micro-batches
            for i in range(0, ids.shape[0], size):
                part = slice(i, i + size)
                self.backend.micro_step({"input_ids": ids[part], "old_logp": old_logp[part],
                                         "ref_logp": ref_logp[part], "advantages": advantages[part]})
                last, micro = self.module.last, micro + 1
                for key in LOSS_METRICS:
                    sums[key] += last[key]
                if update == 0:  # before the first optimizer step: the on-policy ratio (exactly 1)
                    ratio_min, ratio_max = min(ratio_min, last["ratio_min"]), max(ratio_max, last["ratio_max"])
        self.step_count += 1
        return {**{k: v / micro for k, v in sums.items()}, "ratio_min": ratio_min, "ratio_max": ratio_max,
                "grad_norm": self.backend.grad_norm(), "lr": self.backend.lr(), **drift,
                **{f"learner_{k.removeprefix('system/')}": v for k, v in peak_memory().items()},
                "learn_s": time.perf_counter() - start}

    def dpo_step(self, batch: dict[str, np.ndarray]) -> dict[str, float]:
        """One DPO update on this rank's pair slots (``grpo/dpo.py``): prompt_ids [n, P], chosen_ids and rejected_ids
        [n, G], their sampler log-probs chosen_logprobs / rejected_logprobs [n, G], weights [n] (0: not a kept pair).

        Reference log-probs first (and the policy's, for the sampler drift and the accuracy and margin before the
        update, returned as sums over the kept pairs: dpo_correct, dpo_margin_sum, dpo_kept), then μ passes of
        micro-batches of ``grpo.learner.micro_batch_size`` pairs.
        """
        start = time.perf_counter()
        prompt, num_new = batch["prompt_ids"], batch["chosen_ids"].shape[1]
        chosen = torch.as_tensor(np.concatenate([prompt, batch["chosen_ids"]], axis=1), dtype=torch.long)
        rejected = torch.as_tensor(np.concatenate([prompt, batch["rejected_ids"]], axis=1), dtype=torch.long)
        both = torch.cat([chosen, rejected])
        logp = self._score(self.policy, both, num_new)
        ref_logp = self._score(self.reference, both, num_new)
        sampler = np.concatenate([batch["chosen_logprobs"], batch["rejected_logprobs"]])
        drift = sampler_drift(logp, torch.as_tensor(sampler, device=self.device))
        weights = torch.as_tensor(batch["weights"], dtype=torch.float32, device=self.device)
        n = chosen.shape[0]
        sums, ref_sums, _ = sequence_sums(logp, ref_logp)
        before = dpo_loss(sums[:n], sums[n:], ref_sums[:n], ref_sums[n:], self.cfg.dpo.beta, weights)
        kept = weights > 0
        ref_chosen, ref_rejected = ref_logp[:n], ref_logp[n:]
        chosen, rejected = chosen.to(self.device), rejected.to(self.device)
        size, micro = self.cfg.learner.micro_batch_size, 0
        totals = dict.fromkeys(DPO_LOSS_METRICS, 0.0)
        for _ in range(self.cfg.learner.updates_per_batch):
            for i in range(0, n, size):
                part = slice(i, i + size)
                self.backend.micro_step({"chosen_ids": chosen[part], "rejected_ids": rejected[part],
                                         "ref_chosen": ref_chosen[part], "ref_rejected": ref_rejected[part],
                                         "weights": weights[part]})
                micro += 1
                for key in DPO_LOSS_METRICS:
                    totals[key] += self.module.last[key]
        self.step_count += 1
        return {**{k: v / micro for k, v in totals.items()}, "grad_norm": self.backend.grad_norm(),
                "lr": self.backend.lr(), **drift, "dpo_kept": float(kept.sum()),
                "dpo_correct": float((before.margins[kept] > 0).sum()),
                "dpo_margin_sum": float(before.margins[kept].sum()), "learn_s": time.perf_counter() - start}

    def state_dict(self) -> dict[str, torch.Tensor] | None:
        """The policy's full HF state dict on CPU (what the rollout workers load) on rank 0, None on the
        other ranks; every rank must call it (a gather under ZeRO-3: LearnerGroup.state_dict)."""
        state = self.backend.full_state_dict(self.policy)
        return None if state is None else {k: v.detach().cpu() for k, v in state.items()}

    def weight_spec(self) -> Spec:
        """Names, full shapes and dtypes of the policy's weights, from this rank alone (no gather)."""
        return weight_spec(self.policy.state_dict(keep_vars=True))

    def connect_sync(self, backend: str, address: str, port: int, world_size: int,
                     timeout_s: float = SYNC_TIMEOUT.total_seconds()) -> None:
        """Rank 0 hosts the broadcast group to the rollout workers (a group of its own; a previous one, e.g. after
        a failed broadcast, is torn down first). ``timeout_s``: how long a broadcast waits for a member."""
        if isinstance(self.sync, CollectiveSync):
            self.sync.close()
        self.sync = CollectiveSync(backend, address, port, 0, world_size, self.weight_spec(), self.device,
                                   timeout=timedelta(seconds=timeout_s))
        self.sync.connect()

    def push_weights(self, version: int) -> tuple[WeightSync | None, SyncStats | None]:
        """Publish the policy as ``version`` from rank 0: (the ObjectStoreSync to hand to workers, or None;
        stats); (None, None) on the other ranks. Every rank must call it: under ZeRO-3 the weights are
        gathered first, one layer at a time, onto rank 0's CPU (LearnerGroup.push_weights)."""
        state = self.backend.full_state_dict(self.policy)
        if state is None:
            return None, None
        if self.sync is None:
            self.sync = ObjectStoreSync()
        stats = self.sync.push(state, version)
        return (self.sync if isinstance(self.sync, ObjectStoreSync) else None), stats

    def save(self, uri: str, state: dict[str, Any]) -> None:
        """Checkpoint to ``uri``: HF weights (gathered by every rank under ZeRO-3) + trainer.json from rank 0,
        the backend's state from every rank; every rank must call it."""
        from physar_ray.lm.model import save_pretrained

        with tempfile.TemporaryDirectory(prefix="physar-grpo-ckpt-") as tmp:
            folder = Path(tmp)
            self.backend.save(folder)
            weights = self.backend.full_state_dict(self.policy)
            if self.rank == 0:
                save_pretrained(self.policy, None, folder, weights)
                (folder / TRAINER_STATE).write_text(json.dumps({**state, "step": self.step_count}))
            upload_folder(folder, uri)


def get_all(refs: list[Any]) -> list[Any]:
    """ray.get of every rank's result, raising as soon as one rank fails: its peers would
    otherwise block in a collective until the process-group timeout."""
    import ray

    pending = list(refs)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        ray.get(done[0])
    return ray.get(refs)


class LearnerGroup:
    """``grpo.learner.num_workers`` LearnerWorker actors in one torch.distributed group."""

    def __init__(self, cfg: GRPOConfig, model_uri: str, resume_uri: str = "",
                 placement: Callable[[int], dict] | None = None) -> None:
        """``placement(rank)``: actor options for that rank (a GRPO run pins each to its bundle)."""
        import ray

        learner, n = cfg.learner, cfg.learner.num_workers
        self.workers = ActorGroup(LearnerWorker, n, lambda rank: (rank, n, model_uri, cfg), placement,
                                  name="learner rank", num_cpus=learner.num_cpus_per_worker,
                                  num_gpus=1 if learner.use_gpu else 0)
        address, port = ray.get(self.workers[0].address.remote())
        self.step_count = ray.get(self.workers.call("setup", address, port, resume_uri))[0]

    @property
    def rank0(self) -> Any:
        return self.workers[0]

    def step(self, batch: dict[str, np.ndarray]) -> dict[str, float]:
        """Split the batch evenly over the ranks, update, average the ranks' metrics."""
        n = len(self.workers)
        shares = [{k: np.array_split(v, n)[r] for k, v in batch.items()} for r in range(n)]
        results = get_all([w.step.remote(s) for w, s in zip(self.workers, shares)])
        self.step_count += 1
        merged = {k: float(np.mean([r[k] for r in results])) for k in results[0]}
        if "ratio_min" in merged:  # GRPO's ratio (DPO has none)
            merged["ratio_min"] = min(r["ratio_min"] for r in results)
            merged["ratio_max"] = max(r["ratio_max"] for r in results)
        merged["logprob_gap_max"] = float(np.fmax.reduce([r["logprob_gap_max"] for r in results]))  # NaN-skipping
        for key in (k for k in results[0] if k.startswith(PEAK_MEMORY)):  # the fullest rank's
            merged[key] = max(r[key] for r in results)
        return merged

    def save(self, uri: str, state: dict[str, Any]) -> None:
        get_all(self.workers.call("save", uri, state))

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The policy's full state dict (rank 0's; every rank takes part in the gather)."""
        return get_all(self.workers.call("state_dict"))[0]

    def push_weights(self, version: int) -> list[Any]:
        """Every rank's ``push_weights`` call, rank 0's first (whose result is the one that counts): all
        ranks enter the ZeRO-3 gather. Wait on them with :func:`get_all`."""
        return self.workers.call("push_weights", version)

    def shutdown(self) -> None:
        self.workers.shutdown()


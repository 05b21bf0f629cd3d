"""The GRPO loop on Ray: prompts → rollouts → rewards → advantages → update → sync (docs/method.md §6).

One step is five named phases, each timed as ``time/<phase>_s``: ``rollout`` (generate +
decode on the rollout actors, also reported apart as ``time/generate_s`` and ``time/decode_s``),
``reward`` (the ``runtime.RewardPool`` scores every video against its condition's ground truth),
``learn`` (advantages, then the learner group's update), ``sync`` (learner rank 0 → rollout
actors, with a version). Faults: a dead rollout or reward actor is replaced and its work
re-run (the new rollout actor loads the current weights first), in the rollout phase and in
the sync phase alike; a dead learner rank makes
the whole group restart from the last checkpoint (``grpo.max_restarts`` times). A gloo/nccl
broadcast is bounded by ``grpo.sync.member_timeout_s``: every rollout actor answers an alive
check first, each collective of the group times out after it, and the controller waits on the
receivers no longer than that once one has failed; a member that died or hangs is replaced, the
group rebuilt and the same version broadcast again. Outputs under
``out``: ``metrics.jsonl``, ``reward_curve.png``, ``checkpoints/step_<n>/`` (HF format +
optimizer state), ``checkpoints/latest.json``, ``result.json``, ``faults/events.jsonl`` (each
failure recovered from, with its seconds to detect and to recover: ``physar_ray.faults.record``).
Every step's and evaluation's metrics also go to the experiment tracking of ``run.tracking``
(physar_ray/tracking.py), from this driver: an MLflow run and TensorBoard events named ``grpo``
(a sweep's trial: ``tune/<trial id>``).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import ray
import torch
from ray.exceptions import RayActorError, RayTaskError
from tqdm import tqdm

from physar_ray import faults, storage
from physar_ray.config import Config, SamplingConfig, dump, to_dict
from physar_ray.faults import FaultInjector
from physar_ray.grpo import dpo
from physar_ray.grpo.learner import LearnerGroup, get_all
from physar_ray.grpo.placement import Placement, check_resources
from physar_ray.grpo.prompts import load_prompts
from physar_ray.grpo.rollout import Prompt, Rollout, RolloutWorker
from physar_ray.lm.sequence import VideoLayout
from physar_ray.measure.score import VideoScore
from physar_ray.report.plots import reward_curve
from physar_ray.rl.advantages import constant_groups, group_advantages
from physar_ray.runtime.actor_group import ActorGroup
from physar_ray.runtime.cluster import capacity, ensure_ray
from physar_ray.runtime.reward_pool import RewardPool
from physar_ray.tracking import Tracker, tracking_root

log = logging.getLogger("physar.grpo")

MAX_ROLLOUT_RETRIES = 3
"""Times one rollout call may lose its actor before the step fails."""
MAX_SYNC_RETRIES = 3
"""Broadcasts of one weights version that may fail (a member died or hung) before the step fails."""
RESULT_GRACE_S = 5.0
"""Beyond grpo.sync.member_timeout_s, how long the controller waits for a broadcast member's result to reach it
after another member failed (every member's collective has timed out by then)."""


class LearnerFailure(RuntimeError):
    """A learner rank died during an update or a weight push; the group restarts from the checkpoint."""


def step_seed(seed: int, step: int) -> int:
    """Sampling seed of one step: the same (seed, step) and weights give the same videos."""
    return (seed * 1_000_003 + step) % 2**31


def score_metrics(scores: list[VideoScore], prefix: str) -> dict[str, float | None]:
    """Means over the videos of one step or evaluation; v_err over the tracked ("ok") videos only."""
    ok = [s for s in scores if s.reason == "ok"]
    rewards = np.array([s.reward for s in scores])
    return {f"{prefix}/reward_mean": float(rewards.mean()), f"{prefix}/reward_std": float(rewards.std()),
            f"{prefix}/r_vel_mean": float(np.mean([s.r_vel for s in scores])),
            f"{prefix}/r_mass_mean": float(np.mean([s.r_mass for s in scores])),
            f"{prefix}/v_err_mean": float(np.mean([s.v_err for s in ok])) if ok else None,
            f"{prefix}/valid_fraction_mean": float(np.mean([s.valid_fraction for s in scores])),
            f"{prefix}/untrackable_fraction": 1.0 - len(ok) / len(scores)}


class GRPOController:
    """Owns the actors and the loop; ``run_step`` does one step, ``run`` the whole schedule."""

    def __init__(self, cfg: Config, model_uri: str, tokenizer_uri: str, data_uri: str, out: str,
                 track_as: str = "grpo") -> None:
        self.cfg, self.model_uri, self.tokenizer_uri, self.out = cfg, model_uri, tokenizer_uri, out
        self.grpo, self.layout = cfg.grpo, VideoLayout.from_config(cfg)
        self.faults = FaultInjector(cfg.run.faults, "grpo.controller", 0, out)
        check_resources(cfg, capacity(cfg.run))
        self.prompts = load_prompts(data_uri, cfg)
        self.placement = Placement.reserve(cfg)
        try:
            self.rewards = RewardPool(cfg.measure, cfg.data.cond_frames,
                                      placement=lambda slot: self.placement.options("reward", slot))
            self.rollouts = ActorGroup(  # resources and bundle from self.placement
                RolloutWorker, self.grpo.rollout.num_workers, name="rollout actor",
                args=lambda i: (model_uri, tokenizer_uri, self.layout, self.grpo.rollout, self.grpo.colocate,
                                FaultInjector(cfg.run.faults, "grpo.rollout", i, out),
                                [FaultInjector(cfg.run.faults, point, i, out)
                                 for point in ("grpo.rollout_sync", "grpo.rollout_sync_hang")]),
                options=lambda i: self.placement.options("rollout", i))
            self.learner_restarts = self.sync_failures = 0
            self._handle: Any = None
            self._calls: dict[int, Any] = {i: a.__ray_ready__.remote() for i, a in enumerate(self.rollouts)}
            """Slot → the first ref of its latest rollout call, or of its start: a broadcast waits for these (an
            actor still generating or loading its model can neither answer the alive check nor enter it)."""
            self._phase_began = time.perf_counter()
            """When the running phase began (a failure's seconds to detect count from there)."""
            self._recovering: list[tuple[str, float, float, dict[str, Any]]] = []
            """Failures detected but not yet recovered from: (fault, detect_s, perf_counter at detection, details)."""
            self._pending: tuple[int, list] | None = None
            self.history = self._read_history()
            self._start_learners()
            self.tracker = Tracker(cfg.run.tracking, tracking_root(cfg.run.tracking, out), track_as,
                                   params={"grpo": to_dict(cfg.grpo), "measure": to_dict(cfg.measure)},
                                   tags={"physar.out": out, "physar.model": model_uri})
        except BaseException:
            self.placement.release()  # the actors started so far die with their group
            raise

    # -- actors ----------------------------------------------------------------------------

    def _start_learners(self) -> None:
        """(Re)start the learner group from the latest checkpoint, if any, and sync its weights out."""
        latest = storage.join(self.out, "checkpoints", "latest.json")
        resume = storage.read_json(latest)["path"] if storage.exists(latest) else ""
        self.learners = LearnerGroup(self.grpo, self.model_uri, resume,
                                     placement=lambda rank: self.placement.options("learner", rank))
        self.step = self.learners.step_count
        self.history = [h for h in self.history if h.get("grpo/step", -1) < self.step]
        if resume:
            log.info("resumed the learners from %s at step %d", resume, self.step)
        self._connect_sync()
        self._pending = None
        self.sync_weights()

    def _replace(self, slot: int) -> None:
        """A new rollout actor in ``slot``; the next broadcast waits for its start (unbounded: loading a model is
        not a sign of a dead member)."""
        self._calls[slot] = self.rollouts.replace(slot).__ray_ready__.remote()

    def _idle_rollouts(self) -> None:
        """Wait until no rollout call runs (each either returned or lost its actor): only then can every
        rollout actor answer the alive check and enter a broadcast within grpo.sync.member_timeout_s."""
        calls, self._calls = list(self._calls.values()), {}
        if calls:
            ray.wait(calls, num_returns=len(calls))

    def _alive_check(self) -> list[int]:
        """Slots whose rollout actor is dead or did not answer a ping within grpo.sync.member_timeout_s."""
        self._idle_rollouts()
        return self.rollouts.dead(self.grpo.sync.member_timeout_s)

    def _connect_sync(self) -> None:
        """Broadcast backends: (re)build the group of learner rank 0 and every rollout actor (a dead one is
        replaced first), each collective bounded by grpo.sync.member_timeout_s."""
        backend, timeout = self.grpo.sync.backend, self.grpo.sync.member_timeout_s
        if backend == "object_store":
            return
        for slot in self._alive_check():
            self._replace(slot)
        (address, port), spec = ray.get([self.learners.rank0.address.remote(), self.learners.rank0.weight_spec.remote()])
        world = 1 + len(self.rollouts)
        ray.get([self.learners.rank0.connect_sync.remote(backend, address, port, world, timeout)]
                + [w.connect_sync.remote(backend, address, port, i + 1, world, spec, timeout)
                   for i, w in enumerate(self.rollouts)])

    def _detected(self, fault: str, since: float, at: float | None = None, **details: Any) -> None:
        """A failure became known ``at`` (perf_counter; None: now), ``since`` the phase it hit began; :meth:`_recovered`
        writes it down."""
        at = time.perf_counter() if at is None else at
        self._recovering.append((fault, at - since, at, details))

    def _recovered(self, *phases: str) -> None:
        """The run goes on: the failures detected in ``phases`` go to <out>/faults/events.jsonl."""
        now, waiting = time.perf_counter(), []
        for fault, detect_s, at, details in self._recovering:
            if details["phase"] in phases:
                faults.record(self.out, fault, detect_s, now - at, step=self.step, **details)
            else:
                waiting.append((fault, detect_s, at, details))
        self._recovering = waiting

    def _replace_rollout(self, index: int) -> int:
        """A new rollout actor in the dead one's slot, loading weights version ``self.step`` first (a broadcast
        backend rebuilds its group and broadcasts to every actor again); returns the version it holds."""
        self._replace(index)
        if self.grpo.sync.backend == "object_store":
            return ray.get(self.rollouts[index].load_weights.remote(self._handle))
        self._connect_sync()
        self.sync_weights()  # raises unless every actor holds self.step
        return self.step

    def _loaded(self, loads: list, version: int) -> list[int]:
        """The weights version each rollout actor reports after a sync; one that died meanwhile is replaced, and
        its replacement loads ``version`` before the next phase."""
        loaded = []
        for index, ref in enumerate(loads):
            try:
                loaded.append(ray.get(ref))
            except RayActorError:
                log.warning("rollout actor %d died while loading weights version %d: replacing it", index, version)
                self._detected(f"rollout actor {index} died loading weights version {version}", self._phase_began,
                               phase="sync", slot=index, version=version)
                loaded.append(self._replace_rollout(index))
        self._recovered("sync", "learner")
        return loaded

    def sync_weights(self) -> dict[str, float]:
        """Phase sync: learner rank 0 publishes version ``self.step`` (every rank gathers under ZeRO-3);
        every rollout actor loads it."""
        start = self._phase_began = time.perf_counter()
        stats = self._publish(self.step) if self.grpo.sync.backend == "object_store" else self._broadcast(self.step)
        return {"sync/bytes": float(stats.bytes), "time/sync_s": time.perf_counter() - start}

    def _publish(self, version: int) -> Any:
        """object_store: one ray.put on learner rank 0, every rollout actor reads it; returns its SyncStats."""
        try:
            handle, stats = get_all(self.learners.push_weights(version))[0]
        except RayActorError as exc:
            raise LearnerFailure(f"a learner rank died while pushing weights version {version}") from exc
        self._handle = handle
        loaded = self._loaded([w.load_weights.remote(handle) for w in self.rollouts], version)
        if any(v != version for v in loaded):
            raise RuntimeError(f"rollout actors report weights versions {loaded} after syncing version {version}")
        return stats

    def _broadcast(self, version: int) -> Any:
        """gloo / nccl: the alive check, then the broadcast, bounded by grpo.sync.member_timeout_s; a member that
        died or hangs is replaced, the group rebuilt and ``version`` broadcast again. Returns rank 0's SyncStats."""
        for attempt in range(MAX_SYNC_RETRIES + 1):
            began = time.perf_counter()
            dead = self._alive_check()
            for slot in dead:
                self._detected(f"rollout actor {slot} dead before the broadcast of weights version {version}", began,
                               phase="sync", slot=slot, version=version)
            if dead:
                self.sync_failures += 1
                self._connect_sync()  # replaces them
            began = time.perf_counter()
            pushes = self.learners.push_weights(version)
            loads = [w.load_weights.remote() for w in self.rollouts]
            stats, lost, failed_at = self._await_broadcast(pushes, loads, version)
            if failed_at is None:
                self._recovered("sync", "learner")
                return stats
            self.sync_failures += 1
            log.warning("the broadcast of weights version %d failed after %.1fs (rollout actors %s); rebuilding the "
                        "group", version, failed_at - began, lost or "alive: a collective timed out")
            for slot, how in lost.items():
                self._detected(f"rollout actor {slot} {how} in the broadcast of weights version {version}", began,
                               failed_at, phase="sync", slot=slot, version=version)
                self._replace(slot)
            if not lost:
                self._detected(f"a timed-out broadcast of weights version {version}", began, failed_at, phase="sync",
                               version=version)
            if attempt < MAX_SYNC_RETRIES:
                self._connect_sync()
        raise RuntimeError(f"the broadcast of weights version {version} failed {MAX_SYNC_RETRIES + 1} times")

    def _await_broadcast(self, pushes: list, loads: list, version: int) -> tuple[Any, dict[int, str], float | None]:
        """Wait on the learner ranks' pushes and the rollout actors' loads of one broadcast: (rank 0's SyncStats,
        {slot: "died" | "hung"} of the rollout actors lost, when the first member failed: None if none did). Once one
        member has failed, each of the others gets grpo.sync.member_timeout_s (its collective times out by then)
        plus RESULT_GRACE_S; a rollout actor still busy after that is "hung", a learner rank a LearnerFailure."""
        slot_of = {ref: slot for slot, ref in enumerate(loads)}
        pending, lost, stats = [*pushes, *loads], {}, None
        failed_at: float | None = None
        while pending:
            timeout = None if failed_at is None else max(
                0.0, failed_at + self.grpo.sync.member_timeout_s + RESULT_GRACE_S - time.perf_counter())
            done, pending = ray.wait(pending, num_returns=1, timeout=timeout)
            if not done:
                break
            ref, slot = done[0], slot_of.get(done[0])
            try:
                result = ray.get(ref)
            except RayActorError as exc:
                if slot is None:
                    raise LearnerFailure(f"a learner rank died while broadcasting weights version {version}") from exc
                lost[slot] = "died"
            except RayTaskError:  # this member's collective failed: a peer died or hangs; the group is broken
                pass
            else:
                if slot is None:
                    stats = result[1] if ref == pushes[0] else stats
                    continue
                if result != version:
                    raise RuntimeError(f"rollout actor {slot} reports weights version {result} after the broadcast "
                                       f"of version {version}")
                continue
            failed_at = failed_at or time.perf_counter()
        for ref in pending:
            if ref not in slot_of:
                raise LearnerFailure(f"learner rank 0 did not finish broadcasting weights version {version} within "
                                     f"grpo.sync.member_timeout_s={self.grpo.sync.member_timeout_s:g} of a member's failure")
            lost[slot_of[ref]] = "hung"
        return stats, lost, failed_at

    # -- phases ----------------------------------------------------------------------------

    def _call(self, index: int, part: list[Prompt], n: int, seed: int, sampling: SamplingConfig | None) -> list:
        refs = self.rollouts[index].rollout.options(num_returns=1 + len(part) * n).remote(part, n, seed, sampling)
        self._calls[index] = refs[0]
        return refs

    def _launch(self, prompts: list[Prompt], n: int, seed: int,
                sampling: SamplingConfig | None = None) -> list[tuple[int, list[Prompt], list]]:
        """Split the prompts evenly over the rollout actors; each call returns 1 + len(part)·n refs.
        ``sampling`` None: the rollout's own (grpo.rollout.sampling)."""
        parts = [p.tolist() for p in np.array_split(np.array(prompts, dtype=object), len(self.rollouts))]
        return [(i, part, self._call(i, part, n, seed, sampling)) for i, part in enumerate(parts) if part]

    def _collect(self, launched: list, n: int, seed: int,
                 sampling: SamplingConfig | None = None) -> tuple[list[Rollout], list[Any]]:
        """(one Rollout per call, video refs in prompt order); a call whose actor died is re-run."""
        rollouts, videos, began = [], [], time.perf_counter()
        for index, part, refs in launched:
            for attempt in range(MAX_ROLLOUT_RETRIES + 1):
                try:
                    rollouts.append(ray.get(refs[0]))
                    videos.extend(refs[1:])
                    break
                except RayActorError:
                    if attempt == MAX_ROLLOUT_RETRIES:
                        raise
                    self._detected(f"rollout actor {index} died in the rollout phase", began, phase="rollout",
                                   slot=index)
                    self._replace_rollout(index)
                    refs = self._call(index, part, n, seed, sampling)
        self._recovered("rollout")  # the re-run calls returned
        return rollouts, videos

    def _train_prompts(self, step: int) -> list[Prompt]:
        rng = np.random.default_rng([self.grpo.seed, step])
        picks = rng.choice(len(self.prompts.train), self.grpo.prompts_per_step, replace=False)
        return [self.prompts.train[i] for i in picks]

    def _launch_step(self, step: int) -> tuple[int, list]:
        g = self.grpo.rollout.group_size
        return step, self._launch(self._train_prompts(step), g, step_seed(self.grpo.seed, step))

    def _check_versions(self, rollouts: list[Rollout], step: int) -> int:
        versions = {r.version for r in rollouts}
        allowed = {step, step - 1} if self.grpo.async_rollouts else {step}
        if len(versions) != 1 or not versions <= allowed:
            raise RuntimeError(f"step {step} sampled with weights versions {sorted(versions)}; expected one of "
                               f"{sorted(allowed)}: a rollout actor missed a sync")
        return versions.pop()

    def run_step(self) -> dict[str, Any]:
        """One GRPO step (phases rollout, reward, learn, sync); a learner failure rolls back to the checkpoint."""
        while True:
            try:
                return self._step()
            except LearnerFailure as exc:
                if self.learner_restarts >= self.grpo.max_restarts:
                    raise
                log.warning("a learner rank died (%s); restarting the group from the last checkpoint", exc)
                self._detected(f"learner failure: {exc}", self._phase_began, phase="learner")
                self.learner_restarts += 1
                self.learners.shutdown()
                self._start_learners()  # its sync records the recovery

    def _step(self) -> dict[str, Any]:
        step, g, t0 = self.step, self.grpo.rollout.group_size, time.perf_counter()
        self._phase_began = t0
        if self._pending is None or self._pending[0] != step:
            self._pending = self._launch_step(step)
        rollouts, videos = self._collect(self._pending[1], g, step_seed(self.grpo.seed, step))
        self._pending = None
        version = self._check_versions(rollouts, step)
        t_rollout = time.perf_counter()

        reward_job = self.rewards.submit(videos)  # phase reward (async rollouts: next step generates meanwhile)
        if self.grpo.async_rollouts and step + 1 < self.grpo.max_steps:
            self._pending = self._launch_step(step + 1)
        failures = len(self.rewards.failures)
        scores = self.rewards.gather(reward_job)
        t_reward = time.perf_counter()
        for failure in self.rewards.failures[failures:]:
            faults.record(self.out, f"reward actor {failure['slot']} died in the reward phase", failure["detect_s"],
                          failure["recover_s"], step=step, phase="reward", slot=failure["slot"])

        rewards = torch.tensor([s.reward for s in scores], dtype=torch.float64)  # phase learn
        rows = {"prompt_ids": np.concatenate([r.prompt_ids for r in rollouts]),
                "ids": np.concatenate([r.ids for r in rollouts]),
                "logprobs": np.concatenate([r.logprobs for r in rollouts])}
        if self.grpo.objective == "dpo":  # preference pairs of each group instead of advantages (grpo/dpo.py)
            batch, objective_metrics = dpo.dpo_batch(rows, rewards, self.grpo)
        else:
            advantages = group_advantages(rewards, g, self.grpo.scale_by_std)
            batch = {**rows, "advantages": advantages.numpy().astype(np.float32)}
            objective_metrics = {"grpo/advantage_abs_mean": float(advantages.abs().mean())}
        self._colocated("sleep")  # colocated rollouts give the GPU to the learners during the update
        self._phase_began = time.perf_counter()
        try:
            learned = self.learners.step(batch)
        except RayActorError as exc:
            raise LearnerFailure(f"a learner rank died in step {step}: {exc}") from exc
        finally:
            self._colocated("wake_up")
        if self.grpo.objective == "dpo":
            learned = dpo.step_metrics(learned)
        t_learn = time.perf_counter()

        self.step += 1
        synced = self.sync_weights()  # phase sync
        metrics = {"grpo/step": step, "grpo/weights_version": version, "grpo/staleness": step - version,
                   **score_metrics(scores, "grpo"),
                   "grpo/constant_groups": constant_groups(rewards, g), "grpo/videos_scored": len(scores),
                   **objective_metrics,
                   **{f"grpo/{k}": v for k, v in learned.items() if k != "learn_s"},
                   "time/rollout_s": t_rollout - t0,
                   "time/generate_s": max(r.generate_s for r in rollouts),
                   "time/decode_s": max(r.decode_s for r in rollouts),
                   "time/reward_s": t_reward - t_rollout, "time/learn_s": t_learn - t_reward, **synced,
                   "time/step_s": time.perf_counter() - t0,
                   "grpo/videos_per_s": len(scores) / (time.perf_counter() - t0),
                   "grpo/reward_restarts": self.rewards.restarts, "grpo/rollout_restarts": self.rollouts.restarts,
                   "grpo/learner_restarts": self.learner_restarts, "grpo/sync_failures": self.sync_failures}
        self.history.append(metrics)
        self.tracker.log(metrics, step)
        return metrics

    def _colocated(self, method: str) -> None:
        """With grpo.colocate, ``sleep`` or ``wake_up`` on every rollout actor (a dead one is replaced at its next call)."""
        if self.grpo.colocate:
            ray.wait(self.rollouts.call(method), num_returns=len(self.rollouts))

    def evaluate(self) -> dict[str, Any]:
        """One sample per held-out prompt (RL range and OOD) from the current weights, drawn as `physar eval
        model` draws them (generate.sampling, e.g. greedy), so this curve and the report's tables agree."""
        metrics: dict[str, Any] = {"grpo/step": self.step, "eval/weights_version": self.step}
        seed, sampling = step_seed(self.grpo.seed + 1, self.step), self.cfg.generate.sampling
        for name, prompts in (("rl", self.prompts.eval_rl), ("ood", self.prompts.eval_ood)):
            if not prompts:
                continue
            _, videos = self._collect(self._launch(prompts, 1, seed, sampling), 1, seed, sampling)
            scores = self.rewards.score(videos)
            metrics.update({k.replace("eval/", f"eval/{name}_"): v for k, v in score_metrics(scores, "eval").items()})
        self.history.append(metrics)
        self.tracker.log(metrics, self.step)
        return metrics

    def checkpoint(self) -> str:
        """Every learner rank writes its part, then latest.json points at the complete folder."""
        path = storage.join(self.out, "checkpoints", f"step_{self.step:07d}")
        self.learners.save(path, {"model_uri": self.model_uri, "version": self.step})
        storage.write_json(storage.join(self.out, "checkpoints", "latest.json"), {"path": path, "step": self.step})
        self.write_outputs()
        return path

    # -- outputs ---------------------------------------------------------------------------

    def _read_history(self) -> list[dict[str, Any]]:
        uri = storage.join(self.out, "metrics.jsonl")
        if not storage.exists(uri):
            return []
        return [json.loads(line) for line in storage.read_text(uri).splitlines() if line.strip()]

    def write_outputs(self) -> None:
        """metrics.jsonl (rewritten whole: s3 has no append) and reward_curve.png."""
        lines = "".join(json.dumps({k: _finite_or_none(v) for k, v in h.items()}, allow_nan=False) + "\n"
                        for h in self.history)
        storage.write_text(storage.join(self.out, "metrics.jsonl"), lines)
        storage.write_bytes(storage.join(self.out, "reward_curve.png"), reward_curve(self.history))

    def run(self, on_eval: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Steps until grpo.max_steps or the time budget; evals, checkpoints, outputs; returns the summary.

        ``on_eval`` is called with the metrics of every evaluation (`physar tune sweep` reports them to Tune);
        for the final one only after the checkpoint and result.json are written, as the caller may
        end the process there.
        """
        grpo, start = self.grpo, time.perf_counter()

        def evaluate() -> dict[str, Any]:
            metrics = self.evaluate()
            if on_eval is not None:
                on_eval(metrics)
            return metrics

        if self.step == 0:
            log.info("eval before GRPO: %s", evaluate())
        bar = tqdm(total=grpo.max_steps, initial=self.step, desc="grpo", mininterval=5)
        while self.step < grpo.max_steps:
            metrics = self.run_step()
            bar.update(1)
            bar.set_postfix(reward=f"{metrics['grpo/reward_mean']:.3f}")
            log.info("step %d: reward %.3f, kl %.4f, %.1fs", metrics["grpo/step"], metrics["grpo/reward_mean"],
                     metrics["grpo/kl"], metrics["time/step_s"])
            if grpo.eval_every and self.step % grpo.eval_every == 0 and self.step < grpo.max_steps:
                evaluate()
            out_of_time = grpo.time_budget_s and time.perf_counter() - start > grpo.time_budget_s
            if self.step % grpo.checkpoint_every == 0 or out_of_time:
                self.checkpoint()
                self.faults.reached(self.step)
            if out_of_time:
                log.warning("grpo.time_budget_s=%g spent after step %d", grpo.time_budget_s, self.step)
                break
        bar.close()
        final = self.evaluate()
        path = self.checkpoint()
        summary = {"model": path, "steps": self.step, **summarize(self.history), **final}
        storage.write_json(storage.join(self.out, "result.json"), summary)
        if on_eval is not None:
            on_eval(final)
        return summary

    def shutdown(self, status: str = "FINISHED") -> None:
        """Stop every actor; ``status`` (FINISHED or FAILED) ends the tracking run."""
        self.tracker.close(status)
        self.learners.shutdown()
        self.rewards.shutdown()
        self.rollouts.shutdown()
        self.placement.release()


def _finite_or_none(value: Any) -> Any:
    """JSON has no NaN: an undefined metric (no tracked video, no clipping) is written as null."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def summarize(history: list[dict[str, Any]]) -> dict[str, float]:
    """Mean reward over the first and last 20% of steps (the tiny preset's "reward rises" check)."""
    rewards = [h["grpo/reward_mean"] for h in history if "grpo/reward_mean" in h]
    if not rewards:
        return {}
    k = max(1, math.ceil(len(rewards) / 5))
    return {"reward_first_20pct": float(np.mean(rewards[:k])), "reward_last_20pct": float(np.mean(rewards[-k:]))}


def run_grpo(cfg: Config, model_uri: str, tokenizer_uri: str, data_uri: str, out: str,
             on_eval: Callable[[dict[str, Any]], None] | None = None, track_as: str = "grpo") -> dict[str, Any]:
    """`physar grpo train`: config.resolved.yaml beside the outputs, then the whole run (resuming if possible);
    ``track_as``: the name of its tracking run (physar_ray/tracking.py)."""
    cfg.storage.apply()
    storage.write_text(storage.join(out, "config.resolved.yaml"), dump(cfg))
    ensure_ray(cfg.run)
    controller = GRPOController(cfg, model_uri, tokenizer_uri, data_uri, out, track_as)
    status = "FAILED"
    try:
        summary = controller.run(on_eval)
        status = "FINISHED"
        return summary
    finally:
        controller.shutdown(status)

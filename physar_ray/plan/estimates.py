"""Per-GPU memory of each kind of GPU worker a stage starts, from the config and the models' shapes.

One estimator per worker kind, chosen by the demand's name (resources.py) from ``ESTIMATES``. Each
gives one or more :class:`Estimate`: the parts (bytes) one GPU holds, what it may hold (the GPU,
the actor's share of it, or vLLM's budget) and the config changes that lower the need, most
effective first. The formulas are in memory.py; docs/cluster.md explains their limits.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from physar_ray.config import Config, OptimConfig
from physar_ray.optim.deepspeed import deepspeed_config
from physar_ray.optim.step import StepShape
from physar_ray.plan.memory import (DTYPE_BYTES, GB, GPU_OVERHEAD, VLLM_BLOCK, activation_bytes, adamw_state_bytes,
                                    kv_cache_bytes, layer_activation_bytes, logits_bytes, partitioned,
                                    zero_buffer_bytes)
from physar_ray.plan.model_shape import LMShape, TokenizerShape, lm_shape, tokenizer_shape
from physar_ray.tokenizer.ddt import CHUNK_FRAMES

TRANSIENT = ("activations", "logits")
"""Parts a training rank frees between steps (a colocated vLLM takes the GPU then)."""
OVERHEAD = "overhead"
"""Label of memory.GPU_OVERHEAD: CUDA context, NCCL buffers, fragmentation (vLLM: CUDA graphs, activations)."""


@dataclass(frozen=True)
class GPUSlot:
    """The GPU a worker lands on: model name, memory in bytes and the fraction of it the worker asks for."""

    name: str
    memory: float
    share: float = 1.0

    @property
    def usable(self) -> float:
        """Bytes the worker may use: its share of the GPU (a whole one for one GPU or more)."""
        return self.memory * min(self.share, 1.0)

    @property
    def label(self) -> str:
        size = f"{self.memory / GB:g} GB {self.name}"
        return size if self.share >= 1 else f"{self.share:g} of a {size} = {self.usable / GB:.1f} GB"


@dataclass(frozen=True)
class Estimate:
    """What one GPU must hold for one worker, against what it may use."""

    what: str
    parts: tuple[tuple[str, float], ...]
    """(label, bytes), in the order printed."""
    limit: float
    """Bytes it may use: the GPU (or the worker's share of it), or vLLM's budget."""
    limit_label: str
    fixes: tuple[str, ...] = ()
    """Config changes that lower the need, most effective first."""
    conflict: str = ""
    """A reason it cannot run whatever the sizes (a vLLM budget beyond the actor's share of its GPU)."""

    @property
    def total(self) -> float:
        return sum(b for _, b in self.parts)

    @property
    def fits(self) -> bool:
        return not self.conflict and self.total <= self.limit


class Models:
    """The run's LM and tokenizer shapes, counted on first use (a CPU-only plan never builds them)."""

    def __init__(self, cfg: Config, model_config: str = "") -> None:
        self.cfg, self.model_config = cfg, model_config

    @functools.cached_property
    def lm(self) -> LMShape:
        return lm_shape(self.cfg, self.model_config)

    @functools.cached_property
    def tokenizer(self) -> TokenizerShape:
        return tokenizer_shape(self.cfg)

    def counted(self) -> dict[str, LMShape | TokenizerShape]:
        """The shapes some estimate has used so far, by name (lm, tokenizer)."""
        return {name: self.__dict__[name] for name in ("lm", "tokenizer") if name in self.__dict__}


def training_parts(step: OptimConfig, shape: StepShape, lm: LMShape, positions: int, checkpointing: bool,
                   lora: bool = False) -> list[tuple[str, float]]:
    """One of shape.world_size data-parallel ranks of ``step`` (sft or grpo.learner) training ``lm`` (with LoRA
    adapters when ``lora``) on shape.micro_batch_size sequences a micro-step, ``positions`` of them scored by the
    output layer."""
    ranks = shape.world_size
    w = DTYPE_BYTES[step.dtype_name]
    trainable = lm.lora_trainable if lora else lm.parameters
    weights = lm.parameters + (lm.lora_trainable if lora else 0)
    if step.backend == "ddp":  # autocast keeps fp32 weights; DDP's buckets hold a second copy of the gradients
        states = [("weights", weights * 4.0), ("gradients", trainable * 4.0),
                  ("optimizer", adamw_state_bytes(trainable, False)), ("all-reduce buckets", trainable * 4.0)]
    else:
        z = step.zero_stage
        bucket = deepspeed_config(step, shape, lm.parameters)["zero_optimization"]["reduce_bucket_size"]
        states = [("weights", partitioned(weights * w, "weights", z, ranks)),
                  ("gradients", partitioned(trainable * w, "gradients", z, ranks)),
                  ("optimizer", partitioned(adamw_state_bytes(trainable, w == 2), "optimizer", z, ranks)),
                  ("ZeRO buffers", zero_buffer_bytes(z, bucket, lm.largest_tensor, w))]
    b, s = shape.micro_batch_size, lm.sequence_length
    return states + [("activations", activation_bytes(s, b, lm.hidden_size, lm.num_layers, w, checkpointing)),
                     ("logits", logits_bytes(b, positions, lm.vocab_size, w))]


def training_fixes(prefix: str, step: OptimConfig, shape: StepShape, checkpointing: bool, batch_hint: str,
                   ranks_hint: str) -> list[str]:
    """The knobs of a training rank's memory, most effective first."""
    ranks = shape.world_size
    deepspeed = step.backend == "deepspeed"
    return [fix for use, fix in (
        (not deepspeed and ranks > 1, f"set {prefix}.backend=deepspeed (ZeRO partitions the model states)"),
        (deepspeed and step.zero_stage < 3, f"set {prefix}.zero_stage=3"),
        (not checkpointing, f"set {prefix}.gradient_checkpointing=true"),
        (shape.micro_batch_size > 1, batch_hint),
        (deepspeed and step.zero_stage > 0, ranks_hint),
    ) if use]


def _divisors_above(n: int, above: int) -> str:
    return ", ".join(str(d) for d in range(above + 1, n + 1) if n % d == 0)


def sft_worker(cfg: Config, models: Models, gpu: GPUSlot) -> list[Estimate]:
    """An SFT rank: sft.batch_size whole videos a micro-step, every position scored (HF's default logits)."""
    sft, lm = cfg.sft, models.lm
    shape = StepShape(sft.batch_size, sft.grad_accum, sft.num_workers)
    parts = training_parts(sft, shape, lm, lm.sequence_length, sft.gradient_checkpointing, sft.lora)
    fixes = training_fixes("sft", sft, shape, sft.gradient_checkpointing,
                           f"lower sft.batch_size (now {sft.batch_size}; raise sft.grad_accum to keep the batch)",
                           f"raise sft.num_workers (now {sft.num_workers})")
    return [Estimate("SFT worker", (*parts, (OVERHEAD, GPU_OVERHEAD)), gpu.usable, gpu.label,
                     (*fixes, "use GPUs with more memory"))]


def _learner(cfg: Config, lm: LMShape) -> tuple[list[tuple[str, float]], list[str]]:
    """A learner rank's parts (policy + the reference when it shares the GPU) and its fixes."""
    g, learner = cfg.grpo, cfg.grpo.learner
    shape = StepShape(learner.micro_batch_size, g.grad_accum, learner.num_workers)
    parts = training_parts(learner, shape, lm, lm.target_codes + 1, learner.gradient_checkpointing)
    shared_reference = g.kl.beta > 0 and learner.reference == "same"
    if shared_reference:  # a deep copy of the policy as loaded (fp32), never partitioned
        parts.append(("reference policy (fp32)", lm.parameters * 4.0))
    more = _divisors_above(g.batch_size, learner.num_workers)
    fixes = training_fixes("grpo.learner", learner, shape, learner.gradient_checkpointing,
                           f"lower grpo.learner.micro_batch_size (now {learner.micro_batch_size})",
                           f"raise grpo.learner.num_workers (now {learner.num_workers}; a divisor of "
                           f"grpo.batch_size={g.batch_size}: {more})")
    if shared_reference:
        fixes.insert(0, "set grpo.learner.reference=cpu")
    return parts, fixes


def learner_rank(cfg: Config, models: Models, gpu: GPUSlot) -> list[Estimate]:
    """A GRPO learner rank: micro_batch_size videos a pass, the generated positions scored (logits_to_keep)."""
    parts, fixes = _learner(cfg, models.lm)
    return [Estimate("learner rank", (*parts, (OVERHEAD, GPU_OVERHEAD)), gpu.usable, gpu.label,
                     (*fixes, "use GPUs with more memory"))]


def serving(what: str, engine: str, lm: LMShape, sequences: int, utilization: float, keys: dict[str, str],
            gpu: GPUSlot) -> Estimate:
    """An engine generating ``sequences`` videos at once. vLLM (bf16) must fit weights, its paged KV cache and its
    own overhead inside its budget, utilization × the GPU; the torch engine holds the fp32 weights as loaded, an
    fp32 KV cache and the last position's logits inside the actor's share of the GPU."""
    s = lm.sequence_length
    if engine == "vllm":
        parts = (("weights (bf16)", lm.parameters * 2.0),
                 (f"KV cache ({sequences} × {s} tokens)", kv_cache_bytes(sequences, s, lm.kv_elements_per_token, 2,
                                                                     VLLM_BLOCK)),
                 (OVERHEAD, GPU_OVERHEAD))
        conflict = "" if utilization <= gpu.share else (
            f"{keys['utilization']}={utilization} asks vLLM for more than the actor's {gpu.share:g} of its GPU: "
            f"set it to at most {gpu.share:g}")
        raise_budget = (f"raise {keys['utilization']} (now {utilization:g})",) if utilization < 0.95 else ()
        budget = utilization * gpu.memory
        return Estimate(what, parts, budget, f"vLLM's budget {utilization:g} × {gpu.memory / GB:g} GB {gpu.name} = "
                        f"{budget / GB:.1f} GB",
                        (*raise_budget, f"lower {keys['sequences']}", "use GPUs with more memory"), conflict)
    parts = (("weights (fp32)", lm.parameters * 4.0),
             (f"KV cache ({sequences} × {s} tokens, fp32)", kv_cache_bytes(sequences, s, lm.kv_elements_per_token, 4)),
             ("logits of the last position (fp32)", sequences * lm.vocab_size * 4.0), (OVERHEAD, GPU_OVERHEAD))
    return Estimate(what, parts, gpu.usable, gpu.label,
                    (f"lower {keys['sequences']}", f"set {keys['engine']}=vllm (bf16 weights, paged KV cache)"))


GENERATE_KEYS = {"utilization": "generate.gpu_memory_utilization", "engine": "generate.engine",
                 "sequences": "generate.batch_size"}
ROLLOUT_KEYS = {"utilization": "grpo.rollout.gpu_memory_utilization", "engine": "grpo.rollout.engine",
                "sequences": "the videos per rollout actor (raise grpo.rollout.num_workers)"}


def generation_actor(cfg: Config, models: Models, gpu: GPUSlot) -> list[Estimate]:
    """The engine of `physar eval generate` / `physar eval model`: batch_size prompts × samples_per_prompt at once."""
    gen = cfg.generate
    return [serving("generation actor", gen.engine, models.lm, gen.batch_size * gen.samples_per_prompt,
                    gen.gpu_memory_utilization, GENERATE_KEYS, gpu)]


def _rollout_videos(cfg: Config) -> int:
    """Videos one rollout actor generates at once: its share of the step's prompts × g."""
    return cfg.grpo.batch_size // cfg.grpo.rollout.num_workers


def rollout_actor(cfg: Config, models: Models, gpu: GPUSlot) -> list[Estimate]:
    """A GRPO rollout actor on a GPU of its own."""
    r = cfg.grpo.rollout
    return [serving("rollout actor", r.engine, models.lm, _rollout_videos(cfg), r.gpu_memory_utilization,
                    ROLLOUT_KEYS, gpu)]


def colocated_pair(cfg: Config, models: Models, gpu: GPUSlot) -> list[Estimate]:
    """Learner rank i and rollout actor i on one GPU. vLLM sleeps while the learner updates, but claims its whole
    budget when it wakes, while the learner's states and its allocator's cached activations stay: the GPU must
    hold both, and vLLM's own weights and KV cache must fit inside its budget (the second estimate). A torch
    engine holds what :func:`serving` counts all the time."""
    r = cfg.grpo.rollout
    parts, fixes = _learner(cfg, models.lm)
    rollout = serving("rollout actor (colocated)", r.engine, models.lm, _rollout_videos(cfg), r.gpu_memory_utilization,
                      ROLLOUT_KEYS, gpu)
    vllm = r.engine == "vllm"
    engine = (f"vLLM's budget ({r.gpu_memory_utilization:g} of the GPU)", rollout.limit) if vllm else \
        ("torch rollout engine", rollout.total)
    lower = (f"lower grpo.rollout.gpu_memory_utilization (now {r.gpu_memory_utilization:g})",) if vllm else ()
    pair = Estimate("learner rank + rollout actor (colocated)", (*parts, (OVERHEAD, GPU_OVERHEAD), engine), gpu.usable,
                    gpu.label, (*lower, *fixes, "set grpo.colocate=false (rollout actors on GPUs of their own)"))
    return [pair, rollout] if vllm else [pair]


def tokenizer_worker(cfg: Config, models: Models, gpu: GPUSlot) -> list[Estimate]:
    """Tokenizer training: fp32 weights, gradients and AdamW state (bf16 autocast on GPU), one flat gradient copy
    for the all-reduce with several workers, activations of its transformer blocks and full-frame convolutions."""
    tok, t = cfg.tokenizer, models.tokenizer
    b, p = tok.batch_size, t.parameters
    parts = [("weights", (p + t.frozen_parameters) * 4.0), ("gradients", p * 4.0),
             ("optimizer", adamw_state_bytes(p, False))]
    if tok.num_workers > 1:
        parts.append(("all-reduce buffer", p * 4.0))
    activations = sum(layer_activation_bytes(s, b, h, 2) for s, h in t.blocks) + 2 * b * t.pixels * t.pixel_channels * 2
    parts += [("activations", activations), (OVERHEAD, GPU_OVERHEAD)]
    return [Estimate("tokenizer training worker", tuple(parts), gpu.usable, gpu.label,
                     (f"lower tokenizer.batch_size (now {b}; raise tokenizer.num_workers to keep the global batch)",
                      "use GPUs with more memory"))]


def tokenizer_actor(cfg: Config, models: Models, gpu: GPUSlot) -> list[Estimate]:
    """An encode / reconstruct actor: fp32 weights and, for one chunk of CHUNK_FRAMES frames, at most what training
    would store for its largest block or its full-frame convolutions (inference keeps one block's tensors at a time)."""
    t = models.tokenizer
    blocks = max((layer_activation_bytes(s, CHUNK_FRAMES, h, 4) for s, h in t.blocks), default=0.0)
    convs = 2 * CHUNK_FRAMES * t.pixels * t.pixel_channels * 4
    parts = (("weights (fp32)", (t.parameters + t.frozen_parameters) * 4.0),
             (f"activations ({CHUNK_FRAMES} frames)", max(blocks, convs)), (OVERHEAD, GPU_OVERHEAD))
    fixes = ("set tokenizer.num_gpus_per_actor=1 (a whole GPU each)",) if gpu.share < 1 else ()
    return [Estimate("encode / reconstruct actor", parts, gpu.usable, gpu.label,
                     (*fixes, "use GPUs with more memory"))]


Estimator = Callable[[Config, Models, GPUSlot], list[Estimate]]
ESTIMATES: dict[str, Estimator] = {
    "tokenizer training worker": tokenizer_worker,
    "encode actor": tokenizer_actor,
    "reconstruct actor": tokenizer_actor,
    "SFT worker": sft_worker,
    "generation actor": generation_actor,
    "rollout actor": rollout_actor,
    "learner rank": learner_rank,
    "rollout actor + learner rank (colocated)": colocated_pair,
}
"""Memory estimators of the GPU demands of resources.stage_demands, by the demand's name."""

"""GPU memory of training and serving a transformer, one formula per quantity (bytes, per GPU).

Sources: ZeRO (Rajbhandari et al. 2020, §3 and §5: model states of mixed-precision AdamW are
2Ψ + 2Ψ + KΨ bytes for Ψ parameters, K = 12, and stage 1 / 2 / 3 partitions the optimizer state /
+ gradients / + weights over the N_d data-parallel ranks); activations from Korthikanti et al. 2022
("Reducing Activation Recomputation in Large Transformer Models", eq. 1); the KV cache as vLLM
sizes it. Sizes are in bytes; the planner prints GB = 1e9 bytes.
"""

from __future__ import annotations

import math

GB = 1e9
"""Bytes per GB, the unit of every number `physar plan` prints (GPU sizes are nominal GB as sold)."""
DTYPE_BYTES = {"bf16": 2, "fp32": 4}
"""Bytes per element of a training precision (config precision / dtype_name)."""
GPU_OVERHEAD = 2.0 * GB
"""Per process on a GPU and outside every estimate: the CUDA context and kernels (≈ 0.5-1 GB with torch), NCCL's
buffers (≈ 0.5 GB) and the caching allocator's fragmentation. vLLM counts its own inside its budget."""
VLLM_BLOCK = 16
"""Tokens per block of vLLM's paged KV cache (its default block_size)."""
ZERO_STAGE_OF = {"optimizer": 1, "gradients": 2, "weights": 3}
"""The first ZeRO stage that partitions each kind of model state over the data-parallel ranks."""


def adamw_state_bytes(params: int, mixed_precision: bool) -> float:
    """AdamW's state for ``params`` trainable parameters: m and v in fp32 (8 B each parameter), plus the fp32
    master copy of the weights under 16-bit training (4 B more): K = 12 (mixed) or 8 (fp32) bytes per parameter."""
    return params * (12 if mixed_precision else 8)


def partitioned(nbytes: float, kind: str, zero_stage: int, ranks: int) -> float:
    """A model state's bytes on one rank: ``nbytes / ranks`` once ZeRO's stage partitions ``kind`` (optimizer at
    stage ≥ 1, gradients ≥ 2, weights ≥ 3), else all of it (every rank holds a replica)."""
    return nbytes / ranks if zero_stage >= ZERO_STAGE_OF[kind] else nbytes


def zero_buffer_bytes(zero_stage: int, bucket: int, largest_tensor: int, dtype_bytes: int) -> float:
    """DeepSpeed's working buffers in the training precision: the gradient reduce bucket (``bucket`` elements),
    the all-gather bucket of the updated weights at stages 1-2, and at stage 3 the gathered weights of the module
    computing and the one prefetched (two of the largest tensors, the embeddings of an LLM)."""
    if zero_stage == 0:
        return bucket * dtype_bytes
    if zero_stage < 3:
        return 2 * bucket * dtype_bytes
    return (bucket + 2 * largest_tensor) * dtype_bytes


def layer_activation_bytes(tokens: int, batch: int, hidden: int, dtype_bytes: int) -> float:
    """Activations one transformer layer keeps for its backward pass: 34·s·b·h bytes in 16-bit for s tokens,
    b sequences, width h (Korthikanti et al. 2022, eq. 1: s·b·h·(34 + 5·a·s/h); the 5·a·s/h part holds the
    a attention-score matrices, which fused attention (torch's scaled_dot_product_attention, HF's default
    ``sdpa`` and the tokenizer's blocks) recomputes instead of storing). Scaled by dtype_bytes / 2 for fp32."""
    return 34 * tokens * batch * hidden * dtype_bytes / 2


def activation_bytes(tokens: int, batch: int, hidden: int, layers: int, dtype_bytes: int,
                     checkpointing: bool) -> float:
    """Activations of a stack of ``layers`` layers: every layer's (layers × layer_activation_bytes); with
    gradient checkpointing only each layer's input, s·b·h elements per layer, plus one layer's activations
    recomputed at a time in the backward pass."""
    one = layer_activation_bytes(tokens, batch, hidden, dtype_bytes)
    if checkpointing:
        return layers * tokens * batch * hidden * dtype_bytes + one
    return layers * one


def logits_bytes(batch: int, positions: int, vocab: int, dtype_bytes: int) -> float:
    """The output layer's b·n·V logits for n scored positions: kept in the compute dtype, upcast to fp32 for the
    log-softmax (whose fp32 output the loss keeps), then the fp32 gradient and its cast back: b·n·V·(2·w + 8) bytes
    (12 per logit in bf16)."""
    return batch * positions * vocab * (2 * dtype_bytes + 8)


def kv_cache_bytes(sequences: int, tokens: int, kv_elements_per_token: int, dtype_bytes: int, block: int = 1) -> float:
    """Keys and values of ``sequences`` sequences of ``tokens`` tokens: 2·layers·kv_heads·head_dim elements a token
    (``kv_elements_per_token``) × dtype_bytes, tokens rounded up to whole blocks (vLLM's are VLLM_BLOCK tokens)."""
    return sequences * block * math.ceil(tokens / block) * kv_elements_per_token * dtype_bytes

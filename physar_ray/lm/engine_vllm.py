"""The GenerationEngine on vLLM (GPU): visual codes via ``SamplingParams(allowed_token_ids=...)``.

``import vllm`` happens inside the functions, so this module imports on a CPU-only machine.
The model folder must be an HF checkpoint written by `physar sft train` (its config.json holds
``physar_visual``); prompts are token ids, so vLLM never needs the text tokenizer.
vLLM reports the log-probability of each chosen token; with ``logprobs_mode="processed_logprobs"``
that is the distribution after temperature / top-k / top-p, the same support as
``sampling.chosen_logprobs`` (SPEC §6).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from physar_ray.config import SamplingConfig
from physar_ray.lm.vocab import VisualVocab


class VLLMEngine:
    """One vLLM ``LLM`` on this process's GPU, generating fixed-length visual-code continuations."""

    def __init__(self, model_dir: str, num_new_tokens: int, gpu_memory_utilization: float = 0.8,
                 version: int = 0) -> None:
        from transformers import AutoConfig
        from vllm import LLM

        self.vocab = VisualVocab.from_model_config(AutoConfig.from_pretrained(model_dir), where=model_dir)
        self.num_new_tokens = num_new_tokens
        self.version = version
        self._llm = LLM(model=model_dir, skip_tokenizer_init=True, dtype="bfloat16",
                        gpu_memory_utilization=gpu_memory_utilization, logprobs_mode="processed_logprobs")

    def generate(self, prompts: np.ndarray, n: int, sampling: SamplingConfig,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        from vllm import SamplingParams

        params = SamplingParams(
            n=n, temperature=sampling.temperature, top_k=sampling.top_k or -1, top_p=sampling.top_p, seed=seed,
            max_tokens=self.num_new_tokens, min_tokens=self.num_new_tokens, ignore_eos=True,
            allowed_token_ids=list(self.vocab.code_ids), logprobs=0, detokenize=False,
        )
        outputs = self._llm.generate([{"prompt_token_ids": p.tolist()} for p in np.asarray(prompts)], params,
                                     use_tqdm=False)
        samples = [s for out in outputs for s in out.outputs]
        ids = np.array([s.token_ids for s in samples], dtype=np.int64)
        logprobs = np.array([[step[t].logprob for t, step in zip(s.token_ids, s.logprobs)] for s in samples],
                            dtype=np.float32)
        return ids, logprobs

    def load_weights(self, state: dict[str, Any], version: int) -> None:
        items = list(state.items())
        self._llm.apply_model(lambda model: model.load_weights(weights=items))
        self.version = version

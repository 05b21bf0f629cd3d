"""Generation engines: one Protocol, and the batched torch engine with a KV cache (CPU or GPU).

Both engines take prompts of LM ids ``[B, P]`` (``sequence.prompt_ids``) and return
``n`` continuations per prompt of exactly ``num_new_tokens`` visual-code ids, rows ordered
prompt-major (prompt 0's n samples first), with the log-probability of each chosen token
under the restricted support of ``sampling.sample_codes``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from physar_ray.config import SamplingConfig
from physar_ray.lm.sampling import sample_codes
from physar_ray.lm.vocab import VisualVocab


class WeightMismatchError(ValueError):
    """A weight update whose tensor names or shapes differ from the model an engine serves."""


def check_weights(served: Mapping[str, Sequence[int]], update: Mapping[str, Sequence[int]], what: str,
                  optional: Collection[str] = ()) -> None:
    """Fail, naming the first differences, when ``update`` (name → shape) is not the served model's weights.

    ``optional`` names (an output embedding tied to the input one) may be absent on either side.
    """
    missing = [n for n in served if n not in update and n not in optional]
    unexpected = [n for n in update if n not in served and n not in optional]
    shapes = [f"{n} {list(update[n])} (served {list(served[n])})"
              for n in served if n in update and tuple(update[n]) != tuple(served[n])]
    if missing or unexpected or shapes:
        raise WeightMismatchError(
            f"{what} do not match the served model: missing {missing[:3]}, unexpected {unexpected[:3]}, "
            f"other shapes {shapes[:3]}: the learner must train the checkpoint the engine serves "
            "(start GRPO with the same --model)")


@runtime_checkable
class GenerationEngine(Protocol):
    """What rollout workers and `physar eval generate` need from an inference engine."""

    version: int
    """Version of the weights currently loaded (learner step that produced them)."""

    def generate(self, prompts: np.ndarray, n: int, sampling: SamplingConfig,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """prompts: [B, P] LM ids → (ids [B·n, G] int64, logprobs [B·n, G] float32)."""
        ...

    def load_weights(self, state: dict[str, torch.Tensor], version: int) -> None:
        """Replace the policy weights (a full HF state dict) and record their version."""
        ...

    def sleep(self) -> None:
        """Free the device memory the engine holds between calls (colocated with a learner)."""
        ...

    def wake_up(self) -> None:
        """Take the memory back before the next weight load or generate call."""
        ...


class TorchEngine:
    """Batched decoding with HF's KV cache: one prefill over the prompts, then one token per step.

    Faster than ``model.generate`` because the sampler touches only the C visual logits
    (``logits_to_keep=1`` and a slice, instead of logits processors over the whole vocabulary)
    and the loop carries no stopping criteria: the length is fixed. Deterministic given the seed.
    """

    def __init__(self, model: torch.nn.Module, vocab: VisualVocab, num_new_tokens: int, version: int = 0) -> None:
        self.model = model.eval()
        self.vocab = vocab
        self.num_new_tokens = num_new_tokens
        self.version = version
        self.home = self.device
        """Where the weights live while awake."""

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.inference_mode()
    def generate(self, prompts: np.ndarray, n: int, sampling: SamplingConfig,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        from transformers import DynamicCache

        x = torch.as_tensor(np.asarray(prompts), dtype=torch.long, device=self.device).repeat_interleave(n, dim=0)
        generator = torch.Generator(self.device).manual_seed(seed)
        ids = torch.empty(x.shape[0], self.num_new_tokens, dtype=torch.long, device=self.device)
        logprobs = torch.empty(ids.shape, dtype=torch.float32, device=self.device)
        cache = DynamicCache(config=self.model.config)
        logits = self.model(input_ids=x, past_key_values=cache, use_cache=True, logits_to_keep=1).logits[:, -1]
        for step in range(self.num_new_tokens):
            ids[:, step], logprobs[:, step] = sample_codes(logits, self.vocab, sampling, generator)
            if step + 1 < self.num_new_tokens:
                logits = self.model(input_ids=ids[:, step: step + 1], past_key_values=cache, use_cache=True).logits[:, -1]
        return ids.cpu().numpy(), logprobs.cpu().numpy()

    def load_weights(self, state: dict[str, Any], version: int) -> None:
        served = {name: tuple(t.shape) for name, t in self.model.state_dict().items()}
        check_weights(served, {name: tuple(t.shape) for name, t in state.items()}, f"weights version {version}",
                      optional=set(getattr(self.model, "_tied_weights_keys", None) or {}))
        self.model.load_state_dict(state, strict=False)
        self.version = version

    def sleep(self) -> None:
        """Weights to host memory while a colocated learner uses the GPU (nothing to free on CPU)."""
        if self.home.type == "cuda":
            self.model.to("cpu")
            torch.cuda.empty_cache()

    def wake_up(self) -> None:
        self.model.to(self.home)

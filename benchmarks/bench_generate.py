"""Our KV-cache TorchEngine vs `transformers` `generate`, same model, same sampling (top-k/top-p/τ,
text tokens masked), same prompts; prints videos/s of each and the ratio (target ≥ 1.5×).

The model is a small Llama (4 layers, width 256) whose vocabulary holds 32k text ids plus the 256
visual codes, as an extended pretrained LM would; HF masks text tokens with a logits processor.
Run: .venv/bin/python benchmarks/bench_generate.py [--batch 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from physar_ray.config import SamplingConfig, SFTConfig, load
from physar_ray.lm.engine import TorchEngine
from physar_ray.lm.model import SCRATCH_CONFIGS
from physar_ray.lm.sequence import VideoLayout, prompt_ids
from physar_ray.lm.vocab import extend_vocabulary


def hf_generate(model, prompts: torch.Tensor, new_tokens: int, sampling: SamplingConfig, allowed: range):
    from transformers import LogitsProcessor, LogitsProcessorList

    class VisualOnly(LogitsProcessor):
        def __call__(self, input_ids, scores):
            masked = torch.full_like(scores, float("-inf"))
            masked[:, allowed.start: allowed.stop] = scores[:, allowed.start: allowed.stop]
            return masked

    return model.generate(input_ids=prompts, attention_mask=torch.ones_like(prompts), do_sample=True,
                          temperature=sampling.temperature, top_k=sampling.top_k, top_p=sampling.top_p,
                          max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                          logits_processor=LogitsProcessorList([VisualOnly()]), pad_token_id=0, eos_token_id=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--text-vocab", type=int, default=32000)
    args = parser.parse_args()
    from transformers import AutoModelForCausalLM

    layout = VideoLayout.from_config(load(None, []))  # 3 condition frames, 29 × 16 generated tokens
    sft = SFTConfig(hidden_size=256, num_layers=4, num_heads=4)
    model = AutoModelForCausalLM.from_config(SCRATCH_CONFIGS["llama"](args.text_vocab, sft, 1024)).eval()
    vocab = extend_vocabulary(model, layout.codebook_size)
    sampling = SamplingConfig(temperature=1.0, top_k=50, top_p=0.95)
    prompts = prompt_ids(np.random.default_rng(0).integers(0, 256, (args.batch, 3, 16)), layout, vocab)
    engine = TorchEngine(model, vocab, layout.target_codes)
    x = torch.as_tensor(prompts)

    def timed(fn) -> float:
        fn()  # warm-up
        best = float("inf")
        for _ in range(args.repeats):
            t = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t)
        return best

    ours = timed(lambda: engine.generate(prompts, 1, sampling, seed=0))
    with torch.inference_mode():
        hf = timed(lambda: hf_generate(model, x, layout.target_codes, sampling, vocab.code_ids))
    print(f"torch threads {torch.get_num_threads()}, batch {args.batch}, {layout.target_codes} new tokens, "
          f"vocab {vocab.vocab_size}")
    print(f"TorchEngine (KV cache)      {ours:7.2f} s  {args.batch / ours:6.2f} videos/s")
    print(f"transformers generate       {hf:7.2f} s  {args.batch / hf:6.2f} videos/s")
    print(f"ratio (ours / HF speed)     {hf / ours:7.2f}x")


if __name__ == "__main__":
    main()

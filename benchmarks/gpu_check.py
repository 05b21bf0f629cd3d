"""What runs on one GPU without Ray, checked in one go, results as JSON: the generation engines (vLLM where it
is installed, the TorchEngine always), both weight syncs into vLLM, the GRPO learner's update and the SFT loop
in bf16 (DDP and DeepSpeed ZeRO-2). Each check records ok / error and its numbers, and a failed check does
not stop the next one. Small scratch models, a few minutes in all (most of it vLLM's two start-ups).

Run on a GPU machine: python benchmarks/gpu_check.py --out runs/gpu_check   (writes gpu_check.json there)
Not covered (needs two GPUs or Ray): NCCL between the learner and vLLM's worker (NCCL refuses two ranks on one
GPU; the broadcast here runs over gloo into the worker's CUDA tensors), and the Ray actors themselves.
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
import torch

from physar_ray.config import load
from physar_ray.grpo.learner import LearnerWorker, free_port, sampler_drift, sequence_logprobs
from physar_ray.grpo.weight_sync import VLLM_RECEIVER, CollectiveSync, join_vllm_broadcast, weight_spec
from physar_ray.lm.engine import TorchEngine
from physar_ray.lm.model import build_scratch_model, save_pretrained
from physar_ray.lm.sequence import VideoLayout, prompt_ids, training_batch
from physar_ray.lm.synthetic import moving_code_videos
from physar_ray.lm.vocab import scratch_vocab
from physar_ray.train.sft import FolderReporter, loop_config, sft_loop

MODEL = ["sft.hidden_size=256", "sft.num_layers=4", "sft.num_heads=4"]
GREEDY = ["generate.sampling.temperature=0", "generate.sampling.top_k=0", "generate.sampling.top_p=1.0"]


def run_check(results: dict[str, Any], name: str, fn: Callable[[], dict[str, Any]]) -> None:
    start = time.perf_counter()
    try:
        results[name] = {"ok": True, **fn()}
    except Exception as exc:  # the report names every failure; the next check still runs
        results[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    results[name]["seconds"] = round(time.perf_counter() - start, 2)
    print(f"{name}: {'ok' if results[name]['ok'] else results[name]['error']}", flush=True)


class World:
    """The config, layout, two scratch LMs (A, B) saved as HF folders, prompts, and the engines as they start."""

    def __init__(self, root: Path) -> None:
        self.cfg = load(None, MODEL)
        self.layout = VideoLayout.from_config(self.cfg)
        self.vocab = scratch_vocab(self.layout.codebook_size)
        self.models = {}
        for name, seed in (("a", 0), ("b", 1)):
            model, _ = build_scratch_model(load(None, [*MODEL, f"sft.seed={seed}"]).sft, self.layout.codebook_size,
                                           self.layout.sequence_length(self.vocab))
            save_pretrained(model, None, root / name)
            self.models[name] = model.cuda().eval()
        self.dirs = {name: str(root / name) for name in self.models}
        codes = np.random.default_rng(0).integers(0, self.layout.codebook_size,
                                                  (8, self.layout.cond_frames, self.layout.tokens_per_frame))
        self.prompts = prompt_ids(codes, self.layout, self.vocab)
        self.sampling = self.cfg.grpo.rollout.sampling
        self.greedy = load(None, GREEDY).generate.sampling
        self.vllm: Any = None

    def learner_logp(self, model: torch.nn.Module, ids: np.ndarray, n: int) -> torch.Tensor:
        full = torch.as_tensor(np.concatenate([np.repeat(self.prompts, n, axis=0), ids], axis=1)).cuda()
        with torch.no_grad(), torch.autocast("cuda", torch.bfloat16):
            return sequence_logprobs(model, full, ids.shape[1], self.vocab, self.sampling)[0].float().cpu()


def tokens_per_s(engine: Any, w: World, n: int = 4) -> float:
    engine.generate(w.prompts, n, w.sampling)  # warm-up
    torch.cuda.synchronize()
    start = time.perf_counter()
    ids, _ = engine.generate(w.prompts, n, w.sampling, seed=1)
    return ids.size / (time.perf_counter() - start)


def check_torch_engine(w: World) -> dict[str, Any]:
    engine = TorchEngine(w.models["a"], w.vocab, w.layout.target_codes)
    ids, logprobs = engine.generate(w.prompts, 4, w.sampling)
    codes = ids - w.vocab.code_offset
    return {"tokens_per_s": tokens_per_s(engine, w), "codes_only": bool((codes >= 0).all() and (codes < 256).all()),
            "logprobs_finite": bool(np.isfinite(logprobs).all())}


def check_vllm_engine(w: World) -> dict[str, Any]:
    from physar_ray.lm.engine_vllm import VLLMEngine

    w.vllm = VLLMEngine(w.dirs["a"], w.layout, 0.3, worker_extension_cls=VLLM_RECEIVER)
    greedy, _ = w.vllm.generate(w.prompts, 1, w.greedy)
    torch_greedy, _ = TorchEngine(w.models["a"], w.vocab, w.layout.target_codes).generate(w.prompts, 1, w.greedy)
    ids, logprobs = w.vllm.generate(w.prompts, 4, w.sampling)
    drift = sampler_drift(w.learner_logp(w.models["a"], ids, 4), torch.as_tensor(logprobs))
    return {"tokens_per_s": tokens_per_s(w.vllm, w), "greedy_equal_fraction_vs_torch_fp32": float((greedy == torch_greedy).mean()),
            "codes_only": bool((ids >= w.vocab.code_offset).all()), **{f"bf16_learner_{k}": v for k, v in drift.items()}}


def check_vllm_syncs(w: World) -> dict[str, Any]:
    """File reload of weights B, then a gloo broadcast of A and of B into vLLM's worker: greedy ids against a
    fresh vLLM started from B (GPU KV blocks are 16 tokens, so the prefix cache is hit if not reset)."""
    from physar_ray.lm.engine_vllm import VLLMEngine

    engine = w.vllm
    engine.generate(w.prompts, 1, w.greedy)
    start = time.perf_counter()
    engine.load_weights(w.models["b"].state_dict(), 1)
    file_s = time.perf_counter() - start
    after_file, _ = engine.generate(w.prompts, 1, w.greedy)
    spec, port = weight_spec(w.models["b"].state_dict()), free_port()
    sender = CollectiveSync("gloo", "127.0.0.1", port, 0, 2, spec)
    with ThreadPoolExecutor(1) as pool:
        pool.submit(sender.connect)
        receive = join_vllm_broadcast(engine, "gloo", "127.0.0.1", port, 1, 2, spec)
        versions = []
        for version, name in ((2, "a"), (3, "b")):
            pushed = pool.submit(sender.push, {k: v.cpu() for k, v in w.models[name].state_dict().items()}, version)
            versions.append(receive())
            pushed.result()
    after_broadcast, _ = engine.generate(w.prompts, 1, w.greedy)
    fresh = VLLMEngine(w.dirs["b"], w.layout, 0.3)
    want, _ = fresh.generate(w.prompts, 1, w.greedy)
    fresh.close()
    return {"file_reload_s": file_s, "broadcast_versions": versions,
            "file_reload_equal_fraction_vs_fresh": float((after_file == want).mean()),
            "broadcast_equal_fraction_vs_fresh": float((after_broadcast == want).mean())}


def rollout_batch(w: World, engine: Any, n: int = 4) -> dict[str, np.ndarray]:
    ids, logprobs = engine.generate(w.prompts, n, w.sampling, seed=2)
    advantages = np.tile(np.array([1.0, -1.0, 0.5, -0.5], np.float32), len(w.prompts))
    return {"prompt_ids": np.repeat(w.prompts, n, axis=0), "ids": ids, "logprobs": logprobs, "advantages": advantages}


def check_learner(w: World, backend: str) -> dict[str, Any]:
    """One GRPO update in bf16 on a batch sampled by vLLM (or the TorchEngine), then the drift after a sync."""
    cfg = load(None, [*MODEL, "grpo.learner.use_gpu=true", "grpo.learner.precision=bf16", f"grpo.learner.backend={backend}",
                      "grpo.batch_size=32", "grpo.learner.micro_batch_size=8", "grpo.learner.warmup_steps=0"]).grpo
    learner = LearnerWorker(0, 1, w.dirs["a"], cfg)
    learner.setup("127.0.0.1", free_port())
    engine = w.vllm or TorchEngine(copy.deepcopy(w.models["a"]), w.vocab, w.layout.target_codes)
    engine.load_weights(w.models["a"].state_dict(), 0)
    metrics = learner.step(rollout_batch(w, engine))
    engine.load_weights(learner.state_dict(), 1)
    after = learner.step(rollout_batch(w, engine))
    return {"engine": type(engine).__name__, **{k: metrics[k] for k in ("loss", "ratio_min", "ratio_max", "grad_norm",
            "logprob_gap_max", "logprob_gap_mean", "sampler_ratio_mean", "learn_s")},
            "after_sync_logprob_gap_max": after["logprob_gap_max"], "after_sync_sampler_ratio_mean": after["sampler_ratio_mean"]}


def check_sft(w: World, backend: str, root: Path) -> dict[str, Any]:
    """40 optimizer steps on synthetic token videos; the loss every 10 steps must fall."""
    cfg = load(None, [*MODEL, "sft.use_gpu=true", "sft.precision=bf16", f"sft.backend={backend}", "sft.max_steps=40",
                      "sft.batch_size=8", "sft.log_every=10", "sft.checkpoint_every=40", "sft.warmup_steps=5"])
    codes = moving_code_videos(320, w.layout)
    batches = [training_batch(codes[i: i + 8], w.layout, w.vocab) for i in range(0, 320, 8)]
    folder = root / f"sft-{backend}"
    last = sft_loop(loop_config(cfg, w.vocab), batches, FolderReporter(folder))
    losses = [json.loads(line)["sft/loss"] for line in (folder / "metrics.jsonl").read_text().splitlines()]
    return {"losses_every_10_steps": losses, "tokens_per_s": last["sft/tokens_per_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for gpu_check.json")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_check needs a CUDA device (torch.cuda.is_available() is false)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__,
                               "bf16": torch.cuda.is_bf16_supported(), "vllm_installed": find_spec("vllm") is not None}
    with tempfile.TemporaryDirectory(prefix="physar-gpu-check-") as tmp:
        w = World(Path(tmp))
        run_check(results, "torch_engine", lambda: check_torch_engine(w))
        if results["vllm_installed"]:
            run_check(results, "vllm_engine", lambda: check_vllm_engine(w))
            if w.vllm is not None:
                run_check(results, "vllm_weight_syncs", lambda: check_vllm_syncs(w))
        for backend in ("ddp", "deepspeed"):
            run_check(results, f"learner_bf16_{backend}", lambda: check_learner(w, backend))
            run_check(results, f"sft_bf16_{backend}", lambda: check_sft(w, backend, Path(tmp)))
        if w.vllm is not None:
            w.vllm.close()
    (out / "gpu_check.json").write_text(json.dumps(results, indent=2, default=str))
    print(f"wrote {out / 'gpu_check.json'}: {sum(1 for v in results.values() if isinstance(v, dict) and v['ok'])} "
          f"checks ok, {sum(1 for v in results.values() if isinstance(v, dict) and not v['ok'])} failed")


if __name__ == "__main__":
    main()

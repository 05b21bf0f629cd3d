"""The presets say what they claim: paper puts every stage's model work on GPU workers of the cluster files'
node types, small on one GPU (GRPO colocated), tiny on CPUs alone."""

from __future__ import annotations

from physar_ray import resources
from physar_ray.config import load


def _model_requests(preset: str) -> dict[str, resources.Request]:
    cfg = load(preset)
    return {"tokenizer training": resources.tokenizer_worker(cfg), "encode / reconstruct": resources.tokenizer_actor(cfg),
            "sft": resources.sft_worker(cfg), "generation": resources.generation_actor(cfg),
            "rollout": resources.rollout_actor(cfg), "learner": resources.learner_rank(cfg)}


def test_paper_puts_every_model_stage_on_gpus_of_its_node_type():
    requests = _model_requests("paper")
    assert {k: r.gpus for k, r in requests.items()} == dict.fromkeys(requests, 1.0)
    train = ("tokenizer training", "sft", "learner")
    assert all(requests[k].custom == {"learner": 1.0} for k in train)
    assert all(requests[k].custom == {"rollout": 1.0} for k in requests if k not in train)
    cfg = load("paper")
    assert cfg.tokenizer.num_workers * cfg.tokenizer.batch_size == 1024  # the paper's global batch
    assert cfg.sft.num_workers * cfg.sft.batch_size * cfg.sft.grad_accum == 768
    assert cfg.grpo.rollout.num_workers == cfg.grpo.prompts_per_step == 7 and cfg.grpo.learner.zero_stage == 3
    assert cfg.generate.engine == cfg.grpo.rollout.engine == "vllm" and cfg.grpo.sync.backend == "nccl"


def test_small_is_one_gpu_with_grpo_colocated():
    requests = _model_requests("small")
    assert all(r.gpus == 1.0 and not r.custom for r in requests.values())
    cfg = load("small")
    assert cfg.grpo.colocate and cfg.grpo.rollout.num_workers == cfg.grpo.learner.num_workers == 1
    bundle = resources.colocated_bundle(cfg).bundle()
    assert bundle["GPU"] == 1.0  # rollout actor and learner share the one GPU
    assert cfg.grpo.rollout.engine == cfg.generate.engine == "vllm"


def test_tiny_asks_for_no_gpu():
    assert all(r.gpus == 0 and not r.custom for r in _model_requests("tiny").values())

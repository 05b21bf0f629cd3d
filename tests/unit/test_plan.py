"""`physar plan`: memory formulas against hand-computed numbers, the repository's cluster files, the presets'
plans and the CLI (no Ray: the planner places resources.stage_demands on node types read from files)."""

import json
from pathlib import Path

import pytest

from physar_ray import cli, config
from physar_ray.plan import memory
from physar_ray.plan.cluster_file import Cluster, ClusterFileError, NodeType, read_cluster
from physar_ray.plan.estimates import ESTIMATES, training_parts
from physar_ray.plan.model_shape import ModelConfigError, lm_shape
from physar_ray.optim.step import StepShape
from physar_ray.plan.planner import plan
from physar_ray.resources import stage_demands

ROOT = Path(__file__).resolve().parents[2]
AWS, KUBERAY, ONE_GPU = (str(ROOT / "cluster" / f) for f in ("aws.yaml", "kuberay/raycluster.yaml", "one-gpu.yaml"))
LLAMA = str(ROOT / "cluster" / "models" / "llama-3.1-8b.json")
LLAMA_PARAMS = 8_030_261_248 + 260 * 4096 * 2
"""Llama-3.1-8B (8.03e9) with SFT's 260 new embedding rows in and out: 256 codes, <|video_start|>, 3 scenarios."""
GB = 1e9


@pytest.fixture(scope="module")
def paper():
    return config.load("paper")


@pytest.fixture(scope="module")
def llama(paper):
    return lm_shape(paper, LLAMA)


def parts(step, lm, ranks, positions, checkpointing=False):
    shape = StepShape(step.batch_size, step.grad_accum, ranks)
    return dict(training_parts(step, shape, lm, positions, checkpointing, step.lora))


def test_llama_8b_counts_and_bf16_weights(llama):
    assert llama.parameters == LLAMA_PARAMS
    assert llama.added_tokens == 260 and llama.vocab_size == 128_256 + 260
    assert llama.largest_tensor == 128_516 * 4096  # the (untied) embedding matrix
    assert llama.sequence_length == 2 + 1 + 32 * 16  # BOS, <|video_start|>, scenario token, 32 frames × 16 codes
    assert llama.kv_elements_per_token == 2 * 32 * 8 * 128  # 2 · layers · kv_heads · head_dim
    assert memory.DTYPE_BYTES["bf16"] * llama.parameters / GB == pytest.approx(16.06, abs=0.01)


def test_zero2_vs_zero3_on_four_ranks(llama):
    psi = LLAMA_PARAMS
    z2, z3 = (parts(config.SFTConfig(backend="deepspeed", zero_stage=z, precision="bf16", use_gpu=True, batch_size=1),
                    llama, 4, 465) for z in (2, 3))
    # ZeRO-2: bf16 weights replicated (2Ψ), gradients 2Ψ/4, fp32 master + m + v 12Ψ/4, two 5e8-element bf16 buckets
    assert z2["weights"] == 2 * psi and z2["gradients"] == 2 * psi / 4 and z2["optimizer"] == 12 * psi / 4
    assert z2["ZeRO buffers"] == 2 * 5e8 * 2
    # ZeRO-3: the weights are partitioned too; the reduce bucket + two gathered embedding matrices
    assert z3["weights"] == 2 * psi / 4 and z3["gradients"] == 2 * psi / 4 and z3["optimizer"] == 12 * psi / 4
    assert z3["ZeRO buffers"] == (5e8 + 2 * 128_516 * 4096) * 2
    model_states = [sum(p[k] for k in ("weights", "gradients", "optimizer")) / GB for p in (z2, z3)]
    assert model_states == pytest.approx([44.17, 32.13], abs=0.01)


def test_activations_logits_and_kv_cache_of_the_paper_sft_worker(llama):
    s, b, h, layers = 515, 8, 4096, 32
    # gradient checkpointing: each layer's input (s·b·h bf16 values) + one layer's 34·s·b·h bytes
    assert memory.activation_bytes(s, b, h, layers, 2, True) == 32 * 515 * 8 * 4096 * 2 + 34 * 515 * 8 * 4096
    assert memory.activation_bytes(s, b, h, layers, 2, False) == 32 * 34 * 515 * 8 * 4096
    assert memory.logits_bytes(b, s, llama.vocab_size, 2) == 8 * 515 * 128_516 * 12  # 2 + 4 + 4 + 2 bytes a logit
    # 4 sequences of 515 tokens in vLLM blocks of 16 (528 tokens), 128 KiB a token in bf16
    assert memory.kv_cache_bytes(4, 515, llama.kv_elements_per_token, 2, memory.VLLM_BLOCK) == 4 * 528 * 131_072


def test_tiny_model_in_fp32_on_one_rank():
    cfg = config.load("tiny")
    lm = lm_shape(cfg)
    # llama 4 × 128, MLP 512, 260 ids untied: 2·260·128 + 4·(4·128² + 3·128·512 + 2·128) + 128
    assert lm.parameters == 1_116_288 and lm.sequence_length == 2 + 32 * 6
    p = parts(cfg.sft, lm, 1, lm.sequence_length)
    psi = 1_116_288
    assert (p["weights"], p["gradients"], p["optimizer"]) == (4 * psi, 4 * psi, 8 * psi)  # fp32: m + v, no master
    assert p["ZeRO buffers"] == 2 * psi * 4  # buckets capped at the model's size (optim/deepspeed.py)
    assert p["activations"] == 4 * 34 * 194 * 8 * 128 * 2  # 4 layers, fp32 = twice the 16-bit bytes
    assert p["logits"] == 8 * 194 * 260 * 16


def test_repository_cluster_files_parse():
    aws = {t.name: t for t in read_cluster(AWS).node_types}
    assert set(aws) == {"cpu_sim", "gpu_rollout", "gpu_learner"}  # the head (CPU: 0) takes no work
    assert (aws["cpu_sim"].cpus, aws["cpu_sim"].gpus, aws["cpu_sim"].max_nodes) == (32, 0, 16)
    assert (aws["gpu_rollout"].cpus, aws["gpu_rollout"].gpus, aws["gpu_rollout"].custom) == (48, 4, {"rollout": 4})
    assert (aws["gpu_rollout"].gpu.name, aws["gpu_rollout"].gpu.memory_gb) == ("L40S", 48)
    assert (aws["gpu_learner"].cpus, aws["gpu_learner"].gpus, aws["gpu_learner"].custom) == (96, 8, {"learner": 8})
    learner = aws["gpu_learner"]
    assert (learner.gpu.name, learner.gpu.memory_gb, learner.max_nodes) == ("A100", 40, 4)
    assert read_cluster(AWS).max_workers == 40
    kube = {t.name: t for t in read_cluster(KUBERAY).node_types}
    assert set(kube) == {"cpu-sim", "gpu-rollout", "gpu-learner"}
    assert (kube["cpu-sim"].cpus, kube["cpu-sim"].gpus) == (16, 0)
    assert (kube["gpu-rollout"].cpus, kube["gpu-rollout"].gpus, kube["gpu-rollout"].custom) == (16, 1, {"rollout": 1})
    assert (kube["gpu-learner"].cpus, kube["gpu-learner"].gpus, kube["gpu-learner"].custom) == (64, 8, {"learner": 8})
    assert (kube["gpu-learner"].gpu.memory_gb, kube["gpu-rollout"].gpu.name) == (40, "L40S")
    (one,) = read_cluster(ONE_GPU).node_types
    assert (one.cpus, one.gpus, one.gpu.memory_gb, one.max_nodes) == (16, 1, 24, 1)


def test_cluster_file_errors_name_the_entry_and_the_fix(tmp_path):
    aws = tmp_path / "aws.yaml"
    aws.write_text("available_node_types:\n  big: {max_workers: 2, resources: {}, "
                   "node_config: {InstanceType: x9.huge}}\n")
    with pytest.raises(ClusterFileError, match=r"available_node_types.big: instance type 'x9.huge'.*resources: \{CPU"):
        read_cluster(str(aws))
    aws.write_text("available_node_types:\n  big: {max_workers: 2, resources: {CPU: 8, GPU: 2}, "
                   "node_config: {InstanceType: x9.huge}}\n")
    (big,) = read_cluster(str(aws)).node_types
    assert (big.cpus, big.gpus, big.gpu) == (8, 2, None)  # declared resources win; GPU memory unknown
    kube = tmp_path / "rc.yaml"
    group = ("{groupName: g, maxReplicas: 2, rayStartParams: {num-cpus: '6'}, template: {spec: {nodeSelector: "
             "{nvidia.com/gpu.product: NVIDIA-X1%s}, containers: [{name: w, resources: {limits: {cpu: '500m', "
             "nvidia.com/gpu: '2'}}}]}}}")
    head = "{rayStartParams: {}, template: {spec: {containers: [{name: h, resources: {limits: {cpu: '0'}}}]}}}"
    kube.write_text(f"kind: RayCluster\nspec:\n  headGroupSpec: {head}\n  workerGroupSpecs: [{group % ''}]\n")
    with pytest.raises(ClusterFileError, match=r"workerGroupSpecs\[g\].*NVIDIA-X1.*nvidia.com/gpu.memory"):
        read_cluster(str(kube))
    kube.write_text(f"kind: RayCluster\nspec:\n  headGroupSpec: {head}\n  workerGroupSpecs: "
                    f"[{group % ', nvidia.com/gpu.memory: 40960'}]\n")
    (g,) = read_cluster(str(kube)).node_types
    assert (g.cpus, g.gpus, g.max_nodes) == (6, 2, 2)  # num-cpus beats the container's 500m
    assert g.gpu.memory_gb == pytest.approx(40960 * 2**20 / GB)


def test_paper_fits_both_cluster_files(paper):
    for path in (AWS, KUBERAY):
        result = plan(paper, read_cluster(path), LLAMA)
        assert result.fits, result.refusals
        stages = {s.name: s for s in result.stages}
        assert set(stages) == set(stage_demands(paper))
        checks = {(s, m.estimate.what): m.estimate for s, st in stages.items() for m in st.memory}
        assert all(m.estimate is not None for st in stages.values() for m in st.memory)
        assert checks[("sft", "SFT worker")].total / GB == pytest.approx(31.6, abs=0.1)
        assert checks[("grpo", "learner rank")].total / GB == pytest.approx(24.4, abs=0.1)  # 7 ZeRO-3 ranks
        assert checks[("grpo", "rollout actor")].total / GB == pytest.approx(18.3, abs=0.1)
    kube = {s.name: s for s in plan(paper, read_cluster(KUBERAY), LLAMA).stages}
    # generation, then 8 reconstruct actors: phases one after another, so 8 one-GPU pods suffice
    assert kube["eval_sft"].nodes["gpu-rollout"] == 8
    aws = {s.name: s for s in plan(paper, read_cluster(AWS), LLAMA).stages}
    assert aws["grpo"].nodes == {"cpu_sim": 1, "gpu_rollout": 2, "gpu_learner": 1}
    assert aws["sft"].nodes == {"gpu_learner": 4}


def test_refusals_name_stage_demand_and_knob(paper):
    zero2 = config.replace(paper, {"grpo.learner.zero_stage": 2, "grpo.learner.num_workers": 4})
    (line,) = plan(zero2, read_cluster(AWS), LLAMA).refusals
    assert line.startswith("grpo: learner rank needs 49.1 GB per GPU (weights 16.1, gradients 4.0, optimizer 24.1")
    assert "> 40 GB A100 on gpu_learner: set grpo.learner.zero_stage=3 or raise grpo.learner.num_workers" in line
    custom = config.replace(paper, {"run.train_resource": "trainer"})
    assert any("sft: SFT worker" in r and "'trainer'" in r and "run.train_resource=''" in r
               for r in plan(custom, read_cluster(AWS), LLAMA).refusals)
    many = config.replace(paper, {"sft.num_workers": 40})
    assert any(r.startswith("sft: 40 × SFT worker") and "only 32 fit" in r and "lower sft.num_workers" in r
               for r in plan(many, read_cluster(AWS), LLAMA).refusals)


def test_unreadable_model_path_asks_for_model_config(paper, tmp_path):
    missing = config.replace(paper, {"sft.model_path": str(tmp_path / "Llama")})
    with pytest.raises(ModelConfigError, match="--model-config"):
        plan(missing, read_cluster(AWS))


def test_tiny_fits_a_two_cpu_machine_and_not_one_cpu():
    tiny = config.load("tiny")
    two = Cluster("laptop", "local", (NodeType("local", 2.0),))
    assert plan(tiny, two).fits
    one = Cluster("laptop", "local", (NodeType("local", 1.0),))
    assert any(r.startswith("tokenizer: tokenizer training worker asks for 2 CPU") for r in plan(tiny, one).refusals)


def test_small_fits_one_24gb_gpu():
    small = config.load("small")
    result = plan(small, read_cluster(ONE_GPU))
    assert result.fits, result.refusals
    grpo = next(s for s in result.stages if s.name == "grpo")
    assert [m.estimate.what for m in grpo.memory] == ["learner rank + rollout actor (colocated)",
                                                      "rollout actor (colocated)"]
    names = {d.what for demands in stage_demands(small).values() for d in demands if d.request.gpus}
    names |= {d.what for demands in stage_demands(config.load("paper")).values() for d in demands if d.request.gpus}
    assert names <= set(ESTIMATES)


def test_cli_exit_status_text_and_json(capsys):
    assert cli.main(["plan", "--preset", "paper", "--cluster", AWS, "--model-config", LLAMA,
                     "grpo.learner.zero_stage=2", "grpo.learner.num_workers=4"]) == 1
    out = capsys.readouterr().out
    assert "refused:\n  grpo: learner rank needs" in out and "SFT worker on gpu_learner: 31.6 GB" in out
    assert cli.main(["plan", "--preset", "small", "--cluster", ONE_GPU, "--format", "json"]) == 0
    tree = json.loads(capsys.readouterr().out)
    assert tree["fits"] and tree["peak_nodes"] == {"workstation": 1} and tree["models"]["lm"]["parameters"]
    with pytest.raises(SystemExit):
        cli.main(["plan", "--help"])
    assert "nvidia.com/gpu.product" in capsys.readouterr().out

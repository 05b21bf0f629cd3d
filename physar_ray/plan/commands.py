"""`physar plan` (registered by cli.build_parser through ``add_plan_commands``)."""

from __future__ import annotations

import argparse
import sys

from physar_ray.config.args import add_config_args, config_from

DESCRIPTION = """\
Place a run's work on a cluster before starting it, and check every GPU worker's memory.

For each stage of `physar run` (data, tokenizer, tokens, sft, eval, grpo, ...) it lists what the
stage asks Ray for (the same requests the stages make: physar_ray/resources.py), which node type
of the cluster file each request lands on and how many nodes the stage needs; for the GPU workers
it estimates the memory per GPU (weights, gradients, optimizer state under the ZeRO stage,
activations, logits, KV cache, vLLM's budget) against the GPU of that node type. Exit status 0
when everything fits, 1 with one line per refusal naming the stage, the worker and the config
key to change. The numbers are estimates: docs/cluster.md says what they count and what not.

--cluster reads a Ray autoscaler YAML (cluster/aws.yaml), a KubeRay RayCluster
(cluster/kuberay/raycluster.yaml; GPU model from the nodeSelector label nvidia.com/gpu.product)
or a machine list (cluster/one-gpu.yaml); without it the plan is for this machine (its CPUs, or
run.num_cpus, and torch's CUDA GPUs). The LM's architecture comes from sft (from scratch), from
sft.model_path's config.json (local or s3://), or from --model-config when that path cannot be read.

examples:
  physar plan --preset tiny
  physar plan --preset small --cluster cluster/one-gpu.yaml
  physar plan --preset paper --cluster cluster/aws.yaml --model-config cluster/models/llama-3.1-8b.json
  physar plan --preset paper --cluster cluster/aws.yaml --model-config cluster/models/llama-3.1-8b.json \\
      grpo.learner.zero_stage=2 --format json
"""


def _plan(args: argparse.Namespace) -> int:
    from physar_ray.plan.cluster_file import local_cluster, read_cluster
    from physar_ray.plan.planner import plan
    from physar_ray.plan.render import as_json, text

    cfg = config_from(args)
    cluster = read_cluster(args.cluster) if args.cluster else local_cluster(cfg.run.num_cpus)
    result = plan(cfg, cluster, args.model_config)
    sys.stdout.write(as_json(result) if args.format == "json" else text(result))
    return 0 if result.fits else 1


def add_plan_commands(stages: argparse._SubParsersAction) -> None:
    """Register `physar plan` on the CLI's stage subparsers, with the CLI's --preset/overrides arguments."""
    p = stages.add_parser("plan", help="place a run's stages on a cluster file's node types and check GPU memory",
                          description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=_plan)
    p.add_argument("--cluster", metavar="FILE",
                   help="Ray autoscaler YAML, KubeRay RayCluster or machine list; default: this machine")
    p.add_argument("--model-config", metavar="FILE", default="",
                   help="a HF config.json of the pretrained LM, when sft.model_path cannot be read "
                        "(e.g. cluster/models/llama-3.1-8b.json)")
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    add_config_args(p)

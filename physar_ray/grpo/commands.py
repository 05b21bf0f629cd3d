"""`physar grpo` (registered by cli.build_parser through ``add_grpo_commands``).

The config comes from ``config.args.config_from`` (--preset and dotted overrides), as on every command.
"""

from __future__ import annotations

import argparse

from physar_ray.config.args import add_config_args, config_from


def _grpo(args: argparse.Namespace) -> None:
    from physar_ray.grpo.controller import run_grpo

    summary = run_grpo(config_from(args), args.model, args.tokenizer, args.data, args.out)
    first, last = summary.get("reward_first_20pct"), summary.get("reward_last_20pct")
    print(f"GRPO: {summary['steps']} steps, mean reward {first:.3f} (first 20%) -> {last:.3f} (last 20%); "
          f"policy: {summary['model']}")


def add_grpo_commands(stages: argparse._SubParsersAction) -> None:
    """Register `physar grpo` on the CLI's stage subparsers, with the CLI's --preset/overrides arguments."""
    p = stages.add_parser(
        "grpo", help="reinforce the SFT policy with physics rewards (GRPO on Ray: rollout, reward, learner actors)",
        description="Writes OUT/metrics.jsonl, reward_curve.png, checkpoints/step_N/ (HF format), result.json and "
                    "config.resolved.yaml; rerunning with the same OUT resumes from the last checkpoint.")
    p.set_defaults(func=_grpo)
    add_grpo_inputs(p, "output folder or s3:// URI")
    add_config_args(p)


def add_grpo_inputs(p: argparse.ArgumentParser, out_help: str) -> None:
    """--model, --tokenizer, --data and --out: what a GRPO run (or a sweep of them) starts from."""
    p.add_argument("--model", required=True, help="SFT checkpoint: HF folder (local or s3://) with physar_visual")
    p.add_argument("--tokenizer", required=True, help="DDT tokenizer folder (local or s3://) the model was trained on")
    p.add_argument("--data", required=True, help="video dataset (local or s3://) with rl and eval_ood splits")
    p.add_argument("--out", required=True, help=out_help)

"""`physar grpo train` (registered by cli.build_parser through ``add_grpo_commands``).

The config comes from ``config.args.config_from`` (--preset and dotted overrides), as on every command.
"""

from __future__ import annotations

import argparse

from physar_ray.config.args import add_config_args, add_input, config_from


def _grpo(args: argparse.Namespace) -> None:
    from physar_ray.grpo.controller import run_grpo

    summary = run_grpo(config_from(args), args.model, args.tokenizer, args.videos, args.out)
    first, last = summary.get("reward_first_20pct"), summary.get("reward_last_20pct")
    print(f"GRPO: {summary['steps']} steps, mean reward {first:.3f} (first 20%) -> {last:.3f} (last 20%); "
          f"policy: {summary['model']}")


def add_grpo_commands(stages: argparse._SubParsersAction) -> None:
    """Register `physar grpo train` on the CLI's stage subparsers, with the CLI's --preset/overrides arguments."""
    grpo = stages.add_parser("grpo", help="reinforce the SFT policy with physics rewards")
    cmds = grpo.add_subparsers(dest="command", required=True, metavar="COMMAND")
    text = "GRPO on Ray: vLLM or torch rollout actors, reward actors, learner actors, weights synced every step"
    p = cmds.add_parser(
        "train", help=text,
        description=f"{text}. Writes OUT/metrics.jsonl, reward_curve.png, checkpoints/step_N/ (HF format), "
                    "result.json and config.resolved.yaml; rerunning with the same OUT resumes from the last checkpoint.")
    p.set_defaults(func=_grpo)
    add_grpo_inputs(p, "the GRPO run folder")
    add_config_args(p)


def add_grpo_inputs(p: argparse.ArgumentParser, out_detail: str) -> None:
    """--model, --tokenizer, --videos and --out: what a GRPO run (or a sweep of them) starts from."""
    add_input(p, "model", "the SFT policy to start from")
    add_input(p, "tokenizer", "the one the model was trained on")
    add_input(p, "videos", "with rl (prompts) and eval_ood (held-out evaluation) splits")
    add_input(p, "out", out_detail)

"""`physar sft train`, registered on the CLI's stage parsers by the lead's cli.py.

Each command reads its config with ``config.args.command_config`` (preset + overrides, S3 settings,
``config.resolved.yaml`` written into --out).
"""

from __future__ import annotations

import argparse

from physar_ray.config.args import add_config_args, command_config


def _sft_train(args: argparse.Namespace) -> None:
    from physar_ray.train.sft_job import run_sft

    summary = run_sft(command_config(args), args.data, args.out, args.tokenizer)
    m = summary["metrics"]
    print(f"step {int(m['sft/step'])}: loss {m['sft/loss']:.4f}, {m['sft/tokens_per_s']:.0f} tokens/s; "
          f"model in {summary['model']}")


def add_sft_commands(stages: argparse._SubParsersAction) -> None:
    """Add ``sft train`` to the top-level stage subparsers."""
    sft = stages.add_parser("sft", help="supervised fine-tuning of the LM on token videos")
    cmds = sft.add_subparsers(dest="command", required=True, metavar="COMMAND")
    text = ("train a causal LM on token videos with Ray Train + DeepSpeed; checkpoints under --out/sft, "
            "the final HF model in --out/model")
    train = cmds.add_parser("train", help=text, description=text)
    train.set_defaults(func=_sft_train)
    train.add_argument("--data", required=True,
                       help="token-video Parquet (tokens column), or a video dataset with --tokenizer; local or s3://; "
                            "only its sft-split videos train when it has a split column")
    train.add_argument("--tokenizer", default=None,
                       help="DDT tokenizer folder (local or s3://): encode a video dataset on the way to the trainer "
                            "(a Ray Data actor pool), with no tokens dataset written")
    train.add_argument("--out", required=True, help="run folder or s3:// URI")
    add_config_args(train)

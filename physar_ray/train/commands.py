"""`physar sft train`, registered on the CLI's stage parsers by the lead's cli.py.

Each command reads its config with ``config.args.command_config`` (preset + overrides, S3 settings,
``config.resolved.yaml`` written into --out).
"""

from __future__ import annotations

import argparse

from physar_ray.config.args import add_config_args, add_input, command_config


def _sft_train(args: argparse.Namespace) -> None:
    from physar_ray.train.sft_job import run_sft

    if args.videos and not args.tokenizer:
        raise ValueError("sft train --videos needs --tokenizer (the DDT tokenizer that encodes them on the way "
                         "to the trainer); or pass --tokens with a token dataset")
    summary = run_sft(command_config(args), args.tokens or args.videos, args.out, args.tokenizer)
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
    data = train.add_mutually_exclusive_group(required=True)
    for name in ("tokens", "videos"):
        add_input(data, name, "only its sft-split videos train when it has a split column", required=False)
    add_input(train, "tokenizer", "with --videos: encodes them on the way to the trainer (a Ray Data actor pool), "
                                  "with no tokens dataset written", required=False)
    add_input(train, "out", "the run folder: checkpoints under OUT/sft, the final HF model in OUT/model")
    add_config_args(train)

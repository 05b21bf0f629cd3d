"""`physar sft train`, registered on the CLI's stage parsers by the lead's cli.py.

The CLI sits above this layer, so its ``add_config_args`` helper is passed in rather than imported.
Each command loads the config (preset + overrides) and writes ``config.resolved.yaml`` into --out.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from physar_ray import storage
from physar_ray.config import Config, dump, load


def command_config(args: argparse.Namespace) -> Config:
    """The preset as given (none: the built-in defaults) + overrides, S3 settings applied,
    config.resolved.yaml written into --out."""
    cfg = load(args.preset, args.overrides)
    storage.configure(cfg.storage.s3_endpoint, cfg.storage.s3_region)
    storage.write_text(storage.join(args.out, "config.resolved.yaml"), dump(cfg))
    return cfg


def _sft_train(args: argparse.Namespace) -> None:
    from physar_ray.train.sft_job import run_sft

    summary = run_sft(command_config(args), args.data, args.out, args.tokenizer)
    m = summary["metrics"]
    print(f"step {int(m['sft/step'])}: loss {m['sft/loss']:.4f}, {m['sft/tokens_per_s']:.0f} tokens/s; "
          f"model in {summary['model']}")


def add_sft_commands(stages: argparse._SubParsersAction,
                     add_config_args: Callable[[argparse.ArgumentParser], None]) -> None:
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

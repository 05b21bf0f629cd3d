"""`physar tokenizer train | encode | reconstruct | train-vae`, registered on the CLI's stage parsers.

Each command reads its config with ``config.args.command_config`` (preset + overrides, S3 settings,
``config.resolved.yaml`` written into --out).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from physar_ray.config.args import add_config_args, add_input, command_config


def _train(args: argparse.Namespace) -> None:
    from physar_ray.train.ddt_job import run_ddt_training

    summary = run_ddt_training(command_config(args), args.out, args.videos)
    m = summary["metrics"]
    print(f"step {summary['step']} in {summary['train_s']:.0f} s ({summary['wall_s']:.0f} s wall): "
          f"loss {m['ddt/loss']:.3e}, {int(m['ddt/codes_used'])} codes used; tokenizer in {summary['tokenizer']}")


def _encode(args: argparse.Namespace) -> None:
    from physar_ray.data.tokenize import encode

    files = encode(command_config(args), args.videos, args.tokenizer, args.out)
    print(f"wrote {files} token-video files under {args.out}")


def _reconstruct(args: argparse.Namespace) -> None:
    from physar_ray.data.tokenize import reconstruct

    files = reconstruct(command_config(args), args.tokens, args.tokenizer, args.out)
    print(f"wrote {files} decoded video files under {args.out}; score them with `physar eval score --videos {args.out}`")


def _train_vae(args: argparse.Namespace) -> None:
    from physar_ray.train.vae import train_vae

    cfg = command_config(args)
    summary = train_vae(cfg.data, cfg.vae, args.out, seed=cfg.data.seed)
    print(f"step {summary['step']}: recon MSE {summary['first']['vae/recon_mse']:.2e} → "
          f"{summary['last']['vae/recon_mse']:.2e}; use it with tokenizer.family=paper tokenizer.latent=vae "
          f"tokenizer.vae_path={args.out}")


def add_tokenizer_commands(stages: argparse._SubParsersAction) -> None:
    """Add ``tokenizer train | encode | reconstruct | train-vae`` to the top-level stage subparsers."""
    group = stages.add_parser("tokenizer", help="train the DDT tokenizer, or turn videos into tokens and back")
    cmds = group.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, fn: Callable, text: str) -> argparse.ArgumentParser:
        p = cmds.add_parser(name, help=text, description=text)
        p.set_defaults(func=fn)
        return p

    train = command("train", _train,
                    "train the DDT tokenizer with Ray Train (tokenizer.num_workers ranks, tokenizer.use_gpu) until "
                    "tokenizer.time_budget_s or max_steps; checkpoints under --out/train-<hash> (rerunning the same "
                    "command resumes), the tokenizer itself (model.safetensors, tokenizer.json) in --out")
    add_input(train, "out", "the tokenizer folder, e.g. runs/demo/tokenizer")
    add_input(train, "videos", "frames to train on; default: fresh frames straight from the simulator",
              required=False)
    add_config_args(train)
    enc = command("encode", _encode, "tokenize every video with a pool of tokenizer actors "
                                     "(tokenizer.encode_actors): frames → tokens int16 T×K, metadata and GT kept")
    add_input(enc, "videos")
    add_input(enc, "tokenizer")
    add_input(enc, "out", "the token-video Parquet")
    add_config_args(enc)
    rec = command("reconstruct", _reconstruct, "decode token videos back to frames (video schema, so "
                                               "`physar eval score` measures the reconstruction)")
    add_input(rec, "tokens")
    add_input(rec, "tokenizer", "the one that wrote the tokens")
    add_input(rec, "out", "the decoded videos (video schema)")
    add_config_args(rec)
    vae = command("train-vae", _train_vae, "train a small diffusers AutoencoderKL (4× down, 4 latent channels) on "
                                          "simulator frames and save_pretrained it to --out; then use "
                                          "tokenizer.latent=vae tokenizer.vae_path=OUT with tokenizer.family=paper; "
                                          "its knobs are the vae.* keys (vae.time_budget_s, vae.batch_size ...)")
    add_input(vae, "out", "the AutoencoderKL (save_pretrained)")
    add_config_args(vae)

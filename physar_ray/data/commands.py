"""`physar data generate | show` (registered by cli.build_parser through ``add_data_commands``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from physar_ray.config.args import add_config_args, command_config, config_from


def _generate(args: argparse.Namespace) -> None:
    from physar_ray.data.generate import generate

    counts = None
    if args.num_videos is not None:
        counts = {f"data.num_videos.{split}": args.num_videos for split in ("sft", "rl", "eval_iid", "eval_ood")}
    cfg = config_from(args, **{"data.scenarios": args.scenarios, "data.splits": args.splits}, **(counts or {}))
    manifest = generate(cfg, args.out)
    for scenario, splits in sorted(manifest["counts"].items()):
        rejected = manifest["rejected"].get(scenario, {})
        print(f"{scenario:10s} {splits}  rejected: {sum(rejected.values())} {rejected or ''}")
    print(f"wrote {len(manifest['shards'])} shards and manifest.json under {args.out}")


def _show(args: argparse.Namespace) -> None:
    from physar_ray.report.samples import show

    command_config(args)
    written = show(args.data, args.out, args.per_scenario)
    print(f"wrote {len(written)} files under {args.out}")


def add_data_commands(stages: argparse._SubParsersAction) -> None:
    """Register `physar data generate | show` on the CLI's stage subparsers."""
    data = stages.add_parser("data", help="simulate ball videos to Parquet, or show samples")
    cmds = data.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, fn: Callable[[argparse.Namespace], None], text: str) -> argparse.ArgumentParser:
        p = cmds.add_parser(name, help=text, description=text)
        p.set_defaults(func=fn)
        return p

    gen = command("generate", _generate,
                  "simulate + render videos with Ray Data into Parquet shards under --out (local or s3://); "
                  "rerunning the same command writes only missing shards")
    gen.add_argument("--out", required=True, help="output folder or s3://bucket/prefix")
    gen.add_argument("--scenarios", help="comma-separated subset of uniform,parabola,collision")
    gen.add_argument("--splits", help="comma-separated subset of sft,rl,eval_iid,eval_ood")
    gen.add_argument("--num-videos", type=int, help="videos per scenario and split (overrides the preset's counts)")
    add_config_args(gen)
    show = command("show", _show,
                   "PNG frame grid per scenario with the true trajectory drawn over it, and one GIF per sample")
    show.add_argument("--data", required=True, help="dataset folder or s3:// URI written by `physar data generate`")
    show.add_argument("--out", required=True, help="output folder or s3:// URI")
    show.add_argument("--per-scenario", type=int, default=4, help="samples per scenario (default 4)")
    add_config_args(show)

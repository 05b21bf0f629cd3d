"""`physar data generate | show` (registered by cli.build_parser through ``add_data_commands``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from physar_ray.config.args import add_config_args, add_input, command_config, config_from


def _generate(args: argparse.Namespace) -> None:
    from physar_ray.data.generate import generate

    manifest = generate(config_from(args), args.out)
    for scenario, splits in sorted(manifest["counts"].items()):
        rejected = manifest["rejected"].get(scenario, {})
        print(f"{scenario:10s} {splits}  rejected: {sum(rejected.values())} {rejected or ''}")
    print(f"wrote {len(manifest['shards'])} shards and manifest.json under {args.out}")


def _show(args: argparse.Namespace) -> None:
    from physar_ray.report.samples import show

    command_config(args)
    written = show(args.videos, args.out, args.per_scenario)
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
                  "rerunning the same command writes only missing shards. What to simulate is config: data.scenarios, "
                  "data.splits and data.num_videos.SPLIT, e.g. data.scenarios=[collision] data.splits=[eval_ood] "
                  "data.num_videos.eval_ood=60")
    add_input(gen, "out")
    add_config_args(gen)
    show = command("show", _show,
                   "PNG frame grid per scenario with the true trajectory drawn over it, and one GIF per sample")
    add_input(show, "videos")
    add_input(show, "out")
    show.add_argument("--per-scenario", type=int, default=4, help="samples per scenario (default 4)")
    add_config_args(show)

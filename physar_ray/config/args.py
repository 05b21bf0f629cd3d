"""One way from command-line arguments to a Config: ``--preset`` plus ``key=value`` overrides on every command."""

from __future__ import annotations

import argparse
import logging

from physar_ray import storage
from physar_ray.config.load import dump, load, preset_names, replace
from physar_ray.config.tree import Config

log = logging.getLogger("physar")

DEFAULT_PRESET = "tiny"
"""The preset of a command without --preset: the laptop scale. The built-in defaults are the paper's numbers,
which on a laptop would start a multi-day CPU run."""


def add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default=None,
                        help=f"preset name ({', '.join(preset_names())}) or a YAML file; default: {DEFAULT_PRESET} "
                             "(the laptop scale; paper for a GPU cluster)")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="dotted config overrides parsed as YAML, e.g. data.num_videos.sft=200 data.resolution=64")


def config_from(args: argparse.Namespace, **flag_overrides: object) -> Config:
    """The preset + overrides, then the command's own flags (when given) on top."""
    preset = args.preset
    if preset is None:
        log.warning("no --preset given: using %r (the laptop scale); pass --preset paper (GPU cluster) or small "
                    "(one GPU) for another", DEFAULT_PRESET)
        preset = DEFAULT_PRESET
    cfg = load(preset, args.overrides)
    extra = {k: v for k, v in flag_overrides.items() if v is not None}
    return replace(cfg, extra) if extra else cfg


def command_config(args: argparse.Namespace, **flag_overrides: object) -> Config:
    """:func:`config_from`, then what every stage command does first: this process's S3 settings from
    ``storage.*``, and ``config.resolved.yaml`` written into ``--out`` (beside the outputs it describes)."""
    cfg = config_from(args, **flag_overrides)
    storage.configure(cfg.storage.s3_endpoint, cfg.storage.s3_region)
    if getattr(args, "out", None):
        storage.write_text(storage.join(args.out, "config.resolved.yaml"), dump(cfg))
    return cfg

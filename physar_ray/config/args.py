"""One way from command-line arguments to a Config: ``--preset`` plus ``key=value`` overrides on every command."""

from __future__ import annotations

import argparse
import logging

from physar_ray import storage
from physar_ray.config.checkpoints import adopt
from physar_ray.config.load import dump, load, parse_override, preset_names
from physar_ray.config.tree import Config

log = logging.getLogger("physar")

DEFAULT_PRESET = "tiny"
"""The preset of a command without --preset: the laptop scale. The built-in defaults are the paper's numbers,
which on a laptop would start a multi-day CPU run."""


INPUTS = {
    "videos": "video dataset (Parquet from `physar data generate`): a folder or s3:// URI",
    "tokens": "token-video dataset (Parquet from `physar tokenizer encode`): a folder or s3:// URI",
    "model": "LM checkpoint: a Hugging Face folder (local or s3://) with physar_visual, e.g. RUN/sft/model",
    "tokenizer": "DDT tokenizer folder (local or s3://) from `physar tokenizer train`, e.g. RUN/tokenizer",
    "out": "output folder or s3:// URI",
}
"""Every command names its inputs by what they hold, with these flags (``--videos``, ``--tokens`` ...)."""


def add_input(parser: argparse.ArgumentParser, name: str, detail: str = "", required: bool = True) -> None:
    """``--NAME`` for one of :data:`INPUTS`, its standard help followed by what this command does with it."""
    parser.add_argument(f"--{name}", required=required, help=INPUTS[name] + (f"; {detail}" if detail else ""))


def add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default=None,
                        help=f"preset name ({', '.join(preset_names())}) or a YAML file; default: {DEFAULT_PRESET} "
                             "(the laptop scale; paper for a GPU cluster)")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="dotted config overrides parsed as YAML, e.g. data.num_videos.sft=200 data.resolution=64")


def config_from(args: argparse.Namespace) -> Config:
    """The preset (tiny, with a warning, when none is given) + the dotted overrides; this process's S3 settings
    (``storage.*``); then the settings of the --tokenizer and --model checkpoints the command was given
    (resolution, codebook, layout: config.checkpoints.adopt)."""
    preset = args.preset
    if preset is None:
        log.warning("no --preset given: using %r (the laptop scale); pass --preset paper (GPU cluster) or small "
                    "(one GPU) for another", DEFAULT_PRESET)
        preset = DEFAULT_PRESET
    cfg = load(preset, args.overrides)
    cfg.storage.apply()
    tokenizer, model = getattr(args, "tokenizer", None), getattr(args, "model", None)
    if not (tokenizer or model):
        return cfg
    return adopt(cfg, (parse_override(o)[0] for o in args.overrides), tokenizer=tokenizer, model=model)


def command_config(args: argparse.Namespace) -> Config:
    """:func:`config_from`, then ``config.resolved.yaml`` written into ``--out`` (beside the outputs it
    describes)."""
    cfg = config_from(args)
    if getattr(args, "out", None):
        storage.write_text(storage.join(args.out, "config.resolved.yaml"), dump(cfg))
    return cfg

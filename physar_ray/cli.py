"""`physar <stage>`: a preset plus dotted overrides, handed to the stage. Nothing else lives here.

Every command takes ``--preset NAME|FILE`` and trailing ``dotted.key=value`` overrides, e.g.
``physar data generate --preset tiny data.num_videos.sft=200 --out runs/data``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from physar_ray import __version__
from physar_ray.config import ConfigError, dump
from physar_ray.config.args import DEFAULT_PRESET, add_config_args, config_from

__all__ = ["DEFAULT_PRESET", "build_parser", "main"]

EXPECTED_ERRORS: tuple[type[BaseException], ...] = (ConfigError, OSError, ValueError, RuntimeError)
"""Errors whose message is the whole story for a user: printed as one line, exit code 2."""




def _run(args: argparse.Namespace) -> None:
    from physar_ray.pipeline import run_pipeline

    summary = run_pipeline(config_from(args), args.out, start_from=args.start_from)
    print(f"done in {summary['wall_s']['total']:.1f} s: {args.out}")


def _config_show(args: argparse.Namespace) -> None:
    print(dump(config_from(args)), end="")


def _config_docs(args: argparse.Namespace) -> None:
    from physar_ray.config import reference_markdown

    print(reference_markdown(), end="")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="physar", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"physar-ray {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    stages = parser.add_subparsers(dest="stage", required=True, metavar="STAGE")

    def command(group: argparse._SubParsersAction, name: str, fn: Callable, help_text: str) -> argparse.ArgumentParser:
        p = group.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=fn)
        return p

    from physar_ray.data.commands import add_data_commands

    add_data_commands(stages)

    run = command(stages, "run", _run, "run the pipeline's stages for a preset into one run folder; "
                  "stages already done for the same config (lineage.json) are skipped")
    run.add_argument("--out", required=True, help="run folder or s3:// URI")
    run.add_argument("--from", dest="start_from", metavar="STAGE",
                     help="redo this stage and every stage after it (see docs/concepts.md for the stages)")
    add_config_args(run)

    cfg = stages.add_parser("config", help="print the resolved config")
    cfg_cmds = cfg.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_config_args(command(cfg_cmds, "show", _config_show, "print the resolved config of a preset + overrides as YAML"))
    command(cfg_cmds, "docs", _config_docs, "print the configuration reference (docs/configuration.md) as Markdown")

    from physar_ray.eval.commands import add_eval_commands
    from physar_ray.grpo.commands import add_grpo_commands
    from physar_ray.plan.commands import add_plan_commands
    from physar_ray.train.commands import add_sft_commands
    from physar_ray.train.tokenizer_commands import add_tokenizer_commands
    from physar_ray.tune.commands import add_tune_commands

    for add_commands in (add_eval_commands, add_sft_commands, add_tokenizer_commands, add_grpo_commands,
                         add_tune_commands, add_plan_commands):
        add_commands(stages)  # each stage's commands.py registers its own, with config.args for --preset
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        status = args.func(args)  # a command may return its exit status (`physar plan`: 1 when refused)
    except EXPECTED_ERRORS as exc:
        if args.verbose:
            raise
        print(f"physar: error: {exc}", file=sys.stderr)
        return 2
    return status or 0


if __name__ == "__main__":
    sys.exit(main())

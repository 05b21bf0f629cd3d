"""`physar <stage> <verb>`: a preset plus dotted overrides, handed to the stage. Nothing else lives here.

Every command takes ``--preset NAME|FILE`` and trailing ``dotted.key=value`` overrides, e.g.
``physar data generate --preset tiny data.num_videos.sft=200 --out runs/data``; inputs are named by
what they hold (``--videos``, ``--tokens``, ``--model``, ``--tokenizer``, ``--out``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from physar_ray import __version__
from physar_ray.config import ConfigError, dump
from physar_ray.config.args import DEFAULT_PRESET, add_config_args, config_from
from physar_ray.run_log import FORMAT as LOG_FORMAT

__all__ = ["DEFAULT_PRESET", "build_parser", "main"]

EXPECTED_ERRORS: tuple[type[BaseException], ...] = (ConfigError, OSError, ValueError, RuntimeError)
"""Errors whose message is the whole story for a user: printed as one line, exit code 2."""

RENAMED_COMMANDS = {"generate": "eval generate", "grpo": "grpo train", "tune": "tune sweep"}
"""Commands of earlier releases whose verb moved: the first word and its spelling now."""

DATA_FLAG = {"sft": "--tokens (a token dataset) or --videos with --tokenizer", "eval generate": "--tokens",
             "eval model": "--tokens"}
"""What replaced ``--data`` where it was not a video dataset (everywhere else: ``--videos``)."""

RENAMED_FLAGS = {"--scenarios": "data.scenarios=[...]", "--splits": "data.splits=[...]",
                 "--num-videos": "data.num_videos.SPLIT=N (one per split)",
                 "--time-budget-s": "vae.time_budget_s=S", "--batch-size": "vae.batch_size=B"}
"""Flags that became config keys, so they reach config.resolved.yaml."""


def renamed(argv: Sequence[str]) -> str | None:
    """The one-line message for a spelling of an earlier release (``physar grpo --model ...``,
    ``--data``, ``--num-videos``), or None."""
    words = [a for a in argv if not a.startswith("-")]
    first = words[0] if words else ""
    verb = RENAMED_COMMANDS.get(first)
    after = argv[argv.index(first) + 1:] if first else []
    flag_after = bool(after) and after[0].startswith("-") and after[0] not in ("-h", "--help", "-v", "--verbose")
    if verb and (first == "generate" or flag_after):
        return f"`physar {first}` is now `physar {verb}` (see `physar {verb} --help`)"
    for flag in argv:
        name = flag.split("=", 1)[0]
        if name == "--data":
            command = " ".join(words[:2])
            instead = DATA_FLAG.get(command, DATA_FLAG.get(first, "--videos"))
            return f"--data is now {instead}: inputs are named by what they hold (see `physar {command} --help`)"
        if name in RENAMED_FLAGS:
            return f"{name} is now the config key {RENAMED_FLAGS[name]}, given after the flags"
    return None


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
    from physar_ray.pipeline import stage_names

    run.add_argument("--from", dest="start_from", metavar="STAGE", choices=stage_names(),
                     help=f"redo this stage and every stage after it: {', '.join(stage_names())} "
                          "(docs/concepts.md says what each does)")
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
    _verbose_everywhere(parser)
    return parser


def _verbose_everywhere(parser: argparse.ArgumentParser) -> None:
    """``-v`` after the verb too (``physar sft train ... -v``); SUPPRESS keeps the root's value when absent."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                sub.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="debug logging")
                _verbose_everywhere(sub)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if (message := renamed(argv)) is not None:
        print(f"physar: error: {message}", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format=LOG_FORMAT)
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

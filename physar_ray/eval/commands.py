"""`physar eval score | baselines | model | generate` (registered by cli.build_parser).

Each command reads its config with ``config.args.command_config`` (preset + overrides, S3 settings,
``config.resolved.yaml`` written into --out).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from physar_ray import storage
from physar_ray.config import Config
from physar_ray.config.args import add_config_args, add_input, command_config

Command = Callable[[argparse.Namespace, Config], None]


def _prepared(command: Command) -> Callable[[argparse.Namespace], None]:
    """``command(args, cfg)`` with cfg from :func:`command_config`."""
    return lambda args: command(args, command_config(args))


def source_name(value: str) -> str:
    """--source: a non-empty name that is no reference predictor's (their rows carry those names)."""
    from physar_ray.measure.baselines import PREDICTORS

    if not value or value in PREDICTORS:
        raise argparse.ArgumentTypeError(f"--source {value!r}: name the videos (e.g. ground_truth, sft); "
                                         f"{', '.join(PREDICTORS)} are the reference predictors' names")
    return value


def _score(args: argparse.Namespace, cfg: Config) -> None:
    from physar_ray.eval.score import score_dataset
    from physar_ray.measure.baselines import PREDICTORS

    metrics = score_dataset(args.videos, args.out, cfg, args.source, () if args.no_baselines else tuple(PREDICTORS))
    total = metrics["total"]
    print(f"scored {total['count']} videos ({total['floored']} floored): mean v_err {total['v_err']}, "
          f"mean reward {total['reward']}; report: {storage.join(args.out, 'report.md')}")


def _baselines(args: argparse.Namespace, cfg: Config) -> None:
    from physar_ray.eval.score import write_baselines

    counts = write_baselines(args.videos, args.out, cfg)
    print(", ".join(f"{name}: {n} videos" for name, n in counts.items()) + f" under {args.out}")


def _model(args: argparse.Namespace, cfg: Config) -> None:
    from physar_ray.eval.model import evaluate_model

    metrics = evaluate_model(cfg, args.model, args.tokenizer, args.tokens, args.out, args.source)
    for scenario, cols in sorted(metrics["table1"].get(args.source, {}).items()):
        cells = ", ".join(f"{c} {v['v_err']:.3f}" if v.get("v_err") is not None else f"{c} —" for c, v in cols.items())
        print(f"{scenario:10s} v_err: {cells}")
    print(f"report: {storage.join(args.out, 'report.md')}")


def _generate(args: argparse.Namespace, cfg: Config) -> None:
    from physar_ray.eval.generate import generate_videos

    summary = generate_videos(cfg, args.model, args.tokens, args.out)
    print(f"wrote {summary['videos']} videos to {summary['out']}")


def add_eval_commands(stages: argparse._SubParsersAction) -> None:
    """Register `physar eval score | baselines | model | generate` on the CLI's stage subparsers."""
    ev = stages.add_parser("eval", help="score videos against their ground truth; evaluate or sample an LM")
    cmds = ev.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, fn: Command, text: str, description: str,
                inputs: tuple[tuple[str, str], ...]) -> argparse.ArgumentParser:
        """A command running ``fn(args, cfg)`` with required ``inputs`` (config.args.INPUTS name, detail),
        then --preset and overrides."""
        p = cmds.add_parser(name, help=text, description=description)
        p.set_defaults(func=_prepared(fn))
        for name_, detail in inputs:
            add_input(p, name_, detail)
        return p

    score = command("score", _score,
                    "track every video of a Parquet dataset and score it (eq. 4, rewards, PhyWorld metric)",
                    "Writes OUT/per_video.parquet, metrics.json, report.md, PNG plots and config.resolved.yaml.",
                    (("videos", "the videos to score, with their ground truth"), ("out", "")))
    score.add_argument("--no-baselines", action="store_true",
                       help="skip the static and constant-velocity reference rows (3x faster)")
    score.add_argument("--source", default="ground_truth", type=source_name,
                       help="what the videos are, written as their rows' source beside the predictors' "
                            "(ground_truth, reconstruction, sft, ...; default: ground_truth)")
    add_config_args(score)
    add_config_args(command(
        "baselines", _baselines,
        "write the static and constant-velocity predictions of a dataset in the video schema",
        "Writes OUT/static/... and OUT/constant_velocity/... mirroring the dataset's shards.",
        (("videos", ""), ("out", ""))))
    model = command(
        "model", _model, "generate with an LM on the eval sets (eval_iid, eval_ood, held-out rl), decode, score",
        "One sample per condition (generate.sampling), at most generate.eval_per_scenario conditions per "
        "scenario and set. Writes OUT/generated/ (token videos), OUT/videos/ (decoded) and the "
        "`eval score` outputs (metrics.json with IID / OOD / RL columns, report.md, plots).",
        (("model", ""), ("tokenizer", "the one the model's tokens come from"),
         ("tokens", "with eval_iid / eval_ood / rl splits"), ("out", "")))
    model.add_argument("--source", default="policy", type=source_name,
                       help="the policy's name in the rows and tables (e.g. sft, grpo; default: policy)")
    add_config_args(model)
    text = "sample continuations of each video's condition frames with the LM; writes generated.parquet"
    add_config_args(command(
        "generate", _generate, text, text,
        (("model", "written by `physar sft train` or `physar grpo train`"),
         ("tokens", "the condition frames come from its tokens column"), ("out", ""))))

"""`physar eval score`, `physar eval baselines` and `physar eval model` (registered by cli.build_parser)."""

from __future__ import annotations

import argparse

from physar_ray import storage
from physar_ray.config.args import add_config_args, config_from
from physar_ray.config import Config, dump


def _prepare(args: argparse.Namespace) -> Config:
    """Config from preset + overrides, S3 settings applied, config.resolved.yaml beside the outputs."""
    cfg = config_from(args)
    storage.configure(cfg.storage.s3_endpoint, cfg.storage.s3_region)
    storage.write_text(storage.join(args.out, "config.resolved.yaml"), dump(cfg))
    return cfg


def _score(args: argparse.Namespace) -> None:
    from physar_ray.measure.baselines import PREDICTORS
    from physar_ray.report.evaluation import score_dataset

    cfg = _prepare(args)
    metrics = score_dataset(args.data, args.out, cfg, () if args.no_baselines else tuple(PREDICTORS))
    total = metrics["total"]
    print(f"scored {total['count']} videos ({total['floored']} floored): mean v_err {total['v_err']}, "
          f"mean reward {total['reward']}; report: {storage.join(args.out, 'report.md')}")


def _baselines(args: argparse.Namespace) -> None:
    from physar_ray.report.evaluation import write_baselines

    counts = write_baselines(args.data, args.out, _prepare(args))
    print(", ".join(f"{name}: {n} videos" for name, n in counts.items()) + f" under {args.out}")


def _model(args: argparse.Namespace) -> None:
    from physar_ray.report.model_eval import evaluate_model

    metrics = evaluate_model(_prepare(args), args.model, args.tokenizer, args.tokens, args.out)
    for scenario, cols in sorted(metrics["table1"].get("data", {}).items()):
        cells = ", ".join(f"{c} {v['v_err']:.3f}" if v.get("v_err") is not None else f"{c} —" for c, v in cols.items())
        print(f"{scenario:10s} v_err: {cells}")
    print(f"report: {storage.join(args.out, 'report.md')}")


def add_eval_commands(stages: argparse._SubParsersAction) -> None:
    """Register `physar eval score|baselines|model` on the CLI's stage subparsers."""
    ev = stages.add_parser("eval", help="score videos against their ground truth; reference predictors")
    cmds = ev.add_subparsers(dest="command", required=True, metavar="COMMAND")
    score = cmds.add_parser(
        "score", help="track every video of a Parquet dataset and score it (eq. 4, rewards, PhyWorld metric)",
        description="Writes OUT/per_video.parquet, metrics.json, report.md, PNG plots and config.resolved.yaml.")
    score.set_defaults(func=_score)
    score.add_argument("--data", required=True, help="video dataset folder or s3:// URI (the video Parquet schema)")
    score.add_argument("--out", required=True, help="output folder or s3:// URI")
    score.add_argument("--no-baselines", action="store_true",
                       help="skip the static and constant-velocity reference rows (3x faster)")
    add_config_args(score)
    base = cmds.add_parser(
        "baselines", help="write the static and constant-velocity predictions of a dataset in the video schema",
        description="Writes OUT/static/... and OUT/constant_velocity/... mirroring the dataset's shards.")
    base.set_defaults(func=_baselines)
    base.add_argument("--data", required=True, help="video dataset folder or s3:// URI")
    base.add_argument("--out", required=True, help="output folder or s3:// URI")
    add_config_args(base)
    model = cmds.add_parser(
        "model", help="generate with an LM on the eval sets (eval_iid, eval_ood, held-out rl), decode, score",
        description="One sample per condition (generate.sampling), at most generate.eval_per_scenario conditions per "
                    "scenario and set. Writes OUT/generated/ (token videos), OUT/videos/ (decoded) and the "
                    "`eval score` outputs (metrics.json with IID / OOD / RL columns, report.md, plots).")
    model.set_defaults(func=_model)
    for flag, text in (("--model", "HF model folder (local or s3://), e.g. RUN/sft/model"),
                       ("--tokenizer", "DDT tokenizer folder the model's tokens come from"),
                       ("--tokens", "token-video dataset with eval_iid / eval_ood / rl splits"),
                       ("--out", "output folder or s3:// URI")):
        model.add_argument(flag, required=True, help=text)
    add_config_args(model)

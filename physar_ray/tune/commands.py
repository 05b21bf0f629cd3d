"""`physar tune sweep` (registered by cli.build_parser through ``add_tune_commands``).

The config comes from ``config.args.config_from`` (--preset and dotted overrides), as on every command.
"""

from __future__ import annotations

import argparse

from physar_ray.config.args import add_config_args, config_from
from physar_ray.grpo.commands import add_grpo_inputs

DESCRIPTION = """\
A Ray Tune sweep of GRPO runs over the reward and RL knobs α (tune.alpha → measure.alpha),
k (tune.k → measure.k), β (tune.beta → grpo.kl.beta) and g (tune.group_size →
grpo.rollout.group_size). Each trial is a whole GRPO run in its own placement group
(tune.trial_cpus for its driver plus a bundle per rollout, learner and reward actor), reporting
held-out OOD v_err after every evaluation (grpo.eval_every); ASHA (tune.grace_period,
tune.reduction_factor, tune.max_t, in GRPO steps) stops the worse trials early. Trials are
ranked by v_err (tune.metric), never by reward, whose scale α and k change.

Writes OUT/trials.csv, OUT/best.yaml (the best trial's config: use it as --preset), OUT/sweep.png,
OUT/result.json, OUT/runs/<trial_id>/ (each trial's GRPO outputs) and OUT/trials/sweep/ (Tune's
experiment). Rerunning with the same OUT restores the sweep: finished trials are kept, unfinished
and errored ones resume from their last GRPO checkpoint.

example:
  physar tune sweep --preset tiny --model runs/demo/sft/model --tokenizer runs/demo/tokenizer --videos runs/demo/data \\
      --out runs/sweep tune.search=grid tune.alpha=[2.0,4.0] tune.beta=[0.0,0.04] tune.k=[1.4] tune.group_size=[4]
"""


def _tune(args: argparse.Namespace) -> None:
    from physar_ray.tune.sweep import run_tune

    summary = run_tune(config_from(args), args.model, args.tokenizer, args.videos, args.out)
    best = summary["best"]
    print(f"tune: {summary['trials']} trials ({summary['completed']} completed, {summary['stopped']} stopped early, "
          f"{summary['errors']} errors){' (restored)' if summary['restored'] else ''}; best {best['trial_id']}: "
          f"alpha={best['alpha']:g} k={best['k']:g} beta={best['beta']:g} group_size={best['group_size']} "
          f"{summary['metric']}={best[summary['metric']]:.4f} after {best['steps']} steps")
    print(f"wrote {summary['csv']}, {summary['plot']}; best config: {summary['best_config']}")


def add_tune_commands(stages: argparse._SubParsersAction) -> None:
    """Register `physar tune sweep` on the CLI's stage subparsers, with the CLI's --preset/overrides arguments."""
    tune = stages.add_parser("tune", help="sweep GRPO's α, k, β, g with Ray Tune (ASHA), ranked by held-out OOD v_err")
    cmds = tune.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = cmds.add_parser("sweep", help="a Ray Tune sweep of GRPO runs", description=DESCRIPTION,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=_tune)
    add_grpo_inputs(p, "the sweep folder (the same OUT resumes)")
    add_config_args(p)

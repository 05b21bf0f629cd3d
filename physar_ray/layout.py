"""The run folder of `physar run`: every path its stages read and write, named once.

::

    <run>/config.resolved.yaml  lineage.json  summary.json  report.md  run.log (the driver's log)
    <run>/models_by_level.png   v_err of the policies and the reference predictors per scenario and set
    <run>/data/                 videos (`physar data generate`)
    <run>/samples/              <scenario>.png sample sheets, gifs/; generated/: the policies' videos beside the truth
    <run>/tokenizer/            the DDT tokenizer (model.safetensors, tokenizer.json)
    <run>/tokens/               token videos;  <run>/recon/: tokens decoded back to videos
    <run>/sft/model/            the SFT policy (HF format)
    <run>/grpo/                 metrics.jsonl, reward_curve.png, checkpoints/, model/ (the GRPO policy)
    <run>/eval/<name>/          `physar eval` outputs (floor, recon, sft, grpo): metrics.json, per_video.parquet,
                                report.md, plots; a policy's also decoding.json and rollout_sampling/
    <run>/tune/                 the sweep (result.json, best.yaml, trials.csv, sweep.png)
    <run>/curves/               learning curves from the stages' metrics.jsonl (tokenizer.png, sft.png, grpo.png)
    <run>/mlflow/  tensorboard/ experiment tracking (run.tracking): the local MLflow store, TensorBoard events

The constants are paths relative to the run folder (what lineage.json and report.md's links
hold); :class:`RunLayout` turns them into URIs under one run folder (local or s3://).
"""

from __future__ import annotations

from dataclasses import dataclass

from physar_ray import storage

CONFIG = "config.resolved.yaml"
LINEAGE = "lineage.json"
SUMMARY = "summary.json"
MODELS_PLOT = "models_by_level.png"
REPORT = "report.md"
LOG = "run.log"
DATA = "data"
SAMPLES = "samples"
GENERATED_SAMPLES = "samples/generated"
"""Sheets (<scenario>.png) and GIFs (gifs/) of the videos the policies generated, beside the ground truth."""
TOKENIZER = "tokenizer"
TOKENIZER_WEIGHTS = "tokenizer/model.safetensors"
TOKENS = "tokens"
RECON = "recon"
SFT = "sft"
GRPO = "grpo"
TUNE = "tune"
REWARD_CURVE = "grpo/reward_curve.png"
TUNE_RESULT = "tune/result.json"
TUNE_BEST = "tune/best.yaml"
SWEEP_PLOT = "tune/sweep.png"
TOKENIZER_METRICS = "tokenizer/metrics.jsonl"
SFT_METRICS = "sft/metrics.jsonl"
GRPO_METRICS = "grpo/metrics.jsonl"
CURVES = "curves"
TOKENIZER_CURVES = "curves/tokenizer.png"
SFT_CURVES = "curves/sft.png"
GRPO_CURVES = "curves/grpo.png"

FLOOR = "floor"
"""The evaluation of the dataset itself (eval/floor: the tracker floor and the reference predictors)."""

# names inside an evaluation folder (eval/<name>/)
METRICS = "metrics.json"
PER_VIDEO = "per_video.parquet"
VERR_PLOT = "verr_by_ood_level.png"
EVAL_VIDEOS = "videos"
"""A policy evaluation's decoded videos (VIDEO_SCHEMA, the condition's ground-truth states with them)."""
DECODING = "decoding.json"
"""How an evaluation folder's videos were sampled (written by `physar eval model`; report.md names it)."""
ROLLOUT_SAMPLING = "rollout_sampling"
"""Subfolder of a policy's second evaluation, from grpo.rollout.sampling (generate.eval_rollout_sampling)."""


def model(stage: str) -> str:
    """``<stage>/model``: the HF policy a training stage (sft, grpo) leaves."""
    return f"{stage}/model"


def evaluation(name: str, *parts: str) -> str:
    """``eval/<name>[/<part>...]``: an evaluation folder (floor, recon, sft, grpo) or a file in it."""
    return "/".join(("eval", name, *parts))


def samples_sheet(scenario: str) -> str:
    return f"{SAMPLES}/{scenario}.png"


def generated_sheet(scenario: str) -> str:
    return f"{GENERATED_SAMPLES}/{scenario}.png"


@dataclass(frozen=True)
class RunLayout:
    """One run folder (local or s3://): ``run.path(rel)`` is the URI of a relative path above."""

    root: str

    def path(self, rel: str) -> str:
        return storage.join(self.root, *rel.split("/"))

    @property
    def data(self) -> str:
        return self.path(DATA)

    @property
    def tokenizer(self) -> str:
        return self.path(TOKENIZER)

    @property
    def tokens(self) -> str:
        return self.path(TOKENS)

    def model(self, stage: str) -> str:
        return self.path(model(stage))

    def evaluation(self, name: str, *parts: str) -> str:
        return self.path(evaluation(name, *parts))

"""GRPO's conditions: rl-split videos as training prompts, held-out rl and eval_ood videos for evaluation.

Only the condition frames and the ground truth are kept per video (the reward actors score
every sample against its own condition's simulator states).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from physar_ray import storage
from physar_ray.config import Config
from physar_ray.data.holdout import EVAL_SET_SEED, rl_holdout, video_key
from physar_ray.data.shards import split_files
from physar_ray.grpo.rollout import Prompt
from physar_ray.records import table_to_records


@dataclass(frozen=True)
class PromptSets:
    """Training conditions (rl split) and the two held-out evaluation sets."""

    train: list[Prompt]
    eval_rl: list[Prompt]
    """Held-out rl-split videos: the RL parameter range, never used as training prompts."""
    eval_ood: list[Prompt]
    """eval_ood-split videos: out-of-distribution parameters."""


def _read_split(data_uri: str, split: str, cond_frames: int) -> list[Prompt]:
    prompts = []
    for uri in split_files(data_uri, split):
        for r in table_to_records(storage.read_table(uri)):
            prompts.append(Prompt(np.ascontiguousarray(r.frames[:cond_frames]), r.states,
                                  video_key(r.scenario, r.split, r.index)))
    return sorted(prompts, key=lambda p: p.key)


def load_prompts(data_uri: str, cfg: Config) -> PromptSets:
    """rl videos (minus a held-out eval set) as prompts; eval_ood videos for the OOD evaluation."""
    grpo, cond = cfg.grpo, cfg.data.cond_frames
    rl = _read_split(data_uri, "rl", cond)
    held, rest = rl_holdout(len(rl), grpo)
    train = [rl[i] for i in rest]
    if len(train) < grpo.prompts_per_step:
        raise ValueError(f"{data_uri} holds {len(rl)} rl-split videos; GRPO needs grpo.prompts_per_step="
                         f"{grpo.prompts_per_step} training prompts plus {len(held)} held out: generate more "
                         "(data.num_videos.rl) or lower grpo.batch_size")
    ood = _read_split(data_uri, "eval_ood", cond)
    ood = [ood[i] for i in np.random.default_rng(EVAL_SET_SEED).permutation(len(ood))[: grpo.eval_videos]]
    return PromptSets(train, [rl[i] for i in held], ood)

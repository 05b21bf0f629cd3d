"""One video's frames against its ground truth → errors, rewards and a reason (docs/method.md §3).

``score_video`` is the single entry point GRPO's reward actors and ``physar eval score`` call.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from physar_ray.config import MeasureConfig
from physar_ray.measure import errors
from physar_ray.measure.phyworld import phyworld_score
from physar_ray.measure.baselines import PREDICTORS, predict
from physar_ray.measure.reward import mass_reward, physics_reward, velocity_reward
from physar_ray.measure.tracker import MISSING, Tracks, check_frames, track
from physar_ray.records import States, VideoRecord
from physar_ray.sim.engine import fully_in_view
from physar_ray.sim.render import BALL_COLOURS, world_to_pixel

REASONS = {
    "ok": "scored with eq. 4",
    "no_scored_frames": "the true balls are never fully in view in the predicted frames",
    "ball_not_found": "a ball was not tracked in any scored frame",
    "too_few_valid_frames": "a ball was tracked cleanly in fewer than measure.min_valid_fraction of the scored frames",
}
"""Reason codes of a VideoScore; every code but ok gets measure.floor_reward."""


@dataclass(frozen=True)
class VideoScore:
    """Errors and rewards of one video. Rewards are always finite.

    v_err (units/s, eq. 4), v_drift (units/s, the mean-velocity error beside it), r_err
    (relative), centre_err_px: NaN when no scored pair was tracked.
    phyworld, phyworld_pre, phyworld_post: PhyWorld's evaluator on the same tracks (the latter two
    its collision windows before and after contact); NaN when its rules exclude the video.
    r_vel, r_mass: 0 and reward = measure.floor_reward when reason is not "ok".
    """

    v_err: float
    v_drift: float
    r_err: float
    r_vel: float
    r_mass: float
    reward: float
    valid_fraction: float
    centre_err_px: float
    phyworld: float
    phyworld_pre: float
    phyworld_post: float
    reason: str

    def as_row(self) -> dict[str, float | str]:
        return dataclasses.asdict(self)


def check_states(frames: np.ndarray, states: States, cond_frames: int) -> None:
    """Raise ValueError naming the field when frames [T, H, W, 3] and states do not belong together."""
    check_frames(frames)
    t, n = frames.shape[0], states.num_balls
    if states.positions.ndim != 3 or states.positions.shape[2] != 2:
        raise ValueError(f"states.positions has shape {states.positions.shape}: expected [T, N, 2]")
    if states.num_frames != t:
        raise ValueError(f"frames has T={t} frames but states.positions has {states.num_frames}: give the states of this video")
    if states.radii.shape != (n,):
        raise ValueError(f"states.radii has shape {states.radii.shape}: expected [N] = [{n}]")
    if not 1 <= n <= len(BALL_COLOURS):
        raise ValueError(f"states has {n} balls: the tracker knows {len(BALL_COLOURS)} colours")
    if not 1 <= cond_frames < t - 1:
        raise ValueError(f"cond_frames={cond_frames} must be in [1, T-2] = [1, {t - 2}]")


def reason_for(scored: np.ndarray, status: np.ndarray, fraction: float, cfg: MeasureConfig) -> str:
    """The reason code (see REASONS) from scored pairs [P, N], tracker status [T, N] and valid_fraction."""
    has_scored = scored.any(axis=0)
    if not has_scored.any():
        return "no_scored_frames"
    seen = ((status[1:] != MISSING) & scored).any(axis=0)
    if (has_scored & ~seen).any():
        return "ball_not_found"
    if fraction < cfg.min_valid_fraction:
        return "too_few_valid_frames"
    return "ok"


def score_tracks(tracks: Tracks, states: States, cfg: MeasureConfig, cond_frames: int, height: int, width: int) -> VideoScore:
    """VideoScore of already-tracked balls (see score_video)."""
    scored = errors.scored_pairs(fully_in_view(states), cond_frames)
    pairs = errors.valid_pairs(scored, tracks.valid)
    frames_mask = np.zeros_like(tracks.valid)
    frames_mask[1:] = scored  # the later frame of every scored pair is a scored frame
    frames_mask &= tracks.valid
    fraction = errors.valid_fraction(scored, pairs)
    v_err = errors.velocity_error(tracks.centres, states.positions, pairs, states.dt)
    v_drift = errors.velocity_drift(tracks.centres, states.positions, pairs, states.dt)
    r_err = errors.radius_error(tracks.radii, states.radii, frames_mask)
    true_px = world_to_pixel(states.positions, states.world_size, height, width)
    centre_err = errors.centre_error_px(tracks.centres_px, true_px, frames_mask)
    phyworld = phyworld_score(tracks.centres, states.positions, tracks.valid, states.radii,
                              float(states.velocities[0, 0, 0]), states.dt, states.world_size, cond_frames)
    reason = reason_for(scored, tracks.status, fraction, cfg)
    if reason == "ok":
        r_vel, r_mass = velocity_reward(v_err, cfg.alpha, cfg.k), mass_reward(r_err)
        reward = physics_reward(v_err, r_err, cfg.alpha, cfg.k)
    else:
        r_vel, r_mass, reward = 0.0, 0.0, cfg.floor_reward
    return VideoScore(v_err=v_err, v_drift=v_drift, r_err=r_err, r_vel=r_vel, r_mass=r_mass, reward=reward,
                      valid_fraction=fraction, centre_err_px=centre_err, phyworld=phyworld.value,
                      phyworld_pre=phyworld.pre, phyworld_post=phyworld.post, reason=reason)


def score_video(frames: np.ndarray, states: States, cfg: MeasureConfig, cond_frames: int = 3) -> VideoScore:
    """Track frames [T, H, W, 3] uint8 and score them against states (same T, N balls).

    Scored frames are the predicted ones (t ≥ cond_frames) where the true ball is fully in view;
    velocities come from adjacent cleanly tracked frames (paper eq. 4, errors.velocity_error).
    """
    check_states(frames, states, cond_frames)
    _, h, w, _ = frames.shape
    tracks = track(frames, states.world_size, BALL_COLOURS[: states.num_balls], cfg.min_area_px, cfg.rim_px)
    return score_tracks(tracks, states, cfg, cond_frames, h, w)


def score_videos(videos: Iterable[tuple[np.ndarray, States]], cfg: MeasureConfig, cond_frames: int = 3) -> list[VideoScore]:
    """score_video over (frames, states) pairs, in order."""
    return [score_video(frames, states, cfg, cond_frames) for frames, states in videos]


ROW_KEYS = ("source", "scenario", "split", "ood_level", "seed", "index")
"""Columns that identify a per-video row; the VideoScore fields follow them."""


def score_record(record: VideoRecord, cfg: MeasureConfig, cond_frames: int, source: str,
                 baselines: tuple[str, ...] = ()) -> list[dict]:
    """Rows (ROW_KEYS + VideoScore fields) for a video and for each named reference predictor.

    The row of the record's own frames carries ``source`` (what the video is: ground_truth,
    reconstruction, sft, grpo, ...); a predictor's row carries its name (baselines.PREDICTORS).
    """
    if source in PREDICTORS:
        raise ValueError(f"source {source!r} is the name of a reference predictor; name the videos otherwise")
    rows = []
    for source, rec in [(source, record)] + [(name, predict(name, record, cond_frames)) for name in baselines]:
        score = score_video(rec.frames, rec.states, cfg, cond_frames)
        keys = (source, rec.scenario, rec.split, rec.ood_level, rec.seed, rec.index)
        rows.append({**dict(zip(ROW_KEYS, keys)), **score.as_row()})
    return rows

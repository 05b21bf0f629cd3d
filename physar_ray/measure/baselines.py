"""Reference predictors that see only the conditioning frames (every table's two sanity rows).

``static`` repeats the last conditioning frame; ``constant_velocity`` tracks the balls in the
conditioning frames, extrapolates their pixel centres linearly (least squares over the
conditioning frames) and draws them with the renderer at their tracked radius. Both return a
VideoRecord in the video schema with the original ground truth, so `physar eval score` scores
them like any generated video.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from physar_ray.measure.tracker import track
from physar_ray.records import States, VideoRecord
from physar_ray.sim.render import BALL_COLOURS, pixel_to_world, pixels_per_unit, render

OFF_VIEW = -1e3
"""World coordinate that puts a ball never seen in the conditioning frames outside the view."""


def static_frames(frames: np.ndarray, cond_frames: int) -> np.ndarray:
    """[T, H, W, 3]: the conditioning frames, then the last of them repeated."""
    out = frames.copy()
    out[cond_frames:] = frames[cond_frames - 1]
    return out


def linear_extrapolation(centres: np.ndarray, valid: np.ndarray, num_frames: int) -> np.ndarray:
    """Per-ball least-squares line through the valid centres [C, N, 2] → [T, N, 2] (NaN: never seen).

    One valid frame gives a constant position; none gives NaN.
    """
    t = np.arange(num_frames, dtype=np.float64)
    out = np.full((num_frames,) + centres.shape[1:], np.nan)
    for i in range(centres.shape[1]):
        seen = np.flatnonzero(valid[:, i])
        if seen.size == 1:
            out[:, i] = centres[seen[0], i]
        elif seen.size > 1:
            slope, intercept = np.polyfit(seen.astype(np.float64), centres[seen, i], 1)
            out[:, i] = intercept + slope * t[:, None]
    return out


def constant_velocity_frames(frames: np.ndarray, num_balls: int, world_size: float, cond_frames: int) -> np.ndarray:
    """[T, H, W, 3]: the conditioning frames, then each ball moved on at its conditioning velocity."""
    t, h, w, _ = frames.shape
    cond = track(frames[:cond_frames], world_size, BALL_COLOURS[:num_balls])
    path_px = linear_extrapolation(cond.centres_px, cond.valid, t)
    radii_px = np.array([cond.radii_px[cond.valid[:, i], i].mean() if cond.valid[:, i].any() else 1.0
                         for i in range(num_balls)])
    positions = np.where(np.isnan(path_px), OFF_VIEW, pixel_to_world(path_px, world_size, h, w))
    states = States(positions, np.zeros_like(positions), radii_px / pixels_per_unit(world_size, w), 0.0, world_size)
    out = render(states, h)
    out[:cond_frames] = frames[:cond_frames]
    return out


def predict(name: str, record: VideoRecord, cond_frames: int) -> VideoRecord:
    """The record with its predicted frames replaced by predictor ``name`` (see PREDICTORS)."""
    if name not in PREDICTORS:
        raise ValueError(f"unknown baseline {name!r}: choose one of {', '.join(PREDICTORS)}")
    frames = PREDICTORS[name](record, cond_frames)
    return dataclasses.replace(record, frames=frames, params={**record.params, "predictor": name})


PREDICTORS = {
    "static": lambda rec, c: static_frames(rec.frames, c),
    "constant_velocity": lambda rec, c: constant_velocity_frames(rec.frames, rec.states.num_balls, rec.states.world_size, c),
}
"""Reference predictors by name."""

"""Frames from states, and the one world↔pixel mapping the tracker shares (docs/method.md §2).

Continuous pixel coordinates: pixel j covers [j, j+1), so its centre is j + 0.5.
World origin is bottom-left with y up: column = x / S · W and row = (S − y) / S · H.

Antialiasing: each pixel gets the fraction of its area inside the ball's tangent half-plane
at that pixel (exact for a straight edge, within ~1e-3 of the true disc coverage for
radii of a few pixels). Only each ball's bounding box is touched, all frames in one call.
"""

from __future__ import annotations

import numpy as np

from physar_ray.records import States

BACKGROUND = (255, 255, 255)
BALL_COLOURS = ((255, 0, 0), (0, 0, 255))
"""Ball 1 pure red, ball 2 pure blue on white (PhyWorld's look)."""


def world_to_pixel(xy: np.ndarray, world_size: float, height: int, width: int) -> np.ndarray:
    """[..., 2] world (x, y) → [..., 2] continuous pixel (column, row)."""
    xy = np.asarray(xy, dtype=np.float64)
    col = xy[..., 0] / world_size * width
    row = (world_size - xy[..., 1]) / world_size * height
    return np.stack([col, row], axis=-1)


def pixel_to_world(colrow: np.ndarray, world_size: float, height: int, width: int) -> np.ndarray:
    """[..., 2] continuous pixel (column, row) → [..., 2] world (x, y); inverse of world_to_pixel."""
    colrow = np.asarray(colrow, dtype=np.float64)
    x = colrow[..., 0] / width * world_size
    y = world_size - colrow[..., 1] / height * world_size
    return np.stack([x, y], axis=-1)


def pixels_per_unit(world_size: float, width: int) -> float:
    return width / world_size


def half_plane_coverage(signed_dist: np.ndarray, nx: np.ndarray, ny: np.ndarray) -> np.ndarray:
    """Area of a unit pixel inside {p : p·n ≤ d}, d = signed distance of the edge from the centre.

    With a = max(|nx|, |ny|), b = min(...): linear ramp of slope 1/a for |d| ≤ (a−b)/2, quadratic
    corners up to |d| = (a+b)/2 (the standard closed form of a square cut by a line).
    """
    a = np.maximum(np.abs(nx), np.abs(ny))
    b = np.minimum(np.abs(nx), np.abs(ny))
    half_sum, half_diff = (a + b) / 2, (a - b) / 2
    d = np.abs(signed_dist)
    linear = 0.5 + d / np.maximum(a, 1e-12)
    corner = 1.0 - (half_sum - d) ** 2 / np.maximum(2 * a * b, 1e-12)
    inside = np.where(d <= half_diff, linear, np.where(d < half_sum, corner, 1.0))
    return np.where(signed_dist >= 0, inside, 1.0 - inside)


def disc_coverage(centres: np.ndarray, radius: float, rows: np.ndarray, cols: np.ndarray, antialias: bool) -> np.ndarray:
    """[T, B, B] coverage of a disc of ``radius`` px centred at centres[T] (col, row) px.

    rows, cols: [T, B] integer pixel indices of each frame's box. Full-box work stays in squared
    distances; square roots and the coverage formula run on the edge band only.
    """
    dx = (cols + 0.5 - centres[:, :1]).astype(np.float32)
    dy = (rows + 0.5 - centres[:, 1:]).astype(np.float32)
    dist2 = (dx * dx)[:, None, :] + (dy * dy)[:, :, None]
    if not antialias:
        return (dist2 < radius * radius).astype(np.float32)
    inner, outer = max(radius - 0.75, 0.0) ** 2, (radius + 0.75) ** 2
    coverage = (dist2 < inner).astype(np.float32)
    f, i, j = np.nonzero((dist2 >= inner) & (dist2 <= outer))
    d = np.maximum(np.sqrt(dist2[f, i, j]), np.float32(1e-12))
    coverage[f, i, j] = half_plane_coverage(radius - d, dx[f, j] / d, dy[f, i] / d)
    return coverage


def render(states: States, resolution: int, antialias: bool = True, out: np.ndarray | None = None) -> np.ndarray:
    """[T, H, W, 3] uint8 frames: white background, ball i in BALL_COLOURS[i], later balls on top.

    ``out`` (optional, [T, H, W, 3] uint8) is drawn into in place: batch callers render
    straight into one buffer instead of paying fresh page faults for every video.
    """
    t, n = states.num_frames, states.num_balls
    h = w = resolution
    frames = np.empty((t, h, w, 3), dtype=np.uint8) if out is None else out
    frames.fill(255)
    radii = states.radii * pixels_per_unit(states.world_size, w)
    centres_all = world_to_pixel(states.positions, states.world_size, h, w)
    for i in range(n):
        radius = float(radii[i])
        size = int(np.ceil(2 * radius)) + 3
        centres = centres_all[:, i]
        top_left = np.floor(centres - radius - 1).astype(np.int64)  # (col, row) per frame
        offsets = np.arange(size)
        coverage = disc_coverage(centres, radius, top_left[:, 1:] + offsets, top_left[:, :1] + offsets, antialias)
        # Per-frame box clipped to the frame: canvas slice [lo, hi) ↔ box slice [lo - top, hi - top).
        lo = np.maximum(top_left, 0)
        hi = np.minimum(top_left + size, [w, h])
        windows = [
            (f, slice(r0, r1), slice(c0, c1), slice(r0 - tr, r1 - tr), slice(c0 - tc, c1 - tc))
            for f, (c0, r0), (c1, r1), (tc, tr) in zip(range(t), lo.tolist(), hi.tolist(), top_left.tolist())
            if r1 > r0 and c1 > c0
        ]
        background = np.full((t, size, size, 3), 255.0, dtype=np.float32)
        for f, rows, cols, box_rows, box_cols in windows:
            background[f, box_rows, box_cols] = frames[f, rows, cols]
        blended = np.empty(background.shape, dtype=np.uint8)
        for c, value in enumerate(BALL_COLOURS[i % len(BALL_COLOURS)]):
            channel = background[..., c]  # per channel: numpy is slow on a length-3 inner axis
            blended[..., c] = np.rint(channel + coverage * (value - channel))
        for f, rows, cols, box_rows, box_cols in windows:
            frames[f, rows, cols] = blended[f, box_rows, box_cols]
    return frames

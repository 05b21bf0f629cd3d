"""Synthetic frames with known centres and radii, drawn by the project's own renderer
(imported by the measure tests as a plain module: tests/ has no packages)."""

from __future__ import annotations

import numpy as np

from physar_ray.records import States
from physar_ray.sim.render import render

WORLD = 10.0
RES = 128
PX = RES / WORLD  # pixels per world unit


def states_of(positions, radii, dt: float = 0.1) -> States:
    """States from world centres [T, N, 2] and radii [N] (velocities unused by the tracker)."""
    positions = np.asarray(positions, dtype=np.float64)
    return States(positions, np.zeros_like(positions), np.asarray(radii, dtype=np.float64), dt, WORLD)


def line(start, velocity, num_frames: int = 32, dt: float = 0.1) -> np.ndarray:
    """[T, 1, 2] centres moving at constant velocity (world units/s)."""
    t = np.arange(num_frames)[:, None] * dt
    return (np.asarray(start) + t * np.asarray(velocity))[:, None, :]


def draw(positions, radii, antialias: bool = True) -> tuple[np.ndarray, States]:
    """Frames [T, 128, 128, 3] and their States for world centres [T, N, 2] and radii [N]."""
    s = states_of(positions, radii)
    return render(s, RES, antialias), s

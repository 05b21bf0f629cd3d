"""pymunk simulation of one video: initial state in, per-frame ground truth out (docs/method.md §2)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pymunk

from physar_ray.config import DataConfig
from physar_ray.records import States

DENSITY = 1.0
"""Mass per unit area; 2-D uniform density makes mass ∝ r² (only ratios matter)."""


def gravity_of(scenario: str, cfg: DataConfig) -> float:
    return cfg.gravity if scenario == "parabola" else 0.0


def simulate(params: dict[str, Any], cfg: DataConfig) -> States:
    """Step pymunk at ``cfg.physics_dt`` and record every ``cfg.frame_dt``.

    Chipmunk (pymunk's core) moves each body with its current velocity and then adds g·dt to
    it, which leaves a parabola g·dt·t/2 off the analytic curve (0.04 units after 3.2 s at
    dt = 0.01 s; measured in tests/unit/sim/test_engine.py). Starting the body at v₀ + g·dt/2
    (g the gravity vector) makes its velocity the mid-step (leapfrog) velocity, so positions
    equal x₀ + v₀t + g t²/2 up to rounding; the true velocity at a frame is the body's − g·dt/2.
    """
    init = params["init"]
    g = gravity_of(params["scenario"], cfg)
    dt = cfg.physics_dt
    space = pymunk.Space()
    space.gravity = (0.0, -g)
    space.collision_slop = 1e-6  # default 0.1 units of allowed overlap would show in frames
    space.iterations = 20
    bodies = []
    for x, y, vx, vy, r in zip(init["x"], init["y"], init["vx"], init["vy"], init["radii"]):
        mass = DENSITY * np.pi * r * r
        body = pymunk.Body(mass, pymunk.moment_for_circle(mass, 0.0, r))
        body.position = (x, y)
        body.velocity = (vx, vy - g * dt / 2)
        shape = pymunk.Circle(body, r)
        shape.elasticity = 1.0
        shape.friction = 0.0
        space.add(body, shape)
        bodies.append(body)

    t, n = cfg.num_frames, len(bodies)
    positions = np.empty((t, n, 2), dtype=np.float64)
    velocities = np.empty((t, n, 2), dtype=np.float64)
    for f in range(t):
        if f:
            for _ in range(cfg.steps_per_frame):
                space.step(dt)
        for i, body in enumerate(bodies):
            positions[f, i] = body.position
            vx, vy = body.velocity
            velocities[f, i] = (vx, vy + g * dt / 2)
    return States(positions, velocities, np.asarray(init["radii"], dtype=np.float64), cfg.frame_dt, cfg.world_size)


def fully_in_view(states: States) -> np.ndarray:
    """[T, N] bool: the ball's disc lies entirely inside the world square in that frame."""
    p, r, w = states.positions, states.radii[None, :, None], states.world_size
    return np.all((p - r >= 0.0) & (p + r <= w), axis=-1)


def contact_interval(states: States, tol: float = 1e-6) -> int | None:
    """k such that the first collision happens between frames k and k+1 (velocities change); None if never."""
    dv = np.abs(states.velocities - states.velocities[:1]).max(axis=(1, 2))
    changed = np.nonzero(dv > tol)[0]
    return int(changed[0]) - 1 if changed.size else None


def rejection_reason(scenario: str, states: States, cfg: DataConfig) -> str | None:
    """Why a simulated video is unusable (decided from state, not pixels), or None."""
    visible = fully_in_view(states).sum(axis=0)
    if visible.min() < cfg.min_in_view_frames:
        return "leaves_view"
    if scenario == "collision":
        first, last = cfg.contact_frames
        k = contact_interval(states)
        if k is None or not first <= k <= last:
            return "contact_outside_window"
    return None

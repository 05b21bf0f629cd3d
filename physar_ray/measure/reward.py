"""Rewards from physics errors (docs/method.md §3, paper eqs. 5-7): R = α·exp(−k·v_err) + (1 − r_err)."""

from __future__ import annotations

import math


def _finite(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name}={value} is not finite: score untrackable videos with the floor reward instead")
    return value


def velocity_reward(v_err: float, alpha: float, k: float) -> float:
    """R_vel = α·exp(−k·v_err); v_err in units/s, α the maximum, k in (units/s)⁻¹ (paper eq. 5)."""
    return alpha * math.exp(-k * _finite("v_err", v_err))


def mass_reward(r_err: float) -> float:
    """R_mass = 1 − r_err, r_err the relative radius error (paper eq. 6; mass ∝ r² at uniform density)."""
    return 1.0 - _finite("r_err", r_err)


def physics_reward(v_err: float, r_err: float, alpha: float, k: float) -> float:
    """R = R_vel + R_mass = α·exp(−k·v_err) + 1 − r_err (paper eq. 7); finite inputs only."""
    return velocity_reward(v_err, alpha, k) + mass_reward(r_err)

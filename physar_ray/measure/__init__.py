"""Measuring physics in frames: tracking, eq. 4 errors, rewards, reference predictors (docs/method.md §3)."""

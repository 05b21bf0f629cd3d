"""The learning-rate schedule against hand-computed values."""

import pytest

from physar_ray.optim.schedules import warmup_cosine


def test_warmup_cosine_hand_values():
    # warm-up 4 steps: (s+1)/4; then ½(1 + cos(π·(s−4)/(12−4)))
    assert [warmup_cosine(s, 4, 12) for s in (0, 3)] == [0.25, 1.0]
    assert warmup_cosine(4, 4, 12) == 1.0
    assert warmup_cosine(8, 4, 12) == pytest.approx(0.5)
    assert warmup_cosine(12, 4, 12) == pytest.approx(0.0) and warmup_cosine(20, 4, 12) == pytest.approx(0.0)

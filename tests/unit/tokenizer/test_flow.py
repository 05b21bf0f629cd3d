import torch

from physar_ray.tokenizer.flow import euler_sample, interpolate, sample_t


def test_interpolate_hand_computed():
    # x_t = t·ε + (1 − t)·x_0: t = 0.25, x_0 = 4, ε = 8 → 0.25·8 + 0.75·4 = 5.
    out = interpolate(torch.full((1, 2), 4.0), torch.full((1, 2), 8.0), torch.tensor([0.25]))
    assert torch.allclose(out, torch.full((1, 2), 5.0))


def test_euler_with_exact_x0_lands_on_x0_for_any_step_count():
    x0 = torch.randn(3, 5)
    for steps in (1, 2, 7):
        out = euler_sample(lambda x, t: x0, torch.randn(3, 5), steps)
        assert torch.allclose(out, x0, atol=1e-5)


def test_euler_step_hand_computed():
    # Two steps, predictor x̂_0 = 0: from x_1 = 1, t 1 → 0.5: x = 1 + (−0.5)·(1 − 0)/1 = 0.5; then → 0.
    seen = []
    out = euler_sample(lambda x, t: (seen.append(float(x[0])), torch.zeros_like(x))[1], torch.ones(1), 2)
    assert seen == [1.0, 0.5] and float(out[0]) == 0.0


def test_sample_t_modes_are_seeded():
    for mode in ("uniform", "half_at_one", "logit_normal"):
        a = sample_t(8, mode, torch.Generator().manual_seed(1))
        b = sample_t(8, mode, torch.Generator().manual_seed(1))
        assert torch.equal(a, b) and ((a >= 0) & (a <= 1)).all()
    assert (sample_t(8, "half_at_one", torch.Generator().manual_seed(0))[:4] == 1).all()

import numpy as np
import torch

from physar_ray.config import load
from physar_ray.sim.render import world_to_pixel
from physar_ray.sim.video import make_video
from physar_ray.tokenizer.coord import ABSENT_VALUE, CoordEncoder, CoordSpec, ScalarCurve
from physar_ray.tokenizer.ddt import to_ink


def test_curve_inverts_scalars():
    torch.manual_seed(0)
    curve = ScalarCurve(code_dim=16, fourier=8, grid=2049, temperature=1e-3)
    s = torch.linspace(0.0, 1.0, 101)
    assert (curve.invert(curve(s)) - s).abs().max() < 2e-3
    assert torch.allclose(curve(s).norm(dim=-1), torch.ones(101), atol=1e-5)


def test_untrained_encoder_puts_each_slot_on_its_balls_ink_centroid():
    data = load(None, ["data.resolution=32"]).data
    record, _ = make_video("collision", "sft", 0, 0, data)
    frames = record.frames[:4]
    torch.manual_seed(0)
    encoder = CoordEncoder(CoordSpec(), 32)
    with torch.no_grad():
        scalars = encoder(to_ink(torch.from_numpy(frames)))  # [B, S, 2K + P]
    coords = scalars[..., :6].reshape(4, 2, 3, 2) * 32  # [B, S, K, (col, row)] px
    truth = world_to_pixel(record.states.positions[:4], 10.0, 32, 32)  # [B, N, 2]
    for slot in range(2):  # slot 0 follows the red ball, slot 1 the blue one
        for head in range(3):
            err = np.abs(coords[:, slot, head].numpy() - truth[:, slot])
            assert err.max() < 0.3, (slot, head, err)


def test_an_empty_slot_carries_one_fixed_value_whatever_the_frame():
    data = load(None, ["data.resolution=32"]).data
    record, _ = make_video("uniform", "sft", 0, 0, data)  # one red ball: slot 1 (blue) is empty
    torch.manual_seed(0)
    encoder = CoordEncoder(CoordSpec(heads=1, pooled=2), 32)
    with torch.no_grad():
        scalars = encoder(to_ink(torch.from_numpy(record.frames[:6])))  # [B, S, 2 + 2]
    empty = scalars[:, 1]
    assert torch.equal(empty[:, :2], torch.full((6, 2), ABSENT_VALUE))  # (x, y)
    assert torch.equal(empty[:, 3], torch.full((6,), ABSENT_VALUE))  # the pooled scalar after mass
    assert torch.unique(empty[:, 2]).numel() == 1  # the mass of no ink is one value too
    assert torch.unique(scalars[:, 0, 0]).numel() == 6  # the moving red ball's x changes every frame

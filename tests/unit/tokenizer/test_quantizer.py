import math

import pytest
import torch
import torch.nn.functional as F

from physar_ray.tokenizer.quantizer import EMAQuantizer


def _quantizer(**kw):
    torch.manual_seed(0)
    args = dict(in_dim=8, codebook_size=16, code_dim=4, decay=0.9, commitment=0.25, dead_code_threshold=0.5)
    args.update(kw)
    return EMAQuantizer(**args)


def test_shapes_and_normalised_codes():
    q = _quantizer().eval()
    out = q(torch.randn(3, 5, 8))
    assert out.codes.shape == (3, 5, 4) and out.indices.shape == (3, 5)
    assert torch.allclose(out.codes.norm(dim=-1), torch.ones(3, 5), atol=1e-5)
    assert torch.allclose(out.codes, q.codebook[out.indices], atol=1e-6)  # eval: codes are codebook rows


def test_perplexity_hand_computed():
    # Four features on two codes, two each: p = (1/2, 1/2) → perplexity exp(ln 2) = 2, usage 2.
    q = _quantizer(in_dim=4).eval()
    q.codebook.copy_(F.normalize(torch.eye(16, 4), dim=-1))
    x = torch.tensor([[1.0, 0, 0, 0], [2.0, 0.1, 0, 0], [0, 1.0, 0, 0], [0, 3.0, 0.1, 0]])
    out = q(x)
    assert out.indices.tolist() == [0, 0, 1, 1]
    assert int(out.usage) == 2 and math.isclose(float(out.perplexity), 2.0, rel_tol=1e-5)


def test_dead_code_reset_revives_unused_codes():
    q = _quantizer(in_dim=4).train()
    x = F.normalize(torch.randn(64, 4).abs() + 0.1, dim=-1)  # every feature in the positive orthant
    q.codebook[3:7] = -F.normalize(torch.ones(4), dim=0)  # four codes pointing away from all of them
    q.cluster_size.fill_(1.0)
    q.cluster_size[3:7] = 0.0
    assert not torch.isin(q(x).indices, torch.arange(3, 7)).any()  # nobody used them this step
    revived = q.codebook[3:7]
    # Each revived code is now one of the batch features (cosine 1 with some feature) ...
    best = (revived @ x.t()).max(dim=1).values
    assert torch.allclose(best, torch.ones(4), atol=1e-5)
    # ... and its usage is reset above the threshold, so it is not reset again next step.
    assert (q.cluster_size[3:7] >= q.dead_code_threshold).all()


def test_codes_follow_assigned_features_by_ema():
    q = _quantizer(in_dim=4, dead_code_threshold=0.0, decay=0.5).train()
    target = F.normalize(torch.tensor([[1.0, 1.0, 0.0, 0.0]]), dim=-1)
    idx = int(q.nearest(target))
    for _ in range(20):
        q(target.repeat(8, 1))
    assert float(q.codebook[idx] @ target[0]) > 0.999


def test_warmup_passes_continuous_features_then_quantizes():
    q = _quantizer(warmup_steps=2).train()
    x = torch.randn(10, 8)
    for _ in range(2):
        out = q(x)
        assert torch.allclose(out.codes, q.lookup(x))
    out = q(x)
    assert torch.allclose(out.codes, q.codebook[out.indices], atol=1e-6)


def test_straight_through_gradient_reaches_the_projection():
    q = _quantizer().train()
    out = q(torch.randn(6, 8))
    (out.codes.sum() + out.commit_loss).backward()
    assert q.project.weight.grad is not None and q.project.weight.grad.abs().sum() > 0


def test_embed_rejects_tokens_outside_the_codebook():
    q = _quantizer()
    with pytest.raises(ValueError, match=r"\[0, 16\)"):
        q.embed(torch.tensor([0, 16]))
    with pytest.raises(ValueError, match="-1"):
        q.embed(torch.tensor([-1, 3]))

import pytest
import torch

from physar_ray.tokenizer.mmdit import MMDiT, visible_tokens


def test_prefix_hand_computed():
    # k = min(floor(16·t), 15): t = 0 → k 0; t = 0.5 → 8; t = 0.99 → 15; t = 1 → min(16, 15) = 15.
    vis = visible_tokens(torch.tensor([0.0, 0.5, 0.99, 1.0]), 16)
    assert vis.sum(dim=1).tolist() == [1, 9, 16, 16]
    assert vis[1, :9].all() and not vis[1, 9:].any()


def test_every_token_visible_below_threshold():
    vis = visible_tokens(torch.tensor([0.1, 0.6]), 16, "prefix_all_below", 0.5)
    assert vis[0].all() and vis[1].sum() == 10
    with pytest.raises(ValueError, match="prefix_all_below"):
        visible_tokens(torch.tensor([0.1]), 16, "bogus")


def test_tokens_beyond_k_do_not_change_the_output():
    torch.manual_seed(0)
    model = MMDiT(in_dim=12, num_patches=9, num_tokens=16, code_dim=4, width=32, depth=2, heads=4).eval()
    t = torch.tensor([0.3, 0.7])
    vis = visible_tokens(t, 16)
    x, codes = torch.randn(2, 9, 12), torch.randn(2, 16, 4)
    changed = torch.where(vis[..., None], codes, torch.randn(2, 16, 4) * 5)
    visible_changed = codes.clone()
    visible_changed[:, 0] += 1.0
    with torch.no_grad():
        base = model(x, t, codes, vis)
        assert torch.equal(base, model(x, t, changed, vis))
        assert not torch.allclose(base, model(x, t, visible_changed, vis))

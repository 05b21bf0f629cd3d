"""AdamW's parameter groups: weight decay on matrices only."""

import torch

from physar_ray.optim.adamw import param_groups


def test_param_groups_decay_matrices_only():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4))
    decay, plain = param_groups(model, 0.05)
    assert [p.shape for p in decay["params"]] == [(4, 3)] and decay["weight_decay"] == 0.05
    assert len(plain["params"]) == 3 and plain["weight_decay"] == 0.0

"""Gradient checkpointing recomputes activations and changes nothing else: same loss, same gradients."""

import pytest
import torch

from physar_ray.lm.model import build_scratch_model, enable_gradient_checkpointing
from tests.unit.lm.lm_helpers import tiny_sft


def _loss_and_grads(arch: str, checkpointing: bool) -> tuple[float, dict[str, torch.Tensor], int]:
    """(loss, gradients, forward passes through the first block) of one backward on a fixed batch."""
    from transformers.modeling_layers import GradientCheckpointingLayer

    model, _ = build_scratch_model(tiny_sft(arch), num_codes=16, max_positions=32)
    if checkpointing:
        enable_gradient_checkpointing(model)
    block = next(m for m in model.modules() if isinstance(m, GradientCheckpointingLayer))
    calls = []
    block.register_forward_pre_hook(lambda *_: calls.append(1))  # the recompute stops early: no post hook
    model.train()
    ids = torch.randint(0, 17, (3, 20), generator=torch.Generator().manual_seed(0))
    loss = model(input_ids=ids, labels=ids, use_cache=False).loss
    loss.backward()
    return float(loss.detach()), {n: p.grad for n, p in model.named_parameters()}, len(calls)


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_checkpointing_gives_the_same_loss_and_gradients(arch):
    loss, grads, passes = _loss_and_grads(arch, False)
    loss_ckpt, grads_ckpt, passes_ckpt = _loss_and_grads(arch, True)
    assert (passes, passes_ckpt) == (1, 2)  # the block ran again in the backward pass: it kept no activations
    assert loss_ckpt == pytest.approx(loss, abs=1e-6)
    assert grads_ckpt.keys() == grads.keys() and all(g is not None for g in grads_ckpt.values())
    for name, grad in grads.items():
        torch.testing.assert_close(grads_ckpt[name], grad, rtol=1e-5, atol=1e-7, msg=name)

"""Visual-code embeddings initialised from the scalar each coordinate code stands for."""

import numpy as np
import torch

from physar_ray.config import TokenizerConfig
from physar_ray.lm.model import build_scratch_model, init_code_embeddings
from physar_ray.tokenizer.ddt import DDTokenizer
from tests.unit.lm.lm_helpers import tiny_sft


def test_codes_with_close_values_get_close_embeddings_at_the_models_scale():
    model, vocab = build_scratch_model(tiny_sft(), num_codes=64, max_positions=32)
    rows = slice(vocab.code_offset, vocab.code_offset + vocab.num_codes)
    before = model.get_input_embeddings().weight[rows].std().item()
    prefix_before = model.get_input_embeddings().weight[vocab.prefix[0]].clone()
    values = np.random.default_rng(0).permutation(np.linspace(0.0, 1.0, 64)).astype(np.float32)
    init_code_embeddings(model, vocab, values)
    for table in (model.get_input_embeddings().weight, model.get_output_embeddings().weight):
        e = torch.nn.functional.normalize(table[rows].detach(), dim=1)
        order = np.argsort(values)
        near = (e[order[:-1]] * e[order[1:]]).sum(1).mean().item()   # neighbours in value
        far = (e[order[:32]] * e[order[32:]]).sum(1).mean().item()   # half the range apart
        assert near > far + 0.3 and abs(far) < 0.15, (near, far)
    assert abs(model.get_input_embeddings().weight[rows].std().item() - before) < 0.1 * before
    assert torch.equal(model.get_input_embeddings().weight[vocab.prefix[0]], prefix_before)  # text/special ids untouched


def test_only_coordinate_tokenizers_have_code_values():
    coord = DDTokenizer(TokenizerConfig(family="coord", size="tiny"), 32).code_values()
    assert coord.shape == (256,) and np.isfinite(coord).all() and coord.min() >= -0.25 and coord.max() <= 1.25
    assert DDTokenizer(TokenizerConfig(family="paper", size="tiny"), 32).code_values() is None

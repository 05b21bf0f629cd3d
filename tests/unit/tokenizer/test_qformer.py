import torch

from physar_ray.tokenizer.qformer import QFormer, qformer_mask


def test_mask_image_sees_only_image_queries_see_all():
    mask = qformer_mask(3, 2)[0, 0]
    assert mask[:3, :3].all() and not mask[:3, 3:].any() and mask[3:].all()


def test_output_is_one_vector_per_query():
    torch.manual_seed(0)
    model = QFormer(in_dim=12, num_patches=9, num_queries=16, width=32, depth=2, heads=4)
    assert model(torch.randn(2, 9, 12)).shape == (2, 16, 32)

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKL

from physar_ray.config import load
from physar_ray.sim.video import make_video
from physar_ray.tokenizer.ddt import DDTokenizer, to_ink
from physar_ray.tokenizer.latent import PixelLatent, VAELatent, patchify

RES = 32


def test_patchify_round_trip_and_layout():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8)
    latent = PixelLatent(8, 4)
    seq = latent.encode(x)
    assert seq.shape == (2, 4, 48) and latent.num_patches == 4 and latent.dim == 48
    assert torch.equal(latent.decode(seq), x)
    assert torch.equal(patchify(x, 4)[0, 1, :16], x[0, 0, :4, 4:8].reshape(-1))  # patch (0, 1), channel 0


def test_bad_patch_size_is_named():
    with pytest.raises(ValueError, match="multiple of the patch size 5"):
        PixelLatent(32, 5)


def test_vae_path_must_be_a_saved_autoencoder(tmp_path):
    with pytest.raises(FileNotFoundError, match="save_pretrained"):
        VAELatent(str(tmp_path), RES)


@pytest.fixture(scope="module")
def small_vae(tmp_path_factory):
    """A 2-level AutoencoderKL (4× down) built here, trained for a few steps on our frames, saved."""
    torch.manual_seed(0)
    vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 3,
                        up_block_types=("UpDecoderBlock2D",) * 3, block_out_channels=(8, 8, 16),
                        layers_per_block=1, latent_channels=4, norm_num_groups=4, sample_size=RES)
    record, _ = make_video("collision", "sft", 0, 0, load(None, [f"data.resolution={RES}"]).data)
    x = 1.0 - 2.0 * to_ink(torch.from_numpy(record.frames[:8]))
    opt = torch.optim.Adam(vae.parameters(), lr=1e-3)
    losses = []
    for _ in range(5):
        loss = torch.nn.functional.mse_loss(vae(x).sample, x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < losses[0]
    path = tmp_path_factory.mktemp("vae")
    vae.save_pretrained(path)
    return path


def test_vae_latent_loads_from_a_local_directory(small_vae):
    latent = VAELatent(str(small_vae), RES)
    assert (latent.grid, latent.num_patches, latent.dim) == (8, 64, 4)
    ink = torch.rand(2, 3, RES, RES)
    seq = latent.encode(ink)
    assert seq.shape == (2, 64, 4) and latent.decode(seq).shape == (2, 3, RES, RES)


def test_paper_tokenizer_on_vae_latents_trains_saves_and_loads(small_vae, tmp_path):
    cfg = load(None, ["tokenizer.family=paper", "tokenizer.latent=vae", f"tokenizer.vae_path={small_vae}"]).tokenizer
    torch.manual_seed(0)
    tok = DDTokenizer(cfg, RES)
    record, _ = make_video("uniform", "sft", 0, 0, load(None, [f"data.resolution={RES}"]).data)
    loss, _ = tok.loss(torch.from_numpy(record.frames[:4]))
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is None for p in tok.model.latent.parameters())  # the VAE stays frozen
    tok.save(tmp_path / "tok")
    again = DDTokenizer.load(tmp_path / "tok", expect=cfg, resolution=RES)
    tokens = tok.encode(record.frames[:4])
    assert np.array_equal(tokens, again.encode(record.frames[:4]))
    assert np.array_equal(tok.decode(tokens), again.decode(tokens))

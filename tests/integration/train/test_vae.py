"""`physar tokenizer train-vae`'s trainer: learns, saves to s3://, and the paper tokenizer loads it from there."""

from __future__ import annotations

import numpy as np

from physar_ray import storage
from physar_ray.config import load
from physar_ray.tokenizer.ddt import DDTokenizer
from physar_ray.tokenizer.latent import VAELatent
from physar_ray.train.vae import train_vae

RES = 32


def test_train_vae_lowers_the_error_and_the_tokenizer_loads_it_from_s3(s3_bucket):
    cfg = load(None, [f"data.resolution={RES}", "vae.max_steps=15", "vae.batch_size=4", "vae.widths=[8,8,16]"])
    out = f"{s3_bucket}/vae"
    summary = train_vae(cfg.data, cfg.vae, out, progress_bar=False)
    assert summary["step"] == 15
    assert summary["last"]["vae/recon_mse"] < 0.8 * summary["first"]["vae/recon_mse"], summary
    assert storage.exists(f"{out}/config.json") and storage.exists(f"{out}/train_summary.json")
    latent = VAELatent(out, RES)
    assert (latent.grid, latent.num_patches, latent.dim) == (8, 64, 4)
    tok_cfg = load(None, ["tokenizer.family=paper", "tokenizer.latent=vae", "tokenizer.num_tokens=16",
                    f"tokenizer.vae_path={out}"]).tokenizer
    tokens = DDTokenizer(tok_cfg, RES).encode(np.zeros((2, RES, RES, 3), np.uint8))
    assert tokens.shape == (2, 16)

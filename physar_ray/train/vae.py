"""A small diffusers AutoencoderKL trained on our own frames (`physar tokenizer train-vae`).

The paper family's ``tokenizer.latent=vae`` needs an AutoencoderKL; a pretrained SD VAE is
built for photos and 8× downsampling, our frames are flat-coloured balls. This trains a small
one from scratch: loss = MSE(x̂, x) + kl_weight·KL(q(z|x) ‖ N(0, I)) on rgb in [−1, 1], AdamW,
frames straight from the simulator (``simulator_frames``), until ``max_steps`` or ``time_budget_s``.
It is saved with ``save_pretrained`` (local or s3://, through a temporary folder), so
``tokenizer.latent=vae tokenizer.vae_path=<out>`` loads it.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from physar_ray import storage
from physar_ray.config import DataConfig, VAEConfig
from physar_ray.extras import require
from physar_ray.tokenizer.ddt import to_ink
from physar_ray.train.frames import simulator_frames

log = logging.getLogger("physar.train.vae")


def vae_small(resolution: int, widths: tuple[int, int, int] = (32, 32, 64)) -> Any:
    """4× down (three levels), 4 latent channels: a 64-px frame becomes a 16×16×4 latent grid."""
    AutoencoderKL = require("diffusers", "vae", "`physar tokenizer train-vae`", " (make install has it)").AutoencoderKL
    return AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 3,
                         up_block_types=("UpDecoderBlock2D",) * 3, block_out_channels=widths,
                         layers_per_block=1, latent_channels=4, norm_num_groups=min(8, widths[0]),
                         sample_size=resolution)


def vae_loss(vae: Any, frames: torch.Tensor, kl_weight: float,
             generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """frames uint8 [B, H, W, 3] → MSE(decode(z), x) + kl_weight·KL, z ~ q(z|x); x = rgb in [−1, 1]."""
    x = 1.0 - 2.0 * to_ink(frames)
    posterior = vae.encode(x).latent_dist
    recon = vae.decode(posterior.sample(generator)).sample
    mse = torch.nn.functional.mse_loss(recon, x)
    kl = posterior.kl().mean() / x[0].numel()  # per pixel value, like the MSE
    return mse + kl_weight * kl, {"vae/recon_mse": mse.item(), "vae/kl": kl.item()}


def train_vae(data: DataConfig, vae_cfg: VAEConfig, out_uri: str, seed: int = 0,
              progress_bar: bool = True) -> dict[str, Any]:
    """Train ``vae_small(data.resolution, vae_cfg.widths)`` on simulator frames (the ``vae`` config branch) and
    ``save_pretrained`` it to ``out_uri``."""
    torch.manual_seed(seed)
    vae = vae_small(data.resolution, vae_cfg.widths).train()
    optimizer = torch.optim.AdamW(vae.parameters(), lr=vae_cfg.lr, weight_decay=0.0)
    generator = torch.Generator().manual_seed(seed)
    stream = simulator_frames(data, vae_cfg.batch_size)
    step, start, first, last = 0, time.perf_counter(), None, {}
    bar = tqdm(total=vae_cfg.max_steps, disable=not progress_bar, desc="vae", unit="step")
    while step < vae_cfg.max_steps and time.perf_counter() - start < vae_cfg.time_budget_s:
        loss, last = vae_loss(vae, torch.from_numpy(next(stream)), vae_cfg.kl_weight, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        first = first or last
        bar.update(1)
        bar.set_postfix(mse=f"{last['vae/recon_mse']:.2e}")
    bar.close()
    save_vae(vae.eval(), out_uri)
    summary = {"vae": out_uri, "step": step, "train_s": time.perf_counter() - start,
               "first": first, "last": last, "resolution": data.resolution}
    storage.write_json(storage.join(out_uri, "train_summary.json"), summary)
    log.info("VAE trained for %d steps: recon MSE %.2e → %.2e; saved in %s", step,
             (first or {}).get("vae/recon_mse", float("nan")), last.get("vae/recon_mse", float("nan")), out_uri)
    return summary


def save_vae(vae: Any, out_uri: str) -> None:
    """``save_pretrained`` into a temporary folder, then every file to ``out_uri`` (local or s3://)."""
    with tempfile.TemporaryDirectory(prefix="physar-vae-") as tmp:
        vae.save_pretrained(tmp)
        for f in sorted(Path(tmp).iterdir()):
            storage.write_bytes(storage.join(out_uri, f.name), f.read_bytes())

"""The paper family's input space: patchified pixels, or a diffusers AutoencoderKL's latents.

Both map ink [B, 3, H, W] (1 − rgb/255) to a sequence [B, N, D] and back. The VAE path loads a
``save_pretrained`` directory (local, or s3:// copied to a temporary folder first, e.g. the
output of `physar tokenizer train-vae`) with ``AutoencoderKL.from_pretrained``; its weights
stay frozen and are saved inside the tokenizer checkpoint too, so a checkpoint decodes
exactly as trained (loading still needs ``tokenizer.vae_path`` to build the VAE's shape).
Sizes: 128-px frames and the usual 8× VAE give a 16×16×4 latent grid, i.e. N = 256 latent
tokens (patch 1), not the paper's 1024 (its frames were larger).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Protocol

import torch
from torch import nn

from physar_ray import storage
from physar_ray.extras import require


def patchify(x: torch.Tensor, patch: int) -> torch.Tensor:
    """[B, C, H, W] → [B, (H/p)·(W/p), C·p²], patches row-major."""
    b, c, h, w = x.shape
    x = x.view(b, c, h // patch, patch, w // patch, patch)
    return x.permute(0, 2, 4, 1, 3, 5).reshape(b, (h // patch) * (w // patch), c * patch * patch)


def unpatchify(x: torch.Tensor, patch: int, channels: int, height: int) -> torch.Tensor:
    """[B, N, C·p²] → [B, C, H, W] for a square grid of side ``height``; inverse of patchify."""
    b = x.shape[0]
    g = height // patch
    x = x.view(b, g, g, channels, patch, patch).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(b, channels, height, height)


class Latent(Protocol):
    """ink [B, 3, H, W] ↔ latent sequence [B, N, D]."""

    num_patches: int
    dim: int

    def encode(self, ink: torch.Tensor) -> torch.Tensor: ...

    def decode(self, latent: torch.Tensor) -> torch.Tensor: ...


class PixelLatent(nn.Module):
    """Pixels, patchified: N = (H/p)², D = 3p². No parameters."""

    def __init__(self, resolution: int, patch: int) -> None:
        super().__init__()
        if resolution % patch:
            raise ValueError(f"frame size {resolution} px is not a multiple of the patch size {patch}")
        self.resolution, self.patch = resolution, patch
        self.num_patches, self.dim = (resolution // patch) ** 2, 3 * patch * patch

    def encode(self, ink: torch.Tensor) -> torch.Tensor:
        return patchify(ink, self.patch)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return unpatchify(latent, self.patch, 3, self.resolution)


class VAELatent(nn.Module):
    """A frozen diffusers AutoencoderKL from a local directory; latents scaled by its
    ``scaling_factor`` and patchified with ``patch`` (N = (H/8/p)², D = C_latent·p²)."""

    def __init__(self, path: str, resolution: int, patch: int = 1) -> None:
        super().__init__()
        # heavy: imported only when a VAE is used
        AutoencoderKL = require("diffusers", "vae", "tokenizer.latent='vae'", " (make install has it)").AutoencoderKL
        if not storage.exists(storage.join(path, "config.json")):
            raise FileNotFoundError(
                f"tokenizer.vae_path={path!r} is not a diffusers AutoencoderKL directory (no config.json): "
                "save one with AutoencoderKL.save_pretrained(path) or `physar tokenizer train-vae --out PATH`"
            )
        if storage.is_s3(path):
            with tempfile.TemporaryDirectory(prefix="physar-vae-") as local:
                for uri in storage.list_files(path, suffix=""):
                    (Path(local) / uri.rsplit("/", 1)[-1]).write_bytes(storage.read_bytes(uri))
                self.vae = AutoencoderKL.from_pretrained(local).eval().requires_grad_(False)
        else:
            self.vae = AutoencoderKL.from_pretrained(path).eval().requires_grad_(False)
        down = 2 ** (len(self.vae.config.block_out_channels) - 1)
        self.scale = float(self.vae.config.scaling_factor)
        self.channels, self.grid, self.patch = self.vae.config.latent_channels, resolution // down, patch
        if self.grid % patch:
            raise ValueError(f"latent grid {self.grid} is not a multiple of the patch size {patch}")
        self.num_patches, self.dim = (self.grid // patch) ** 2, self.channels * patch * patch

    @torch.no_grad()
    def encode(self, ink: torch.Tensor) -> torch.Tensor:
        latents = self.vae.encode(1.0 - 2.0 * ink).latent_dist.mean * self.scale  # rgb in [-1, 1]
        return patchify(latents, self.patch)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        rgb = self.vae.decode(unpatchify(latent, self.patch, self.channels, self.grid) / self.scale).sample
        return (1.0 - rgb) / 2.0

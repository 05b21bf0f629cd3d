"""DDTokenizer: frames ↔ 16 discrete tokens per frame, one API over both families (docs/method.md §4).

``encode(frames uint8 [B, H, W, 3] or [B, T, H, W, 3]) -> tokens int64 [B, (T,) L]`` and
``decode(tokens, steps, seed) -> frames uint8``: batched, on the model's device, numpy in →
numpy out, torch in → torch out on the input's device. ``save(dir)`` writes
``model.safetensors`` + ``tokenizer.json``; ``DDTokenizer.load(dir)`` rebuilds the model from
the JSON config and never unpickles anything.

Families and sizes are chosen by name from ``BUILDERS``; each builder ``<model>_<size>()`` holds
its literal sizes.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors
from torch import nn

from physar_ray import storage
from physar_ray.config import TokenizerConfig
from physar_ray.config.checkpoints import TOKENIZER_META as META
from physar_ray.tokenizer.coord import CoordSpec, CoordTokenizer
from physar_ray.tokenizer.latent import PixelLatent, VAELatent
from physar_ray.tokenizer.mmdit import MMDiT
from physar_ray.tokenizer.paper import Conditioning, PaperTokenizer
from physar_ray.tokenizer.qformer import QFormer
from physar_ray.tokenizer.quantizer import EMAQuantizer

FORMAT = "physar-ddt/1"
WEIGHTS = "model.safetensors"


class CheckpointError(ValueError):
    """A checkpoint that does not match the frames, tokens or config it is used with."""


def make_quantizer(cfg: TokenizerConfig, in_dim: int) -> EMAQuantizer:
    return EMAQuantizer(in_dim, cfg.codebook_size, cfg.code_dim, cfg.vq_decay, cfg.commitment,
                        cfg.dead_code_threshold, cfg.vq_warmup_steps)


def _coord(cfg: TokenizerConfig, resolution: int, spec: CoordSpec) -> CoordTokenizer:
    if spec.num_tokens != cfg.num_tokens:
        raise ValueError(
            f"tokenizer.num_tokens={cfg.num_tokens} but the coord_{cfg.size} layout has "
            f"{spec.slots} slots × (2·{spec.heads} + {spec.pooled}) = {spec.num_tokens} tokens"
        )
    return CoordTokenizer(spec, resolution, make_quantizer(cfg, cfg.code_dim), cfg.decoder == "flow", cfg.t_sampling)


def coord_tiny(cfg: TokenizerConfig, resolution: int) -> CoordTokenizer:
    """Two slots × (one (x, y) + mass) = 6 tokens per frame; ≈ 18k parameters.

    One coordinate head per ball, not three dithered ones: three heads quantized the centre more
    finely (0.08 against 0.12 px), but an LM continuing them lets each head extrapolate its own
    history, the heads drift apart and the decoded ball jitters (docs/results.md); one head gives the
    LM a single trajectory per axis and 2.7× shorter sequences (6 + 3·6 prompt, 29·6 generated)."""
    return _coord(cfg, resolution, CoordSpec(slots=2, heads=1, pooled=1, channels=16, hidden=64, pixel_hidden=32))


def coord_small(cfg: TokenizerConfig, resolution: int) -> CoordTokenizer:
    """The tiny layout (6 tokens per frame) with wider networks, for longer budgets."""
    return _coord(cfg, resolution, CoordSpec(slots=2, heads=1, pooled=1, channels=32, hidden=128, pixel_hidden=64))


def _paper(cfg: TokenizerConfig, resolution: int, pixel_patch: int, vae_patch: int, enc_width: int,
           enc_depth: int, dec_width: int, dec_depth: int, heads: int) -> PaperTokenizer:
    if cfg.latent == "vae":
        latent = VAELatent(cfg.vae_path, resolution, vae_patch)
    else:
        latent = PixelLatent(resolution, pixel_patch)
    encoder = QFormer(latent.dim, latent.num_patches, cfg.num_tokens, enc_width, enc_depth, heads)
    decoder = MMDiT(latent.dim, latent.num_patches, cfg.num_tokens, cfg.code_dim, dec_width, dec_depth, heads,
                    noisy_input=cfg.decoder == "flow")
    conditioning = Conditioning(cfg.t_sampling, cfg.token_drop, cfg.prefix_schedule, cfg.visible_below)
    return PaperTokenizer(latent, encoder, make_quantizer(cfg, enc_width), decoder, cfg.decoder == "flow", conditioning)


def ddt_tiny(cfg: TokenizerConfig, resolution: int) -> PaperTokenizer:
    """The CPU experiment of docs/tokenizer.md (tokenizer finding 1): 8×8 pixel patches, Q-former 3×128,
    MMDiT 4×128 (≈ 2M parameters)."""
    return _paper(cfg, resolution, pixel_patch=8, vae_patch=1, enc_width=128, enc_depth=3, dec_width=128, dec_depth=4, heads=4)


def ddt_small(cfg: TokenizerConfig, resolution: int) -> PaperTokenizer:
    """The H100 experiment of docs/tokenizer.md (tokenizer finding 2): width 256, 6 blocks each."""
    return _paper(cfg, resolution, pixel_patch=8, vae_patch=1, enc_width=256, enc_depth=6, dec_width=256, dec_depth=6, heads=8)


def ddt_paper(cfg: TokenizerConfig, resolution: int) -> PaperTokenizer:
    """Paper A.1: Q-former 12 layers, MMDiT 12 layers × 512. The appendix gives the queries as
    16×256 and the lookup as 256 → 16 but the encoder's "latent dimension" as 128; we take 256 as
    the encoder width so the quantizer sees 256-d features. 128-px pixels in 4×4 patches give
    the paper's 1024 latent tokens; an 8× VAE gives a 16×16 grid (256 tokens at patch 1)."""
    return _paper(cfg, resolution, pixel_patch=4, vae_patch=1, enc_width=256, enc_depth=12, dec_width=512, dec_depth=12, heads=8)


BUILDERS: dict[tuple[str, str], Callable[[TokenizerConfig, int], nn.Module]] = {
    ("coord", "tiny"): coord_tiny,
    ("coord", "small"): coord_small,
    ("paper", "tiny"): ddt_tiny,
    ("paper", "small"): ddt_small,
    ("paper", "paper"): ddt_paper,
}


def build_model(cfg: TokenizerConfig, resolution: int) -> nn.Module:
    key = (cfg.family, cfg.size)
    if key not in BUILDERS:
        names = ", ".join(f"{f}/{s}" for f, s in BUILDERS)
        raise ValueError(f"no tokenizer builder for tokenizer.family={cfg.family!r}, size={cfg.size!r}: have {names}")
    return BUILDERS[key](cfg, resolution)


def to_ink(frames: torch.Tensor) -> torch.Tensor:
    """uint8 [B, H, W, 3] → float ink [B, 3, H, W] = 1 − rgb/255 (white background is 0)."""
    return 1.0 - frames.permute(0, 3, 1, 2).float() / 255.0


def from_ink(ink: torch.Tensor) -> torch.Tensor:
    """float ink [B, 3, H, W] → uint8 [B, H, W, 3]."""
    return ((1.0 - ink.clamp(0, 1)) * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()


CHUNK_FRAMES = 256
"""Frames per forward pass of ``encode`` / ``decode`` (bounds an encode or reconstruct actor's activations)."""


class DDTokenizer(nn.Module):
    """Frames ↔ tokens for one config and frame size. L = cfg.num_tokens tokens per frame."""

    def __init__(self, cfg: TokenizerConfig, resolution: int, chunk: int = CHUNK_FRAMES) -> None:
        super().__init__()
        self.cfg, self.resolution, self.chunk = cfg, resolution, chunk
        self.model = build_model(cfg, resolution)

    @property
    def device(self) -> torch.device:
        return self.model.quantizer.codebook.device

    def _frames(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        x = torch.as_tensor(frames)
        if x.dtype != torch.uint8:
            raise ValueError(f"frames must be uint8 RGB, got dtype {x.dtype}")
        if x.dim() not in (4, 5) or x.shape[-1] != 3:
            raise ValueError(f"frames must be [B, H, W, 3] or [B, T, H, W, 3], got shape {list(x.shape)}")
        if tuple(x.shape[-3:-1]) != (self.resolution, self.resolution):
            raise ValueError(
                f"frames are {x.shape[-3]}×{x.shape[-2]} px but this tokenizer was built for "
                f"{self.resolution}×{self.resolution}: set data.resolution={self.resolution} or use a matching checkpoint"
            )
        return x

    def loss(self, frames: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Training loss of uint8 frames [B, H, W, 3] (already on the device) and its metrics."""
        return self.model.loss(to_ink(self._frames(frames)), generator)

    @torch.no_grad()
    def encode(self, frames: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """frames uint8 [B, (T,) H, W, 3] → tokens int64 [B, (T,) L]."""
        x = self._frames(frames)
        lead = x.shape[:-3]
        flat = x.reshape(-1, self.resolution, self.resolution, 3)
        was_training = self.training
        self.eval()
        out = [self.model.quantize(to_ink(part.to(self.device))).indices.cpu() for part in flat.split(self.chunk)]
        self.train(was_training)
        tokens = torch.cat(out).view(*lead, self.cfg.num_tokens)
        return tokens.numpy() if isinstance(frames, np.ndarray) else tokens.to(frames.device)

    @torch.no_grad()
    def decode(self, tokens: np.ndarray | torch.Tensor, steps: int | None = None, seed: int | None = None) -> np.ndarray | torch.Tensor:
        """tokens int [B, (T,) L] → frames uint8 [B, (T,) H, W, 3]; the same seed gives the same frames."""
        t = torch.as_tensor(tokens)
        if t.dtype.is_floating_point or t.dtype == torch.bool or t.dim() < 2 or t.shape[-1] != self.cfg.num_tokens:
            raise ValueError(f"tokens must be integers shaped [..., {self.cfg.num_tokens}], got {t.dtype} {list(t.shape)}")
        codes = self.model.quantizer.embed(t.reshape(-1, self.cfg.num_tokens).long().to(self.device))
        generator = torch.Generator(self.device).manual_seed(self.cfg.seed if seed is None else seed)
        was_training = self.training
        self.eval()
        steps = self.cfg.euler_steps if steps is None else steps
        out = [from_ink(self.model.decode(part, steps, generator)).cpu() for part in codes.split(self.chunk)]
        self.train(was_training)
        frames = torch.cat(out).view(*t.shape[:-1], self.resolution, self.resolution, 3)
        return frames.numpy() if isinstance(tokens, np.ndarray) else frames.to(tokens.device)

    @torch.no_grad()
    def code_values(self) -> np.ndarray | None:
        """The scalar each code stands for, [codebook_size] float32, for families whose tokens carry
        one scalar (coord); None for the paper's family, whose codes have no order."""
        curve = getattr(self.model, "curve", None)
        if curve is None:
            return None
        return curve.invert(self.model.quantizer.embed(torch.arange(self.cfg.codebook_size, device=self.device)))\
            .float().cpu().numpy()

    def save(self, path: str | Path) -> None:
        """``path/model.safetensors`` + ``path/tokenizer.json`` (local or s3://), each written atomically."""
        path = str(path)
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        meta = {"format": FORMAT, "resolution": self.resolution, "config": dataclasses.asdict(self.cfg)}
        storage.write_bytes(storage.join(path, WEIGHTS), save_tensors(tensors))
        storage.write_bytes(storage.join(path, META), json.dumps(meta, indent=2).encode())

    @classmethod
    def load(cls, path: str | Path, expect: TokenizerConfig | None = None, resolution: int | None = None,
             device: torch.device | str = "cpu") -> DDTokenizer:
        """Rebuild from ``save`` output (local or s3://); ``expect``/``resolution`` check the caller's side."""
        path = str(path)
        meta = read_meta(path)
        known = {f.name for f in dataclasses.fields(TokenizerConfig)}
        unknown = sorted(set(meta["config"]) - known)
        if unknown:
            raise CheckpointError(f"{storage.join(path, META)} has tokenizer keys this version does not know: {', '.join(unknown)}")
        cfg = TokenizerConfig(**meta["config"])
        if resolution is not None and resolution != meta["resolution"]:
            raise CheckpointError(
                f"checkpoint {path} was trained on {meta['resolution']} px frames, the caller uses "
                f"data.resolution={resolution}"
            )
        if expect is not None:
            diff = [f"{k}: checkpoint {getattr(cfg, k)!r} vs config {getattr(expect, k)!r}"
                    for k in TokenizerConfig.MODEL_KEYS if getattr(cfg, k) != getattr(expect, k)]
            if diff:
                raise CheckpointError(f"checkpoint {path} comes from another tokenizer config ({'; '.join(diff)})")
        tok = cls(cfg, meta["resolution"])
        tensors = load_tensors(storage.read_bytes(storage.join(path, WEIGHTS)))
        check_state(tok.model, tensors, str(path))
        tok.model.load_state_dict(tensors)
        return tok.to(device)


def read_meta(path: str) -> dict:
    for name in (WEIGHTS, META):
        if not storage.exists(storage.join(path, name)):
            raise CheckpointError(f"{path} is not a tokenizer checkpoint: {name} is missing")
    meta = json.loads(storage.read_text(storage.join(path, META)))
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{storage.join(path, META)} has format {meta.get('format')!r}, expected {FORMAT!r}")
    return meta


def check_state(model: nn.Module, tensors: dict[str, torch.Tensor], where: str) -> None:
    """Every tensor present with the model's shape; the message names both sides."""
    own = model.state_dict()
    missing = sorted(set(own) - set(tensors))
    extra = sorted(set(tensors) - set(own))
    if missing or extra:
        raise CheckpointError(f"{where}: tensors missing {missing[:5]}, unexpected {extra[:5]} for this config")
    for name, value in own.items():
        if tuple(tensors[name].shape) != tuple(value.shape):
            raise CheckpointError(
                f"{where}: tensor {name} has shape {list(tensors[name].shape)} in the checkpoint but "
                f"{list(value.shape)} in a model built from its config (codebook or sizes disagree)"
            )

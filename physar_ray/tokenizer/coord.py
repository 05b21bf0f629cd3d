"""Coordinate-structured tokenizer: every token carries one scalar (docs/tokenizer.md, tokenizer finding 4).

Encoder: a small conv net gives each ball slot ``heads`` heatmaps; a spatial soft-argmax over
all pixels turns each into an (x, y) in normalised pixel-centre coordinates, plus ``pooled``
sigmoid scalars per slot (slot mass, spread, attention-pooled features). Slot 0 is the red ball,
slot 1 the blue one, so collision scenes keep one slot per ball. Each scalar passes through one
shared learned curve (scalar → Fourier features → linear → L2-normalised code_dim vector) into
the shared EMA codebook; the decoder inverts the curve with a sharp softmax over a dense grid.

Decoder: per slot, an MLP of the dequantized scalars predicts a centre (initialised to the mean
of the heads' coordinates), a radius, a presence gate and FiLM parameters; each pixel's ink is an
antialiased disc around that centre plus a FiLM-modulated MLP residual of the pixel's offset
from the centre. Slots are composited in palette order, later balls on top, as the renderer does.
The flow variant feeds the MLP the noisy pixel x_t and t and is sampled by Euler steps.

Tensor names: B batch, S slots, K heads per slot, P pooled scalars per slot, T = S·(2K + P)
tokens, N = H·W pixels, d code_dim.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from physar_ray.tokenizer.flow import euler_sample, interpolate, sample_t
from physar_ray.tokenizer.quantizer import EMAQuantizer

SLOT_INK = ((0.0, 1.0, 1.0), (1.0, 1.0, 0.0))
"""Ink (1 − rgb/255) of each slot's ball colour: red (255, 0, 0) and blue (0, 0, 255)."""
SLOT_SELECT = ((0.0, 0.0, 1.0), (1.0, 0.0, 0.0))
"""Initial 1×1 conv from ink to slot masks: only red has blue-channel ink, only blue red-channel ink."""
LOG_EPS = 1e-4
MASS_AFFINE = (1.0, 5.0)
"""(a, b) of the mass token σ(a·log(mean slot ink) + b) at initialisation."""
ABSENT_INK_PX = 0.5
"""A slot with less ink than half a pixel holds no ball (a one-ball scene's second slot)."""
ABSENT_VALUE = 0.5
"""The scalar every coordinate and pooled token of an absent slot carries. Soft-argmax over an
empty slot lands wherever the heatmap happens to peak, so without this its tokens jump among
many codes that all mean "no ball" and cost the LM loss for nothing."""


@dataclass(frozen=True)
class CoordSpec:
    """Sizes of one coordinate tokenizer (set by the builders in ddt.py)."""

    slots: int = 2
    heads: int = 3
    pooled: int = 2
    channels: int = 16
    fourier: int = 8
    hidden: int = 64
    pixel_hidden: int = 32
    grid: int = 2049
    temperature: float = 1e-3
    window: float = 0.5
    """Side of the box each slot draws in, as a fraction of the frame (OOD radius 2 of 10 fits)."""

    @property
    def per_slot(self) -> int:
        return 2 * self.heads + self.pooled

    @property
    def num_tokens(self) -> int:
        return self.slots * self.per_slot


def pixel_centres(resolution: int) -> torch.Tensor:
    """[N, 2] (column, row) pixel centres j + 0.5 in pixels, row-major."""
    idx = torch.arange(resolution, dtype=torch.float32) + 0.5
    rows, cols = torch.meshgrid(idx, idx, indexing="ij")
    return torch.stack([cols.reshape(-1), rows.reshape(-1)], dim=-1)


class ScalarCurve(nn.Module):
    """s [...] → [..., d] L2-normalised vectors, and back by a sharp softmax over a dense grid."""

    def __init__(self, code_dim: int, fourier: int, grid: int, temperature: float) -> None:
        super().__init__()
        self.register_buffer("freqs", 2 * math.pi * torch.arange(1, fourier + 1, dtype=torch.float32))
        self.linear = nn.Linear(2 * fourier + 1, code_dim)
        self.register_buffer("grid", torch.linspace(-0.25, 1.25, grid))
        self.temperature = temperature

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        angles = s[..., None] * self.freqs
        feats = torch.cat([s[..., None], torch.sin(angles), torch.cos(angles)], dim=-1)
        return F.normalize(self.linear(feats), dim=-1)

    def invert(self, v: torch.Tensor) -> torch.Tensor:
        """[..., d] → [...] the grid scalar whose curve point is most similar (soft argmax)."""
        logits = v @ self(self.grid).t() / self.temperature
        return torch.softmax(logits.float(), dim=-1) @ self.grid


class CoordEncoder(nn.Module):
    """ink [B, 3, H, W] → scalars [B, S, 2K + P]: K soft-argmax (x, y) pairs and P pooled values."""

    def __init__(self, spec: CoordSpec, resolution: int) -> None:
        super().__init__()
        self.spec = spec
        s, c = spec.slots, spec.channels
        self.select = nn.Conv2d(3, s, 1, bias=False)
        with torch.no_grad():
            self.select.weight.copy_(torch.tensor(SLOT_SELECT[:s]).view(s, 3, 1, 1))
        self.features = nn.Sequential(
            nn.Conv2d(3 + s, c, 3, padding=1), nn.GELU(), nn.Conv2d(c, c, 3, padding=1), nn.GELU()
        )
        self.heat = nn.Conv2d(c, s * spec.heads, 1)
        nn.init.zeros_(self.heat.weight)
        nn.init.zeros_(self.heat.bias)
        # Adding log(slot ink) to the logits puts each soft-argmax on the slot's ink centroid at step 0.
        self.prior_weight = nn.Parameter(torch.ones(()))
        # Pooled tokens beyond the mass token (none in coord_tiny): attention-pooled features and spread.
        self.pool = nn.Linear(c + 2, spec.pooled - 1) if spec.pooled > 1 else None
        # Pooled token 0 of each slot is its ink mass, σ(a·log mass + b): ≈ 0.02 for an empty slot,
        # ≈ 0.8 for a ball of radius 1 (of 10). The decoder reads radius and presence from it.
        self.mass_affine = nn.Parameter(torch.tensor(MASS_AFFINE))
        self.register_buffer("centres", pixel_centres(resolution) / resolution)

    def forward(self, ink: torch.Tensor) -> torch.Tensor:
        b, _, h, w = ink.shape
        s, k = self.spec.slots, self.spec.heads
        slot = F.relu(self.select(ink))  # [B, S, H, W]
        fmap = self.features(torch.cat([ink, slot], dim=1))  # [B, C, H, W]
        logits = self.heat(fmap).view(b, s, k, h * w)
        prior = torch.log(slot.flatten(2) + LOG_EPS)[:, :, None]  # [B, S, 1, N]
        attn = torch.softmax(logits + self.prior_weight * prior, dim=-1)  # [B, S, K, N]
        coords = attn @ self.centres  # [B, S, K, 2]
        mass = torch.log(slot.flatten(2).mean(-1) + LOG_EPS)
        extra = self._pooled(attn, fmap.flatten(2), mass)
        mass_token = torch.sigmoid(self.mass_affine[0] * mass + self.mass_affine[1])[..., None]
        present = (slot.flatten(2).sum(-1) >= ABSENT_INK_PX)[..., None]  # [B, S, 1]
        coords = torch.where(present, coords.flatten(2), ABSENT_VALUE)
        extra = torch.where(present, extra, ABSENT_VALUE)
        return torch.cat([coords, mass_token, extra], dim=-1)

    def _pooled(self, attn: torch.Tensor, feats: torch.Tensor, mass: torch.Tensor) -> torch.Tensor:
        """[B, S, P − 1] sigmoid scalars from the heads' mean attention over features [B, C, N]."""
        if self.pool is None:
            return mass.new_zeros(*mass.shape, 0)
        mean_attn = attn.mean(dim=2)  # [B, S, N]
        pooled = torch.einsum("bsn,bcn->bsc", mean_attn, feats)
        spread = ((mean_attn @ self.centres**2) - (mean_attn @ self.centres) ** 2).sum(-1).clamp(min=0).sqrt()
        return torch.sigmoid(self.pool(torch.cat([pooled, mass[..., None], 10 * spread[..., None]], dim=-1)))


class SlotDecoder(nn.Module):
    """scalars [B, S, 2K + P] (+ x_t [B, 3, H, W], t [B] when flow) → ink [B, 3, H, W]."""

    FREQS = (1.0, 2.0, 4.0)

    def __init__(self, spec: CoordSpec, resolution: int, flow: bool) -> None:
        super().__init__()
        self.spec, self.resolution, self.flow = spec, resolution, flow
        wp = spec.pixel_hidden
        n_in = spec.per_slot + spec.slots + (1 if flow else 0)
        self.token_mlp = nn.Sequential(
            nn.Linear(n_in, spec.hidden), nn.GELU(), nn.Linear(spec.hidden, spec.hidden), nn.GELU()
        )
        self.head = nn.Linear(spec.hidden, 4 + 4 * wp)  # Δcentre (2), Δlog radius, gate, FiLM (2 layers × γ, β)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        # Reading the mass token back: log mass = (logit(m) − b) / a; radius = √(mass·N/π) px;
        # presence gate σ(g·(log mass − log mass₀)), all initialised to the encoder's prior.
        a, b = MASS_AFFINE
        self.mass_read = nn.Parameter(torch.tensor([1 / a, -b / a, 2.0, -6.5]))
        n_pix = 4 + 4 * len(self.FREQS) + (3 if flow else 0)
        self.pix1, self.pix2 = nn.Linear(n_pix, wp), nn.Linear(wp, wp)
        self.out = nn.Linear(wp, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.window = max(8, round(spec.window * resolution))
        self.register_buffer("box", pixel_centres(self.window) - 0.5)  # [M, 2] integer offsets
        self.register_buffer("slot_ink", torch.tensor(SLOT_INK[: spec.slots]))
        self.register_buffer("slot_ids", torch.eye(spec.slots))

    def forward(self, scalars: torch.Tensor, x_t: torch.Tensor | None = None, t: torch.Tensor | None = None) -> torch.Tensor:
        b, s, _ = scalars.shape
        k, wp, res = self.spec.heads, self.spec.pixel_hidden, self.resolution
        inputs = [scalars, self.slot_ids.expand(b, s, s)]
        if self.flow:
            inputs.append(t.view(b, 1, 1).expand(b, s, 1))
        head = self.head(self.token_mlp(torch.cat(inputs, dim=-1)))  # [B, S, 4 + 4Wp]
        coords = scalars[..., : 2 * k].reshape(b, s, k, 2).mean(dim=2)
        centre = (coords + head[..., :2]) * res  # [B, S, 2] px
        mass = scalars[..., 2 * k].clamp(1e-4, 1 - 1e-4)
        log_mass = self.mass_read[0] * torch.logit(mass) + self.mass_read[1]
        radius = torch.exp(0.5 * (log_mass + math.log(res * res / math.pi)) + head[..., 2])[..., None]  # [B, S, 1] px
        gate = torch.sigmoid(head[..., 3] + self.mass_read[2] * (log_mass - self.mass_read[3]))[..., None]
        film = head[..., 4:].view(b, s, 4, 1, wp)
        pixels, index, inside = self._window(centre)  # [B, S, M, 2] px, [B, S, M] flat pixel index
        offset = pixels - centre[:, :, None]
        dist = offset.norm(dim=-1, keepdim=True)
        edge = radius[..., None] - dist  # signed distance to the disc's edge, px
        rel = offset / radius[..., None]
        angles = torch.cat([rel * f * math.pi for f in self.FREQS], dim=-1)
        feats = [rel, (rel**2).sum(-1, keepdim=True), edge.clamp(-3, 3), torch.sin(angles), torch.cos(angles)]
        if self.flow:
            noisy = x_t.flatten(2)[:, None].expand(b, s, 3, res * res)
            feats.append(torch.gather(noisy, 3, index[:, :, None].expand(b, s, 3, index.shape[-1])).transpose(2, 3))
        h = F.gelu(self.pix1(torch.cat(feats, dim=-1)) * (1 + film[:, :, 0]) + film[:, :, 1])
        h = F.gelu(self.pix2(h) * (1 + film[:, :, 2]) + film[:, :, 3])
        local = gate[..., None] * ((edge + 0.5).clamp(0, 1) + self.out(h))  # [B, S, M, 1]
        alpha = local.new_zeros(b, s, res * res).scatter_add(2, index, local[..., 0] * inside)[..., None]
        ink = alpha.new_zeros(b, alpha.shape[2], 3)
        for i in range(s):  # later slots on top, as the renderer draws them
            ink = ink + alpha[:, i] * (self.slot_ink[i] - ink)
        return ink.transpose(1, 2).reshape(b, 3, res, res)

    def _window(self, centre: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The M = w² pixels of a w×w box around each centre [B, S, 2] px: their centres
        [B, S, M, 2] px, flat indices [B, S, M] (clamped into the frame) and an in-frame mask.
        Drawing only inside the box is 4× cheaper than the full frame at 64 px."""
        w, res = self.window, self.resolution
        top_left = torch.floor(centre.detach() - w / 2)  # (col, row) px
        cols = top_left[..., :1] + self.box[:, 0]  # [B, S, M]
        rows = top_left[..., 1:] + self.box[:, 1]
        inside = ((cols >= 0) & (cols < res) & (rows >= 0) & (rows < res)).to(centre.dtype)
        index = (rows.clamp(0, res - 1) * res + cols.clamp(0, res - 1)).long()
        return torch.stack([cols, rows], dim=-1) + 0.5, index, inside


class CoordTokenizer(nn.Module):
    """Encoder + scalar curve + EMA quantizer + slot decoder, deterministic or rectified flow."""

    def __init__(self, spec: CoordSpec, resolution: int, quantizer: EMAQuantizer, flow: bool, t_sampling: str) -> None:
        super().__init__()
        self.spec, self.flow, self.t_sampling = spec, flow, t_sampling
        self.encoder = CoordEncoder(spec, resolution)
        self.curve = ScalarCurve(quantizer.code_dim, spec.fourier, spec.grid, spec.temperature)
        self.quantizer = quantizer
        self.decoder = SlotDecoder(spec, resolution, flow)
        # Head j reports its (x, y) in axes rotated by θ_j = j·90°/K about the frame centre: the K
        # heads' quantization errors then fall along different directions and partly cancel in
        # the decoder's mean, where K copies of the same axes would share one error.
        theta = torch.arange(spec.heads, dtype=torch.float32) * (math.pi / 2) / spec.heads
        cos, sin = torch.cos(theta), torch.sin(theta)
        self.register_buffer("rotations", torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2))

    def scalars(self, ink: torch.Tensor) -> torch.Tensor:
        """ink [B, 3, H, W] → [B, T] scalars before the curve (head coordinates rotated)."""
        raw = self.encoder(ink)
        b, s, _ = raw.shape
        k = self.spec.heads
        coords = raw[..., : 2 * k].reshape(b, s, k, 1, 2) - 0.5
        rotated = (coords @ self.rotations.transpose(-1, -2)).reshape(b, s, 2 * k) + 0.5
        return torch.cat([rotated, raw[..., 2 * k :]], dim=-1).reshape(b, -1)

    def quantize(self, ink: torch.Tensor):
        """ink [B, 3, H, W] → Quantized with codes [B, T, d] and indices [B, T]."""
        return self.quantizer(self.curve(self.scalars(ink)))

    def _slot_scalars(self, codes: torch.Tensor) -> torch.Tensor:
        """codes [B, T, d] → decoder scalars [B, S, 2K + P], head coordinates rotated back."""
        b, s, k = codes.shape[0], self.spec.slots, self.spec.heads
        values = self.curve.invert(codes).view(b, s, -1)
        rotated = values[..., : 2 * k].reshape(b, s, k, 1, 2) - 0.5
        coords = (rotated @ self.rotations).reshape(b, s, 2 * k) + 0.5
        return torch.cat([coords, values[..., 2 * k :]], dim=-1)

    def decode(self, codes: torch.Tensor, steps: int, generator: torch.Generator | None) -> torch.Tensor:
        """codes [B, T, d] → ink [B, 3, H, W]."""
        scalars = self._slot_scalars(codes)
        if not self.flow:
            return self.decoder(scalars)
        res = self.decoder.resolution
        noise = torch.randn(codes.shape[0], 3, res, res, generator=generator, device=codes.device)
        return euler_sample(lambda x, t: self.decoder(scalars, x, t), noise, steps)

    def loss(self, ink: torch.Tensor, generator: torch.Generator | None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """ink [B, 3, H, W] → (reconstruction MSE + commitment, metrics)."""
        q = self.quantize(ink)
        scalars = self._slot_scalars(q.codes)
        if self.flow:
            t = sample_t(ink.shape[0], self.t_sampling, generator, ink.device)
            noise = torch.randn(ink.shape, generator=generator, device=ink.device)
            recon = self.decoder(scalars, interpolate(ink, noise, t), t)
        else:
            recon = self.decoder(scalars)
        mse = F.mse_loss(recon.float(), ink.float())
        metrics = {"recon_mse": mse.detach(), "commit": q.commit_loss.detach(),
                   "codes_used": q.usage, "perplexity": q.perplexity}
        return mse + q.commit_loss, metrics

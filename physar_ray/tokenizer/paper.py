"""The paper's tokenizer family: latent space → Q-former → EMA quantizer → MMDiT (docs/method.md §4).

Training (flow): t sampled per ``t_sampling``, x_t = t·ε + (1 − t)·x_0 on the latents, the
MMDiT predicts x_0 from x_t, t and the token prefix 0..k(t); all tokens are dropped for a
sample with probability ``token_drop`` (classifier-free guidance); loss ‖x̂_0 − x_0‖² +
commitment. Deterministic mode (the baseline row of the Table-4 analogue): the same encoder and
quantizer, the MMDiT without its x_t input, at t = 0 with every token visible, trained on the
same x_0 loss, no noise anywhere. Tensor names: B batch, N latent tokens, D latent dim, T tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from physar_ray.tokenizer.flow import euler_sample, interpolate, sample_t
from physar_ray.tokenizer.mmdit import MMDiT, visible_tokens
from physar_ray.tokenizer.qformer import QFormer
from physar_ray.tokenizer.quantizer import EMAQuantizer, Quantized


@dataclass(frozen=True)
class Conditioning:
    """How the decoder sees the tokens during flow training and sampling."""

    t_sampling: str = "uniform"
    token_drop: float = 0.1
    prefix_schedule: str = "prefix"
    visible_below: float = 0.5


class PaperTokenizer(nn.Module):
    """latent + Q-former + EMA quantizer + MMDiT, deterministic or rectified flow."""

    def __init__(self, latent: nn.Module, encoder: QFormer, quantizer: EMAQuantizer, decoder: MMDiT,
                 flow: bool, conditioning: Conditioning) -> None:
        super().__init__()
        self.latent, self.encoder, self.quantizer, self.decoder = latent, encoder, quantizer, decoder
        self.flow, self.conditioning = flow, conditioning

    def quantize(self, ink: torch.Tensor) -> Quantized:
        """ink [B, 3, H, W] → Quantized with codes [B, T, d] and indices [B, T]."""
        return self.quantizer(self.encoder(self.latent.encode(ink)))

    def visible(self, t: torch.Tensor, num_tokens: int) -> torch.Tensor:
        c = self.conditioning
        return visible_tokens(t, num_tokens, c.prefix_schedule, c.visible_below)

    def decode(self, codes: torch.Tensor, steps: int, generator: torch.Generator | None) -> torch.Tensor:
        """codes [B, T, d] → ink [B, 3, H, W]."""
        b, n_tok = codes.shape[:2]
        if not self.flow:
            x0 = self.decoder(None, codes.new_zeros(b), codes, codes.new_ones(b, n_tok, dtype=torch.bool))
        else:
            shape = (b, self.latent.num_patches, self.latent.dim)
            noise = torch.randn(shape, generator=generator, device=codes.device)
            x0 = euler_sample(lambda x, t: self.decoder(x, t, codes, self.visible(t, n_tok)), noise, steps)
        return self.latent.decode(x0)

    def loss(self, ink: torch.Tensor, generator: torch.Generator | None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """ink [B, 3, H, W] → (x_0 reconstruction MSE + commitment, metrics)."""
        x0 = self.latent.encode(ink)
        q = self.quantize(ink)
        b, n_tok = q.codes.shape[:2]
        if self.flow:
            c = self.conditioning
            t = sample_t(b, c.t_sampling, generator, ink.device)
            noise = torch.randn(x0.shape, generator=generator, device=ink.device)
            keep = torch.rand(b, generator=generator, device=ink.device) >= c.token_drop
            pred = self.decoder(interpolate(x0, noise, t), t, q.codes, self.visible(t, n_tok) & keep[:, None])
        else:
            ones = torch.ones(b, n_tok, dtype=torch.bool, device=ink.device)
            pred = self.decoder(None, x0.new_zeros(b), q.codes, ones)
        mse = F.mse_loss(pred.float(), x0.float())
        metrics = {"recon_mse": mse.detach(), "commit": q.commit_loss.detach(),
                   "codes_used": q.usage, "perplexity": q.perplexity}
        return mse + q.commit_loss, metrics

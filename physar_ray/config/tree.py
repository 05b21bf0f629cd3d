"""The root of the config tree: one branch per stage (the branches live in data, run, models, rl)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from physar_ray.config.base import to_dict
from physar_ray.config.data import DataConfig
from physar_ray.config.models import GenerateConfig, SFTConfig, TokenizerConfig, VAEConfig
from physar_ray.config.rl import GRPOConfig, TuneConfig
from physar_ray.config.run import MeasureConfig, RunConfig, StorageConfig


@dataclass(frozen=True)
class Config:
    """The root of the tree; every stage reads its own branch."""

    run: RunConfig = RunConfig()
    data: DataConfig = DataConfig()
    measure: MeasureConfig = MeasureConfig()
    storage: StorageConfig = StorageConfig()
    tokenizer: TokenizerConfig = TokenizerConfig()
    vae: VAEConfig = VAEConfig()
    sft: SFTConfig = SFTConfig()
    generate: GenerateConfig = GenerateConfig()
    grpo: GRPOConfig = GRPOConfig()
    tune: TuneConfig = TuneConfig()

    def hash(self, *branches: str) -> str:
        """Stable short hash of the named branches (all when none): lineage and manifests."""
        tree = to_dict(self)
        picked = {b: tree[b] for b in branches} if branches else tree
        blob = json.dumps(picked, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


"""One config tree for every stage: dataclass defaults, YAML presets, dotted overrides.

``load("tiny", ["data.num_videos.sft=200"])`` merges the dataclass defaults, the preset's
partial YAML and the overrides (parsed as YAML scalars), type-checks every value against its
field and returns a frozen :class:`Config`. Every field carries its unit and, where the paper
has one, its symbol in the docstring under it.

The schema is split by branch (``data``, ``run`` with storage and measure, ``models`` with
tokenizer, generate and sft, ``rl`` with grpo and tune; ``optim``: the OptimConfig that sft and
grpo.learner share); ``load`` reads presets and overrides, ``reference`` writes the docs,
``args`` turns CLI arguments into a Config. Every public name is importable from here.
"""

from physar_ray.config.args import DEFAULT_PRESET, add_config_args, config_from
from physar_ray.config.base import ConfigError, to_dict
from physar_ray.config.data import MIN_RESOLUTION, SCENARIOS, SPLITS, DataConfig, ParamRanges, SplitCounts, SplitRanges
from physar_ray.config.load import PRESET_DIR, dump, from_dict, load, parse_override, preset_names, read_preset, replace
from physar_ray.config.models import (CODE_EMBEDDINGS, ENGINES, LATENTS, LM_ARCHS, LR_SCHEDULES, PREFIX_SCHEDULES,
                                      T_SAMPLINGS, TOKENIZER_DECODERS, TOKENIZER_FAMILIES, TOKENIZER_SIZES,
                                      GenerateConfig, SamplingConfig, SFTConfig, TokenizerConfig, VAEConfig)
from physar_ray.config.optim import PRECISIONS, SFT_BACKENDS, ZERO_STAGES, OptimConfig
from physar_ray.config.reference import reference_markdown
from physar_ray.config.rl import (DPO_PAIRS, KL_ESTIMATORS, OBJECTIVES, REFERENCE_PLACEMENTS, SYNC_BACKENDS,
                                  TUNE_METRICS, TUNE_SEARCHES, DPOConfig, GRPOConfig, KLConfig, LearnerConfig, RolloutConfig, SyncConfig, TuneConfig)
from physar_ray.config.run import MeasureConfig, RunConfig, StorageConfig
from physar_ray.config.tree import Config

__all__ = [
    "CODE_EMBEDDINGS", "DEFAULT_PRESET", "DPO_PAIRS", "ENGINES", "KL_ESTIMATORS", "LATENTS", "LM_ARCHS", "LR_SCHEDULES",
    "MIN_RESOLUTION", "OBJECTIVES", "PRECISIONS", "PREFIX_SCHEDULES", "PRESET_DIR", "REFERENCE_PLACEMENTS", "SCENARIOS",
    "SFT_BACKENDS", "SPLITS", "SYNC_BACKENDS", "TOKENIZER_DECODERS", "TOKENIZER_FAMILIES", "TOKENIZER_SIZES",
    "TUNE_METRICS", "TUNE_SEARCHES", "T_SAMPLINGS", "ZERO_STAGES",
    "Config", "ConfigError", "DPOConfig", "DataConfig", "GRPOConfig", "GenerateConfig", "KLConfig", "LearnerConfig",
    "MeasureConfig", "OptimConfig", "ParamRanges", "RolloutConfig", "RunConfig", "SFTConfig", "SamplingConfig",
    "SplitCounts", "SplitRanges", "StorageConfig", "SyncConfig", "TokenizerConfig", "TuneConfig", "VAEConfig",
    "add_config_args", "config_from", "dump", "from_dict", "load", "parse_override", "preset_names", "read_preset",
    "reference_markdown", "replace", "to_dict",
]

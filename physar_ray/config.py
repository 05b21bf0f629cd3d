"""One config tree for every stage: dataclass defaults, YAML presets, dotted overrides.

``load("tiny", ["data.num_videos.sft=200"])`` merges the dataclass defaults, the preset's
partial YAML and the overrides (parsed as YAML scalars), type-checks every value against its
field and returns a frozen :class:`Config`. Every field carries its unit and, where the paper
has one, its symbol in the docstring under it.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PRESET_DIR = Path(__file__).parent / "presets"
SCENARIOS = ("uniform", "parabola", "collision")
SPLITS = ("sft", "rl", "eval_iid", "eval_ood")
MIN_RESOLUTION = 32


class ConfigError(ValueError):
    """A config key or value that cannot be used; the message names the key and the fix."""


def _check_intervals(key: str, intervals: tuple[tuple[float, float], ...], lo: float, hi: float) -> None:
    if not intervals:
        raise ConfigError(f"{key}=[] is empty: give at least one [low, high] interval")
    for interval in intervals:
        if len(interval) != 2:
            raise ConfigError(f"{key} has {list(interval)}: each interval is [low, high]")
        a, b = interval
        if not lo <= a <= b <= hi:
            raise ConfigError(
                f"{key} has [{a}, {b}]: intervals must satisfy {lo} <= low <= high <= {hi}"
            )
    if sum(b - a for a, b in intervals) <= 0 and len(intervals) > 1:
        raise ConfigError(f"{key}={_plain(intervals)} has zero total length")


@dataclass(frozen=True)
class ParamRanges:
    """Ranges of the sampled degrees of freedom, each a union of [low, high] intervals."""

    radius: tuple[tuple[float, float], ...] = ((0.8, 1.4),)
    """r: ball radius in world units (SPEC §2)."""
    speed: tuple[tuple[float, float], ...] = ((1.5, 3.5),)
    """v: initial horizontal speed in world units/s (SPEC §2)."""

    def check(self, key: str) -> None:
        _check_intervals(f"{key}.radius", self.radius, 0.05, 5.0)
        _check_intervals(f"{key}.speed", self.speed, 0.0, 20.0)


@dataclass(frozen=True)
class SplitRanges:
    """Parameter ranges per split (SPEC §2 table). eval_iid shares sft's range, off its grid."""

    sft: ParamRanges = ParamRanges()
    """In-distribution training range; sft samples sit on a grid of it."""
    rl: ParamRanges = ParamRanges(radius=((0.7, 0.8), (1.4, 1.5)), speed=((1.0, 1.5), (3.5, 4.0)))
    """GRPO prompt range."""
    eval_ood: ParamRanges = ParamRanges(radius=((0.3, 0.6), (1.5, 2.0)), speed=((0.0, 0.8), (4.5, 6.0)))
    """Out-of-distribution range used for the DoF an OOD level marks; the rest come from sft."""


@dataclass(frozen=True)
class SplitCounts:
    """Videos per scenario for each split."""

    sft: int = 3000
    """Training videos per scenario (paper: 3k / 30k / 3M)."""
    rl: int = 2000
    """GRPO prompt videos per scenario (ours: a few k)."""
    eval_iid: int = 1000
    """In-distribution evaluation videos per scenario, off the training grid (paper ≈1k-2k)."""
    eval_ood: int = 2400
    """Out-of-distribution evaluation videos per scenario, spread evenly over the OOD levels."""

    def __post_init__(self) -> None:
        for name in SPLITS:
            n = getattr(self, name)
            if n < 0:
                raise ConfigError(f"data.num_videos.{name}={n} must be >= 0")


@dataclass(frozen=True)
class DataConfig:
    """The ball simulator and its dataset (SPEC §2)."""

    scenarios: tuple[str, ...] = SCENARIOS
    """Scenarios to generate: any of uniform, parabola, collision."""
    splits: tuple[str, ...] = SPLITS
    """Splits to generate: any of sft, rl, eval_iid, eval_ood."""
    num_videos: SplitCounts = SplitCounts()
    """Videos per scenario and split."""
    ranges: SplitRanges = SplitRanges()
    """Sampled parameter ranges per split."""
    grid_points: int = 9
    """Grid points per degree of freedom for the sft split (PhyWorld samples a grid); >= 2."""
    num_frames: int = 32
    """T: frames per video (3.2 s at 0.1 s per frame)."""
    cond_frames: int = 3
    """Frames given to the model as the condition; it predicts the rest."""
    frame_dt: float = 0.1
    """Δt: seconds between frames."""
    physics_dt: float = 0.01
    """Seconds per physics step (PhyWorld: 10 steps per frame)."""
    world_size: float = 10.0
    """Side of the square world in units; origin bottom-left, y up."""
    gravity: float = 2.5
    """g: downward acceleration in the parabola scenario, units/s² (PhyWorld's value)."""
    resolution: int = 128
    """H = W: rendered frame size in pixels."""
    antialias: bool = True
    """Area-coverage antialiased edges; false draws hard edges as PhyWorld does."""
    contact_frames: tuple[int, int] = (4, 24)
    """Collision: first contact happens between frames k and k+1 for a k in [first, last]."""
    min_in_view_frames: int = 8
    """A video is rejected when a ball stays fully in view for fewer frames than this."""
    max_attempts: int = 64
    """Resampling attempts per video before generation fails with an error."""
    seed: int = 0
    """Base seed; each video is reproducible from (scenario, split, seed, index)."""
    videos_per_shard: int = 64
    """Videos per Parquet shard (the unit of resume after a crash)."""
    num_cpus_per_task: float = 0.5
    """CPUs each Ray Data simulate+render task asks for (fractions let Train run beside it)."""

    def __post_init__(self) -> None:
        for s in self.scenarios:
            if s not in SCENARIOS:
                raise ConfigError(f"data.scenarios has {s!r}: allowed are {', '.join(SCENARIOS)}")
        for s in self.splits:
            if s not in SPLITS:
                raise ConfigError(f"data.splits has {s!r}: allowed are {', '.join(SPLITS)}")
        if not self.scenarios or not self.splits:
            raise ConfigError("data.scenarios and data.splits must each name at least one entry")
        for name in ("sft", "rl", "eval_ood"):
            getattr(self.ranges, name).check(f"data.ranges.{name}")
        if self.resolution < MIN_RESOLUTION:
            raise ConfigError(
                f"data.resolution={self.resolution} is too small: use at least {MIN_RESOLUTION} px"
            )
        if self.num_frames <= self.cond_frames + 1:
            raise ConfigError(
                f"data.num_frames={self.num_frames} must exceed data.cond_frames+1={self.cond_frames + 1}"
            )
        steps = self.frame_dt / self.physics_dt
        if self.physics_dt <= 0 or abs(steps - round(steps)) > 1e-9:
            raise ConfigError(
                f"data.physics_dt={self.physics_dt} must divide data.frame_dt={self.frame_dt} evenly"
            )
        lo, hi = self.contact_frames
        if not 1 <= lo <= hi < self.num_frames - 1:
            raise ConfigError(
                f"data.contact_frames={list(self.contact_frames)} must satisfy 1 <= first <= last < num_frames-1={self.num_frames - 1}"
            )
        for key in ("max_attempts", "videos_per_shard", "min_in_view_frames"):
            if getattr(self, key) < 1:
                raise ConfigError(f"data.{key}={getattr(self, key)} must be >= 1")
        if self.grid_points < 2:
            raise ConfigError(f"data.grid_points={self.grid_points} must be >= 2 (a grid has both ends)")
        if self.min_in_view_frames > self.num_frames:
            raise ConfigError(
                f"data.min_in_view_frames={self.min_in_view_frames} exceeds data.num_frames={self.num_frames}"
            )
        if not 0 < self.num_cpus_per_task <= 64:
            raise ConfigError(f"data.num_cpus_per_task={self.num_cpus_per_task} must be in (0, 64]")
        if self.gravity < 0 or self.world_size <= 0:
            raise ConfigError("data.gravity must be >= 0 and data.world_size > 0")

    @property
    def steps_per_frame(self) -> int:
        return round(self.frame_dt / self.physics_dt)


@dataclass(frozen=True)
class MeasureConfig:
    """Tracking, physics errors and rewards (SPEC §3)."""

    alpha: float = 4.0
    """α: scale of the velocity reward R_vel = α·exp(−k·v_err) (SPEC §3)."""
    k: float = 1.4
    """k: decay of the velocity reward per unit of v_err (units/s)⁻¹ (SPEC §3)."""
    floor_reward: float = 0.0
    """R given to a video whose balls cannot be tracked in enough frames (with a reason code)."""
    min_valid_fraction: float = 0.5
    """Fraction of scored frames a ball must be tracked in for the video to get a real reward."""
    min_area_px: float = 4.0
    """Connected components smaller than this many pixels are specks, not balls."""
    rim_px: int = 2
    """Pixels added around a ball's core (coverage ≥ 0.5) to collect its antialiased or blurred rim."""
    num_actors: int = 2
    """Reward actors in the CPU pool (GRPO and `physar eval score`)."""
    num_cpus_per_actor: float = 1.0
    """CPUs each reward actor reserves."""
    batch_size: int = 16
    """Videos per reward-actor call: larger batches amortise the Ray call, smaller balance load."""

    def __post_init__(self) -> None:
        if self.alpha < 0 or self.k < 0:
            raise ConfigError(f"measure.alpha={self.alpha} and measure.k={self.k} must be >= 0")
        if not -1e6 <= self.floor_reward <= 1e6:
            raise ConfigError(f"measure.floor_reward={self.floor_reward} must be a finite number in [-1e6, 1e6]")
        if not 0 < self.min_valid_fraction <= 1:
            raise ConfigError(f"measure.min_valid_fraction={self.min_valid_fraction} must be in (0, 1]")
        if self.min_area_px < 0:
            raise ConfigError(f"measure.min_area_px={self.min_area_px} must be >= 0")
        if not 0 <= self.rim_px <= 8:
            raise ConfigError(f"measure.rim_px={self.rim_px} must be in [0, 8] pixels")
        for key in ("num_actors", "batch_size"):
            if getattr(self, key) < 1:
                raise ConfigError(f"measure.{key}={getattr(self, key)} must be >= 1")
        if not 0 < self.num_cpus_per_actor <= 64:
            raise ConfigError(f"measure.num_cpus_per_actor={self.num_cpus_per_actor} must be in (0, 64]")


TOKENIZER_FAMILIES = ("coord", "paper")
TOKENIZER_SIZES = ("tiny", "small", "paper")
TOKENIZER_DECODERS = ("deterministic", "flow")
PREFIX_SCHEDULES = ("prefix", "prefix_all_below")
T_SAMPLINGS = ("uniform", "half_at_one", "logit_normal")
LR_SCHEDULES = ("cosine", "linear")
LATENTS = ("pixels", "vae")


@dataclass(frozen=True)
class TokenizerConfig:
    """The DDT tokenizer, its two families and its training loop (SPEC §4)."""

    family: str = "coord"
    """Model family: coord (scalar coordinate tokens, slot decoder) or paper (Q-former + MMDiT)."""
    size: str = "tiny"
    """Builder size: tiny, small or paper (``coord_tiny()``, ``ddt_paper()``, ...)."""
    decoder: str = "deterministic"
    """deterministic (one forward pass, no noise) or flow (rectified flow, Euler sampling)."""
    num_tokens: int = 16
    """T: tokens per frame (paper: 16)."""
    codebook_size: int = 256
    """|C|: codebook entries (paper: 256)."""
    code_dim: int = 16
    """Dimension of the L2-normalised code lookup space (paper: 256 → 16)."""
    vq_decay: float = 0.99
    """γ: EMA decay of the codebook's cluster sizes and sums, in (0, 1)."""
    commitment: float = 0.25
    """β: weight of the commitment loss ‖z − sg(q)‖²."""
    dead_code_threshold: float = 0.03
    """A code whose EMA usage (assignments per step) falls below this is reset to a batch feature."""
    vq_warmup_steps: int = 300
    """Steps during which the decoder sees continuous features while the codebook follows by EMA."""
    latent: str = "pixels"
    """Paper family's input space: pixels (patchified) or vae (diffusers AutoencoderKL)."""
    vae_path: str = ""
    """Local directory of a diffusers AutoencoderKL (``save_pretrained`` layout) when latent=vae."""
    prefix_schedule: str = "prefix"
    """prefix: k = min(floor(T·t), T−1); prefix_all_below: every token visible for t < visible_below."""
    visible_below: float = 0.5
    """Threshold t under which prefix_all_below shows every token, in [0, 1]."""
    token_drop: float = 0.1
    """Probability of dropping all tokens of a sample (classifier-free guidance), in [0, 1)."""
    t_sampling: str = "half_at_one"
    """Training t: uniform, half_at_one (half the batch at t = 1) or logit_normal (σ(N(0,1)+1))."""
    euler_steps: int = 2
    """Euler steps of the rectified-flow sampler at decode time."""
    batch_size: int = 32
    """Frames per training step (per worker)."""
    lr: float = 2e-3
    """Peak AdamW learning rate (paper: 1e-4)."""
    weight_decay: float = 0.0
    """AdamW weight decay (paper: 0)."""
    warmup_steps: int = 100
    """Linear learning-rate warm-up steps (paper: 5k)."""
    lr_schedule: str = "cosine"
    """Decay after warm-up, to 0 at the end of the budget: cosine or linear."""
    max_steps: int = 100_000
    """Upper bound on optimizer steps (paper: 140k); the time budget usually ends training first."""
    time_budget_s: float = 360.0
    """Wall-clock training budget in seconds; the schedule is fitted to it (tiny: 6 minutes)."""
    checkpoint_every: int = 500
    """Steps between checkpoints (0: only at the end)."""
    seed: int = 0
    """Seed of initialisation, t and noise sampling."""

    def __post_init__(self) -> None:
        for key, value, allowed in (
            ("family", self.family, TOKENIZER_FAMILIES),
            ("size", self.size, TOKENIZER_SIZES),
            ("decoder", self.decoder, TOKENIZER_DECODERS),
            ("latent", self.latent, LATENTS),
            ("prefix_schedule", self.prefix_schedule, PREFIX_SCHEDULES),
            ("t_sampling", self.t_sampling, T_SAMPLINGS),
            ("lr_schedule", self.lr_schedule, LR_SCHEDULES),
        ):
            if value not in allowed:
                raise ConfigError(f"tokenizer.{key}={value!r}: allowed are {', '.join(allowed)}")
        for key, lo in (("num_tokens", 1), ("codebook_size", 2), ("code_dim", 1), ("euler_steps", 1),
                        ("batch_size", 1), ("max_steps", 1), ("warmup_steps", 0),
                        ("vq_warmup_steps", 0), ("checkpoint_every", 0)):
            if getattr(self, key) < lo:
                raise ConfigError(f"tokenizer.{key}={getattr(self, key)} must be >= {lo}")
        if self.codebook_size > 32768:
            raise ConfigError(f"tokenizer.codebook_size={self.codebook_size} must be <= 32768 (tokens are stored as int16)")
        if not 0.0 < self.vq_decay < 1.0:
            raise ConfigError(f"tokenizer.vq_decay={self.vq_decay} must be in (0, 1)")
        if not 0.0 <= self.token_drop < 1.0:
            raise ConfigError(f"tokenizer.token_drop={self.token_drop} must be in [0, 1)")
        if not 0.0 <= self.visible_below <= 1.0:
            raise ConfigError(f"tokenizer.visible_below={self.visible_below} must be in [0, 1]")
        for key in ("commitment", "dead_code_threshold", "weight_decay"):
            if getattr(self, key) < 0:
                raise ConfigError(f"tokenizer.{key}={getattr(self, key)} must be >= 0")
        if not 0 < self.lr <= 1:
            raise ConfigError(f"tokenizer.lr={self.lr} must be in (0, 1]")
        if self.time_budget_s <= 0:
            raise ConfigError(f"tokenizer.time_budget_s={self.time_budget_s} must be > 0 seconds")
        if self.latent == "vae" and not self.vae_path:
            raise ConfigError("tokenizer.latent='vae' needs tokenizer.vae_path: a local AutoencoderKL directory")


@dataclass(frozen=True)
class StorageConfig:
    """Object storage endpoint; credentials always come from the standard AWS environment."""

    s3_endpoint: str = ""
    """S3-compatible endpoint URL (MinIO, LocalStack); empty uses AWS_ENDPOINT_URL or AWS."""
    s3_region: str = ""
    """Region; empty uses AWS_REGION / AWS_DEFAULT_REGION or us-east-1."""


@dataclass(frozen=True)
class RunConfig:
    """What the whole run shares."""

    preset: str = "default"
    """Name of the preset this config was loaded from (informational)."""
    ray_address: str = ""
    """Ray cluster to join; empty starts a local instance (or joins RAY_ADDRESS if set)."""
    num_cpus: int = 0
    """CPUs for a local Ray instance; 0 lets Ray detect them."""


@dataclass(frozen=True)
class Config:
    """The root of the tree; every stage reads its own branch."""

    run: RunConfig = RunConfig()
    data: DataConfig = DataConfig()
    measure: MeasureConfig = MeasureConfig()
    storage: StorageConfig = StorageConfig()
    tokenizer: TokenizerConfig = TokenizerConfig()

    def hash(self, *branches: str) -> str:
        """Stable short hash of the named branches (all when none): lineage and manifests."""
        tree = to_dict(self)
        picked = {b: tree[b] for b in branches} if branches else tree
        blob = json.dumps(picked, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# Loading, overrides, type checking


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def to_dict(cfg: Any) -> dict[str, Any]:
    """A dataclass tree as plain dicts and lists (YAML/JSON ready)."""
    return {f.name: (to_dict(v) if dataclasses.is_dataclass(v) else _plain(v))
            for f in dataclasses.fields(cfg) for v in [getattr(cfg, f.name)]}


def dump(cfg: Config) -> str:
    """The resolved config as YAML, the text written as config.resolved.yaml."""
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def _all_keys(cls: type, prefix: str = "") -> list[str]:
    keys = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        keys.append(key)
        if dataclasses.is_dataclass(hints[f.name]):
            keys.extend(_all_keys(hints[f.name], key + "."))
    return keys


def _unknown_key(key: str) -> ConfigError:
    near = difflib.get_close_matches(key, _all_keys(Config), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(near)}?" if near else "; see docs/configuration.md"
    return ConfigError(f"unknown config key {key!r}{hint}")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a mapping of {tp.__name__} fields, got {value!r}")
        return _build(tp, value, key + ".")
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}={value!r} must be true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}={value!r} must be an integer")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}={value!r} must be a number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}={value!r} must be a string")
        return value
    if origin is tuple:
        if isinstance(value, str):  # "uniform,parabola" from a CLI flag
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}={value!r} must be a list")
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{key}={value!r} must have exactly {len(args)} entries")
        return tuple(_coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if origin in (typing.Union, types.UnionType):
        raise TypeError(f"config field {key} uses a Union type, which the loader does not support")
    raise TypeError(f"config field {key} has unsupported type {tp!r}")


def _build(cls: type, values: dict[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for name in values:
        if name not in names:
            raise _unknown_key(prefix + name)
    kwargs = {name: _coerce(v, hints[name], prefix + name) for name, v in values.items()}
    return cls(**kwargs)


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in update.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _set_dotted(tree: dict[str, Any], key: str, value: Any) -> None:
    node = tree
    parts = key.split(".")
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            raise _unknown_key(key)
        node = node[part]
    if parts[-1] not in node:
        raise _unknown_key(key)
    node[parts[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """``"data.num_videos.sft=200"`` → ("data.num_videos.sft", 200); values are YAML scalars."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like dotted.key=value")
    key, raw = text.split("=", 1)
    try:
        return key.strip(), yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {text!r}: value is not valid YAML ({exc})") from None


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def read_preset(preset: str) -> dict[str, Any]:
    """A preset by name (``tiny``) or by path to a YAML file."""
    path = Path(preset)
    if not (path.suffix in (".yaml", ".yml") and path.exists()):
        path = PRESET_DIR / f"{preset}.yaml"
    if not path.exists():
        raise ConfigError(
            f"preset {preset!r} not found: use one of {', '.join(preset_names())} or a path to a YAML file"
        )
    try:
        tree = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"preset {path} is not valid YAML: {exc}") from None
    if not isinstance(tree, dict):
        raise ConfigError(f"preset {path} must be a mapping of config sections, got {type(tree).__name__}")
    return tree


def load(preset: str | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Defaults ← preset ← overrides, type-checked and validated into a frozen Config."""
    tree = to_dict(Config())
    if preset:
        tree = _merge(tree, read_preset(preset))
        tree["run"]["preset"] = Path(preset).stem
    for text in overrides:
        key, value = parse_override(text)
        _set_dotted(tree, key, value)
    return _build(Config, tree)


def replace(cfg: Config, overrides: dict[str, Any]) -> Config:
    """A copy of cfg with dotted keys set (the same checks as CLI overrides)."""
    tree = to_dict(cfg)
    for key, value in overrides.items():
        _set_dotted(tree, key, value)
    return _build(Config, tree)


def from_dict(tree: dict[str, Any]) -> Config:
    """Rebuild a Config from ``to_dict`` output (e.g. a resolved YAML or a Ray worker's args)."""
    return _build(Config, tree)


# ---------------------------------------------------------------------------------------------
# Reference documentation (docs/configuration.md is generated from the attribute docstrings)


def _field_docs(cls: type) -> dict[str, str]:
    import ast
    import inspect
    import textwrap

    body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0].body
    docs = {}
    for node, nxt in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant):
            docs[node.target.id] = " ".join(str(nxt.value.value).split())
    return docs


def reference_markdown() -> str:
    """Every config key with its default and docstring, one table per branch."""
    lines = ["# Configuration reference", "",
             "Generated by `physar config docs` from the dataclasses in `physar_ray/config.py`; "
             "do not edit by hand.", ""]

    def walk(cls: type, prefix: str, default: Any) -> list[tuple[str, str, str]]:
        rows = []
        hints, docs = typing.get_type_hints(cls), _field_docs(cls)
        for f in dataclasses.fields(cls):
            value = getattr(default, f.name)
            if dataclasses.is_dataclass(hints[f.name]):
                rows.extend(walk(hints[f.name], f"{prefix}{f.name}.", value))
            else:
                rows.append((f"{prefix}{f.name}", json.dumps(_plain(value)), docs.get(f.name, "")))
        return rows

    root = Config()
    for f in dataclasses.fields(Config):
        branch = getattr(root, f.name)
        lines += [f"## `{f.name}`", "", (type(branch).__doc__ or "").strip().splitlines()[0], "",
                  "| key | default | meaning |", "| --- | --- | --- |"]
        lines += [f"| `{k}` | `{v}` | {d.replace('|', '/')} |" for k, v, d in walk(type(branch), f"{f.name}.", branch)]
        lines.append("")
    return "\n".join(lines)

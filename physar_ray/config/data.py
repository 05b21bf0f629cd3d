"""The ``data`` branch: the ball simulator and its dataset (docs: configuration.md)."""

from __future__ import annotations

from dataclasses import dataclass

from physar_ray.config.base import ConfigError, at_least, plain, within

SCENARIOS = ("uniform", "parabola", "collision")
SPLITS = ("sft", "rl", "eval_iid", "eval_ood")
MIN_RESOLUTION = 32


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
        raise ConfigError(f"{key}={plain(intervals)} has zero total length")


@dataclass(frozen=True)
class ParamRanges:
    """Ranges of the sampled degrees of freedom, each a union of [low, high] intervals."""

    radius: tuple[tuple[float, float], ...] = ((0.8, 1.4),)
    """r: ball radius in world units (docs/method.md §2)."""
    speed: tuple[tuple[float, float], ...] = ((1.5, 3.5),)
    """v: initial horizontal speed in world units/s (docs/method.md §2)."""

    def check(self, key: str) -> None:
        _check_intervals(f"{key}.radius", self.radius, 0.05, 5.0)
        _check_intervals(f"{key}.speed", self.speed, 0.0, 20.0)


@dataclass(frozen=True)
class SplitRanges:
    """Parameter ranges per split (docs/method.md §2 table). eval_iid shares sft's range, off its grid."""

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
        at_least(self, "data.num_videos", **dict.fromkeys(SPLITS, 0))


@dataclass(frozen=True)
class DataConfig:
    """The ball simulator and its dataset (docs/method.md §2)."""

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
        for key, allowed in (("scenarios", SCENARIOS), ("splits", SPLITS)):
            for name in getattr(self, key):
                if name not in allowed:
                    raise ConfigError(f"data.{key} has {name!r}: allowed are {', '.join(allowed)}")
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
        at_least(self, "data", max_attempts=1, videos_per_shard=1, min_in_view_frames=1)
        if self.grid_points < 2:
            raise ConfigError(f"data.grid_points={self.grid_points} must be >= 2 (a grid has both ends)")
        if self.min_in_view_frames > self.num_frames:
            raise ConfigError(
                f"data.min_in_view_frames={self.min_in_view_frames} exceeds data.num_frames={self.num_frames}"
            )
        within(self, "data", num_cpus_per_task="(0, 64]")
        if self.gravity < 0 or self.world_size <= 0:
            raise ConfigError("data.gravity must be >= 0 and data.world_size > 0")

    @property
    def steps_per_frame(self) -> int:
        return round(self.frame_dt / self.physics_dt)



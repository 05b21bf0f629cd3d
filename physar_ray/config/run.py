"""The ``run``, ``storage`` and ``measure`` branches: what the whole run shares, object storage, tracking + rewards."""

from __future__ import annotations

from dataclasses import dataclass

from physar_ray import storage
from physar_ray.config.base import ConfigError, at_least, within
from physar_ray.faults import parse as fault_spec


@dataclass(frozen=True)
class MeasureConfig:
    """Tracking, physics errors and rewards (docs/method.md §3)."""

    alpha: float = 4.0
    """α: scale of the velocity reward R_vel = α·exp(−k·v_err) (docs/method.md §3)."""
    k: float = 1.4
    """k: decay of the velocity reward per unit of v_err (units/s)⁻¹ (docs/method.md §3)."""
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
        at_least(self, "measure", alpha=0, k=0, min_area_px=0, num_actors=1, batch_size=1)
        within(self, "measure", floor_reward="[-1e6, 1e6]", min_valid_fraction="(0, 1]", rim_px="[0, 8]",
               num_cpus_per_actor="(0, 64]")


@dataclass(frozen=True)
class StorageConfig:
    """Object storage endpoint; credentials always come from the standard AWS environment."""

    s3_endpoint: str = ""
    """S3-compatible endpoint URL (MinIO, LocalStack); empty uses AWS_ENDPOINT_URL or AWS."""
    s3_region: str = ""
    """Region; empty uses AWS_REGION / AWS_DEFAULT_REGION or us-east-1."""
    s3_attempts: int = storage.DEFAULT_ATTEMPTS
    """Attempts of each S3 request, with exponential backoff and jitter between them (AWS standard retry
    strategy, up to 20 s apart): an endpoint that is down for a while stalls the run, then it goes on; 1: no retry."""

    def apply(self) -> None:
        """This process's S3 endpoint and region (the one place they are set: every command and job calls it
        first; runtime.cluster.ensure_ray carries them to the job's workers)."""
        storage.configure(self.s3_endpoint, self.s3_region, self.s3_attempts)

    def __post_init__(self) -> None:
        at_least(self, "storage", s3_attempts=1)


@dataclass(frozen=True)
class RunConfig:
    """What the whole run shares."""

    preset: str = "default"
    """Name of the preset this config was loaded from (informational)."""
    ray_address: str = ""
    """Ray cluster to join; empty starts a local instance (or joins RAY_ADDRESS if set)."""
    num_cpus: int = 0
    """CPUs for a local Ray instance; 0 lets Ray detect them."""
    dashboard: bool = True
    """A local Ray instance serves its dashboard (http://127.0.0.1:8265, or the next free port; the log names it).
    Ray Train's state queries need it: without it every training stage logs "Failed to query Ray Train
    Controller actor state" about once a second. A joined cluster keeps its own dashboard."""
    tune: bool = False
    """`physar run` ends with the `tune` stage: a sweep (the tune branch) of GRPO runs from the SFT model."""
    train_resource: str = ""
    """Custom Ray resource every *training* worker asks for (tokenizer training, SFT, GRPO learners), one unit per
    GPU (one per worker without a GPU), so the autoscaler starts the node type that declares it (cluster/aws.yaml:
    learner); empty: CPUs and GPUs alone decide."""
    infer_resource: str = ""
    """The same for *inference* actors (encode/reconstruct pools, evaluation generation, GRPO rollout actors;
    cluster/aws.yaml: rollout)."""
    faults: tuple[str, ...] = ()
    """Faults to inject, for fault tests and drills (docs/fault-tolerance.md): `POINT@STEP` or `POINT[RANK]@STEP`
    kills that worker's process once when it reaches STEP (points: tokenizer.worker, sft.worker, grpo.controller,
    grpo.rollout);
    empty: none."""
    max_cluster_resources: tuple[str, ...] = ()
    """`RESOURCE=AMOUNT` entries: what an autoscaling cluster can grow to (its node types' max_workers × their
    resources), e.g. [CPU=512, GPU=64, learner=32, rollout=32]. A run that fits these but not the cluster's
    current resources waits for the autoscaler (placement groups wait up to 10 minutes, then fail naming the
    actors); one that cannot fit even these is refused before it starts. Empty: the current resources are the
    most the cluster will ever have."""

    def max_resources(self) -> dict[str, float]:
        """``max_cluster_resources`` as {resource: amount}."""
        parsed = {}
        for entry in self.max_cluster_resources:
            name, _, amount = entry.partition("=")
            try:
                parsed[name.strip()] = float(amount)
            except ValueError:
                raise ConfigError(f"run.max_cluster_resources entry {entry!r} must be RESOURCE=AMOUNT, "
                                  "e.g. GPU=64") from None
        return parsed

    def __post_init__(self) -> None:
        self.max_resources()
        for key in ("train_resource", "infer_resource"):
            name = getattr(self, key)
            if name in ("CPU", "GPU", "memory", "object_store_memory") or (name and not name.isidentifier()):
                raise ConfigError(f"run.{key}={name!r} must be a custom resource name (letters, digits, _), "
                                  "as declared in the cluster file's node types, not a built-in resource")
        for spec in self.faults:
            try:
                fault_spec(spec)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None



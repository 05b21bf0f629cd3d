"""What every stage asks Ray for, in one place: the stages build their Ray options from these
requests and `physar plan` places the same requests on a cluster file's node types (no Ray import).

Model work asks for the run's custom resources as well, one unit per GPU (one per worker without
a GPU): training workers (tokenizer training, SFT, GRPO learners) ``run.train_resource``,
inference actors (encode and reconstruct pools, evaluation generation, GRPO rollout actors)
``run.infer_resource``. A cluster file that declares ``learner: 8`` on its 8-GPU training nodes
and ``rollout: 4`` on its 4-GPU inference nodes then gets each worker on the node type meant for
it, and its autoscaler starts that type. Simulation, scoring and reward actors ask for none.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from physar_ray.config import Config, RunConfig

COLOCATED_SHARE = 0.5
"""Fraction of the shared GPU (and its custom resource) each of a colocated pair asks for inside its bundle."""


@dataclass(frozen=True)
class Request:
    """One worker's, actor's or task's resources."""

    cpus: float
    gpus: float = 0.0
    custom: dict[str, float] = field(default_factory=dict)

    def bundle(self) -> dict[str, float]:
        """A placement-group bundle (or Ray Train's ``resources_per_worker``)."""
        return {"CPU": self.cpus, **({"GPU": self.gpus} if self.gpus else {}), **self.custom}

    def options(self) -> dict[str, object]:
        """Keyword arguments for ``ray.remote`` / ``.options`` / ``map_batches``."""
        return {"num_cpus": self.cpus, "num_gpus": self.gpus, **({"resources": dict(self.custom)} if self.custom else {})}

    def scaled(self, share: float) -> Request:
        return Request(self.cpus * share, self.gpus * share, {k: v * share for k, v in self.custom.items()})


def _request(cpus: float, gpus: float, resource: str) -> Request:
    return Request(cpus, gpus, {resource: gpus or 1.0} if resource else {})


def train_request(run: RunConfig, cpus: float, use_gpu: bool) -> Request:
    """A training worker: one whole GPU when ``use_gpu``, plus one unit of ``run.train_resource``."""
    return _request(cpus, 1.0 if use_gpu else 0.0, run.train_resource)


def infer_request(run: RunConfig, cpus: float, gpus: float) -> Request:
    """An inference actor: ``gpus`` (fractions share a GPU), plus as many units of ``run.infer_resource``
    (one without a GPU)."""
    return _request(cpus, gpus, run.infer_resource)


def tokenizer_worker(cfg: Config) -> Request:
    return train_request(cfg.run, cfg.tokenizer.num_cpus_per_worker, cfg.tokenizer.use_gpu)


def tokenizer_actor(cfg: Config) -> Request:
    """An encode / reconstruct actor of the tokenizer's Ray Data pools."""
    return infer_request(cfg.run, cfg.tokenizer.num_cpus_per_actor, cfg.tokenizer.num_gpus_per_actor)


def sft_worker(cfg: Config) -> Request:
    return train_request(cfg.run, cfg.sft.num_cpus_per_worker, cfg.sft.use_gpu)


def generation_actor(cfg: Config) -> Request:
    """The actor holding the engine of `physar eval generate` and `physar eval model`."""
    return infer_request(cfg.run, cfg.generate.num_cpus, cfg.generate.num_gpus)


def rollout_actor(cfg: Config) -> Request:
    r = cfg.grpo.rollout
    return infer_request(cfg.run, r.num_cpus_per_worker, r.num_gpus_per_worker)


def learner_rank(cfg: Config) -> Request:
    lr = cfg.grpo.learner
    return train_request(cfg.run, lr.num_cpus_per_worker, lr.use_gpu)


def reward_actor(cfg: Config) -> Request:
    return Request(cfg.measure.num_cpus_per_actor)


def colocated_bundle(cfg: Config) -> Request:
    """With grpo.colocate, the bundle rollout actor i and learner rank i share: their CPUs, one GPU (when they
    use GPUs) and one unit of run.train_resource; each asks for COLOCATED_SHARE of the GPU inside it."""
    return Request(cfg.grpo.rollout.num_cpus_per_worker + cfg.grpo.learner.num_cpus_per_worker,
                   learner_rank(cfg).gpus, learner_rank(cfg).custom)


def colocated_member(cfg: Config, cpus: float) -> Request:
    """One of a colocated pair: its own CPUs and COLOCATED_SHARE of the bundle's GPU and custom resource."""
    shared = colocated_bundle(cfg).scaled(COLOCATED_SHARE)
    return Request(cpus, shared.gpus, shared.custom)


@dataclass(frozen=True)
class Demand:
    """``count`` workers of one kind in a stage; ``gang``: they must all be placed at once (a Ray Train
    worker group or a placement group) before the stage starts."""

    what: str
    request: Request
    count: int
    gang: bool = False
    phase: str = ""
    """A stage's demands of one phase run at the same time; its phases run one after another, each freeing
    its workers before the next starts (evaluation generates, then decodes, then scores)."""
    count_key: str = ""
    """The config key that sets ``count`` (`physar plan` names it when the workers do not fit)."""


def grpo_demands(cfg: Config) -> list[Demand]:
    """GRPO's actors in placement-group order (grpo.placement): rollout, learner, reward."""
    g = cfg.grpo
    reward = Demand("reward actor", reward_actor(cfg), cfg.measure.num_actors, gang=True,
                    count_key="measure.num_actors")
    learners = "grpo.learner.num_workers"
    if g.colocate:
        return [Demand("rollout actor + learner rank (colocated)", colocated_bundle(cfg), g.learner.num_workers,
                       gang=True, count_key=learners), reward]
    return [Demand("rollout actor", rollout_actor(cfg), g.rollout.num_workers, gang=True,
                   count_key="grpo.rollout.num_workers"),
            Demand("learner rank", learner_rank(cfg), g.learner.num_workers, gang=True, count_key=learners), reward]


def stage_demands(cfg: Config) -> dict[str, list[Demand]]:
    """Per `physar run` stage, what it asks Ray for while it runs (stages run one after another).
    Ray Data stages (simulation, scoring, Parquet reads) scale their CPU tasks to the cluster and are
    listed with one task each."""
    d, tok = cfg.data, cfg.tokenizer
    sim = Demand("simulation task", Request(d.num_cpus_per_task), 1)
    reconstruct = Demand("reconstruct actor", tokenizer_actor(cfg), tok.encode_actors, phase="decode",
                         count_key="tokenizer.encode_actors")
    score = Demand("reward/score task", reward_actor(cfg), 1, phase="score")
    generate = Demand("generation actor", generation_actor(cfg), 1, phase="generate")
    demands = {
        "data": [sim],
        "floor": [score],
        "tokenizer": [Demand("tokenizer training worker", tokenizer_worker(cfg), tok.num_workers, gang=True,
                             count_key="tokenizer.num_workers")],
        "tokens": [Demand("encode actor", tokenizer_actor(cfg), tok.encode_actors,
                          count_key="tokenizer.encode_actors")],
        "recon": [reconstruct, score],
        "sft": [Demand("SFT worker", sft_worker(cfg), cfg.sft.num_workers, gang=True, count_key="sft.num_workers")],
        "eval_sft": [generate, reconstruct, score],
        "grpo": grpo_demands(cfg),
        "eval_grpo": [generate, reconstruct, score],
    }
    if cfg.run.tune:
        trial = [Demand("tune trial driver", Request(cfg.tune.trial_cpus), 1, gang=True), *grpo_demands(cfg)]
        demands["tune"] = trial
    return demands

"""`physar plan`: every stage's Ray demands (resources.stage_demands) placed on a cluster's node types,
and the memory of every GPU worker checked against the GPU it lands on.

Placement. A request fits a node type when one node of it has every resource the request names
(a custom resource only on types that declare it, GPUs only on GPU types). Of the fitting types the
cheapest is tried first (fewest GPUs, fewest custom resources, fewest CPUs: CPU work stays off GPU
nodes, as Ray's scheduler keeps it), then the next when it is at its node limit. Workers fill
the nodes already started before a new one starts (first fit), up to each type's max nodes and
the cluster's max_workers. A stage's demands of one phase must all fit at once: gang demands (Ray
Train groups, placement groups) by definition, and fixed-size actor pools (tokenizer, rewards) wait for
their actors too; phases run one after another, so a stage needs, per node type, the most any of
its phases needs. A refusal names the stage, the demand and the config key to change.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from physar_ray.config import Config
from physar_ray.plan.cluster_file import Cluster, NodeType
from physar_ray.plan.estimates import ESTIMATES, Estimate, GPUSlot, Models
from physar_ray.plan.memory import GB
from physar_ray.resources import Demand, Request, stage_demands

EPS = 1e-9


@dataclass(frozen=True)
class Placement:
    """Where one demand's workers went: nodes of each node type they occupy."""

    demand: Demand
    nodes: dict[str, int] = field(default_factory=dict)
    placed: int = 0
    """Workers placed (fewer than demand.count when refused)."""


@dataclass(frozen=True)
class MemoryCheck:
    """One GPU estimate of a demand on the node type it landed on (estimate None: that GPU's memory is unknown)."""

    demand: str
    node_type: str
    estimate: Estimate | None


@dataclass(frozen=True)
class StagePlan:
    name: str
    placements: tuple[Placement, ...]
    nodes: dict[str, int]
    """Nodes per node type the stage needs (its busiest phase)."""
    memory: tuple[MemoryCheck, ...]
    refusals: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    preset: str
    cluster: Cluster
    stages: tuple[StagePlan, ...]
    models: Models

    @property
    def refusals(self) -> list[str]:
        return [r for s in self.stages for r in s.refusals]

    @property
    def fits(self) -> bool:
        return not self.refusals

    @property
    def peak_nodes(self) -> dict[str, int]:
        """Per node type, the most nodes any stage needs (what the autoscaler starts at some point)."""
        peak = {t.name: max(s.nodes.get(t.name, 0) for s in self.stages) for t in self.cluster.node_types}
        return {name: n for name, n in peak.items() if n}


def describe(request: Request) -> str:
    """``4 CPU, 1 GPU, learner 1``."""
    return ", ".join(f"{v:g} {k}" if k in ("CPU", "GPU") else f"{k} {v:g}" for k, v in request.bundle().items())


def fits_on(request: Request, free: dict[str, float]) -> bool:
    return all(free.get(k, 0.0) >= v - EPS for k, v in request.bundle().items() if v > 0)


def cost(node: NodeType) -> tuple[float, int, float, str]:
    """Cheapest first: fewest GPUs, fewest custom resources, fewest CPUs."""
    return node.gpus, len(node.custom), node.cpus, node.name


class _Nodes:
    """Nodes started so far in one phase, with their free resources."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.free: dict[str, list[dict[str, float]]] = {t.name: [] for t in cluster.node_types}

    def workers(self) -> int:
        return sum(len(self.free[t.name]) for t in self.cluster.node_types if not t.head)

    def take(self, request: Request, candidates: list[NodeType]) -> tuple[str, int] | None:
        """(node type, node index) of the first node with room, starting one when the limits allow."""
        for node in candidates:
            started = self.free[node.name]
            for i, free in enumerate(started):
                if fits_on(request, free):
                    for k, v in request.bundle().items():
                        free[k] = free.get(k, 0.0) - v
                    return node.name, i
            capped = self.cluster.max_workers and not node.head and self.workers() >= self.cluster.max_workers
            if len(started) < node.max_nodes and not capped:
                started.append(node.capacity())
                return self.take(request, [node])
        return None

    def used(self) -> dict[str, int]:
        return {name: len(nodes) for name, nodes in self.free.items() if nodes}


def _no_type(stage: str, d: Demand, cfg: Config, cluster: Cluster) -> str:
    missing = [k for k in d.request.custom if not any(k in t.custom for t in cluster.node_types)]
    if missing:
        keys = {cfg.run.train_resource: "run.train_resource", cfg.run.infer_resource: "run.infer_resource"}
        key = keys.get(missing[0])
        fix = (f"declare {missing[0]!r} on the node types meant for this work" +
               (f" or set {key}='' (any GPU node)" if key else ""))
        return f"{stage}: {d.what} asks for {describe(d.request)}, but no node type of {cluster.name} declares " \
               f"the custom resource {missing[0]!r}: {fix}"
    offers = "; ".join(f"{t.name} {describe(Request(t.cpus, t.gpus, t.custom))}" for t in cluster.node_types)
    return f"{stage}: {d.what} asks for {describe(d.request)} per worker, more than one node of any type of " \
           f"{cluster.name} has ({offers}): lower its request or add a bigger node type"


def _too_many(stage: str, d: Demand, placed: int, candidates: list[NodeType], cluster: Cluster, capped: bool) -> str:
    limits = ", ".join(f"{t.max_nodes} × {t.name}" for t in candidates)
    cap = f", at most max_workers={cluster.max_workers} in all" if capped else ""
    lower = f"lower {d.count_key} or " if d.count_key else ""
    more = "plan for a cluster (--cluster FILE)" if cluster.kind == "local" else f"raise those maxima in {cluster.name}"
    return f"{stage}: {d.count} × {d.what} ({describe(d.request)} each) must run at once, but only {placed} fit " \
           f"beside the stage's other workers on at most {limits}{cap}: {lower}{more}"


def _place(stage: str, demands: list[Demand], cfg: Config, cluster: Cluster) -> tuple[list[Placement], dict[str, int],
                                                                                      list[str]]:
    nodes, placements, refusals = _Nodes(cluster), [], []
    for d in demands:
        candidates = sorted((t for t in cluster.node_types if fits_on(d.request, t.capacity())), key=cost)
        if not candidates:
            placements.append(Placement(d))
            refusals.append(_no_type(stage, d, cfg, cluster))
            continue
        where: dict[str, set[int]] = {}
        placed = 0
        for _ in range(d.count):
            slot = nodes.take(d.request, candidates)
            if slot is None:
                capped = bool(cluster.max_workers) and nodes.workers() >= cluster.max_workers
                refusals.append(_too_many(stage, d, placed, candidates, cluster, capped))
                break
            where.setdefault(slot[0], set()).add(slot[1])
            placed += 1
        placements.append(Placement(d, {name: len(ids) for name, ids in where.items()}, placed))
    return placements, nodes.used(), refusals


def _gb(x: float) -> str:
    return f"{x / GB:.1f}"


def memory_refusal(stage: str, node_type: str, e: Estimate) -> str:
    if e.conflict:
        return f"{stage}: {e.what} on {node_type}: {e.conflict}"
    parts = ", ".join(f"{label} {_gb(b)}" for label, b in e.parts if b >= 0.05 * GB)
    return f"{stage}: {e.what} needs {_gb(e.total)} GB per GPU ({parts}) > {e.limit_label} on {node_type}: " \
           f"{' or '.join(e.fixes)}"


def _memory(stage: str, placements: list[Placement], cfg: Config, cluster: Cluster,
            models: Models) -> tuple[list[MemoryCheck], list[str]]:
    types = {t.name: t for t in cluster.node_types}
    checks, refusals = [], []
    for p in placements:
        if p.demand.request.gpus <= 0:
            continue
        if p.demand.what not in ESTIMATES:
            raise ValueError(f"no memory estimate for the GPU demand {p.demand.what!r}: add one to "
                             "physar_ray/plan/estimates.py ESTIMATES")
        for name in p.nodes:
            gpu = types[name].gpu
            if gpu is None:
                checks.append(MemoryCheck(p.demand.what, name, None))
                continue
            slot = GPUSlot(gpu.name, gpu.memory_gb * GB, p.demand.request.gpus)
            for e in ESTIMATES[p.demand.what](cfg, models, slot):
                checks.append(MemoryCheck(p.demand.what, name, e))
                if not e.fits:
                    refusals.append(memory_refusal(stage, name, e))
    return checks, refusals


def plan_stage(name: str, demands: list[Demand], cfg: Config, cluster: Cluster, models: Models) -> StagePlan:
    placements, refusals, checks, nodes = [], [], [], {}
    for phase in dict.fromkeys(d.phase for d in demands):
        placed, used, refused = _place(name, [d for d in demands if d.phase == phase], cfg, cluster)
        memory, too_big = _memory(name, placed, cfg, cluster, models)
        placements += placed
        refusals += refused + too_big
        checks += memory
        nodes = {t.name: max(nodes.get(t.name, 0), used.get(t.name, 0)) for t in cluster.node_types
                 if t.name in nodes or t.name in used}
    return StagePlan(name, tuple(placements), nodes, tuple(checks), tuple(refusals))


def plan(cfg: Config, cluster: Cluster, model_config: str = "") -> Plan:
    """Place every stage of ``cfg``'s pipeline on ``cluster`` and check its GPU workers' memory."""
    models = Models(cfg, model_config)
    stages = tuple(plan_stage(name, demands, cfg, cluster, models) for name, demands in stage_demands(cfg).items())
    return Plan(cfg.run.preset, cluster, stages, models)

"""A :class:`~physar_ray.plan.planner.Plan` as text tables (the CLI's default) or as JSON."""

from __future__ import annotations

import dataclasses
import json

from physar_ray.plan.cluster_file import Cluster, NodeType
from physar_ray.plan.estimates import Estimate
from physar_ray.plan.memory import GB
from physar_ray.plan.model_shape import LMShape, TokenizerShape
from physar_ray.plan.planner import Placement, Plan, StagePlan, describe
from physar_ray.resources import Request


def _table(header: list[str], rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return [indent + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows]]


def _node_type(t: NodeType) -> list[str]:
    gpu = f"{t.gpus:g} × {t.gpu.name} {t.gpu.memory_gb:g} GB" if t.gpu else ("GPU memory unknown" if t.gpus else "")
    return [t.name, t.source, describe(Request(t.cpus, t.gpus, t.custom)), gpu, f"≤ {t.max_nodes}"]


def _cluster(c: Cluster) -> list[str]:
    cap = f", max_workers {c.max_workers}" if c.max_workers else ""
    return [f"cluster: {c.name} ({c.kind}{cap})",
            *_table(["node type", "from", "resources per node", "GPUs", "nodes"],
                    [_node_type(t) for t in c.node_types])]


def _count(n: int) -> str:
    """8.03 B, 33.8 M, 67.2 k."""
    for scale, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return str(n)


def _models(counted: dict[str, LMShape | TokenizerShape]) -> list[str]:
    lines = []
    if "lm" in counted:
        lm = counted["lm"]
        added = f", {lm.added_tokens} added by SFT" if lm.added_tokens else ""
        lines.append(f"LM: {lm.model_type} ({lm.source}): {_count(lm.parameters)} parameters, vocabulary of "
                     f"{lm.vocab_size} rows{added}; {lm.sequence_length} tokens a video, {lm.target_codes} generated")
    if "tokenizer" in counted:
        t = counted["tokenizer"]
        lines.append(f"tokenizer: {t.name}, {_count(t.parameters)} parameters")
    return lines


def _placement_row(p: Placement, phased: bool) -> list[str]:
    d, r = p.demand, p.demand.request
    custom = ", ".join(f"{k} {v:g}" for k, v in r.custom.items())
    where = ", ".join(p.nodes) or "nowhere"
    return [d.what + (f" [{d.phase}]" if phased else ""), str(d.count), f"{r.cpus:g}", f"{r.gpus:g}", custom or "-",
            "yes" if d.gang else "no", where, str(sum(p.nodes.values()))]


def _estimate(e: Estimate, node_type: str) -> list[str]:
    verdict = "fits" if e.fits else "REFUSED"
    parts = " · ".join(f"{label} {b / GB:.1f}" for label, b in e.parts)
    lines = [f"    {e.what} on {node_type}: {e.total / GB:.1f} GB of {e.limit_label}: {verdict}",
             f"      {parts}"]
    return lines + ([f"      {e.conflict}"] if e.conflict else [])


def _stage(s: StagePlan) -> list[str]:
    nodes = ", ".join(f"{n} × {t}" for t, n in s.nodes.items()) or "no node"
    phased = len({p.demand.phase for p in s.placements}) > 1  # phases run one after another: say which is which
    lines = [f"{s.name}: {nodes}" + (" (its busiest phase)" if phased else ""),
             *_table(["what", "count", "CPU", "GPU", "custom", "gang", "node type", "nodes"],
                     [_placement_row(p, phased) for p in s.placements])]
    if s.memory:
        lines.append("  memory per GPU (GB):")
    for m in s.memory:
        lines += _estimate(m.estimate, m.node_type) if m.estimate else \
            [f"    {m.demand} on {m.node_type}: not checked (the cluster file does not say which GPU it has)"]
    return lines


def text(plan: Plan) -> str:
    """The plan as a report: cluster, models, one table per stage with its GPU memory, then the verdict."""
    lines = [f"physar plan: preset {plan.preset}", *_cluster(plan.cluster), *_models(plan.models.counted()), ""]
    for stage in plan.stages:
        lines += [*_stage(stage), ""]
    peak = ", ".join(f"{n} × {t}" for t, n in plan.peak_nodes.items())
    lines.append(f"most nodes at once: {peak}")
    if plan.fits:
        lines.append("the plan fits")
    else:
        lines += ["refused:", *(f"  {r}" for r in plan.refusals)]
    return "\n".join(lines) + "\n"


def _estimate_dict(e: Estimate) -> dict[str, object]:
    return {"what": e.what, "parts_gb": {label: round(b / GB, 3) for label, b in e.parts},
            "total_gb": round(e.total / GB, 3), "limit_gb": round(e.limit / GB, 3), "limit": e.limit_label,
            "fits": e.fits, "fixes": list(e.fixes), "conflict": e.conflict}


def to_dict(plan: Plan) -> dict[str, object]:
    """The plan as plain data (``physar plan --format json``)."""
    stages = [{"name": s.name, "nodes": s.nodes, "refusals": list(s.refusals),
               "placements": [{"what": p.demand.what, "phase": p.demand.phase, "count": p.demand.count,
                               "gang": p.demand.gang, "request": p.demand.request.bundle(), "nodes": p.nodes,
                               "placed": p.placed} for p in s.placements],
               "memory": [{"demand": m.demand, "node_type": m.node_type,
                           **(_estimate_dict(m.estimate) if m.estimate else {"checked": False})} for m in s.memory]}
              for s in plan.stages]
    c = plan.cluster
    return {"preset": plan.preset, "fits": plan.fits, "refusals": plan.refusals, "peak_nodes": plan.peak_nodes,
            "cluster": {"name": c.name, "kind": c.kind, "max_workers": c.max_workers,
                        "node_types": [dataclasses.asdict(t) for t in c.node_types]},
            "models": {name: dataclasses.asdict(shape) for name, shape in plan.models.counted().items()},
            "stages": stages}


def as_json(plan: Plan) -> str:
    return json.dumps(to_dict(plan), indent=2) + "\n"

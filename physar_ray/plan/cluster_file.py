"""Cluster files → the node types `physar plan` places work on (no Ray, no cloud API).

Three formats, told apart by their keys:

- a Ray autoscaler YAML (``available_node_types``, cluster/aws.yaml): CPUs, GPUs and GPU model from
  the instance type (``INSTANCE_TYPES``); ``resources`` declared in the file win, as in Ray.
- a KubeRay ``RayCluster`` (cluster/kuberay/raycluster.yaml): CPUs and GPUs from the Ray container's
  limits (``cpu``, ``nvidia.com/gpu``), overridden by rayStartParams ``num-cpus`` / ``num-gpus``;
  custom resources from rayStartParams ``resources``; the GPU model from the pod's ``nodeSelector``
  label ``nvidia.com/gpu.product`` (written by NVIDIA's GPU feature discovery, e.g.
  ``NVIDIA-A100-SXM4-40GB``), its memory from ``GPU_PRODUCTS`` or the ``nvidia.com/gpu.memory``
  label (MiB) where set.
- physar's own machine list (``node_types``, cluster/one-gpu.yaml): ``resources`` (CPU, GPU and
  custom), ``gpu_model``, ``gpu_memory_gb``, ``max_nodes`` per type, for workstations and fixed clusters.

Without a file the plan runs against this machine (:func:`local_cluster`). A node type without
resources (a head with ``CPU: 0``) takes no work and is left out.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from physar_ray.plan.memory import GB


class ClusterFileError(ValueError):
    """A cluster file the planner cannot read; the message names the file, the entry and the fix."""


@dataclass(frozen=True)
class GPUModel:
    name: str
    memory_gb: float
    """Nominal memory in GB as sold (a little under what the card reports in GiB)."""


A100_40, A100_80 = GPUModel("A100", 40), GPUModel("A100", 80)
H100, H200 = GPUModel("H100", 80), GPUModel("H200", 141)
L40S, A10G, L4 = GPUModel("L40S", 48), GPUModel("A10G", 24), GPUModel("L4", 24)


@dataclass(frozen=True)
class Instance:
    cpus: int
    gpus: int = 0
    gpu: GPUModel | None = None


INSTANCE_TYPES = {
    "p4d.24xlarge": Instance(96, 8, A100_40),
    "p4de.24xlarge": Instance(96, 8, A100_80),
    "p5.48xlarge": Instance(192, 8, H100),
    "p5e.48xlarge": Instance(192, 8, H200),
    "g6e.xlarge": Instance(4, 1, L40S),
    "g6e.12xlarge": Instance(48, 4, L40S),
    "g6e.48xlarge": Instance(192, 8, L40S),
    "g5.xlarge": Instance(4, 1, A10G),
    "g5.12xlarge": Instance(48, 4, A10G),
    "g5.48xlarge": Instance(192, 8, A10G),
    "g6.12xlarge": Instance(48, 4, L4),
    "c6i.8xlarge": Instance(32),
    "c6i.16xlarge": Instance(64),
    "c7i.8xlarge": Instance(32),
    "m6i.2xlarge": Instance(8),
    "m6i.4xlarge": Instance(16),
    "m6i.8xlarge": Instance(32),
}
"""EC2 instance types: vCPUs, GPUs and their model (others: declare CPU and GPU in the node type's resources)."""

GPU_PRODUCTS = {
    "NVIDIA-A100-SXM4-40GB": A100_40,
    "NVIDIA-A100-SXM4-80GB": A100_80,
    "NVIDIA-A100-80GB-PCIe": A100_80,
    "NVIDIA-H100-80GB-HBM3": H100,
    "NVIDIA-H200": H200,
    "NVIDIA-L40S": L40S,
    "NVIDIA-A10G": A10G,
    "NVIDIA-L4": L4,
}
"""Values of the ``nvidia.com/gpu.product`` node label (NVIDIA GPU feature discovery)."""
PRODUCT_LABEL, MEMORY_LABEL = "nvidia.com/gpu.product", "nvidia.com/gpu.memory"


@dataclass(frozen=True)
class NodeType:
    """One kind of node: what Ray sees on each, and how many the cluster may start."""

    name: str
    cpus: float
    gpus: float = 0.0
    custom: dict[str, float] = field(default_factory=dict)
    max_nodes: int = 1
    gpu: GPUModel | None = None
    """None on CPU types, and on GPU types whose model the file does not say (memory is then not checked)."""
    source: str = ""
    """Where the numbers came from: the instance type, container limits, ..."""
    head: bool = False
    """The head node: always running, one, outside the cluster's max_workers."""

    def capacity(self) -> dict[str, float]:
        """The node's Ray resources, as a placement-group bundle would count them."""
        return {"CPU": self.cpus, **({"GPU": self.gpus} if self.gpus else {}), **self.custom}


@dataclass(frozen=True)
class Cluster:
    name: str
    """The file (or "this machine")."""
    kind: str
    node_types: tuple[NodeType, ...]
    max_workers: int = 0
    """Worker nodes the whole cluster may run at once (the autoscaler's max_workers); 0: no cap beyond the types'."""


def _custom(resources: dict[str, Any], where: str) -> dict[str, float]:
    out = {}
    for name, value in resources.items():
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise ClusterFileError(f"{where}: resource {name}={value!r} must be a number >= 0")
        out[str(name)] = float(value)
    return out


def _useful(types: list[NodeType]) -> tuple[NodeType, ...]:
    return tuple(t for t in types if t.cpus or t.gpus or any(t.custom.values()))


def _aws(tree: dict[str, Any], name: str) -> Cluster:
    types = []
    head = tree.get("head_node_type")
    for node, spec in tree["available_node_types"].items():
        where = f"{name}: available_node_types.{node}"
        declared = _custom(spec.get("resources") or {}, where)
        instance = (spec.get("node_config") or {}).get("InstanceType", "")
        known = INSTANCE_TYPES.get(instance)
        if known is None and "CPU" not in declared:
            raise ClusterFileError(
                f"{where}: instance type {instance!r} is not in physar's table (physar_ray/plan/cluster_file.py "
                f"INSTANCE_TYPES): declare its resources, e.g. resources: {{CPU: 32, GPU: 4}}")
        cpus = declared.pop("CPU", float(known.cpus if known else 0))
        gpus = declared.pop("GPU", float(known.gpus if known else 0))
        gpu = known.gpu if known and gpus else None
        max_nodes = 1 if node == head else int(spec.get("max_workers", 0))
        types.append(NodeType(node, cpus, gpus, declared, max_nodes, gpu, instance, head=node == head))
    return Cluster(name, "Ray autoscaler", _useful(types), int(tree.get("max_workers", 0)))


def _cpu_quantity(value: Any, where: str) -> float:
    """A Kubernetes CPU quantity: "16", 16, "500m"."""
    text = str(value)
    try:
        return float(text[:-1]) / 1000 if text.endswith("m") else float(text)
    except ValueError:
        raise ClusterFileError(f"{where}: cpu={value!r} is not a Kubernetes CPU quantity (e.g. \"16\" or \"500m\")") \
            from None


def _start_resources(value: Any, where: str) -> dict[str, float]:
    """rayStartParams.resources: a JSON object, as KubeRay passes it to `ray start --resources` (often quoted twice)."""
    if not value:
        return {}
    text = str(value).strip()
    if text.startswith('"') and text.endswith('"'):
        text = text[1:-1].replace('\\"', '"')
    try:
        return _custom(json.loads(text), where)
    except ValueError as exc:
        if isinstance(exc, ClusterFileError):
            raise
        raise ClusterFileError(f"{where}: rayStartParams.resources={value!r} is not a JSON object of resources") \
            from None


def _gpu_model(selector: dict[str, Any], where: str) -> GPUModel | None:
    product = str(selector.get(PRODUCT_LABEL, ""))
    if MEMORY_LABEL in selector:
        return GPUModel(product or "GPU", int(selector[MEMORY_LABEL]) * 2**20 / GB)
    if not product:
        return None
    if product not in GPU_PRODUCTS:
        raise ClusterFileError(f"{where}: nodeSelector {PRODUCT_LABEL}={product!r} is not in physar's table "
                               f"(GPU_PRODUCTS): add {MEMORY_LABEL}: \"<MiB>\" beside it")
    return GPU_PRODUCTS[product]


def _kuberay_group(group: dict[str, Any], node: str, max_nodes: int, where: str, head: bool = False) -> NodeType:
    params = group.get("rayStartParams") or {}
    pod = group["template"]["spec"]
    limits = (pod["containers"][0].get("resources") or {}).get("limits") or {}
    cpus = _cpu_quantity(params["num-cpus"] if "num-cpus" in params else limits.get("cpu", 0), where)
    gpus = float(params.get("num-gpus", limits.get("nvidia.com/gpu", 0)))
    gpu = _gpu_model(pod.get("nodeSelector") or {}, where) if gpus else None
    return NodeType(node, cpus, gpus, _start_resources(params.get("resources"), where), max_nodes, gpu,
                    "container limits", head)


def _kuberay(tree: dict[str, Any], name: str) -> Cluster:
    spec = tree["spec"]
    types = [_kuberay_group(spec["headGroupSpec"], "head", 1, f"{name}: headGroupSpec", head=True)]
    for group in spec.get("workerGroupSpecs") or []:
        node = group["groupName"]
        types.append(_kuberay_group(group, node, int(group.get("maxReplicas", group.get("replicas", 0))),
                                    f"{name}: workerGroupSpecs[{node}]"))
    return Cluster(name, "KubeRay RayCluster", _useful(types))


MACHINE_KEYS = {"resources", "gpu_model", "gpu_memory_gb", "max_nodes"}


def _machines(tree: dict[str, Any], name: str) -> Cluster:
    types = []
    for node, spec in tree["node_types"].items():
        where = f"{name}: node_types.{node}"
        unknown = set(spec) - MACHINE_KEYS
        if unknown:
            raise ClusterFileError(f"{where}: unknown keys {sorted(unknown)}; allowed are {sorted(MACHINE_KEYS)}")
        resources = _custom(spec.get("resources") or {}, where)
        cpus, gpus = resources.pop("CPU", 0.0), resources.pop("GPU", 0.0)
        if gpus and "gpu_memory_gb" not in spec:
            raise ClusterFileError(f"{where}: declares GPU: {gpus:g} but no gpu_memory_gb (e.g. gpu_memory_gb: 24)")
        gpu = GPUModel(str(spec.get("gpu_model", "GPU")), float(spec["gpu_memory_gb"])) if gpus else None
        types.append(NodeType(node, cpus, gpus, resources, int(spec.get("max_nodes", 1)), gpu, "declared"))
    return Cluster(name, "machines", _useful(types))


def read_cluster(path: str) -> Cluster:
    """The node types of a Ray autoscaler YAML, a KubeRay RayCluster or a physar machine list."""
    try:
        tree = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ClusterFileError(f"cannot read cluster file {path}: {exc}") from None
    if isinstance(tree, dict) and "available_node_types" in tree:
        return _aws(tree, path)
    if isinstance(tree, dict) and tree.get("kind") == "RayCluster":
        return _kuberay(tree, path)
    if isinstance(tree, dict) and "node_types" in tree:
        return _machines(tree, path)
    raise ClusterFileError(f"{path} is none of the cluster files physar plan reads: a Ray autoscaler YAML "
                           "(available_node_types), a KubeRay RayCluster (kind: RayCluster) or a machine list "
                           "(node_types, as cluster/one-gpu.yaml)")


def local_cluster(num_cpus: int = 0) -> Cluster:
    """This machine as one node type "local": ``num_cpus`` (run.num_cpus; 0: every core) and torch's CUDA GPUs."""
    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    gpu = None
    if gpus:
        props = torch.cuda.get_device_properties(0)
        gpu = GPUModel(props.name, round(props.total_memory / GB, 1))
    node = NodeType("local", float(num_cpus or os.cpu_count() or 1), float(gpus), {}, 1, gpu, "this machine")
    return Cluster("this machine", "local", (node,))

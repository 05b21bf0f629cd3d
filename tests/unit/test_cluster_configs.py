"""Cluster configs: the autoscaler YAML against Ray's own schema, KubeRay manifests against the CRDs' required fields."""

import copy
from pathlib import Path

import jsonschema
import pytest
import yaml
from ray.autoscaler._private.util import fillout_defaults, validate_config

CLUSTER = Path(__file__).resolve().parents[2] / "cluster"


def load(name):
    return yaml.safe_load((CLUSTER / name).read_text())


def test_aws_yaml_passes_rays_schema_and_scales_from_zero():
    config = load("aws.yaml")
    validate_config(fillout_defaults(copy.deepcopy(config)))
    workers = {k: v for k, v in config["available_node_types"].items() if k != config["head_node_type"]}
    assert all(v["min_workers"] == 0 for v in workers.values())
    assert {"cpu_sim", "gpu_rollout", "gpu_learner"} <= set(workers)
    assert all("IamInstanceProfile" in v["node_config"] for v in config["available_node_types"].values())
    assert "dashboard-host=127.0.0.1" in " ".join(config["head_start_ray_commands"])
    assert "spot" not in str(config["available_node_types"]["gpu_learner"]).lower()
    text = (CLUSTER / "aws.yaml").read_text()
    assert "aws_secret_access_key" not in text.lower() and "AWS_ACCESS_KEY_ID" not in text


def test_schema_check_catches_a_broken_config():
    config = load("aws.yaml")
    config["available_node_types"]["cpu_sim"]["min_wrokers"] = 0
    with pytest.raises(jsonschema.ValidationError):
        validate_config(fillout_defaults(config))


def _containers(template):
    containers = template["spec"]["containers"]
    assert containers and all(c.get("name") and c.get("image") for c in containers)
    return containers


def test_kuberay_raycluster_has_the_crd_required_fields():
    rc = load("kuberay/raycluster.yaml")
    assert rc["apiVersion"] == "ray.io/v1" and rc["kind"] == "RayCluster" and rc["metadata"]["name"]
    spec = rc["spec"]
    assert spec["enableInTreeAutoscaling"] is True
    head = spec["headGroupSpec"]
    assert isinstance(head["rayStartParams"], dict) and head["serviceType"] == "ClusterIP"
    _containers(head["template"])
    groups = spec["workerGroupSpecs"]
    assert {g["groupName"] for g in groups} == {"cpu-sim", "gpu-rollout", "gpu-learner"}
    for g in groups:
        assert isinstance(g["rayStartParams"], dict)
        assert g["minReplicas"] == 0 <= g["replicas"] <= g["maxReplicas"]
        for c in _containers(g["template"]):
            assert c["resources"]["requests"] == c["resources"]["limits"]
    gpus = [c["resources"]["limits"].get("nvidia.com/gpu") for g in groups for c in g["template"]["spec"]["containers"]]
    assert gpus.count(None) == 1


def test_kuberay_rayjob_targets_the_cluster():
    job = load("kuberay/rayjob.yaml")
    cluster = load("kuberay/raycluster.yaml")
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    assert job["spec"]["entrypoint"].startswith("python -m physar_ray.cli run")
    assert job["spec"]["clusterSelector"]["ray.io/cluster"] == cluster["metadata"]["name"]
    assert yaml.safe_load(job["spec"]["runtimeEnvYAML"])["env_vars"]

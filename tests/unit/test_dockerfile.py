"""The Dockerfile against what it must agree with: pyproject.toml's pins, the Makefile, the cluster files, .dockerignore."""

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

import physar_ray

ROOT = Path(__file__).resolve().parents[2]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, comments dropped and continuation lines joined."""
    lines = [line for line in (ROOT / "Dockerfile").read_text().splitlines() if not line.lstrip().startswith("#")]
    text = re.sub(r"\\\n", " ", "\n".join(lines))
    return [(m[1].upper(), m[2].strip()) for m in re.finditer(r"^(\w+)\s+(.*)$", text, re.M)]


def build_args() -> dict[str, str]:
    """Every ARG's default; an ARG declared twice (before and after FROM) keeps its one default."""
    pairs = [args.split("=", 1) for op, args in instructions() if op == "ARG" and "=" in args]
    return dict(pairs)


def requirements() -> dict[str, Requirement]:
    """What the image's `pip install .[gpu,vae,lora,optuna,tracking]` asks for, by project name."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    picked = sum((extras[e] for e in ("gpu", "vae", "lora", "optuna", "tracking")), [])
    reqs = [Requirement(r) for r in project["dependencies"] + picked]
    return {r.name: r for r in reqs}


def makefile_var(name: str) -> str:
    return re.search(rf"^{name} \??[:]?= (.+)$", (ROOT / "Makefile").read_text(), re.M)[1].strip()


def test_pins_match_pyproject_and_the_makefiles_torch():
    args, reqs = build_args(), requirements()
    assert str(reqs["vllm"].specifier) == f"=={args['VLLM_VERSION']}"
    # the CPU install pins the same torch: one version of the code paths everywhere
    assert makefile_var("TORCH") == f"torch=={args['TORCH_VERSION']}"
    for name, arg in [("torch", "TORCH_VERSION"), ("ray", "RAY_VERSION"), ("deepspeed", "DEEPSPEED_VERSION"),
                      ("transformers", "TRANSFORMERS_VERSION")]:
        assert reqs[name].specifier.contains(args[arg]), f"{arg}={args[arg]} outside pyproject's {reqs[name]}"


def test_base_image_is_rays_with_the_cuda_of_the_torch_index():
    args = build_args()
    assert ("FROM", "rayproject/ray:${RAY_VERSION}-${PYTHON_TAG}-${CUDA_TAG}") in instructions()
    assert args["TORCH_INDEX_URL"].rstrip("/").endswith("/" + args["CUDA_TAG"])
    assert args["PYTHON_TAG"] == "py311"  # the Dockerfile's tomllib one-liner needs Python >= 3.11


def test_image_runs_unbuffered_as_non_root_without_credentials():
    ops = instructions()
    users = [args for op, args in ops if op == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert ("ENV", "PYTHONUNBUFFERED=1") in ops
    names = [args.split("=", 1)[0] for op, args in ops if op == "ARG"]
    names += [kv.split("=", 1)[0] for op, args in ops if op == "ENV" for kv in args.split()]
    assert not [n for n in names if re.search(r"SECRET|TOKEN|PASSWORD|KEY", n, re.I)]


def test_dependencies_install_before_the_source_arrives():
    ops = instructions()
    copies = [i for i, (op, args) in enumerate(ops) if op == "COPY"]
    deps = next(i for i, (op, args) in enumerate(ops) if op == "RUN" and "-r /tmp/requirements.txt" in args)
    source = next(i for i in copies if ops[i][1].endswith(" . ./"))
    assert ops[copies[0]][1].endswith(" pyproject.toml ./") and copies[0] < deps < source
    assert [args for op, args in ops[source:] if op == "RUN"] == ["pip install --no-cache-dir --no-deps -e ."]


def test_dockerignore_keeps_out_environments_outputs_history_and_caches():
    patterns = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".git", ".venv", "runs", "**/__pycache__", ".pytest_cache", ".env"} <= patterns


def test_cluster_files_and_makefile_name_the_image_of_this_version():
    image = f"{makefile_var('IMAGE')}:{physar_ray.__version__}"
    raycluster = yaml.safe_load((ROOT / "cluster/kuberay/raycluster.yaml").read_text())
    templates = [raycluster["spec"]["headGroupSpec"]["template"]]
    templates += [g["template"] for g in raycluster["spec"]["workerGroupSpecs"]]
    assert {c["image"] for t in templates for c in t["spec"]["containers"]} == {image}
    assert raycluster["spec"]["rayVersion"] == build_args()["RAY_VERSION"]
    aws = yaml.safe_load((ROOT / "cluster/aws.yaml").read_text())
    assert aws["docker"]["image"] == image
    # the image holds the dependencies: no node installs any at start-up
    assert "pip install" not in str(aws.get("setup_commands", []))

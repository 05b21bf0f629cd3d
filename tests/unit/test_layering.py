"""Imports point down only (docs/design.md): cli → pipeline → stages → runtime → core → leaves.

Every import form counts (``import physar_ray.a.b``, ``from physar_ray.a import b``, ``from
physar_ray import a``, relative imports), wherever it sits (module top or inside a function: a lazy
import is still an arrow). The checks are plain functions over a package folder, so the last tests
plant an upward import and a cycle in a scratch package and see both caught.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "physar_ray"
LEVELS = [
    {"config", "extras", "faults", "layout", "provenance", "records", "resources", "run_log", "storage",
     "tracking"},  # leaves
    {"sim", "measure", "tokenizer", "lm", "rl", "optim", "report"},  # core: no Ray at module top
    {"runtime"},  # thin Ray helpers
    {"data", "train", "eval", "grpo", "tune", "plan"},  # stages, one folder each
    {"pipeline"},
    {"cli"},
]
LEVEL = {unit: i for i, units in enumerate(LEVELS) for unit in units}
CORE = 1
STAGES = 3
SIDEWAYS = {
    ("measure", "sim"),  # the pixel mapping
    ("lm", "tokenizer"),  # code counts
    ("report", "measure"), ("report", "sim"),  # rendering tracks and frames (world_to_pixel)
    *((unit, lower) for unit in LEVELS[CORE] for lower in ("report", "optim") if unit != lower),
    *((stage, "data") for stage in LEVELS[STAGES] if stage != "data"),  # stages meet through data
    ("tune", "grpo"),  # a sweep runs GRPO trials
}
HEAVY = {"ray", "deepspeed", "vllm"}


def module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def modules(root: Path) -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def imported(path: Path, root: Path, known: set[str], top_level_only: bool = False) -> set[str]:
    """The package's modules ``path`` imports (every form), as dotted names in ``known``."""
    tree = ast.parse(path.read_text())
    here = module_name(path, root)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()
    for node in (tree.body if top_level_only else ast.walk(tree)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import mod` imports pkg.mod; `from pkg.mod import function` imports pkg.mod
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:  # `import pkg.mod.attr`-like spellings → pkg.mod
                name = name.rpartition(".")[0]
            if name and name != root.name:
                found.add(name)
    return found - {here}


def unit_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer_problems(root: Path) -> list[str]:
    """Upward arrows, sideways arrows not in SIDEWAYS, and unknown units."""
    known = modules(root)
    problems = []
    for module, path in known.items():
        unit = unit_of(module)
        if not unit:
            continue
        if unit not in LEVEL:
            problems.append(f"{module}: unit {unit!r} is in no layer (add it to LEVELS here and in docs/design.md)")
            continue
        for target in sorted(imported(path, root, set(known))):
            other = unit_of(target)
            if other in ("", unit) or other not in LEVEL:
                continue
            if LEVEL[other] > LEVEL[unit]:
                problems.append(f"{module} imports {target}: upward ({unit} is below {other})")
            elif LEVEL[other] == LEVEL[unit] and LEVEL[unit] in (CORE, STAGES) and (unit, other) not in SIDEWAYS:
                problems.append(f"{module} imports {target}: sideways ({unit} → {other} is not an allowed edge)")
    return problems


def cycles(root: Path) -> list[list[str]]:
    """Import cycles between modules (lazy imports included), each as the modules around it."""
    known = modules(root)
    graph = {m: imported(p, root, set(known)) for m, p in known.items()}
    for m in graph:  # importing pkg.a.b runs pkg/a/__init__ first: that is no cycle of ours
        graph[m] = {t for t in graph[m] if not m.startswith(t + ".")}
    found, state, stack = [], {}, []

    def visit(m: str) -> None:
        state[m] = "open"
        stack.append(m)
        for t in sorted(graph.get(m, ())):
            if state.get(t) == "open":
                found.append(stack[stack.index(t):] + [t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m)
    return found


def heavy_problems(root: Path) -> list[str]:
    """Leaves and core never import ray, deepspeed or vllm at module top; rl imports torch only."""
    known = modules(root)
    problems = []
    for module, path in known.items():
        unit = unit_of(module)
        if LEVEL.get(unit, 99) > CORE:
            continue
        for node in ast.parse(path.read_text()).body:
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
            for name in names:
                top = name.split(".")[0]
                if top in HEAVY:
                    problems.append(f"{module} imports {name} at module top (import it inside a function)")
                if unit == "rl" and top not in ("torch", root.name, "__future__") and top not in sys.stdlib_module_names:
                    problems.append(f"{module} imports {name}: rl uses torch only")
    return problems


def test_every_unit_sits_in_a_layer_and_arrows_point_down():
    assert not layer_problems(PACKAGE), "\n".join(layer_problems(PACKAGE))


def test_no_import_cycles():
    found = cycles(PACKAGE)
    assert not found, "\n".join(" → ".join(c) for c in found)


def test_no_heavy_imports_at_core_module_top():
    assert not heavy_problems(PACKAGE), "\n".join(heavy_problems(PACKAGE))


def test_package_init_imports_nothing():
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    assert not [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "physar_ray"
    for rel, text in {"__init__.py": "", **files}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_a_planted_upward_import_is_caught_in_every_form(tmp_path):
    forms = ["import physar_ray.grpo.controller", "from physar_ray.grpo import controller",
             "from physar_ray.grpo.controller import step", "from physar_ray import grpo",
             "def lazy():\n    from ..grpo.controller import step"]
    for i, form in enumerate(forms):
        root = _package(tmp_path / str(i), {"grpo/__init__.py": "", "grpo/controller.py": "def step(): ...\n",
                                            "lm/__init__.py": "", "lm/engine.py": form + "\n"})
        problems = layer_problems(root)
        assert len(problems) == 1 and "physar_ray.lm.engine imports physar_ray.grpo" in problems[0], (form, problems)
        assert "upward" in problems[0]


def test_a_planted_sideways_reach_and_a_planted_cycle_are_caught(tmp_path):
    root = _package(tmp_path, {"grpo/__init__.py": "", "grpo/reward.py": "", "eval/__init__.py": "",
                               "eval/score.py": "from physar_ray.grpo.reward import pool\n",
                               "data/__init__.py": "", "data/a.py": "from physar_ray.data import b\n",
                               "data/b.py": "def f():\n    from . import a\n"})
    assert layer_problems(root) == ["physar_ray.eval.score imports physar_ray.grpo.reward: sideways "
                                    "(eval → grpo is not an allowed edge)"]
    assert cycles(root) == [["physar_ray.data.a", "physar_ray.data.b", "physar_ray.data.a"]]

"""Imports point down only (DESIGN.md §1): cli → pipeline → orchestration → core → leaves."""

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "physar_ray"
LEAVES = {"config", "faults", "records", "storage", "resources", "layout"}
CORE = {"sim", "measure", "tokenizer", "lm", "rl", "report"}
ORCHESTRATION = {"data", "train", "eval", "grpo", "tune", "ray_runtime", "plan"}
EDGES = {"pipeline", "cli"}
HEAVY = {"ray", "deepspeed", "vllm"}
ALLOWED_CORE_EDGES = {("measure", "sim"), ("lm", "tokenizer"), ("report", "measure"), ("report", "sim")}
"""report draws tracks (measure.tracker) and sample sheets in pixel coordinates (sim.render)."""
LEVEL = {**{m: 0 for m in LEAVES}, **{m: 1 for m in CORE}, **{m: 2 for m in ORCHESTRATION}, **{m: 3 for m in EDGES}}


def unit_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def imports(tree: ast.AST, top_level_only: bool):
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def test_every_module_belongs_to_a_layer():
    units = {unit_of(p) for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE}
    units.discard("presets")
    assert units <= set(LEVEL), f"add {units - set(LEVEL)} to a layer in this test and in DESIGN.md"


def test_no_upward_imports_and_no_heavy_imports_at_core_module_top():
    problems = []
    for path in PACKAGE.rglob("*.py"):
        if path.parent == PACKAGE and path.name == "__init__.py":
            continue
        unit = unit_of(path)
        tree = ast.parse(path.read_text())
        for name in imports(tree, top_level_only=False):
            parts = name.split(".")
            if parts[0] == "physar_ray" and len(parts) > 1 and parts[1] in LEVEL:
                target = parts[1]
                if target == unit:
                    continue
                upward = LEVEL[target] > LEVEL[unit]
                sideways_core = LEVEL[target] == LEVEL[unit] == 1 and (unit, target) not in ALLOWED_CORE_EDGES
                if upward or sideways_core:
                    problems.append(f"{path.relative_to(PACKAGE)} imports {name}")

        if LEVEL[unit] <= 1:
            for name in imports(tree, top_level_only=True):
                if name.split(".")[0] in HEAVY:
                    problems.append(f"{path.relative_to(PACKAGE)} imports {name} at module top (import it inside a function)")
        if unit == "rl":
            for name in imports(tree, top_level_only=False):
                top = name.split(".")[0]
                if top != "torch" and top not in sys.stdlib_module_names and not name.startswith("physar_ray.rl"):
                    problems.append(f"{path.relative_to(PACKAGE)} imports {name}: rl uses torch only")
    assert not problems, "\n".join(problems)


def test_package_init_imports_nothing_heavy():
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    assert not list(imports(tree, top_level_only=False))

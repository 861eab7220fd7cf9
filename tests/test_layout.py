"""The floor plan, checked from the source with the standard library's ast: imports run one way
(discovery -> envs, search_spaces; experiments -> all three), a world never imports another world, and
the module import graph has no circles, lazy (function-level) imports included."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import REPO

PACKAGES = ("discovery", "envs", "search_spaces", "experiments")
WORLDS = ("envs.mujoco", "envs.text")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((REPO / pkg).rglob("*.py"))}


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules that `path` imports anywhere in its body: `from a.b import c` is an import of
    module a.b.c when that is a module, else of a.b."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t in modules and t != name)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(path, modules) for name, path in modules.items()}


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_the_parser_sees_lazy_and_top_level_imports(graph) -> None:
    # Guards the checks below against a parser that finds nothing: known edges of both kinds.
    assert "envs.domain" in graph["discovery.inner"]  # top level
    assert "discovery.figures" in graph["discovery.cli.plot"]  # inside a function


@pytest.mark.parametrize("lower", ["envs", "search_spaces"])
def test_envs_and_search_spaces_never_import_discovery_or_experiments(graph, lower: str) -> None:
    bad = sorted(f"{m} -> {t}" for m, ts in graph.items() if _within(m, lower) for t in ts
                 if _within(t, "discovery") or _within(t, "experiments"))
    assert not bad, bad


def test_discovery_never_imports_experiments(graph) -> None:
    bad = sorted(f"{m} -> {t}" for m, ts in graph.items() if _within(m, "discovery") for t in ts
                 if _within(t, "experiments"))
    assert not bad, bad


@pytest.mark.parametrize("world", WORLDS)
def test_a_world_never_imports_another_world(graph, world: str) -> None:
    others = [w for w in WORLDS if w != world]
    bad = sorted(f"{m} -> {t}" for m, ts in graph.items() if _within(m, world) for t in ts
                 if any(_within(t, o) for o in others))
    assert not bad, bad


def test_the_import_graph_has_no_circles(graph) -> None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []
    circles: list[list[str]] = []

    def visit(m: str) -> None:
        state[m] = 1
        path.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                circles.append(path[path.index(t):] + [t])
            elif t not in state:
                visit(t)
        path.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not circles, [" -> ".join(c) for c in circles]


def test_no_test_module_imports_another(graph) -> None:
    bad = []
    for path in sorted((REPO / "tests").rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[-1].startswith("test_"):
                bad.append(f"{path.relative_to(REPO)} imports {node.module}")
    assert not bad, bad

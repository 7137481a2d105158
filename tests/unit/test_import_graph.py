"""The import graph of docs/architecture.md: no cycles, no project import inside a function, every actor module layered.

`lint-imports` (the contract in `.importlinter`) checks that imports go down the layers; these tests
check what a layers contract cannot: that no two modules import each other, directly or through
others (grimp's graph of every root package, plus `schedules.py`, which grimp cannot take as a root);
that no import of project code hides inside a function; and that the contract names every module of
`actors/` and every package of the project, so a new one cannot escape it.
"""

from __future__ import annotations

import ast
import configparser
import itertools
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT / ".importlinter"
#: The schedule table: a module at the root, not a package (so not a root package of the contract).
SCHEDULES = "schedules"

#: Function-level imports of project code that are allowed: (file relative to the root, imported module) -> why.
#: Keep it empty: an import inside a function hides a cycle or an upward edge from `lint-imports`.
ALLOWED_FUNCTION_IMPORTS: dict[tuple[str, str], str] = {}


def _contract() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(CONTRACT)
    return parser


def _names(value: str) -> list[str]:
    """The module names of a multi-line option (`root_packages`, `layers`): one per line or split by `:` / `|`."""
    return [name.strip("() ") for name in re.split(r"[\n:|]", value) if name.strip("() ")]


ROOT_PACKAGES = _names(_contract()["importlinter"]["root_packages"])
PROJECT_TOPS = {*ROOT_PACKAGES, SCHEDULES}


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    """grimp's graph of every root package; `schedules` appears as the one outside module worth keeping."""
    return grimp.build_graph(*ROOT_PACKAGES, include_external_packages=True, cache_dir=None)


def _project(module: str) -> bool:
    return module.split(".")[0] in PROJECT_TOPS


def _imports_of_schedules() -> set[str]:
    """The project modules `schedules.py` imports (grimp keeps it as an outside node with no edges of its own)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse((ROOT / "schedules.py").read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _edges(graph: grimp.ImportGraph) -> dict[str, set[str]]:
    """Project module -> the project modules it imports (at any level of the file)."""
    modules = {module for module in graph.modules if _project(module)}
    edges = {
        module: {imported for imported in graph.find_modules_directly_imported_by(module) if imported in modules}
        for module in modules
    }
    edges[SCHEDULES] = {imported for imported in _imports_of_schedules() if imported in modules}
    return edges


def _strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components (iterative: the graph is deeper than the recursion limit allows)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def _one_cycle(edges: dict[str, set[str]], component: list[str]) -> list[str]:
    """A shortest way from the component's first module back to itself, inside the component."""
    members, start = set(component), component[0]
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(edges[node] & members):
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if child not in came_from:
                    came_from[child] = node
                    following.append(child)
        frontier = following
    return component


def _describe(graph: grimp.ImportGraph, cycle: list[str]) -> str:
    steps = [cycle[0]]
    for importer, imported in itertools.pairwise(cycle):
        lines = sorted({d["line_number"] for d in graph.get_import_details(importer=importer, imported=imported)})
        steps.append(f"-> {imported} (l.{','.join(map(str, lines)) or '?'})")
    return " ".join(steps)


def _function_level_imports() -> list[tuple[str, int, str]]:
    """(file, line, module) of every import of project code inside a function of the product."""
    files = [ROOT / "schedules.py"]
    for package in ROOT_PACKAGES:
        files.extend(sorted((ROOT / package).rglob("*.py")))
    found = []
    for path in files:
        relative = str(path.relative_to(ROOT))
        for function in ast.walk(ast.parse(path.read_text(), filename=relative)):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.ImportFrom):
                    modules = [("." * node.level) + (node.module or "")]
                elif isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                else:
                    continue
                for module in modules:
                    if module.startswith(".") or module.split(".")[0] in PROJECT_TOPS:
                        found.append((relative, node.lineno, module))
    return sorted(set(found))


def test_no_two_project_modules_import_each_other_directly_or_through_others(graph: grimp.ImportGraph) -> None:
    # Given the import graph of every project module (imports at any level of each file)
    edges = _edges(graph)
    # When its strongly connected components are computed
    cycles = [component for component in _strongly_connected(edges) if len(component) > 1]
    # Then every module stands alone: a component of two or more modules is an import cycle
    described = "\n".join(_describe(graph, _one_cycle(edges, component)) for component in cycles)
    assert not cycles, f"{len(cycles)} import cycle(s), one path through each:\n{described}"


def test_no_project_import_hides_inside_a_function() -> None:
    # Given every file of the product's packages and schedules.py
    # When the imports inside functions are collected
    found = _function_level_imports()
    # Then none imports project code, unless the allow-list says why
    hidden = [f"{path}:{line} imports {module}" for path, line, module in found
              if (path, module) not in ALLOWED_FUNCTION_IMPORTS]  # fmt: skip
    assert not hidden, (
        f"{len(hidden)} function-level import(s) of project code (import at the top; fix the layering):\n"
        + "\n".join(hidden)
    )


def test_the_allow_list_of_function_level_imports_says_why_and_is_still_needed() -> None:
    # Given the allow-list of function-level imports
    # When it is compared with the imports found
    found = {(path, module) for path, _line, module in _function_level_imports()}
    # Then each entry has a reason and still matches an import (a stale entry would hide the next one)
    assert all(reason.strip() for reason in ALLOWED_FUNCTION_IMPORTS.values())
    stale = sorted(set(ALLOWED_FUNCTION_IMPORTS) - found)
    assert not stale, f"allow-list entries matching no import: {stale}"


def test_every_module_of_actors_is_named_in_the_layers_contract() -> None:
    # Given the layers of .importlinter
    layered = set(_names(_contract()["importlinter:contract:layers"]["layers"]))
    # When the modules and subpackages of actors/ are listed (the package's own __init__ is the worker app)
    modules = {f"actors.{path.stem}" for path in (ROOT / "actors").glob("*.py") if path.stem != "__init__"}
    modules |= {f"actors.{path.parent.name}" for path in (ROOT / "actors").glob("*/__init__.py")}
    # Then each is in a layer: a module left out would escape the contract
    missing = sorted(modules - layered)
    assert not missing, f"add to the actor modules' layer in .importlinter: {', '.join(missing)}"


def test_every_package_of_the_project_is_a_root_of_the_contract() -> None:
    # Given the packages pyproject.toml installs (`packages.find` include patterns)
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    installed = {pattern.rstrip("*") for pattern in patterns}
    # When they are compared with the root packages of .importlinter
    # Then both name the same packages: a package outside the contract is not checked at all
    assert installed == set(ROOT_PACKAGES), (
        f"only in pyproject.toml: {sorted(installed - set(ROOT_PACKAGES))}; "
        f"only in .importlinter: {sorted(set(ROOT_PACKAGES) - installed)}"
    )

"""The import layers of the package, read from the source with `ast` (nothing is imported,
except where a test says so):

- webapp.lifecycle is pure Python: no Flask, no SQLAlchemy, nothing of webapp outside itself;
- shared modules (webapp/*.py but the composition roots) import no feature package;
- webapp never imports jobs; jobs are thin and the dotted paths RQ stores resolve;
- no import cycle among webapp's modules at import time;
- every listener the registry names resolves to a function.
"""

import ast
import importlib
import inspect
import subprocess
import sys
from collections import deque
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Where the app is put together: these may import any feature.
COMPOSITION_ROOTS = {"webapp", "webapp.app", "webapp.features"}
FRAMEWORKS = ("flask", "sqlalchemy")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # what it imports, resolved to a module where one exists
    line: int
    top_level: bool  # runs when the module is imported (not in a function, not TYPE_CHECKING)

    def where(self) -> str:
        return f"{path_of(self.module).relative_to(ROOT)}:{self.line}"

    def __str__(self) -> str:
        return f"{self.where()} imports {self.target}"


@cache
def modules() -> dict[str, Path]:
    """Every module of webapp and jobs by dotted name; a package by its own name (__init__)."""
    found = {}
    for top in ("webapp", "jobs"):
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def path_of(module: str) -> Path:
    return modules()[module]


def is_package(module: str) -> bool:
    return path_of(module).name == "__init__.py"


def under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


@cache
def imports_of(module: str) -> tuple[Import, ...]:
    """Every import statement of the module, anywhere in it, with its target resolved:
    `from a.b import c` is an import of a.b.c when that is a module, else of a.b."""
    package = module if is_package(module) else module.rpartition(".")[0]
    tree = ast.parse(path_of(module).read_text(), filename=str(path_of(module)))
    found: list[Import] = []

    def visit(node: ast.AST, top_level: bool) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(Import(module, alias.name, node.lineno, top_level))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, up level - 1
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                target = sub if sub in modules() else base
                found.append(Import(module, target, node.lineno, top_level))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            top_level = False
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            visit(node.test, top_level)
            for child in node.body:
                visit(child, False)
            for child in node.orelse:
                visit(child, top_level)
            return
        for child in ast.iter_child_nodes(node):
            visit(child, top_level)

    visit(tree, True)
    return tuple(found)


def webapp_modules() -> list[str]:
    return [m for m in modules() if under(m, "webapp")]


def lifecycle_modules() -> list[str]:
    return [m for m in modules() if under(m, "webapp.lifecycle")]


def features() -> list[str]:
    """The packages under webapp/ (a directory with __init__.py), lifecycle aside."""
    return sorted(
        m
        for m in webapp_modules()
        if m.count(".") == 1 and is_package(m) and m != "webapp.lifecycle"
    )


def shared_modules() -> list[str]:
    """The top-level modules of webapp/ (webapp/*.py) that are not composition roots."""
    return [
        m
        for m in webapp_modules()
        if m.count(".") == 1 and not is_package(m) and m not in COMPOSITION_ROOTS
    ]


def report(found: list, rule: str) -> str:
    return f"{rule}:\n  " + "\n  ".join(str(f) for f in found)


# -- (a) the lifecycle package loads no framework ---------------------------------------------


def framework_path(module: str) -> str:
    """The chain of top-level imports by which `module` reaches a framework, read statically
    (to name the culprit when the import test below fails)."""
    seen, queue = {module: None}, deque([module])
    while queue:
        current = queue.popleft()
        for imp in imports_of(current):
            if not imp.top_level:
                continue
            if imp.target.split(".")[0] in FRAMEWORKS:
                chain = [str(imp)]
                while seen[current] is not None:
                    chain.append(str(seen[current]))
                    current = seen[current].module
                return " <- ".join(chain)
            if imp.target in modules() and imp.target not in seen:
                seen[imp.target] = imp
                queue.append(imp.target)
    return "(no static chain found: a dynamic import?)"


@pytest.mark.parametrize("module", lifecycle_modules())
def test_lifecycle_modules_load_neither_flask_nor_sqlalchemy(module):
    code = (
        f"import importlib, sys; importlib.import_module({module!r}); "
        f"print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}} & {set(FRAMEWORKS)!r})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"import {module} failed:\n{done.stderr}"
    loaded = done.stdout.split()
    assert loaded == [], f"import {module} loads {', '.join(loaded)}, by {framework_path(module)}"


# -- (b) the lifecycle package imports nothing of webapp outside itself ----------------------


def test_lifecycle_imports_nothing_of_webapp_outside_it():
    found = [
        imp
        for m in lifecycle_modules()
        for imp in imports_of(m)
        if under(imp.target, "webapp") and not under(imp.target, "webapp.lifecycle")
    ]
    assert found == [], report(found, "webapp.lifecycle imports webapp outside webapp.lifecycle")


# -- (c) shared modules import no feature ------------------------------------------------------


def test_shared_modules_import_no_feature():
    feats = features()
    assert feats and shared_modules(), "no features or shared modules found: is ROOT right?"
    found = [
        imp
        for m in shared_modules()
        for imp in imports_of(m)
        if any(under(imp.target, f) for f in feats)
    ]
    assert found == [], report(
        found, "a shared module (webapp/*.py) imports a feature package (webapp/<feature>/)"
    )


# -- (d) webapp never imports jobs -------------------------------------------------------------


def test_webapp_imports_no_job():
    found = [imp for m in webapp_modules() for imp in imports_of(m) if under(imp.target, "jobs")]
    assert found == [], report(found, "webapp imports jobs (jobs call features, not the reverse)")


# -- (e) jobs are thin, and the paths RQ stores resolve ---------------------------------------

# jobs.context builds or borrows the app, so it may use Flask; the jobs themselves may not.
ALLOWED_IN_JOBS = {"jobs.context": ("flask",)}


def test_jobs_import_only_the_context_webapp_and_the_stdlib():
    found = []
    for m in (m for m in modules() if under(m, "jobs")):
        allowed = ("jobs.context", "webapp", *ALLOWED_IN_JOBS.get(m, ()))
        for imp in imports_of(m):
            root = imp.target.split(".")[0]
            if any(under(imp.target, a) for a in allowed) or root in sys.stdlib_module_names:
                continue
            found.append(imp)
    assert found == [], report(found, "a job imports beyond jobs.context, webapp and the stdlib")


def stored_job_paths() -> list[str]:
    from webapp.pipeline import publishing, schedule

    config = {"RELAY_INTERVAL_SECONDS": 1, "SLA_SWEEP_SECONDS": 60}
    periodic = [p.func for p in schedule.periodic_jobs(config)]
    return sorted({"jobs.deliver.deliver_event", publishing.DELIVER, *periodic})


def test_the_job_paths_rq_stores_resolve_to_callables():
    unresolved = []
    for dotted in stored_job_paths():
        module, _, name = dotted.rpartition(".")
        try:
            function = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as exc:
            unresolved.append(f"{dotted}: {exc!r}")
            continue
        if not callable(function):
            unresolved.append(f"{dotted}: {function!r} is not callable")
    assert unresolved == [], "stored job paths that do not resolve:\n  " + "\n  ".join(unresolved)


# -- (f) no import cycle among webapp modules at import time ---------------------------------


def import_graph() -> dict[str, dict[str, Import]]:
    """webapp module -> {webapp module it imports at import time: the import}."""
    graph: dict[str, dict[str, Import]] = {m: {} for m in webapp_modules()}
    for m in graph:
        for imp in imports_of(m):
            if imp.top_level and imp.target in graph and imp.target != m:
                graph[m].setdefault(imp.target, imp)
    return graph


def cycles(graph: dict[str, dict[str, Import]]) -> list[list[Import]]:
    """One cycle through each strongly connected component of more than one module
    (Tarjan's algorithm, iterative), as the imports that close it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
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
                    work.append((child, iter(sorted(graph[child]))))
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
                if len(component) > 1:
                    components.append(component)
    found = []
    for component in components:
        members = set(component)
        first = min(component)
        # Shortest way back to `first` inside the component: a cycle through it.
        came: dict[str, Import | None] = {first: None}
        queue = deque([first])
        closing = None
        while queue and closing is None:
            node = queue.popleft()
            for child, imp in sorted(graph[node].items()):
                if child == first:
                    closing = imp
                    break
                if child in members and child not in came:
                    came[child] = imp
                    queue.append(child)
        chain = [closing]
        while came[chain[-1].module] is not None:
            chain.append(came[chain[-1].module])
        found.append(chain[::-1])
    return found


def test_no_import_cycle_among_webapp_modules():
    found = cycles(import_graph())
    assert found == [], "import cycles (top-level imports):\n" + "\n".join(
        "  "
        + " -> ".join([c[0].module, *(i.target for i in c)])
        + "\n    "
        + "\n    ".join(map(str, c))
        for c in found
    )


# -- (g) every listener the registry names resolves to a function -----------------------------


def test_every_registry_listener_resolves_to_a_function():
    from webapp.lifecycle.registry import all_listeners
    from webapp.pipeline.delivery import listener_function

    unresolved = []
    for listener in all_listeners():
        try:
            function = listener_function(listener.name)
        except Exception as exc:  # any way of not resolving is the failure reported
            unresolved.append(f"{listener.name}: {exc!r}")
            continue
        if not inspect.isfunction(function):
            unresolved.append(f"{listener.name}: {function!r} is not a function")
    assert unresolved == [], "registry listeners that do not resolve:\n  " + "\n  ".join(unresolved)

"""Function-local imports only for heavy or optional modules, or with a stated, checked reason.

An import inside a function hides a dependency from the reader and from import-linter's
view of the module graph, and can hide an import cycle. So every ``import`` in a function
body of ``src/dosirak`` must name

* a module on :data:`HEAVY` (slow to import, or part of an optional extra), or a dosirak
  module that imports one at module level (directly or through other dosirak modules), so
  that ``import dosirak``, ``dosirak --help`` and a pipeline run stay light; or
* carry ``# lazy: cycle`` on its line, where the imported module really imports this one
  back at module level (the test follows the graph to check), or ``# lazy: startup`` with a
  comment beside it naming the light path it keeps light (defining a pipeline loads no
  metadata store); that one the test cannot check, so keep it rare.

A function-local import that closes an import cycle needs ``# lazy: cycle`` even when the
module is heavy: cycles are visible, and a cycle of two function-local imports is refused
(one side belongs at the top). Everything else belongs at the top of the module.
"""

from __future__ import annotations

import ast
import re
import sys
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "dosirak"

#: Slow to import or optional: milliseconds for ``import X`` alone (``python -X importtime``,
#: cumulative, this project's venv on a loaded 2-core machine, best of two), or the extra it comes with.
HEAVY = frozenset({
    "torch",               # 4900 ms, [torch]
    "sklearn",             # 3900 ms, [sklearn]
    "s3fs",                # 900 ms, [s3]
    "alembic",             # 800 ms
    "pandas",              # 440 ms, optional
    "pyarrow",             # 325 ms, optional
    "sqlalchemy",          # 274 ms
    "boto3", "botocore",   # 271 ms, [aws]
    "httpx",               # 261 ms
    "numpy",               # 248 ms
    "prometheus_client",   # 201 ms
    "uvicorn",             # 195 ms
    "starlette",           # 165 ms (starlette.applications)
    "fsspec",              # 118 ms, [s3]
    "cloudpickle",         # 113 ms
    "packaging",           # 100 ms (packaging.requirements)
    "pydantic",            # 102 ms
    "jinja2",              # 87 ms
    "cryptography",        # 85 ms (serialization)
    "importlib.metadata",  # 85 ms
    "PIL",                 # 78 ms (PIL.Image)
    "python_multipart", "multipart",  # 78 ms
    "asyncio",             # 75 ms
    "yaml",                # 47 ms
    "click",               # 42 ms
    "orjson",              # 32 ms
    "simdjson",            # 29 ms
    "tomllib",             # 19 ms, only when a config file exists
    "rich",                # 16 ms, and its console another 100 ms
    "httptools",           # 14 ms, the serving fast path
    "safetensors",         # [torch]
    "ray",                 # [ray]
})

#: ``# lazy: REASON`` on an import's line; the reasons a function-local import may give.
LAZY_MARK = re.compile(r"#\s*lazy:\s*(\w+)")
REASONS = ("cycle", "startup")


def _covered(name: str, modules: frozenset[str]) -> bool:
    return any(name == m or name.startswith(m + ".") for m in modules)


class ImportGraph:
    """The module-level import graph of ``src/dosirak``, read with ``ast`` (nothing is imported)."""

    def __init__(self, src: Path) -> None:
        self.src = src
        self.paths = {self.module_of(p): p for p in src.rglob("*.py")}
        self.top = {name: self._module_level(name, path) for name, path in self.paths.items()}
        self._reachable: dict[str, set[str]] = {}
        self.local = {name: self._function_level(name, path) for name, path in self.paths.items()}

    def module_of(self, path: Path) -> str:
        parts = list(path.relative_to(self.src.parent).with_suffix("").parts)
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    def targets(self, module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
        """The modules an import statement loads (``from pkg import sub`` loads ``pkg.sub``)."""
        if isinstance(node, ast.Import):
            return [alias.name for alias in node.names]
        base = node.module or ""
        if node.level:
            package = module.split(".")
            if self.paths[module].name != "__init__.py":
                package = package[:-1]
            package = package[: len(package) - node.level + 1]
            base = ".".join(package + ([node.module] if node.module else []))
        return [f"{base}.{a.name}" if f"{base}.{a.name}" in self.paths else base for a in node.names]

    def _module_level(self, module: str, path: Path) -> set[str]:
        found: set[str] = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            for inner in ast.walk(node) if isinstance(node, (ast.If, ast.Try)) else [node]:
                if isinstance(inner, (ast.Import, ast.ImportFrom)):
                    found.update(self.targets(module, inner))
        parts = module.split(".")
        found.update(p for p in (".".join(parts[:i]) for i in range(1, len(parts))) if p in self.paths)
        return found

    def _function_level(self, module: str, path: Path) -> set[str]:
        found: set[str] = set()
        for function in ast.walk(ast.parse(path.read_text())):
            if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(function):
                    if isinstance(node, (ast.Import, ast.ImportFrom)):
                        found.update(self.targets(module, node))
        return found

    def in_cycle(self, start: str, goal: str) -> bool:
        """Whether ``start`` leads to ``goal`` through imports at any level, package parents aside."""
        seen, todo = set(), [start]
        while todo:
            current = todo.pop()
            if current == goal:
                return True
            if current in seen or current not in self.top:
                continue
            seen.add(current)
            todo.extend(d for d in self.top[current] | self.local[current] if not current.startswith(d + "."))
        return False

    def reachable(self, start: str) -> set[str]:
        """Every module importing ``start`` loads through module-level imports (itself included)."""
        if start not in self._reachable:
            seen, todo = set(), [start]
            while todo:
                current = todo.pop()
                if current not in seen:
                    seen.add(current)
                    todo.extend(self.top.get(current, ()))
            self._reachable[start] = seen
        return self._reachable[start]

    def reaches(self, start: str, goal: str) -> bool:
        """Whether importing ``start`` imports ``goal`` through module-level imports."""
        return goal in self.reachable(start)

    def is_heavy(self, module: str) -> bool:
        """Whether importing ``module`` loads a module on :data:`HEAVY`."""
        return any(_covered(name, HEAVY) for name in self.reachable(module))


@cache
def _graph() -> ImportGraph:
    return ImportGraph(SRC)


def offending_imports(graph: ImportGraph) -> list[str]:
    """``path:line: import X`` for each function-local import the rule above does not allow."""
    offenders = []
    for module, path in sorted(graph.paths.items()):
        lines = path.read_text().splitlines()
        for function in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                if not isinstance(node, (ast.Import, ast.ImportFrom)):
                    continue
                where = f"{path.relative_to(graph.src.parent)}:{node.lineno}: {ast.unparse(node)}"
                mark = LAZY_MARK.search("\n".join(lines[node.lineno - 1:node.end_lineno]))
                for target in graph.targets(module, node):
                    if mark is None:
                        if not graph.is_heavy(target):
                            offenders.append(f"{where}  ({target} is light: import it at the top)")
                        elif target != module and graph.in_cycle(target, module):
                            offenders.append(f"{where}  (hidden cycle: {target} leads back to {module}; break it, "
                                             "or mark the lazy side `# lazy: cycle`)")
                    elif mark.group(1) not in REASONS:
                        offenders.append(f"{where}  (unknown reason '{mark.group(1)}'; use one of {REASONS})")
                    elif mark.group(1) == "cycle" and not graph.reaches(target, module):
                        offenders.append(f"{where}  (no cycle: {target} does not import {module}; import it at the top)")
    return offenders


def test_function_local_imports_are_heavy_optional_or_give_a_checked_reason() -> None:
    offenders = offending_imports(_graph())
    assert offenders == [], "\n".join(offenders)


def module_level_cycles(graph: ImportGraph) -> list[str]:
    """``a -> b`` for each module-level import whose module imports ``a`` back at module level."""
    found = []
    for module, deps in sorted(graph.top.items()):
        for dep in sorted(deps):
            if dep != module and not module.startswith(dep + ".") and dep in graph.top:
                back = {d for d in graph.reachable(dep) if not module.startswith(d + ".")}
                if module in back and _through_children(graph, dep, module):
                    found.append(f"{module} -> {dep}")
    return found


def _through_children(graph: ImportGraph, start: str, goal: str) -> bool:
    """Whether ``start`` reaches ``goal`` without stepping from a module up to its own package."""
    seen, todo = set(), [start]
    while todo:
        current = todo.pop()
        if current == goal:
            return True
        if current in seen or current not in graph.top:
            continue
        seen.add(current)
        todo.extend(d for d in graph.top[current] if not current.startswith(d + "."))
    return False


def test_no_module_imports_itself_back_at_module_level() -> None:
    assert module_level_cycles(_graph()) == []


def test_the_rule_catches_a_light_import_a_false_or_hidden_cycle_and_an_unknown_reason(tmp_path: Path) -> None:
    package = tmp_path / "dosirak"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("import dosirak.b\n")
    (package / "b.py").write_text(
        "def f():\n"
        "    import json\n"
        "    import numpy\n"
        "    import dosirak.a  # lazy: cycle\n"
        "    import dosirak.c  # lazy: cycle\n"
        "    import dosirak.c  # lazy: habit\n"
    )
    (package / "c.py").write_text("import torch\n")
    (package / "d.py").write_text("def g():\n    import dosirak.c\n")
    (package / "e.py").write_text("import torch\n\ndef h():\n    import dosirak.f\n")
    (package / "f.py").write_text("def k():\n    import dosirak.e\n")
    found = offending_imports(ImportGraph(package))
    assert [line.split(":")[:2] for line in found] == [
        ["dosirak/b.py", "2"], ["dosirak/b.py", "5"], ["dosirak/b.py", "6"], ["dosirak/e.py", "4"], ["dosirak/f.py", "2"]], found
    (package / "c.py").write_text("import torch\nimport dosirak.d\n")
    (package / "d.py").write_text("import dosirak.c\n")
    assert module_level_cycles(ImportGraph(package)) == ["dosirak.c -> dosirak.d", "dosirak.d -> dosirak.c"]


def test_the_heavy_list_names_what_import_dosirak_must_not_load() -> None:
    budget = sys.modules.get("tests.test_import_budget")
    if budget is None:
        from tests import test_import_budget as budget
    assert {name for name in budget.HEAVY if not _covered(name, HEAVY)} == set()

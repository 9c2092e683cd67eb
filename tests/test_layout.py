"""The package's shape: no import cycle between its modules, and nothing in it that imports
or starts the benchmarks (a folder of the checkout, absent from an installed package)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import yt8m_lib

PACKAGE = Path(yt8m_lib.__file__).resolve().parent
# a benchmark module named in a string: `python -m benchmarks.run`, import_module("benchmarks.x")
BENCHMARK_MODULE = re.compile(r"\bbenchmarks\.[A-Za-z_]")


def module_name(path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


SOURCES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported_names(path, *, at_import_only: bool) -> set[str]:
    """The absolute names of every ``import``/``from … import`` of a module (with
    ``at_import_only``, leaving out those inside functions, which run only when called)."""
    name = module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if not (at_import_only and inside):
                if isinstance(child, ast.Import):
                    found.update(alias.name for alias in child.names)
                elif isinstance(child, ast.ImportFrom):
                    base = child.module or ""
                    if child.level:
                        base = ".".join(
                            package[: len(package) - child.level + 1] + ([base] if base else [])
                        )
                    found.add(base)
                    found.update(f"{base}.{alias.name}" for alias in child.names)
            visit(child, inside)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


@pytest.mark.parametrize("at_import_only", [True, False], ids=["at import", "lazy too"])
def test_importing_any_module_never_comes_back_to_itself(at_import_only):
    """Not even through an import inside a function: a lazy import that closes a cycle is
    still two modules that cannot be understood one without the other."""
    graph = {
        name: {
            other
            for other in imported_names(path, at_import_only=at_import_only)
            if other in SOURCES and other != name
        }
        for name, path in SOURCES.items()
    }
    state, cycles = {}, []

    def walk(module, stack):
        state[module] = "open"
        stack.append(module)
        for other in sorted(graph[module]):
            if state.get(other) == "open":
                cycles.append(" -> ".join(stack[stack.index(other) :] + [other]))
            elif other not in state:
                walk(other, stack)
        stack.pop()
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            walk(module, [])
    assert not cycles, f"import cycles: {cycles}"


def test_no_module_imports_or_starts_the_benchmarks():
    offenders = []
    for name, path in SOURCES.items():
        imports = imported_names(path, at_import_only=False)
        offenders += [
            f"{name} imports {i}"
            for i in sorted(imports)
            if i == "benchmarks" or i.startswith("benchmarks.")
        ]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and (node.value == "benchmarks" or BENCHMARK_MODULE.search(node.value))
            ):
                offenders.append(f"{name} line {node.lineno} names {node.value!r}")
    assert not offenders, offenders


def test_the_checks_above_see_the_package():
    assert {
        "yt8m_lib.experiments",
        "yt8m_lib.launch",
        "yt8m_lib.data.datasets",
        "yt8m_lib.runs.tables",
    } <= set(SOURCES)
    launch = imported_names(SOURCES["yt8m_lib.launch"], at_import_only=True)
    assert {"yt8m_lib.experiments", "yt8m_lib.data.datasets"} <= launch

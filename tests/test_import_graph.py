"""No import cycle in src/clvkit, lazy imports included (the layers themselves: lint-imports).

The graph is read from the source with ``ast``: every ``import``/``from ... import`` anywhere in
a module (at the top, inside functions, under ``if TYPE_CHECKING``) and every
``importlib.import_module("clvkit...")`` with a literal name is an edge, so an import hidden in
a function body to dodge a cycle at load time still counts.
"""
import ast
from pathlib import Path

import pytest

import clvkit

PACKAGE = Path(clvkit.__file__).parent


def _module_name(path: Path, package: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(name: str, modules: set[str]) -> str | None:
    """The module that ``name`` loads: itself, or the package it is an attribute of."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _edges(path: Path, module: str, modules: set[str]) -> set[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(_resolve(a.name, modules) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, up level - 1
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:  # `from clvkit import spark` imports the module clvkit.spark
                full = f"{base}.{alias.name}"
                found.add(full if full in modules else _resolve(base, modules))
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"):
            found.add(_resolve(node.args[0].value, modules))
    found.discard(None)
    found.discard(module)
    return found


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the clvkit modules it imports, anywhere in its source."""
    files = {_module_name(p, package): p for p in package.rglob("*.py")}
    modules = set(files)
    return {m: _edges(p, m, modules) for m, p in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for root in sorted(graph):
        if state.get(root):
            continue
        path, stack = [root], [iter(sorted(graph[root]))]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def test_src_clvkit_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_graph_sees_lazy_relative_and_dynamic_imports(tmp_path):
    pkg = tmp_path / "clvkit"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from clvkit import b\n")
    (pkg / "b.py").write_text("import importlib\n"
                              "def g():\n    return importlib.import_module('clvkit.sub.c')\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "c.py").write_text("from ..a import f\n")
    graph = import_graph(pkg)
    assert graph["clvkit.a"] == {"clvkit.b"}
    assert graph["clvkit.b"] == {"clvkit.sub.c"}
    assert graph["clvkit.sub.c"] == {"clvkit.a"}
    assert find_cycle(graph) == ["clvkit.a", "clvkit.b", "clvkit.sub.c", "clvkit.a"]
    (pkg / "sub" / "c.py").write_text("from clvkit.sub import d\n")
    assert find_cycle(import_graph(pkg)) is None


@pytest.mark.parametrize("module", ["clvkit.rfm_spark", "clvkit.rfm"])
def test_spark_summary_engine_imports_nothing_above_rfm(module):
    # below rfm: errors, units, and the cleaning rules (clean) with their SQL (clean_sql) that
    # rfm_spark runs; the ones clvkit.io needs come with clean
    allowed = {"clvkit", "clvkit.errors", "clvkit.units", "clvkit.rfm_spark", "clvkit.clean",
               "clvkit.clean_sql"}
    assert import_graph()[module] <= allowed

"""No import cycles in the five packages: module-level, function-level and TYPE_CHECKING imports
all count (grimp reads every import statement of every module)."""

from __future__ import annotations

import grimp

PACKAGES = ("bench", "cells", "drivers", "protocols", "sim_instruments")


def import_cycles() -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan, iterative)."""
    graph = grimp.build_graph(*PACKAGES, include_external_packages=False, cache_dir=None)  # never a stale cache
    edges: dict[str, set[str]] = {}
    for module in graph.modules:
        edges[module] = {m for m in graph.find_modules_directly_imported_by(module)
                         if not _is_ancestor(m, module)}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in edges:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def _is_ancestor(candidate: str, module: str) -> bool:
    """``import a.b.c`` also runs ``a`` and ``a.b``: a package's own ``__init__`` is not a cycle."""
    return module.startswith(candidate + ".")


def test_no_import_cycles() -> None:
    assert import_cycles() == []


def test_the_cycle_finder_finds_a_cycle(tmp_path, monkeypatch) -> None:
    """The check can fail: two modules that import each other are reported."""
    pkg = tmp_path / "cyclepkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from cyclepkg import b\n")
    (pkg / "b.py").write_text("import cyclepkg.a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(__import__(__name__, fromlist=["PACKAGES"]), "PACKAGES", ("cyclepkg",))
    assert import_cycles() == [["cyclepkg.a", "cyclepkg.b"]]

"""The folder tree is the request flow: imports point down only, and nothing imports in a circle.

Walks the AST of every module under ``zproxy/`` (imports inside functions and under
``TYPE_CHECKING`` count too: they are dependencies all the same) and fails naming the file and
line of any import that points up the declared order, or that closes a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "zproxy"

#: Top to bottom. A module may import its own part and any part below it. This is the order
#: cli -> app -> admin, edge -> queue, upstream, store -> policy, config -> errors, clock,
#: observability, with each group put in the order its members already use one another
#: (admin reads the edge's responses; the queue's service replays through the upstream gateway
#: and soft-purges the store; the upstream client reads its config; config parses routes into
#: the policy's types).
ORDER: tuple[tuple[str, ...], ...] = (
    ("cli", "__main__"),
    ("app", "workers"),
    ("admin",),
    ("edge",),
    ("queue",),
    ("upstream",),
    ("store",),
    ("config",),
    ("policy",),
    ("observability",),
    ("clock",),
    ("errors",),
)
#: Tools outside the request flow: they may import anything; only ``cli`` and other tools may
#: import them.
TOOLS = ("scenarios", "testing")
RANK = {part: rank for rank, parts in enumerate(ORDER) for part in parts}


@dataclass(frozen=True, slots=True)
class Edge:
    source: str
    target: str
    file: Path
    line: int

    def where(self) -> str:
        return f"{self.file.relative_to(ROOT)}:{self.line}: {self.source} imports {self.target}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def part_of(module: str) -> str:
    """``zproxy.edge.reads`` -> ``edge``; ``zproxy.cli`` -> ``cli``."""
    return module.split(".")[1] if "." in module else ""


def known_modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The zproxy module ``name`` refers to (``from zproxy.policy import reads`` names the
    module ``zproxy.policy.reads``, not the package)."""
    if name in modules:
        return name
    parent = name.rpartition(".")[0]
    return parent if parent in modules else None


def imports_of(path: Path, modules: dict[str, Path]) -> Iterator[Edge]:
    source = module_name(path)
    package = source if path.name == "__init__.py" else source.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{alias.name}" for alias in node.names]
        for name in names:
            target = resolve(name, modules) if name.startswith("zproxy") else None
            if target and target != source:
                yield Edge(source, target, path, node.lineno)


def all_edges() -> list[Edge]:
    modules = known_modules()
    edges = {(e.source, e.target): e for p in modules.values() for e in imports_of(p, modules)}
    return list(edges.values())


def upward(edge: Edge) -> bool:
    src, dst = part_of(edge.source), part_of(edge.target)
    if src == dst or dst == "":  # the root ``zproxy`` package holds only a docstring
        return False
    if dst in TOOLS:
        return src not in TOOLS and src not in ("cli", "__main__")
    if src in TOOLS:
        return False
    if src not in RANK or dst not in RANK:
        return True  # a new part must be placed in ORDER first
    return RANK[dst] < RANK[src]


def cycles(edges: list[Edge]) -> list[list[Edge]]:
    """One cycle through each strongly connected component that has one (Tarjan)."""
    graph: dict[str, list[Edge]] = {}
    for e in edges:
        graph.setdefault(e.source, []).append(e)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for e in graph.get(node, []):
            if e.target not in index:
                visit(e.target)
                low[node] = min(low[node], low[e.target])
            elif e.target in on_stack:
                low[node] = min(low[node], index[e.target])
        if low[node] == index[node]:
            component: set[str] = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in list(graph):
        if node not in index:
            visit(node)
    found = []
    for component in components:
        start = min(component)
        path: list[Edge] = []
        node, seen = start, set()
        while node not in seen:
            seen.add(node)
            step = next(e for e in graph[node] if e.target in component)
            path.append(step)
            node = step.target
        found.append(path)
    return found


def test_every_part_of_the_package_has_a_place_in_the_order() -> None:
    parts = {part_of(m) for m in known_modules()} - {""}
    assert parts <= set(RANK) | set(TOOLS), sorted(parts - set(RANK) - set(TOOLS))


def test_imports_point_down_only() -> None:
    bad = sorted(e.where() for e in all_edges() if upward(e))
    assert not bad, "imports against the declared order:\n" + "\n".join(bad)


def test_no_import_cycles() -> None:
    found = cycles(all_edges())
    assert not found, "import cycles:\n" + "\n\n".join(
        "\n".join(e.where() for e in cycle) for cycle in found
    )


@pytest.mark.parametrize(
    ("source", "target", "is_upward"),
    [
        ("zproxy.edge.reads", "zproxy.store.cache", False),
        ("zproxy.store.cache", "zproxy.edge.reads", True),
        ("zproxy.policy.reads", "zproxy.config.model", True),
        ("zproxy.config.model", "zproxy.policy.routes", False),
        ("zproxy.app", "zproxy.scenarios.runner", True),
        ("zproxy.cli", "zproxy.scenarios.cli", False),
        ("zproxy.scenarios.runner", "zproxy.app", False),
        ("zproxy.edge.reads", "zproxy.edge.exchange", False),
    ],
)
def test_the_order_check_itself(source: str, target: str, is_upward: bool) -> None:
    assert upward(Edge(source, target, PACKAGE / "x.py", 1)) is is_upward


def test_the_cycle_check_itself() -> None:
    here = PACKAGE / "x.py"
    edges = [
        Edge("zproxy.a", "zproxy.b", here, 1),
        Edge("zproxy.b", "zproxy.c", here, 2),
        Edge("zproxy.c", "zproxy.a", here, 3),
        Edge("zproxy.c", "zproxy.d", here, 4),
    ]
    [cycle] = cycles(edges)
    assert {e.source for e in cycle} == {"zproxy.a", "zproxy.b", "zproxy.c"}
    assert cycles(edges[:2]) == []

"""The package's shape: no import circles, no private names imported across modules, small
modules, and the data layer free of the training code.

Imports are read with ``ast`` from the source files (module level and inside functions), so
an import that only runs in one code path still counts.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import REPO

# import name -> folder, as pyproject.toml maps them
ROOTS = {
    "snn_transfer": REPO / "snn_transfer",
    "snn_transfer.events": REPO / "events",
    "snn_transfer.kernels": REPO / "kernels",
}
MAX_LINES = 400


def package_modules() -> dict[str, Path]:
    """Every module of the package: dotted name -> file."""
    modules: dict[str, Path] = {}
    for prefix, folder in ROOTS.items():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join([prefix, *parts])
            if prefix == "snn_transfer" and name.startswith(
                ("snn_transfer.events", "snn_transfer.kernels")
            ):
                continue  # not under snn_transfer/: the mapped folders above are
            modules[name] = path
    return modules


MODULES = package_modules()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def imports_of(name: str) -> list[tuple[str, list[str], int]]:
    """``(module, imported names, line)`` of every import in module ``name`` that resolves to
    a module of the package (a ``from package import submodule`` names the submodule)."""
    tree = ast.parse(MODULES[name].read_text(), filename=str(MODULES[name]))
    base = name if _is_package(name) else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES:
                    found.append((alias.name, [], node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = base.split(".")
                anchor = ".".join(parts[: len(parts) - node.level + 1])
                target = f"{anchor}.{node.module}" if node.module else anchor
            else:
                target = node.module or ""
            if target not in MODULES:
                continue
            plain = []
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in MODULES:  # a submodule, imported from its package
                    found.append((sub, [], node.lineno))
                else:
                    plain.append(alias.name)
            if plain:
                found.append((target, plain, node.lineno))
    return found


def import_graph() -> dict[str, set[str]]:
    return {
        name: {target for target, _, _ in imports_of(name) if target != name} for name in MODULES
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` (as the list of its modules, first repeated), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_walk_sees_the_whole_package():
    for expected in (
        "snn_transfer.trainer",
        "snn_transfer.models.registry",
        "snn_transfer.events.registry",
        "snn_transfer.events.recorded.loader",
        "snn_transfer.events.framing.to_frame",
        "snn_transfer.events.io.atis",
        "snn_transfer.kernels.neuron",
    ):
        assert expected in MODULES
    graph = import_graph()
    assert "snn_transfer.events.registry" in graph["snn_transfer.events.emulated.entries"]
    assert "snn_transfer.events.framing.counting" in graph["snn_transfer.events.framing.chunked"]


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_circles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_no_private_names_imported_across_modules():
    offenders = [
        f"{name}:{line} imports {', '.join(n for n in names if n.startswith('_'))} from {target}"
        for name in MODULES
        for target, names, line in imports_of(name)
        if any(n.startswith("_") and not n.startswith("__") for n in names)
    ]
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_stay_small(name):
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{MODULES[name]} has {lines} lines; split it by concept"


def test_the_data_layer_and_the_kernels_do_not_import_the_training_code():
    allowed = ("snn_transfer.errors", "snn_transfer.atomic", "snn_transfer._version")
    graph = import_graph()
    for name, targets in graph.items():
        if name.startswith(("snn_transfer.events", "snn_transfer.kernels")):
            outside = {
                t
                for t in targets
                if not t.startswith(("snn_transfer.events", "snn_transfer.kernels"))
                and t not in allowed
            }
            assert not outside, f"{name} imports {sorted(outside)}"
        if name.startswith("snn_transfer.kernels"):
            events = {t for t in targets if t.startswith("snn_transfer.events")}
            assert not events, f"{name} imports {sorted(events)}"

"""The package's import graph follows the data flow: config -> mesh -> materials -> forms -> solver -> outputs.

Every import of a fem_dendrite module, at module level or inside a function, is read with `ast` (nothing is
imported). The graph must have no cycle, and no module may import one of a later layer than its own (an upward
import). A new module must be given a layer here: an unplaced module fails the test.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "fem_dendrite"

# Layers in data-flow order; a module may import modules of its own layer or of an earlier one.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("foundations", ("fem_dendrite", "fem_dendrite.errors", "fem_dendrite.parallel")),
    ("units", ("fem_dendrite.scaling",)),
    ("config", ("fem_dendrite.config",)),
    ("mesh", ("fem_dendrite.mesh",)),
    ("materials", ("fem_dendrite.materials",)),
    ("forms", ("fem_dendrite.physics",)),
    ("solver", ("fem_dendrite.solve",)),
    ("outputs", ("fem_dendrite.io", "fem_dendrite.analysis", "fem_dendrite.progress", "fem_dendrite.render",
                 "fem_dendrite.render_mesh")),
    ("driver", ("fem_dendrite.simulation", "fem_dendrite.fracture_outputs")),
    ("applications", ("fem_dendrite.lab", "fem_dendrite.studies")),
    ("batch", ("fem_dendrite.hpc",)),
    ("command line", ("fem_dendrite.cli", "fem_dendrite.__main__")),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(path: Path, known: set[str]) -> set[str]:
    """The fem_dendrite modules `path` imports (`from pkg import name` counts as pkg.name when that is a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "fem_dendrite")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "fem_dendrite":
            assert node.level == 0, f"{path}: relative import"
            subs = {f"{node.module}.{a.name}" for a in node.names} & known
            found.update(subs or {node.module})
            if len(subs) < len(node.names):  # names that are not modules come from the package itself
                found.add(node.module)
    return found & known


def layer_of(module: str) -> int:
    best = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or (prefix != "fem_dendrite" and module.startswith(prefix + ".")):
                best = index
    if best is None:
        pytest.fail(f"{module}: not placed in a layer of tests/test_architecture.py (LAYERS)")
    return best


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imported(path, set(mods)) - {name} for name, path in mods.items()}


def test_every_module_has_a_layer():
    for name in modules():
        layer_of(name)


def test_no_upward_import():
    upward = [f"{a} ({LAYERS[layer_of(a)][0]}) imports {b} ({LAYERS[layer_of(b)][0]})"
              for a, targets in graph().items() for b in sorted(targets) if layer_of(b) > layer_of(a)]
    assert not upward, "imports against the data flow:\n" + "\n".join(upward)


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """A cycle of `edges` as a list of nodes (first = last), or None (depth-first search, three colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle():
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_checks_can_fail():
    """The cycle finder finds a planted cycle, and the layer table ranks an upward edge as upward."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert layer_of("fem_dendrite.config") > layer_of("fem_dendrite.scaling")
    assert layer_of("fem_dendrite.solve.problem") < layer_of("fem_dendrite.simulation")
    src = PACKAGE / "solve" / "problem.py"
    assert "fem_dendrite.materials" in imported(src, set(modules()))

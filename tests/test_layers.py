"""The package's import layering (ARCHITECTURE.md): imports point down the layers, never up, and never form a cycle.

Every ``import``/``from ... import`` of a ``multiscale`` module anywhere in a module (also inside functions) is an
edge. A module may import modules of its own layer's lower ranks, of lower layers, and, within a stage, its own
package. The stages are ordered by the data flow: dft < mlip < md < continuum < divergence.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "multiscale"

# (rank, name): a module may import only modules of a strictly lower rank, or its own stage package.
LAYERS = {
    # 0: foundation, no physics
    "multiscale": 0, "multiscale.errors": 0, "multiscale.units": 0, "multiscale.fileio": 0,
    "multiscale.formatting": 0, "multiscale.progress": 0,
    "multiscale.records": 1, "multiscale.config": 1,
    "multiscale.artifacts": 2, "multiscale.specimen": 2, "multiscale.plotting": 1,
    # shared science building blocks, below every stage
    "multiscale.material": 3, "multiscale.elastic": 3, "multiscale.grading": 3, "multiscale.lammps": 4,
    "multiscale.atomsio": 4, "multiscale.integrity": 3,
    # stages, in data-flow order
    "multiscale.dft": 10, "multiscale.mlip": 11, "multiscale.md": 12, "multiscale.continuum": 13,
    "multiscale.divergence": 14, "multiscale.active": 15, "multiscale.transfer": 16,
    # orchestration: whole-study validation, sweeps, benchmarks, the command line
    "multiscale.study": 20, "multiscale.sweep": 21, "multiscale.benchmarks": 21, "multiscale.cli": 22,
    "multiscale.__main__": 23,
}


def _module(path: Path) -> str:
    return ".".join(path.relative_to(SRC.parent).with_suffix("").parts).removesuffix(".__init__")


def _layer(module: str) -> tuple[str, int]:
    """The listed layer of a module: itself, or its package below ``multiscale`` (a stage package). The root
    ``multiscale`` is only the package's own ``__init__``, so a new module that is not listed fails."""
    parts = module.split(".")
    for n in range(len(parts), 1, -1):
        key = ".".join(parts[:n])
        if key in LAYERS:
            return key, LAYERS[key]
    if module == "multiscale":
        return module, LAYERS[module]
    raise KeyError(f"{module} has no layer: add it to LAYERS in tests/test_layers.py and to ARCHITECTURE.md")


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("multiscale"):
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names
                       if (SRC.parent / f"{node.module}.{a.name}".replace(".", "/")).with_suffix(".py").exists())
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("multiscale"))
    return out


MODULES = {_module(p): p for p in SRC.rglob("*.py")}


def test_every_module_has_a_layer():
    unlisted = []
    for m in MODULES:
        try:
            _layer(m)
        except KeyError as exc:
            unlisted.append(str(exc))
    assert not unlisted
    with pytest.raises(KeyError):
        _layer("multiscale.not_a_module")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module):
    own, rank = _layer(module)
    up = []
    for target in _imports(MODULES[module]):
        tkey, trank = _layer(target)
        if tkey == own:  # within one stage package (or module): checked for cycles below
            continue
        if trank >= rank:
            up.append(f"{target} (layer {tkey}, rank {trank})")
    assert not up, f"{module} (rank {rank}) imports from its own or a higher layer: {up}"


def test_no_module_cycles():
    graph = {m: {t for t in _imports(p) if t in MODULES and t != m} for m, p in MODULES.items()}
    state: dict[str, int] = {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for t in graph[m]:
            if state.get(t) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(t):] + [t]))
            if t not in state:
                visit(t, stack + [t])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [m])


def test_no_private_name_crosses_a_package():
    """Neither in the package nor in the tests (a test uses what a user of the package can use)."""
    bad = []
    files = {**MODULES, **{f"tests.{p.stem}": p for p in SRC.parents[1].joinpath("tests").glob("*.py")}}
    for m, p in files.items():
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("multiscale"):
                if m.startswith("tests.") or _layer(node.module)[0] != _layer(m)[0]:
                    bad += [f"{m} <- {node.module}.{a.name}" for a in node.names
                            if a.name.startswith("_") and not a.name.endswith("__")]
    assert not bad

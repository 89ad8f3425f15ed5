"""The package's modules import each other without a cycle, and each room (subpackage) imports
only rooms below it, counting imports inside functions too (a function-local import must not hide
a cycle or an upward edge; one deferred for start-up time is fine)."""

import ast
import functools
from pathlib import Path

import pytest

import ngram

PACKAGE = Path(ngram.__file__).parent

# Known edges of a cycle another branch removes: the mixture *search* (tune_mixtures and its
# helpers) still sits in ngram/mixture.py and imports ngram.tuning, which imports the mixture
# classes; it moves into the tuning package. Each entry must still exist (the test says when to
# delete it), so the list cannot silently outlive the cycle.
PENDING: dict = {}

# The rooms, lowest first: a module may import its own room and the rooms before it, never one
# after it. (The top-level ``ngram`` package and ``ngram.__main__`` are the front doors: they
# stand above every room.) Found from the import graph: the models (lm) need only core; the
# estimators make back-off models; the file formats read every model kind and refit estimators;
# generation walks the models; tuning searches estimator settings and mixtures; training's
# default tunes; evaluation reads training's streaming reader and its learning curves; the
# command line calls everything.
ROOMS = ("core", "lm", "estimators", "formats", "generation", "tuning", "training", "evaluation", "cli")
FRONT = ("ngram", "ngram.__main__")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """Package modules that ``path`` imports anywhere in its body (``if TYPE_CHECKING:`` blocks,
    which never run, left out)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()

    def visit(node):
        if isinstance(node, ast.If) and is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target in modules or target.startswith("ngram."):
                for alias in node.names:  # ``from . import scoring``: the submodule itself
                    sub = f"{target}.{alias.name}"
                    found.add(sub if sub in modules else target)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    found.discard(name)
    return {m for m in found if m in modules}


def import_graph() -> dict[str, set[str]]:
    """Each package module's imports (a fresh copy: tests may change it)."""
    return {module: set(targets) for module, targets in _parsed_graph().items()}


@functools.lru_cache(maxsize=1)
def _parsed_graph() -> dict[str, frozenset[str]]:
    # parsed once per test session: every test here reads the same files
    files = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(f) for f in files}
    return {module_name(f): frozenset(imports_of(f, modules)) for f in files}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def connect(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return out


def room_of(module: str) -> str:
    """The room of a package module: its first folder under ``ngram`` (the front doors: "front")."""
    return "front" if module in FRONT else module.split(".")[1]


def upward_edges(graph: dict[str, set[str]], rooms=ROOMS) -> list[str]:
    """Every import of a module in a room above the importer's own, as "importer -> imported
    (room -> room above it)"."""
    rank = {room: i for i, room in enumerate(rooms)}
    rank["front"] = len(rooms)
    found = []
    for source in sorted(graph):
        for target in sorted(graph[source]):
            a, b = room_of(source), room_of(target)
            if rank[b] > rank[a]:
                found.append(f"{source} -> {target} ({a} -> {b}, a room above it)")
    return found


@pytest.mark.slow
def test_the_walk_sees_relative_local_and_submodule_imports():
    graph = import_graph()
    assert "ngram.core.vocabulary" in graph["ngram.lm.backoff.model"]  # from .vocabulary import ...
    assert "ngram.lm.backoff.scoring" in graph["ngram.lm.backoff.model"]  # from . import scoring
    assert "ngram.core.files" in graph["ngram.formats.arpa"]  # a function-local import counts
    assert "ngram.common" not in graph["ngram.cli.build"] and "ngram.cli.common" in graph["ngram.cli.build"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.slow
def test_no_import_cycle_among_the_package_modules():
    graph = import_graph()
    for (source, target), why in PENDING.items():
        assert target in graph[source], f"{source} no longer imports {target} ({why}): delete the entry from PENDING"
        graph[source].discard(target)
    assert cycles(graph) == []


def test_every_module_is_in_a_declared_room():
    # A new room must be placed in ROOMS (its place is what the next test checks).
    graph = import_graph()
    assert sorted({room_of(m) for m in graph} - set(ROOMS) - {"front"}) == []


def test_no_room_imports_a_room_above_it():
    assert upward_edges(import_graph()) == []


def test_an_upward_edge_is_named():
    graph = {"ngram.core.files": {"ngram.lm.base"}, "ngram.lm.base": {"ngram.core.errors"}, "ngram.core.errors": set(),
             "ngram.cli.app": {"ngram.core.errors", "ngram.lm.base"}, "ngram.__main__": {"ngram.cli.app"}}
    assert upward_edges(graph) == ["ngram.core.files -> ngram.lm.base (core -> lm, a room above it)"]


@pytest.mark.slow
def test_the_format_and_the_models_do_not_import_tuning():
    graph = import_graph()
    for module in ("ngram.formats.native", "ngram.lm.backoff.model", "ngram.lm.mixtures.linear", "ngram.lm.base", "ngram.lm.protocol"):
        assert not any(m.startswith("ngram.tuning") for m in graph[module]), module


def test_every_subpackage_is_in_the_wheel():
    # pyproject lists the packages (data/ is mapped in as ngram.data), so a new subpackage must be
    # listed too, or `pip install .` ships a program that fails on its first import of it.
    import tomllib

    listed = set(tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {module_name(path) for path in PACKAGE.rglob("__init__.py")}
    assert found <= listed, sorted(found - listed)

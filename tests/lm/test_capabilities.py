"""Capabilities are declared and used, never probed: library code asks a model what it can do
through ``model.capabilities`` (``ngram.lm.protocol``), not with ``hasattr(model, ...)``,
``getattr(model, ..., default)`` or by catching the AttributeError of a missing method.

The scan reads every module of ``ngram/`` as a syntax tree. A ``hasattr``/``getattr`` call is
allowed only on what cannot be a model: an imported module (``np``, ``mmap``), a caught
exception (``exc``), an object's own state (``self``), or an entry of ``ALLOWED`` below, each
with its reason. Every ``except AttributeError`` is a probe.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "ngram"

# (module, the probed expression): not models.
ALLOWED = {
    ("tuning/pipeline.py", "family"): "a tunable smoothing family's optional estimator override",
    ("tuning/pipeline.py", "bar"): "a progress bar from the caller's factory (tqdm or a plain iterator)",
}

def _imported_modules(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.asname or alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            # ``from click import exceptions as _click_exceptions``: a module bound to a name.
            names.update(alias.asname or alias.name for alias in node.names if alias.name == "exceptions")
    return names


def probes(path: Path, root: Path = PACKAGE) -> list[str]:
    """The attribute probes in one module: 'line: source' for each."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules = _imported_modules(tree)
    exceptions = {node.name for node in ast.walk(tree) if isinstance(node, ast.ExceptHandler) and node.name}
    module = path.relative_to(root).as_posix()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("hasattr", "getattr") and node.args:
            target = ast.unparse(node.args[0])
            if target in modules or target in exceptions or target == "self" or (module, target) in ALLOWED:
                continue
            found.append(f"{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.ExceptHandler) and node.type is not None:
            caught = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
            if any(ast.unparse(kind) == "AttributeError" for kind in caught):
                found.append(f"{node.lineno}: except {ast.unparse(node.type)}")
    return found


def all_probes() -> dict[str, list[str]]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        found = probes(path)
        if found:
            out[path.relative_to(PACKAGE).as_posix()] = found
    return out


@pytest.mark.slow
def test_no_module_probes_models_for_attributes():
    found = all_probes()
    assert not found, f"dispatch on model.capabilities instead of probing: {found}"


def test_the_scan_catches_each_kind_of_probe(tmp_path):
    """The scan is not vacuous: each form of probing, on a model, is reported; the allowed forms are not."""
    package = tmp_path / "ngram"
    package.mkdir()
    (package / "probing.py").write_text(
        "import numpy as np\n"
        "def f(model):\n"
        "    a = hasattr(model, 'levels')\n"
        "    b = getattr(model, 'components', None)\n"
        "    try:\n"
        "        model.buckets\n"
        "    except (KeyError, AttributeError):\n"
        "        pass\n"
        "    try:\n"
        "        open(model)\n"
        "    except OSError as exc:\n"
        "        ok = hasattr(np, 'bitwise_count'), getattr(exc, 'filename', None), getattr(self, '_cache', None)\n",
        encoding="utf-8")
    found = probes(package / "probing.py", root=package)
    assert [line.split(":")[0] for line in found] == ["3", "4", "7"], found

"""The ledger app's layers: imports go one way, none hidden inside functions.

Ranks, lowest first; a module may import jobs modules of its own rank or lower only. The ledger
core (models and the rules in jobs/ledger) is one rank: the models use the redaction, error-group
and bulk-insert rules, and the batch SQL and the writer use the models.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

JOBS = Path(__file__).resolve().parent.parent / "jobs"

RANKS = {
    "jobs.logs": 0,
    "jobs.models": 1,
    "jobs.ledger": 1,
    "jobs.brokers": 2,
    "jobs.outbox": 3,
    "jobs.results": 3,
    "jobs.worker": 4,
    "jobs.tasks_framework": 0,
    "jobs.tasks_framework.backend": 4,
    "jobs.schedules": 4,
    "jobs.maintenance": 5,
    "jobs.metrics": 6,
    "jobs.admin": 6,
    "jobs.templatetags": 7,
    "jobs.views": 7,
    "jobs.urls": 8,
    "jobs.management": 8,
    "jobs.apps": 9,
    "jobs.migrations": 9,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(JOBS.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def rank(module: str) -> int:
    if module == "jobs":  # the package's public surface (jobs/__init__.py) re-exports the top
        return 10
    for prefix in sorted(RANKS, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return RANKS[prefix]
    raise AssertionError(f"{module} has no layer in tests/test_layout.py")


def jobs_imports(tree: ast.Module) -> list[tuple[str, bool]]:
    """(imported jobs module, imported inside a function?)"""
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            if name == "jobs" or name.startswith("jobs."):
                found.append((name, getattr(node, "_in_function", False)))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for child in ast.walk(node):
                child._in_function = True  # type: ignore[attr-defined]
    return found


SOURCES = sorted(p for p in JOBS.rglob("*.py") if "migrations" not in p.parts)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(JOBS.parent)))
def test_a_module_imports_only_its_own_layer_or_lower_ones(path: Path):
    module = module_name(path)
    tree = ast.parse(path.read_text())
    for imported, _in_function in jobs_imports(tree):
        if imported == "jobs":
            continue
        assert rank(imported) <= rank(module), f"{module} imports {imported} (a higher layer)"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(JOBS.parent)))
def test_no_import_of_the_ledger_is_hidden_inside_a_function(path: Path):
    module = module_name(path)
    imports = jobs_imports(ast.parse(path.read_text()))
    hidden = [name for name, in_function in imports if in_function]
    if module == "jobs.apps":  # ready(): Django's place for code that needs the loaded models
        assert hidden == ["jobs.brokers.setup"]
        return
    assert not hidden, f"{module} imports {hidden} inside a function"


def test_no_module_uses_relative_imports_either():
    relative = [
        str(path)
        for path in SOURCES
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.level > 0
    ]
    assert not relative


#: What only a broker adapter may know: broker classes and Dramatiq's Redis storage format.
BROKER_INTERNALS = ("dramatiq.brokers", "RedisBroker", "RabbitmqBroker", ".msgs", "__heartbeats__")


@pytest.mark.parametrize(
    "path",
    [p for p in sorted(JOBS.rglob("*.py")) if "brokers" not in p.relative_to(JOBS).parts],
    ids=str,
)
def test_only_the_broker_adapters_know_a_broker_class_or_key(path: Path):
    """The ledger asks brokers through jobs/brokers/view.py; each adapter owns its format."""
    source = path.read_text()
    assert [name for name in BROKER_INTERNALS if name in source] == []


def test_no_class_is_longer_than_250_lines():
    long = []
    for path in sorted(JOBS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and (node.end_lineno or 0) - node.lineno >= 250:
                long.append(f"{path.relative_to(JOBS)}: {node.name}")
    assert long == []


def test_the_ledger_app_keeps_at_most_8_modules_at_its_top_level():
    """The rest lives in packages named for what they do (ledger, brokers, worker, ...)."""
    assert len(list(JOBS.glob("*.py"))) <= 8, sorted(p.name for p in JOBS.glob("*.py"))

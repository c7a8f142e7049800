"""The layers stay visible: only engine/ talks to Docker, core/ stays pure, cli/ is reached from nothing.

Every import in the package is read, including those inside functions (the lazy ones), since a lazy
import of `docker` in core/ is still core/ depending on the engine. Imports under `if TYPE_CHECKING:`
name types for annotations and never run, so they are not dependencies.
"""

import ast
from pathlib import Path

import curator_kit

PACKAGE = Path(curator_kit.__file__).parent


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the nodes inside `if TYPE_CHECKING:` blocks: annotations, never executed."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            skipped.update(id(inner) for statement in node.body for inner in ast.walk(statement))
    return skipped


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    tree = ast.parse(path.read_text(), str(path))
    annotations_only = _type_checking_only(tree)
    for node in ast.walk(tree):
        if id(node) in annotations_only:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def modules(layer: str) -> dict[str, set[str]]:
    return {str(path.relative_to(PACKAGE)): imports(path) for path in sorted((PACKAGE / layer).rglob("*.py"))}


def every_module() -> dict[str, set[str]]:
    return {str(path.relative_to(PACKAGE)): imports(path) for path in sorted(PACKAGE.rglob("*.py"))}


def offenders(found: dict[str, set[str]], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{module} imports {name}"
        for module, names in found.items()
        for name in names
        if any(name == prefix or name.startswith(prefix + ".") for prefix in forbidden)
    )


def test_only_engine_imports_docker():
    outside = {module: names for module, names in every_module().items() if not module.startswith("engine/")}
    assert offenders(outside, ("docker",)) == []


def test_core_imports_neither_the_executing_layer_nor_the_engine_nor_the_cli():
    forbidden = ("curator_kit.ops", "curator_kit.engine", "curator_kit.cli", "docker", "click")
    assert offenders(modules("core"), forbidden) == []


def test_engine_and_ops_never_reach_up_into_the_cli():
    found = {**modules("engine"), **modules("ops")}
    assert offenders(found, ("curator_kit.cli", "click")) == []


def test_the_layers_exist_as_folders():
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()} >= {
        "cli",
        "core",
        "ops",
        "engine",
    }


def test_every_lazy_import_of_the_package_names_something_that_exists():
    """Commands import their modules inside functions (a fast `--help`): a name moved elsewhere would fail
    only when that command runs, so every `from curator_kit... import NAME` is resolved here."""
    import importlib

    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("curator_kit"):
                module = importlib.import_module(node.module)
                for alias in node.names:
                    if not hasattr(module, alias.name):
                        try:
                            importlib.import_module(f"{node.module}.{alias.name}")
                        except ImportError:
                            missing.append(f"{path.relative_to(PACKAGE)}: from {node.module} import {alias.name}")
    assert missing == []

"""The layers stay visible: only engine/ talks to Docker, core/ stays pure, cli/ is reached from nothing,
and no two modules import each other, however far round.

Every import in the package is read, including those inside functions (the lazy ones), since a lazy
import of `docker` in core/ is still core/ depending on the engine. Imports under `if TYPE_CHECKING:`
name types for annotations and never run, so they are not dependencies (nor part of a circle); the
one exception is engine/ naming an ops/ type, which the layer table forbids even for annotations.
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


def module_name(path: Path, package: Path = PACKAGE) -> str:
    """`curator_kit.core.pipeline.catalogue` for core/pipeline/catalogue/__init__.py, `curator_kit.ops.build` for
    ops/build.py."""
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, *, annotations: bool = False, root: Path = PACKAGE) -> set[str]:
    """Every name imported (`from a.b import c` gives `a.b` and `a.b.c`), lazy ones included; with
    `annotations`, those under `if TYPE_CHECKING:` too. Relative imports are resolved to full names."""
    found: set[str] = set()
    tree = ast.parse(path.read_text(), str(path))
    annotations_only = set() if annotations else _type_checking_only(tree)
    package = module_name(path, root) if path.name == "__init__.py" else module_name(path, root).rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in annotations_only:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module) if part)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """module -> the modules of the package it imports when it runs (module level or inside functions)."""
    names = {module_name(path, package): path for path in sorted(package.rglob("*.py"))}
    return {name: (imports(path, root=package) & names.keys()) - {name} for name, path in names.items()}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle per strongly connected group of `graph`, as the path that closes it (a -> b -> a),
    starting at the group's first module in sorted order; groups sorted the same way."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph.get(node, ()):
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted((_shortest_circle(graph, group) for group in groups), key=lambda circle: circle[0])


def _shortest_circle(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """The shortest path from the group's first module back to itself, inside the group (breadth first)."""
    start = min(group)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph.get(node, set()) & group):
                if target == start:  # walk back: node, the one it was reached from, ..., start
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if target not in came_from:
                    came_from[target] = node
                    following.append(target)
        frontier = following
    raise AssertionError(f"{sorted(group)} is not a circle")


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


def test_the_engine_never_reaches_up_into_the_executing_layer():
    """ops/ drives the engine, not the reverse; not even an annotation of engine/ names an ops/ type
    (what engine/ takes from its callers is typed in core/, e.g. `core.build.buildlog.BuildProgress`)."""
    found = {
        str(path.relative_to(PACKAGE)): imports(path, annotations=True)
        for path in sorted((PACKAGE / "engine").rglob("*.py"))
    }
    assert offenders(found, ("curator_kit.ops", "curator_kit.cli")) == []


def test_commands_start_containers_through_the_launch_path():
    """`run`, `shell`, `replay`, `demo` and `test` reach the engine's container runners only through
    `ops/launch` (docs/architecture.md: one path), never straight from a command."""
    runners = ("curator_kit.engine.containers.run_plan", "curator_kit.engine.containers.run_interactive")
    assert offenders(modules("cli"), runners) == []


# What writes or removes a file: methods of Path, functions of os, shutil and tempfile, open() to write.
PATH_WRITES = {"write_text", "write_bytes", "mkdir", "unlink", "rmdir", "touch", "chmod", "symlink_to", "hardlink_to"}
OS_WRITES = {
    "replace",
    "rename",
    "remove",
    "unlink",
    "chmod",
    "chown",
    "makedirs",
    "mkdir",
    "rmdir",
    "symlink",
    "fdopen",
}
SHUTIL_WRITES = {"rmtree", "copy", "copy2", "copyfile", "copytree", "move", "chown", "make_archive", "unpack_archive"}
# TemporaryFile has no name and goes when closed (a build context's tar): it leaves nothing behind.
TEMPFILE_WRITES = {"mkstemp", "mkdtemp", "NamedTemporaryFile", "TemporaryDirectory"}
# The one write primitive: `ops/` (and `cli/output`) write through it; no core module calls it.
WRITE_PRIMITIVE = "core/atomicfile.py"


def file_writes(path: Path, root: Path = PACKAGE) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else None
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        mode = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "mode"), None)
        if (
            (isinstance(func, ast.Attribute) and owner not in ("os", "shutil", "tempfile") and name in PATH_WRITES)
            or (owner == "os" and name in OS_WRITES)
            or (owner == "shutil" and name in SHUTIL_WRITES)
            or (owner == "tempfile" and name in TEMPFILE_WRITES)
            or (
                name == "open"
                and owner is None
                and isinstance(mode, ast.Constant)
                and set(str(mode.value)) & set("wax+")
            )
        ):
            found.append(f"{path.relative_to(root)}:{node.lineno} {ast.unparse(func)}")
    return found


def test_core_writes_no_file():
    """core/ decides; what curator-kit writes into a project (scaffolds, the manifest, `.curator-kit/`
    records) is written by ops/ (docs/architecture.md)."""
    found = [
        write
        for path in sorted((PACKAGE / "core").rglob("*.py"))
        if str(path.relative_to(PACKAGE)) != WRITE_PRIMITIVE
        for write in file_writes(path)
    ]
    assert found == []


def test_the_write_finder_sees_writes(tmp_path):
    source = tmp_path / "m.py"
    source.write_text(
        "import os, shutil, tempfile\n"
        "def f(p, t):\n"
        "    p.write_text(t)\n"
        "    os.replace(p, t)\n"
        "    shutil.which('x')\n"
        "    open(p, 'a').close()\n"
        "    open(p).read()\n"
        "    tempfile.TemporaryFile()\n"
        "    t.replace('a', 'b')\n"
    )
    assert file_writes(source, tmp_path) == ["m.py:3 p.write_text", "m.py:4 os.replace", "m.py:6 open"]


def test_no_module_of_the_package_imports_itself_round_a_circle():
    """A circle (a imports b, b imports a; lazily or not) works only by the order things happen to be
    imported in, and says two modules are one: each circle is listed with its modules."""
    circles = [" -> ".join(circle) for circle in import_cycles(import_graph())]
    assert circles == [], "import circles:\n" + "\n".join(circles)


def test_the_circle_finder_finds_every_circle_and_names_its_modules():
    graph = {
        "a": {"b"},
        "b": {"c"},
        "c": {"a", "d"},  # a -> b -> c -> a
        "d": set(),
        "e": {"f", "d"},
        "f": {"e"},  # e <-> f
        "g": {"g"},  # a module importing itself
        "h": {"a"},  # reaches a circle without being in it
    }
    assert import_cycles(graph) == [["a", "b", "c", "a"], ["e", "f", "e"], ["g", "g"]]
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": set(), "d": {"a", "c"}}) == []
    # Of two ways round, the shorter is shown.
    assert import_cycles({"a": {"b", "c"}, "b": {"c"}, "c": {"a"}}) == [["a", "c", "a"]]


def test_the_import_graph_sees_lazy_and_relative_imports_and_not_annotation_ones(tmp_path):
    package = tmp_path / "curator_kit"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "one.py").write_text("def f():\n    from curator_kit.sub import two\n")
    (package / "sub" / "two.py").write_text("from . import three\n")
    (package / "sub" / "three.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from curator_kit.sub.one import f\n"
        "def g():\n    import curator_kit.sub.one\n"
    )
    (package / "sub" / "four.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from curator_kit.sub.one import f\n"
    )
    graph = import_graph(package)
    assert graph["curator_kit.sub.one"] == {"curator_kit.sub", "curator_kit.sub.two"}
    assert graph["curator_kit.sub.two"] == {"curator_kit.sub", "curator_kit.sub.three"}
    assert graph["curator_kit.sub.four"] == set()
    assert import_cycles(graph) == [
        ["curator_kit.sub.one", "curator_kit.sub.two", "curator_kit.sub.three", "curator_kit.sub.one"]
    ]


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

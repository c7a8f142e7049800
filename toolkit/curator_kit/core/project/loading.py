"""Reading the manifest: find the project, parse `curator-kit.toml` into a Manifest (every unknown or
mistyped key named with its line), and check that the modules it names exist."""

from __future__ import annotations

import json
import os
import re
import tomllib
import types
import typing
from collections.abc import Callable
from dataclasses import MISSING, fields
from functools import cache, partial
from pathlib import Path
from typing import Any

from curator_kit.core import parsers
from curator_kit.core.constants import ENGINE_ENV, MANIFEST_NAME
from curator_kit.core.parsers import ParseError, parse_version
from curator_kit.core.pipeline.catalogue.values import ANY_VALUE, check_value
from curator_kit.core.project.manifest import (
    BuildSettings,
    ClippingSettings,
    EnvSpec,
    KeyPath,
    Manifest,
    ModelSpec,
    ProjectInfo,
    RunDefaults,
    StageSpec,
)
from curator_kit.core.project.names import check_env_name
from curator_kit.core.project.validation import validate
from curator_kit.errors import CuratorKitError


def find_project_dir(start: Path | str = ".") -> Path:
    """The nearest directory at or above `start` that holds curator-kit.toml."""
    here = Path(start).resolve()
    for candidate in (here, *here.parents):
        if (candidate / MANIFEST_NAME).is_file():
            return candidate
    raise CuratorKitError(
        f"no {MANIFEST_NAME} in {here} or any parent directory",
        "run inside a project (curator-kit init NAME creates one) or pass --project DIR",
    )


def read_manifest_text(project_dir: Path | str) -> str:
    path = Path(project_dir) / MANIFEST_NAME
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CuratorKitError(f"{path} not found", "curator-kit init NAME creates a project") from None


def load_manifest(project_dir: Path | str) -> Manifest:
    """The project's manifest, parsed and validated, its stages' and models' modules found on disk.

    Its `[run] engine` becomes this process's engine choice (CURATOR_KIT_ENGINE) unless `--engine` or the
    environment chose already: every command that loads its project then connects to that engine."""
    text = read_manifest_text(project_dir)
    manifest = parse_manifest(text)
    check_modules(manifest, Path(project_dir), text)
    if manifest.run.engine:
        os.environ.setdefault(ENGINE_ENV, manifest.run.engine)
    return manifest


def module_source(project_dir: Path, module: str) -> Path | None:
    """The file a module path names in the project (`stages.blur` -> stages/blur.py or stages/blur/__init__.py)."""
    base = project_dir.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def check_modules(manifest: Manifest, project_dir: Path, text: str = "") -> None:
    """Every [[stages]] and [[models]] `module` names a file of the project: `stages`, `spec` and `build`
    say so at once, not the image's import when the pipeline starts."""
    lines = key_lines(text) if text else {}
    entries = [("stages", i, e) for i, e in enumerate(manifest.stages) if not e.builtin]
    entries += [("models", i, e) for i, e in enumerate(manifest.models)]
    for table, index, entry in entries:
        if entry.module and module_source(project_dir, entry.module) is None:
            path: KeyPath = (table, index, "module")
            expected = "/".join(entry.module.split("."))
            where = TableReader(MANIFEST_NAME, lines).where(path)
            raise CuratorKitError(
                f"{where}: {_dotted(path)} = {entry.module!r} names no file of the project: neither "
                f"{expected}.py nor {expected}/__init__.py exists",
                f"create {expected}.py (`curator-kit new-{table[:-1]}` writes one) or correct the module path",
            )


# ---------------------------------------------------------------- parsing


def parse_manifest(text: str, source: str = MANIFEST_NAME) -> Manifest:
    try:
        data = tomllib.loads(text)
    except ValueError as error:  # TOMLDecodeError, or an integer of more digits than Python converts
        raise CuratorKitError(f"{source} is not valid TOML: {error}", "fix the syntax at that line") from None
    reader = TableReader(source, key_lines(text))
    reader.integers(data, ())
    reader.only(data, (), ("project", "clipping", "stages", "models", "envs", "build", "run"))
    if "project" not in data:
        raise CuratorKitError(f"{source}: missing [project] table", 'add [project] with name = "..."')
    envs_table = reader.table(data.get("envs", {}), ("envs",))
    project = reader.record(ProjectInfo, data["project"], ("project",))
    manifest = Manifest(
        project=project,
        stages=[reader.stage(s, i, project.curator_version) for i, s in enumerate(reader.array(data, "stages"))],
        models=[reader.record(ModelSpec, m, ("models", i)) for i, m in enumerate(reader.array(data, "models"))],
        envs={
            reader.env_name(name): reader.record(EnvSpec, reader.table(body, ("envs", name)), ("envs", name), name=name)
            for name, body in envs_table.items()
        },
        build=reader.record(BuildSettings, data.get("build", {}), ("build",)),
        run=reader.record(RunDefaults, data.get("run", {}), ("run",)),
        clipping=reader.record(ClippingSettings, data.get("clipping", {}), ("clipping",)),
    )
    validate(manifest, source)
    return manifest


@cache
def _field_types(cls: type) -> dict[str, Any]:
    """A record's field types: get_type_hints evaluates the annotations' text, so each class's once (a
    command reads its manifest several times: before, during and after an edit)."""
    return typing.get_type_hints(cls)


class TableReader:
    """Builds dataclasses from parsed TOML, rejecting unknown keys and wrong types with their line."""

    def __init__(self, source: str, lines: dict[KeyPath, int]) -> None:
        self.source = source
        self.lines = lines

    def where(self, path: KeyPath) -> str:
        # A key without its own line (e.g. inside an inline table) is reported at its nearest parent.
        for cut in range(len(path), 0, -1):
            if path[:cut] in self.lines:
                return f"{self.source}:{self.lines[path[:cut]]}"
        return self.source

    def fail(self, path: KeyPath, message: str, fix: str) -> typing.NoReturn:
        raise CuratorKitError(f"{self.where(path)}: {message}", fix)

    def only(self, table: dict[str, Any], path: KeyPath, allowed: typing.Iterable[str]) -> None:
        allowed = list(allowed)
        for key in table:
            if key not in allowed:
                where = f"[{_dotted(path)}]" if path else "the top level"
                self.fail((*path, key), f"unknown key {key!r} in {where}", f"allowed keys: {', '.join(allowed)}")

    def table(self, value: Any, path: KeyPath) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(path, f"{_dotted(path)!r} must be a table", f"write it as [{_dotted(path)}]")
        return value

    def array(self, data: dict[str, Any], key: str) -> list[dict[str, Any]]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            self.fail((key,), f"{key!r} must be an array of tables", f"write each entry as [[{key}]]")
        return value

    def record(self, cls: type, value: Any, path: KeyPath, **fixed: Any) -> Any:
        body = self.table(value, path)
        hints = _field_types(cls)
        keyed = {f.metadata.get("toml", f.name): f for f in fields(cls) if f.name not in fixed}
        self.only(body, path, [key for key in keyed if key])
        kwargs = dict(fixed)
        for key, spec in keyed.items():
            if key in body:
                kwargs[spec.name] = self.field_value(body[key], spec.metadata, hints[spec.name], (*path, key))
            elif spec.default is MISSING and spec.default_factory is MISSING:
                self.fail(path, f"[{_dotted(path)}] is missing {key!r}", f"add {key} = ... to that table")
        return cls(**kwargs)

    def field_value(self, value: Any, metadata: typing.Mapping[str, Any], kind: Any, path: KeyPath) -> Any:
        """The TOML value checked for its type, then through the field's parser (a float's: finite)."""
        parse = metadata.get("parse") or (parsers.parse_finite if kind is float else None)
        raw = self.convert(value, metadata.get("raw") or kind, path)
        if parse is None:
            return raw
        if isinstance(raw, list):
            return [self.parsed(parse, item, (*path, index)) for index, item in enumerate(raw)]
        if isinstance(raw, dict):
            return dict(self.parsed(parse, item, (*path, item[0])) for item in raw.items())
        return self.parsed(parse, raw, path)

    def parsed(self, parse: Callable[[Any], Any], value: Any, path: KeyPath) -> Any:
        try:
            return parse(value)
        except ParseError as error:
            raise error.at(f"{self.where(path)}: {_dotted(path)} =") from None

    def integers(self, value: Any, path: KeyPath) -> None:
        """Every integer of the document within TOML's signed 64 bits (tomllib reads any), wherever it is."""
        if isinstance(value, dict):
            for key, item in value.items():
                self.integers(item, (*path, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.integers(item, (*path, index))
        elif isinstance(value, int) and not isinstance(value, bool):
            self.parsed(parsers.parse_toml_integer, value, path)

    def stage(self, body: Any, index: int, curator_version: str) -> StageSpec:
        """A [[stages]] entry; a built-in's parameters are checked against the catalogue of the project's
        Curator release here, where their lines are known. A project stage's are the stage's own: JSON-able
        values here, its signature in the image (pipeline.py)."""
        path: KeyPath = ("stages", index)
        stage = self.record(StageSpec, body, path, line=self.lines.get(path, 0))
        params_at = (*path, "params")
        if not stage.builtin:
            for key, value in (("module", stage.module), ("class", stage.class_name)):
                if not value:
                    self.fail(
                        path,
                        f"[{_dotted(path)}] is missing {key!r}",
                        f"add {key} = ... to that table, or builtin = NAME for a Curator built-in",
                    )
            stage.params = {
                key: self.parsed(partial(check_value, ANY_VALUE), value, (*params_at, key))
                for key, value in stage.params.items()
            }
            return stage
        if "resources" not in self.table(body, path):
            stage.resources = None  # the Resources the built-in's parameters give it
        from curator_kit.core.pipeline.catalogue import catalogue_for

        parse_version(curator_version)
        try:
            catalogue = catalogue_for(curator_version)
        except CuratorKitError as error:
            self.fail((*path, "builtin"), error.message, error.fix or "")
        builtin = catalogue.builtin(stage.builtin)
        if builtin is None:
            self.fail(
                (*path, "builtin"),
                f"{_dotted((*path, 'builtin'))} = {stage.builtin!r} is not a built-in stage of nemo-curator "
                f"{catalogue.curator}",
                f"use one of {', '.join(catalogue.builtins)} (`curator-kit stages --catalogue` describes them)",
            )
        stage.params = builtin.check_params(
            stage.params, lambda key: f"{self.where((*params_at, key))}: {_dotted((*params_at, key))}"
        )
        return stage

    def env_name(self, name: str) -> str:
        """An [envs.NAME] key: it names image layers and Dockerfile comments, so names.py's rule holds."""
        try:
            check_env_name(name)
        except CuratorKitError as error:
            self.fail(("envs", name), error.message, error.fix or "rename the table")
        return name

    def convert(self, value: Any, kind: Any, path: KeyPath) -> Any:
        origin, args = typing.get_origin(kind), typing.get_args(kind)
        if origin is types.UnionType and type(None) in args:
            # TOML has no null: a value that is there is the other type.
            kind = next(arg for arg in args if arg is not type(None))
            origin, args = typing.get_origin(kind), typing.get_args(kind)
        if isinstance(kind, type) and hasattr(kind, "__dataclass_fields__"):
            return self.record(kind, value, path)
        ok: bool
        if kind is float:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            value = float(value) if ok else value
        elif kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif kind is bool or kind is str:
            ok = isinstance(value, kind)
        elif origin is list:
            ok = isinstance(value, list) and all(isinstance(v, args[0]) for v in value)
        elif origin is dict:
            # dict[str, Any]: stage parameters, whose types the catalogue or the stage itself checks
            ok = isinstance(value, dict) and (args[1] is Any or all(isinstance(v, args[1]) for v in value.values()))
        else:  # pragma: no cover - a dataclass field type this reader does not know
            raise TypeError(kind)
        if not ok:
            self.fail(path, f"{_dotted(path)!r} must be {_describe(kind)}, not {value!r}", "fix the value")
        return value


def _describe(kind: Any) -> str:
    names = {float: "a number", int: "an integer", bool: "true or false", str: "a string"}
    if kind in names:
        return names[kind]
    if typing.get_origin(kind) is list:
        return "a list of strings"
    return "a table of strings"


def _dotted(path: KeyPath) -> str:
    out = ""
    for part in path:
        if isinstance(part, str) and not BARE_KEY.fullmatch(part):
            part = json.dumps(part)  # a quoted TOML key, on one line whatever it holds
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


_BARE_OR_QUOTED = r'(?:[A-Za-z0-9_-]+|"[^"]*"|\'[^\']*\')'
TABLE_HEADER = re.compile(rf"^\s*(\[\[?)\s*({_BARE_OR_QUOTED}(?:\s*\.\s*{_BARE_OR_QUOTED})*)\s*\]\]?")
_ASSIGN = re.compile(rf"^\s*({_BARE_OR_QUOTED}(?:\s*\.\s*{_BARE_OR_QUOTED})*)\s*=")
_PART = re.compile(_BARE_OR_QUOTED)


def key_lines(text: str) -> dict[KeyPath, int]:
    """Map each table header and key to its 1-based line; array-of-tables entries get their index."""
    lines: dict[KeyPath, int] = {}
    arrays: dict[KeyPath, int] = {}  # resolved path of an array of tables -> index of its last entry
    current: KeyPath = ()
    in_multiline = False

    def resolve(parts: list[str]) -> KeyPath:
        out: list[str | int] = []
        for part in parts:
            out.append(part)
            if tuple(out) in arrays:
                out.append(arrays[tuple(out)])
        return tuple(out)

    for number, line in enumerate(text.splitlines(), start=1):
        # Skip the body of multi-line strings: `key = value` lines there are text, not keys.
        if line.count('"""') % 2 or line.count("'''") % 2:
            in_multiline = not in_multiline
            if not in_multiline:
                continue
        elif in_multiline:
            continue
        if header := TABLE_HEADER.match(line):
            parts = [p.strip("\"'") for p in _PART.findall(header.group(2))]
            if header.group(1) == "[[":
                table = (*resolve(parts[:-1]), parts[-1])
                arrays[table] = arrays.get(table, -1) + 1
                current = (*table, arrays[table])
            else:
                current = resolve(parts)
            lines.setdefault(current, number)
        elif assign := _ASSIGN.match(line):
            parts = [p.strip("\"'") for p in _PART.findall(assign.group(1))]
            lines.setdefault((*current, *parts), number)
    return lines


# ---------------------------------------------------------------- validation

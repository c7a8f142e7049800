"""Read the constructor fields of Curator's built-in stages from the installed nemo-curator.

Runs inside a base image (it imports nemo_curator), reads a catalogue table of curator-kit
(toolkit/curator_kit/core/pipeline/catalogue/curator_X_Y.toml) and prints, as JSON, every dataclass field of
the classes it names (type, default), the module constants it names and the keys of those it takes
allowed values from: the facts the table builds on. tests/integration/test_builtin_catalogue.py runs it
again and compares.

    docker run --rm -v "$PWD/toolkit/curator_kit/core/pipeline/catalogue:/catalogue:ro" -v "$PWD/scripts:/scripts:ro" \
        curator-kit/base:1.4.0-cpu python /scripts/catalogue-fields.py /catalogue/curator_1_4.toml \
        > toolkit/curator_kit/core/pipeline/catalogue/curator_1_4.fields.json
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import json
import sys
import tomllib
import types
import typing
from typing import Any


def load(path: str) -> Any:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def type_shape(kind: Any) -> dict[str, Any]:
    """A field's annotation as plain data: what a manifest value must be to fit it."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        options = [type_shape(arg) for arg in args if arg is not type(None)]
        shape = options[0] if len(options) == 1 else {"type": "union", "options": options}
        return {**shape, "optional": True} if len(options) < len(args) else shape
    if origin is typing.Literal:
        return {"type": "literal", "choices": list(args)}
    if kind in (int, float, bool, str):
        return {"type": kind.__name__}
    if kind is typing.Any:
        return {"type": "any"}
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return {"type": "enum", "class": f"{kind.__module__}.{kind.__qualname__}", "members": [m.name for m in kind]}
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "tuple", "item": type_shape(args[0])}
        return {"type": "tuple", "items": [type_shape(arg) for arg in args]}
    if origin is list:
        return {"type": "list", "item": type_shape(args[0])}
    if origin is dict:
        return {"type": "dict"}
    raise TypeError(f"no shape for annotation {kind!r}")


def annotation_text(kind: Any) -> str:
    text = kind.__name__ if isinstance(kind, type) and not typing.get_args(kind) else str(kind)
    return text.replace("typing.", "")


def plain(value: Any) -> Any:
    """A default as JSON: enum members by name, tuples as lists."""
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, tuple | list):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    return value


def fields_of(path: str) -> list[dict[str, Any]]:
    cls = load(path)
    hints = typing.get_type_hints(cls)
    out = []
    for spec in dataclasses.fields(cls):
        entry: dict[str, Any] = {"name": spec.name, "annotation": annotation_text(hints[spec.name])}
        entry["shape"] = type_shape(hints[spec.name])
        if spec.default is not dataclasses.MISSING:
            entry["default"] = plain(spec.default)
        elif spec.default_factory is not dataclasses.MISSING:
            entry["default"] = plain(spec.default_factory())
        else:
            entry["required"] = True
        out.append(entry)
    return out


def constant(path: str) -> Any:
    """A mapping keeps its keys and, for each, a model id (a (model id, revision) tuple's first item)."""
    value = load(path)
    if isinstance(value, dict):
        return {str(key): plain(item[0] if isinstance(item, tuple) else item) for key, item in value.items()}
    return plain(value)


def keys_of(path: str) -> list[str]:
    """The allowed values a constant lists: a mapping's keys, a tuple's items."""
    return [str(item) for item in load(path)]


def wanted(table: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    classes = [table["reader"]["class"], table["writer"]["class"]]
    constants: list[str] = []
    listed: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "constant" in node:
                constants.append(node["constant"])
            if "keys_of" in node:
                listed.append(node["keys_of"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for entry in table["builtins"].values():
        classes += [part["class"] for part in entry["parts"]]
        walk(entry)
    return list(dict.fromkeys(classes)), sorted(set(constants)), sorted(set(listed))


def main(table_path: str) -> None:
    with open(table_path, "rb") as file:
        table = tomllib.load(file)
    classes, constants, listed = wanted(table)
    from nemo_curator.package_info import __version__

    facts = {
        "nemo_curator": __version__,
        "classes": {path: fields_of(path) for path in classes},
        "constants": {path: constant(path) for path in constants},
        "keys": {path: keys_of(path) for path in listed},
    }
    json.dump(facts, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])

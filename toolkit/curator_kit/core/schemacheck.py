"""A small validator for the OpenAPI v3 schema subset Kubernetes CRDs use.

Knows: type (object, array, string, integer, number, boolean), properties (closed unless
additionalProperties is given), additionalProperties, required, items, enum, minimum, format
int32, pattern, x-kubernetes-int-or-string. Returns every problem with its path, e.g.
`spec.rayClusterSpec.workerGroupSpecs[0].replicas: expected integer, got '2'`.
"""

from __future__ import annotations

import re
from typing import Any

INT32 = (-(2**31), 2**31 - 1)
_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


def validate(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    problems: list[str] = []
    _check(value, schema, path or "(document)", problems)
    return problems


def _type_ok(value: Any, schema: dict[str, Any]) -> bool:
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
    kind = schema.get("type")
    if kind is None:
        return True
    if isinstance(value, bool) and kind != "boolean":
        return False  # bool is an int in Python, never in JSON
    return isinstance(value, _TYPES[kind])


def _check(value: Any, schema: dict[str, Any], path: str, problems: list[str]) -> None:
    if not _type_ok(value, schema):
        expected = "integer or string" if schema.get("x-kubernetes-int-or-string") else schema["type"]
        problems.append(f"{path}: expected {expected}, got {value!r}")
        return
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: {value!r} is not one of {', '.join(map(str, schema['enum']))}")
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        problems.append(f"{path}: {value!r} does not match {schema['pattern']}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(f"{path}: {value} is below the minimum {schema['minimum']}")
        if schema.get("format") == "int32" and not INT32[0] <= value <= INT32[1]:
            problems.append(f"{path}: {value} does not fit int32")
    if isinstance(value, dict):
        _check_object(value, schema, path, problems)
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            _check(item, schema["items"], f"{path}[{index}]", problems)


def _check_object(value: dict[str, Any], schema: dict[str, Any], path: str, problems: list[str]) -> None:
    prefix = "" if path == "(document)" else f"{path}."
    for key in schema.get("required", ()):
        if key not in value:
            problems.append(f"{prefix}{key}: required, missing")
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    for key, item in value.items():
        where = f"{prefix}{key}"
        if key in properties:
            _check(item, properties[key], where, problems)
        elif isinstance(extra, dict):
            _check(item, extra, where, problems)
        elif extra is not True:
            known = ", ".join(sorted(properties)) or "none"
            problems.append(f"{where}: unknown field (known here: {known})")

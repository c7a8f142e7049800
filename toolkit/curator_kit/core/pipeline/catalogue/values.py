"""Stage parameter values: a manifest's TOML value checked against a constructor field's type.

The field's annotation arrives as a *shape* (plain data read from the installed Curator by
scripts/catalogue-fields.py): {"type": "float"}, {"type": "literal", "choices": [...]},
{"type": "tuple", "items": [...]}, {"type": "enum", "class": ..., "members": [...]}, ..., with
"optional": true when None is allowed. A value that fits is returned as JSON (what the pipeline
spec carries); tuples and enum members travel as lists and member names, and `conversion` says
how `pipeline.py` turns them back into the Python objects the constructor expects.
"""

from __future__ import annotations

import datetime
import math
from typing import Any

from curator_kit.core.parsers import ParseError, parse_text

Shape = dict[str, Any]

# TOML has no null: an optional field is set to None with this word.
NONE_WORD = "none"
# A project stage's parameter: any value JSON can carry (its signature is checked in the image).
ANY_VALUE: Shape = {"type": "any"}


def describe_shape(shape: Shape) -> str:
    """The shape in words a manifest writer understands: 'a number', 'one of "a", "b"'."""
    kind = shape["type"]
    words = {
        "float": "a number",
        "int": "an integer",
        "bool": "true or false",
        "str": "a string",
        "dict": "a table",
        "any": "a value",
    }
    if kind in words:
        text = words[kind]
    elif kind in ("literal", "choice"):
        text = "one of " + ", ".join(f'"{choice}"' for choice in shape["choices"])
    elif kind == "enum":
        text = "one of " + ", ".join(f'"{member}"' for member in shape["members"])
    elif kind == "tuple" and "items" in shape:
        text = f"a list of {len(shape['items'])} ({', '.join(describe_shape(item) for item in shape['items'])})"
    elif kind in ("tuple", "list"):
        text = f"a list of {_plural(describe_shape(shape['item']))}"
    elif kind == "union":
        text = " or ".join(describe_shape(option) for option in shape["options"])
    else:  # pragma: no cover - a shape the fields reader does not write
        raise ValueError(f"unknown shape {shape!r}")
    return f'{text} or "{NONE_WORD}"' if shape.get("optional") else text


def _plural(words: str) -> str:
    pairs = (("a number", "numbers"), ("an integer", "integers"), ("a string", "strings"), ("one of", "values from"))
    for single, many in pairs:
        words = words.replace(single, many)
    return words


def check_value(shape: Shape, value: Any) -> Any:
    """`value` (as TOML or the command line gives it) as the JSON the spec carries, or ParseError."""
    if shape.get("optional") and value == NONE_WORD:
        return None
    kind = shape["type"]
    what = describe_shape(shape)
    fits: bool
    if kind == "float":
        fits = isinstance(value, int | float) and not isinstance(value, bool)
        if fits:
            if not math.isfinite(value):
                raise ParseError(f"{value!r} is not {what}: nan and infinity are not allowed", "write a finite number")
            value = float(value)
    elif kind == "int":
        fits = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "bool":
        fits = isinstance(value, bool)
    elif kind == "str":
        fits = isinstance(value, str)
        if fits:
            value = parse_text(value)
    elif kind in ("literal", "choice"):
        fits = value in shape["choices"]
    elif kind == "enum":
        fits = value in shape["members"]
    elif kind == "tuple" and "items" in shape:
        fits = isinstance(value, list) and len(value) == len(shape["items"])
        if fits:
            value = [check_value(item, part) for item, part in zip(shape["items"], value, strict=True)]
    elif kind in ("tuple", "list"):
        fits = isinstance(value, list)
        if fits:
            value = [check_value(shape["item"], part) for part in value]
    elif kind == "union":
        for option in shape["options"]:
            try:
                return check_value(option, value)
            except ParseError:
                continue
        fits = False
    elif kind == "dict":
        fits = isinstance(value, dict)
        if fits:
            value = {key: check_value(ANY_VALUE, item) for key, item in value.items()}
    elif kind == "any":
        fits = not isinstance(value, datetime.date | datetime.time)  # TOML dates have no JSON form
        if fits and isinstance(value, list | dict | str | float):
            value = _plain(value)
    else:  # pragma: no cover - a shape the fields reader does not write
        raise ValueError(f"unknown shape {shape!r}")
    if not fits:
        raise ParseError(f"{value!r} is not {what}", f"write {what}")
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [check_value(ANY_VALUE, item) for item in value]
    if isinstance(value, dict):
        return {key: check_value(ANY_VALUE, item) for key, item in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        raise ParseError(f"{value!r} is not a finite number", "write a finite number")
    return parse_text(value) if isinstance(value, str) else value


def conversion(shape: Shape) -> str | None:
    """How pipeline.py turns the spec's JSON into the constructor's object: "tuple", "enum:CLASS",
    "enum-tuple:CLASS", "enum-list:CLASS", or None when JSON is already the right object."""
    kind = shape["type"]
    if kind == "enum":
        return f"enum:{shape['class']}"
    item = shape.get("item")
    if item is not None and item["type"] == "enum":
        return f"enum-{kind}:{item['class']}"
    if kind == "tuple":
        return "tuple"
    return None


def show(value: Any, how: str | None) -> str:
    """A value as `pipeline.py --describe` prints the constructed object's attribute: enum members as
    Class.member, tuples in parentheses, everything else as repr()."""
    if value is None or how is None:
        return repr(value)
    kind, _, target = how.partition(":")
    member = target.rpartition(".")[2]
    if kind == "enum":
        return f"{member}.{value}"
    if kind == "tuple":
        return _tuple_text([repr(item) for item in value])
    items = [f"{member}.{item}" for item in value]
    return _tuple_text(items) if kind == "enum-tuple" else f"[{', '.join(items)}]"


def _tuple_text(items: list[str]) -> str:
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"

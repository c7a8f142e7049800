"""A small YAML emitter for Kubernetes manifests: block mappings and sequences of JSON-like data.

Scalars that YAML could read as something else (true, 1.0, null, "", ": " inside, leading '-' ...)
are written as JSON strings, which are valid YAML double-quoted scalars; so the text always parses
back to the data it came from. No PyYAML needed.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Plain (unquoted) only when unambiguous: no leading digit or indicator, ':' only inside a word.
_PLAIN = re.compile(r"^[A-Za-z_/.][A-Za-z0-9_./=@+:-]*( [A-Za-z0-9_./=@+-][A-Za-z0-9_./=@+:-]*)*$")
# Words YAML 1.1 or 1.2 reads as booleans or null; numbers are caught by trying float().
_RESERVED = {"true", "false", "yes", "no", "on", "off", "y", "n", "null", "~"}


def scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    text = str(value)
    plain = _PLAIN.match(text) and not text.endswith(":") and ": " not in text
    if plain and text.lower() not in _RESERVED and not _is_number(text):
        return text
    return json.dumps(text)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return text.lower() in {".inf", "-.inf", ".nan"} or text.startswith(("0x", "0o"))
    return True


def _key(key: str) -> str:
    return scalar(str(key))


def _lines(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return [pad + "{}"]
        out = []
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                out.append(f"{pad}{_key(key)}:")
                out += _lines(item, indent + (0 if isinstance(item, list) else 2))
            else:
                out.append(f"{pad}{_key(key)}: {_inline(item)}")
        return out
    if isinstance(value, list):
        if not value:
            return [pad + "[]"]
        out = []
        for item in value:
            if isinstance(item, dict | list) and item:
                inner = _lines(item, indent + 2)
                out.append(f"{pad}- {inner[0].lstrip()}")
                out += inner[1:]
            else:
                out.append(f"{pad}- {_inline(item)}")
        return out
    return [pad + scalar(value)]


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return scalar(value)


def dump(document: Any, header: list[str] | None = None) -> str:
    """One YAML document; `header` lines become comments above it."""
    comments = [f"# {line}".rstrip() for line in header or []]
    return "\n".join([*comments, *_lines(document, 0)]) + "\n"

"""The catalogue's files, shipped beside this module: per Curator release `curator_X_Y.toml` (the table)
and `curator_X_Y.fields.json` (the fields read from the installed package).

Kept apart from `table`, whose types the list of built-in names does not need: a command that reads a
manifest without built-ins reads the table's keys and never builds a catalogue.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

# Files of the package beside this module (as curator_kit.resources finds its data): importlib's resource
# readers would load zipfile and more at every start of a command that reads a manifest.
_FOLDER = Path(__file__).resolve().parent


def read_table(module_name: str) -> dict[str, Any]:
    """curator_X_Y.toml, parsed."""
    return tomllib.loads(_FOLDER.joinpath(f"{module_name}.toml").read_text(encoding="utf-8"))


def read_fields(module_name: str) -> dict[str, Any]:
    """curator_X_Y.fields.json, parsed."""
    return json.loads(_FOLDER.joinpath(f"{module_name}.fields.json").read_text(encoding="utf-8"))

"""Writing the per-project state under `.curator-kit/` whose names and reading `core.project.state` holds: the
last build, the last push, cluster tokens.

Every write is atomic (a temporary file renamed over the old one), so a reader never sees half a
record, and mode 0600 in a 0700 directory: a record may hold a credential (a cluster's token), and no
caller should have to remember which ones do.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from curator_kit.core.atomicfile import write_text_atomically
from curator_kit.core.project.state import DIRECTORY_MODE, RECORD_MODE, record_path
from curator_kit.errors import CuratorKitError


def write_record(project_dir: Path, name: str, record: Mapping[str, Any]) -> Path:
    path = record_path(project_dir, name)
    try:
        path.parent.mkdir(mode=DIRECTORY_MODE, exist_ok=True)
        write_text_atomically(path, json.dumps(record, indent=2) + "\n", RECORD_MODE)
    except OSError as error:
        raise CuratorKitError(
            f"could not write {path}: {error.strerror}", f"check the permissions of {path.parent}"
        ) from None
    return path


def write_secret(project_dir: Path, name: str, secret: str) -> Path:
    """A credential as the file's whole content, mode 0600 from its first byte (the record rules)."""
    path = record_path(project_dir, name)
    try:
        path.parent.mkdir(mode=DIRECTORY_MODE, exist_ok=True)
        write_text_atomically(path, secret, RECORD_MODE)
    except OSError as error:
        raise CuratorKitError(
            f"could not write {path}: {error.strerror}", f"check the permissions of {path.parent}"
        ) from None
    return path


def remove_record(project_dir: Path, name: str) -> bool:
    """Remove a record or secret; False when there was none."""
    path = record_path(project_dir, name)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True

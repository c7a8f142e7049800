"""Per-project state under `.curator-kit/`: the last build, the last push, cluster tokens.

One JSON object a file. Every write is atomic (a temporary file renamed over the old one), so a
reader never sees half a record, and mode 0600 in a 0700 directory: a record may hold a credential
(a cluster's token), and no caller should have to remember which ones do.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from curator_kit.core.atomicfile import write_text_atomically
from curator_kit.core.constants import STATE_DIR
from curator_kit.errors import CuratorKitError

LAST_BUILD = "last-build.json"
LAST_PUSH = "last-push.json"
# The local cluster's Ray token: the bare token (Ray reads the file whole), not a JSON record.
RAY_TOKEN = "ray-auth-token"
RECORD_MODE = 0o600
DIRECTORY_MODE = 0o700


def state_dir(project_dir: Path) -> Path:
    return project_dir / STATE_DIR


def record_path(project_dir: Path, name: str) -> Path:
    return state_dir(project_dir) / name


def utc_timestamp() -> str:
    """When a record was written, as ISO 8601 UTC to the second."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


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


def read_record(project_dir: Path, name: str, required: tuple[str, ...] = ()) -> dict[str, Any] | None:
    """The record, or None when it is absent, unreadable, not a JSON object or lacks a `required` key."""
    try:
        record = json.loads(record_path(project_dir, name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or any(key not in record for key in required):
        return None
    return record

"""Per-project state under `.curator-kit/`: the last build, the last push, cluster tokens.

One JSON object a file. Their names, places and modes, and reading them, are here; `ops.state` writes
them (atomically, mode 0600 in a 0700 directory: a record may hold a credential).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from curator_kit.core.constants import STATE_DIR

LAST_BUILD = "last-build.json"
LAST_PUSH = "last-push.json"
# The output the last `run --capture` captured into: `replay` reads it there without --output (core.pipeline.capture).
LAST_CAPTURE = "last-capture.json"
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


def read_record(project_dir: Path, name: str, required: tuple[str, ...] = ()) -> dict[str, Any] | None:
    """The record, or None when it is absent, unreadable, not a JSON object or lacks a `required` key."""
    try:
        record = json.loads(record_path(project_dir, name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or any(key not in record for key in required):
        return None
    return record

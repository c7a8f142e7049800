"""Writing a file so that readers see the old content or the new, never half of either."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def stage_text(target: Path, text: str, mode: int) -> Path:
    """`text` in a new temporary file beside `target`, with `mode`; rename it over `target` to commit.

    Beside it, so the rename stays on one filesystem and is atomic. On failure nothing is left."""
    return stage_bytes(target, text.encode("utf-8"), mode)  # UTF-8, line ends as given


def stage_bytes(target: Path, data: bytes, mode: int) -> Path:
    """`stage_text` for bytes."""
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    temp = Path(name)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(temp, mode)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def write_text_atomically(target: Path, text: str, mode: int) -> None:
    write_bytes_atomically(target, text.encode("utf-8"), mode)


def write_bytes_atomically(target: Path, data: bytes, mode: int) -> None:
    temp = stage_bytes(target, data, mode)
    try:
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise

"""Byte counts as people read them, one format each, for every plan and log line."""

from __future__ import annotations


def gib(size: int) -> str:
    """Memory sizes (shm, object store, RAM): always GiB, so plans compare at a glance."""
    return f"{size / 2**30:.2f} GiB"


def human_size(size: float) -> str:
    """File and build-context sizes: the largest unit under 1024 (binary multiples)."""
    for unit in ("B", "KB", "MB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"

"""Where the user's caches live on this host (a module of its own: quick commands read it too)."""

from __future__ import annotations

import os
from pathlib import Path


def user_cache_home() -> Path:
    """$XDG_CACHE_HOME, else ~/.cache: where the user's caches live on this host."""
    configured = os.environ.get("XDG_CACHE_HOME", "")
    return Path(configured) if os.path.isabs(configured) else Path.home() / ".cache"

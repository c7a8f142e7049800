"""Shared helpers for the bench scripts: run curator-kit as a user would and time it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


def curator_kit(*args: str, cwd: Path, quiet: bool = True) -> float:
    """Run `curator-kit ARGS` in `cwd`; return its wall time in seconds (raises on failure)."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "curator_kit", *args],
        cwd=cwd,
        stdout=subprocess.PIPE if quiet else None,
        stderr=subprocess.PIPE if quiet else None,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"curator-kit {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return elapsed

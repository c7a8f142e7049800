"""Shared helpers for the bench scripts: run curator-kit as a user would and time it."""

from __future__ import annotations

import filecmp
import os
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

# A user's curator-kit imports its modules from byte code (pip compiles them at install; Python keeps what it
# compiles at first import). Under PYTHONDONTWRITEBYTECODE=1 an editable install would compile every module
# from source on every command: the bench's commands run as a user's do, the first (unmeasured) one
# writing the byte code.
USER_ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def curator_kit(*args: str, cwd: Path, quiet: bool = True) -> float:
    """Run `curator-kit ARGS` in `cwd` as a user would; return its wall time in seconds (raises on failure)."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "curator_kit", *args],
        cwd=cwd,
        stdout=subprocess.PIPE if quiet else None,
        stderr=subprocess.PIPE if quiet else None,
        text=True,
        env=USER_ENV,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"curator-kit {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return elapsed


def differences(left: Path, right: Path, ignore: Iterable[str] = ()) -> list[str]:
    """Files that differ byte for byte, or exist on one side only, below two output directories
    (names in `ignore` are left out at every level)."""
    found: list[str] = []

    def walk(node: filecmp.dircmp, prefix: str) -> None:
        found.extend(prefix + name for name in node.left_only + node.right_only + node.funny_files)
        _, mismatch, errors = filecmp.cmpfiles(node.left, node.right, node.common_files, shallow=False)
        found.extend(prefix + name for name in mismatch + errors)
        for name, child in node.subdirs.items():
            walk(child, f"{prefix}{name}/")

    walk(filecmp.dircmp(left, right, ignore=list(ignore)), "")
    return sorted(found)

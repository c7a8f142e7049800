"""`curator-kit` as the integration tests run it: a subprocess of this interpreter, output captured."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 1800, check: bool = False
) -> subprocess.CompletedProcess:
    """Run `curator-kit ARGS` in `cwd` with the environment plus `env`; `check`: it must succeed."""
    result = subprocess.run(
        [sys.executable, "-m", "curator_kit", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    return ok(result) if check else result


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    """The result, asserted successful; a failure shows the command and both of its streams."""
    command = shlex.join(str(arg) for arg in result.args)
    assert result.returncode == 0, f"{command} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result

"""Hand a job script to Slurm (`submit --slurm`): `sbatch`, from the directory the log is relative to."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from curator_kit.core.atomicfile import write_text_atomically
from curator_kit.errors import CuratorKitError

SBATCH_TIMEOUT_S = 120  # sbatch answers at once; a controller that does not is worth saying so


@dataclass(frozen=True)
class Submitted:
    job_id: str
    cluster: str | None  # a federation's cluster, when sbatch names one
    log: Path  # the log file, its %j and %x filled in


def write_script(path: Path, text: str) -> Path:
    """The script, whole or not at all (sbatch reads it: no execute bit needed)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomically(path, text, 0o644)
    except OSError as error:
        raise CuratorKitError(
            f"could not write {path}: {error.strerror}", f"check the permissions of {path.parent}"
        ) from None
    return path


def log_path(pattern: str, job_id: str, job_name: str, workdir: Path) -> Path:
    """sbatch's --output with the patterns a single-node job's log name can use filled in."""
    name = pattern.replace("%%", "\0").replace("%j", job_id).replace("%x", job_name).replace("\0", "%")
    return workdir / name


def sbatch(script: Path, workdir: Path, job_name: str, log_pattern: str) -> Submitted:
    """Submit `script` with sbatch, run in `workdir` (where a relative log lands)."""
    try:
        result = subprocess.run(
            ["sbatch", "--parsable", str(script)],
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=SBATCH_TIMEOUT_S,
        )
    except FileNotFoundError:
        raise CuratorKitError(
            "sbatch is not installed here",
            f"run this on a Slurm login node, or copy {script} there and `sbatch` it",
        ) from None
    except subprocess.TimeoutExpired:
        raise CuratorKitError(
            f"sbatch did not answer in {SBATCH_TIMEOUT_S} s", "check the Slurm controller (`sinfo`)"
        ) from None
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip().splitlines()
        raise CuratorKitError(
            f"sbatch refused {script}: {message[-1] if message else f'exit {result.returncode}'}",
            "fix what sbatch says (partition, account, limits), then submit again",
        )
    # --parsable: "JOBID" or "JOBID;CLUSTER"
    job_id, _, cluster = result.stdout.strip().partition(";")
    if not job_id.isdigit():
        raise CuratorKitError(f"sbatch answered {result.stdout.strip()!r}, not a job id", "check `squeue --me`")
    return Submitted(job_id, cluster or None, log_path(log_pattern, job_id, job_name, workdir))

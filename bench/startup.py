"""CLI start-up: `curator-kit --help` and `curator-kit new-stage` against a bare `python -c pass`, in one run.

    python bench/startup.py [-n 9]

Runs the `curator-kit` console script next to this interpreter (as a user would; run the script with
another venv's python to measure that venv's install) in a scratch project made by `curator-kit init`,
interleaving the three commands round by round so that all of them see the same machine load. Prints
the median of each, the differences and ratios to `python -c pass`, and the verdicts against the
targets: `--help` within 80 ms of `python -c pass`, `new-stage` at most 0.15 s. Exits 1 when a target
is missed. The targets are on wall time; each command's CPU time (user + system) is printed beside
it, which says less of what else the machine was doing.

By default the commands run as on a user's install, where Python keeps the byte code it compiles: the
byte code goes to a scratch PYTHONPYCACHEPREFIX, written by an unmeasured first round, even where this
shell sets PYTHONDONTWRITEBYTECODE. `--env-as-is` runs them in this shell's environment unchanged
(with PYTHONDONTWRITEBYTECODE set, every run compiles the sources that have no byte code yet).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HELP_OVER_PYTHON_TARGET_S = 0.080
NEW_STAGE_TARGET_S = 0.15


def curator_kit_command() -> list[str]:
    script = Path(sys.executable).with_name("curator-kit")
    if script.exists():
        return [str(script)]
    found = shutil.which("curator-kit")
    return [found] if found else [sys.executable, "-m", "curator_kit"]


def timed(command: list[str], cwd: Path, env: dict[str, str], cpu: list[float] | None = None) -> float:
    """The command's wall time; its CPU time (user + system) appended to `cpu`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")
    if cpu is not None:
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return elapsed


def describe(label: str, times: list[float], cpu: list[float]) -> str:
    return (
        f"{label:<24} median {statistics.median(times) * 1000:7.1f} ms   "
        f"min {min(times) * 1000:7.1f} ms   max {max(times) * 1000:7.1f} ms   "
        f"(CPU median {statistics.median(cpu) * 1000:6.1f} ms)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=9, help="measured runs of each command [default: 9]")
    parser.add_argument(
        "--env-as-is",
        action="store_true",
        help="run the commands in this environment unchanged [default: byte code kept, as on a user's install]",
    )
    args = parser.parse_args()
    kit = curator_kit_command()
    python = [sys.executable, "-c", "pass"]
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as scratch:
        root = Path(scratch)
        env = dict(os.environ)
        if args.env_as_is:
            mode = "this environment as is" + (
                " (PYTHONDONTWRITEBYTECODE set: no byte code written)" if env.get("PYTHONDONTWRITEBYTECODE") else ""
            )
        else:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
            mode = "byte code kept (a scratch PYTHONPYCACHEPREFIX, written by the first round)"
        timed([*kit, "init", "bench"], root, env)
        project = root / "bench"
        # One unmeasured round fills the OS file cache (and writes the byte code).
        timed(python, project, env)
        timed([*kit, "--help"], project, env)
        timed([*kit, "new-stage", "warm_up"], project, env)
        times: dict[str, list[float]] = {"python": [], "help": [], "new-stage": []}
        cpu: dict[str, list[float]] = {key: [] for key in times}
        for index in range(args.runs):
            times["python"].append(timed(python, project, env, cpu["python"]))
            times["help"].append(timed([*kit, "--help"], project, env, cpu["help"]))
            times["new-stage"].append(timed([*kit, "new-stage", f"stage_{index}"], project, env, cpu["new-stage"]))
    python_s, help_s, new_stage_s = (statistics.median(times[key]) for key in ("python", "help", "new-stage"))
    print(f"{args.runs} runs each, interleaved; python: {sys.executable}; curator-kit: {' '.join(kit)}")
    print(f"environment: {mode}")
    print(f"machine: {os.cpu_count()} CPUs, load average {', '.join(f'{load:.2f}' for load in os.getloadavg())}")
    print(describe("python -c pass", times["python"], cpu["python"]))
    print(describe("curator-kit --help", times["help"], cpu["help"]))
    print(describe("curator-kit new-stage", times["new-stage"], cpu["new-stage"]))
    help_over = help_s - python_s
    print(
        f"--help - python -c pass: {help_over * 1000:+.1f} ms (ratio {help_s / python_s:.2f}x); "
        f"new-stage - python -c pass: {(new_stage_s - python_s) * 1000:+.1f} ms (ratio {new_stage_s / python_s:.2f}x)"
    )
    help_ok = help_over <= HELP_OVER_PYTHON_TARGET_S
    new_stage_ok = new_stage_s <= NEW_STAGE_TARGET_S
    print(
        f"--help {'within' if help_ok else 'NOT within'} {HELP_OVER_PYTHON_TARGET_S * 1000:.0f} ms of python -c pass; "
        f"new-stage {new_stage_s:.3f} s {'<=' if new_stage_ok else 'OVER'} {NEW_STAGE_TARGET_S} s"
    )
    return 0 if help_ok and new_stage_ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""How long `curator-kit new-stage` takes, against a bare `python -c pass`, measured in one run.

    python bench/new_stage.py [-n 20]

Runs the installed `curator-kit` console script (as a user would) in a fresh project, adding a
new stage each time, interleaved with `python -c pass` so both see the same machine load. Prints
absolute wall times and their ratio; the target is under 0.3 s per new-stage.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 0.3


def curator_kit_command() -> list[str]:
    script = Path(sys.executable).with_name("curator-kit")
    if script.exists():
        return [str(script)]
    found = shutil.which("curator-kit")
    return [found] if found else [sys.executable, "-m", "curator_kit"]


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")
    return elapsed


def describe(label: str, times: list[float]) -> str:
    return (
        f"{label:<22} median {statistics.median(times) * 1000:7.1f} ms   "
        f"mean {statistics.mean(times) * 1000:7.1f} ms   min {min(times) * 1000:7.1f} ms   "
        f"max {max(times) * 1000:7.1f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=20, help="runs of each command [default: 20]")
    args = parser.parse_args()
    kit = curator_kit_command()
    with tempfile.TemporaryDirectory(prefix="bench-new-stage-") as scratch:
        root = Path(scratch)
        timed([*kit, "init", "bench"], root)
        project = root / "bench"
        timed([*kit, "new-stage", "warm_up"], project)  # first run fills the OS file cache
        timed([sys.executable, "-c", "pass"], project)
        kit_times: list[float] = []
        python_times: list[float] = []
        for index in range(args.runs):
            python_times.append(timed([sys.executable, "-c", "pass"], project))
            kit_times.append(timed([*kit, "new-stage", f"stage_{index}", "--cpus", "0.5", "--nvdecs", "1"], project))
    kit_median, python_median = statistics.median(kit_times), statistics.median(python_times)
    print(f"{args.runs} runs each; curator-kit: {' '.join(kit)}")
    print(describe("python -c pass", python_times))
    print(describe("curator-kit new-stage", kit_times))
    print(f"ratio (median new-stage / median python -c pass): {kit_median / python_median:.2f}x")
    verdict = "under" if kit_median < TARGET_S else "OVER"
    print(f"new-stage median {kit_median:.3f} s: {verdict} the {TARGET_S} s target")
    return 0 if kit_median < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())

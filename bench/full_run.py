"""The demo's full `curator-kit run` on this host: the default plan against Xenna's batch mode, with
their outputs compared byte for byte. Prints the times, the ratio and what each plan ran.

    python bench/full_run.py [--base-image IMAGE] [--repeat 2]

On a host whose cores cannot hold one worker of every stage at the stages' declared CPUs (the demo
needs 5 CPUs; 2 cores stream on int(0.95 x 2) = 1), the default plan streams with every stage's CPUs
scaled to fit (`--cpu-scale`), where batch mode starts and stops each stage's workers in turn, as
many as fit the cores (a 0.25-CPU stage gets 8 on 2 cores, each importing Curator and torch).
Needs a Docker engine and the base image; `curator-kit demo` makes the project, samples and image
first (not counted). Runs alternate, so a load change on the host hits both plans alike.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from curator_kit.core.constants import DEFAULT_BASE_IMAGE, MODE_BATCH

sys.path.insert(0, str(Path(__file__).parent))
from _common import curator_kit, differences

# Differs by design between two runs: the run id in the summary.
RUN_SPECIFIC = {"curator-kit-summary.json"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-image", default=DEFAULT_BASE_IMAGE)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ck-bench-") as tmp:
        root = Path(tmp)
        curator_kit("demo", "--output", str(root), "--base-image", args.base_image, cwd=root)
        project, videos = root / "project", root / "videos"
        plans = {"default": (), "batch": ("--execution-mode", MODE_BATCH)}
        times: dict[str, list[float]] = {name: [] for name in plans}
        for round_number in range(args.repeat):
            for name, extra in plans.items():
                output = root / f"{name}-{round_number}"
                run = ("run", "--input", str(videos), "--output", str(output), *extra)
                times[name].append(curator_kit(*run, cwd=project))
        plan_lines = {}
        for name, extra in plans.items():
            dry = ("run", "--input", str(videos), "--output", str(root / "dry"), "--dry-run", *extra)
            shown = subprocess.run(
                [sys.executable, "-m", "curator_kit", *dry], cwd=project, capture_output=True, text=True
            ).stdout
            plan_lines[name] = next((line.strip() for line in shown.splitlines() if "execution " in line), "?")
        differ = differences(root / "default-0", root / "batch-0", RUN_SPECIFIC)
        default, batch = statistics.median(times["default"]), statistics.median(times["batch"])
        print(f"runs per plan: {args.repeat}, alternating")
        for name in plans:
            median = statistics.median(times[name])
            print(f"{name:8} median {median:6.1f} s  {[round(t, 1) for t in times[name]]}  -- {plan_lines[name][:160]}")
        print(f"default / batch: {default / batch:.0%}")
        print("outputs byte for byte: " + ("identical" if not differ else f"DIFFER in {differ}"))
        if differ:
            sys.exit(1)


if __name__ == "__main__":
    main()

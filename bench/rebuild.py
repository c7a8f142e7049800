"""A `--no-cache` project build against the rebuild after a one-line stage edit, for a scaffolded project
with two stages and an env (apt + pip). Prints the median of each (3 rounds, interleaved) and their ratio
from one run.

    python bench/rebuild.py [--base-image IMAGE] [--rounds 3]

Needs a Docker engine and the base image (`curator-kit base build`). Goal: the rebuild <= 0.3 s and
<= 0.10 of the `--no-cache` build.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from curator_kit.core.constants import DEFAULT_BASE_IMAGE, bench_image_tag

sys.path.insert(0, str(Path(__file__).parent))
from _common import curator_kit

TAG = bench_image_tag("rebuild")


def scaffold(root: Path, base_image: str) -> Path:
    curator_kit("init", "bench-rebuild", "--base-image", base_image, cwd=root)
    project = root / "bench-rebuild"
    curator_kit("new-env", "tools", "--apt", "jq", "--pip", "tabulate==0.9.0", cwd=project)
    curator_kit("new-stage", "first", "--env", "tools", cwd=project)
    curator_kit("new-stage", "second", cwd=project)
    return project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-image", default=DEFAULT_BASE_IMAGE)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cold: list[float] = []
    warm: list[float] = []
    with tempfile.TemporaryDirectory(prefix="ck-bench-") as tmp:
        project = scaffold(Path(tmp), args.base_image)
        stage = project / "stages" / "first.py"
        curator_kit("build", "--tag", TAG, cwd=project)  # the first build also fills the layout cache
        for round_number in range(args.rounds):
            cold.append(curator_kit("build", "--tag", TAG, "--no-cache", cwd=project))
            stage.write_text(stage.read_text() + f"\n# a code-only change, round {round_number}\n")
            warm.append(curator_kit("build", "--tag", TAG, cwd=project))
    cold_median, warm_median = statistics.median(cold), statistics.median(warm)
    print(f"--no-cache build (median of {len(cold)}):     {cold_median:7.2f} s   {_each(cold)}")
    print(f"rebuild after a stage edit (median):  {warm_median:7.2f} s   {_each(warm)}")
    print(f"rebuild / --no-cache build:           {warm_median / cold_median:7.1%}")


def _each(times: list[float]) -> str:
    return "(" + ", ".join(f"{value:.2f}" for value in times) + ")"


if __name__ == "__main__":
    main()

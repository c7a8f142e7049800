"""The stage-edit loop on the demo project: edit -> `run --mount-code --limit 1` and edit ->
`replay frame_stats --mount-code --limit 1` against edit -> build -> run (and edit -> build ->
`run --limit 1`, and edit -> build -> `run --execution-mode batch`, the small-host plan before stages
were scaled to stream). Prints the times and their ratios.

    python bench/edit_loop.py [--base-image IMAGE] [--repeat 2]

Needs a Docker engine and the base image. `curator-kit demo` makes the project, samples and image
first (its time is not counted); each loop appends a comment to stages/frame_stats.py.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from curator_kit.core.constants import DEFAULT_BASE_IMAGE, MODE_BATCH

sys.path.insert(0, str(Path(__file__).parent))
from _common import curator_kit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-image", default=DEFAULT_BASE_IMAGE)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ck-bench-") as tmp:
        root = Path(tmp)
        curator_kit("demo", "--output", str(root), "--base-image", args.base_image, cwd=root)
        project, videos, results = root / "project", root / "videos", root / "results"
        stage = project / "stages" / "frame_stats.py"
        data = ("--input", str(videos), "--output", str(results))
        captured = root / "captured"  # the tasks entering frame_stats, for replay
        curator_kit("run", "--capture", "frame_stats", "--input", str(videos), "--output", str(captured), cwd=project)
        mounted, replayed, rebuilt, rebuilt_limited, rebuilt_batch, builds = [], [], [], [], [], []
        for round_number in range(args.repeat):
            stage.write_text(stage.read_text() + f"\n# edit {round_number} a\n")
            shutil.rmtree(results, ignore_errors=True)
            mounted.append(curator_kit("run", "--mount-code", "--limit", "1", *data, cwd=project))
            replay = ("replay", "frame_stats", "--mount-code", "--limit", "1", "--output", str(captured))
            replayed.append(curator_kit(*replay, cwd=project))
            stage.write_text(stage.read_text() + f"\n# edit {round_number} b\n")
            shutil.rmtree(results, ignore_errors=True)
            builds.append(curator_kit("build", cwd=project))
            rebuilt.append(builds[-1] + curator_kit("run", *data, cwd=project))
            stage.write_text(stage.read_text() + f"\n# edit {round_number} c\n")
            shutil.rmtree(results, ignore_errors=True)
            build = curator_kit("build", cwd=project)
            rebuilt_limited.append(build + curator_kit("run", "--limit", "1", *data, cwd=project))
            # The loop the issue measured: build, then a run in Xenna's batch mode (the small-host plan before
            # the stages' CPUs were scaled to stream).
            stage.write_text(stage.read_text() + f"\n# edit {round_number} d\n")
            shutil.rmtree(results, ignore_errors=True)
            build = curator_kit("build", cwd=project)
            rebuilt_batch.append(build + curator_kit("run", "--execution-mode", MODE_BATCH, *data, cwd=project))
    fast, slow, slow_one, batch = (statistics.median(t) for t in (mounted, rebuilt, rebuilt_limited, rebuilt_batch))
    replay_time = statistics.median(replayed)
    print(f"edit -> run --mount-code --limit 1:  {fast:7.2f} s  (median of {args.repeat})")
    print(f"edit -> replay --mount-code --limit 1: {replay_time:5.2f} s")
    print(f"edit -> build -> run --limit 1:      {slow_one:7.2f} s")
    print(f"edit -> build -> run (all videos):   {slow:7.2f} s  (build {statistics.median(builds):.2f} s)")
    print(f"edit -> build -> run, batch mode:    {batch:7.2f} s")
    print(f"mount-code / build+run:              {fast / slow:7.1%}")
    print(f"mount-code / build+run in batch:     {fast / batch:7.1%}")
    print(f"replay / build+run in batch:         {replay_time / batch:7.1%}")
    print(f"mount-code / build+run --limit 1:    {fast / slow_one:7.1%}")
    print(f"replay / build+run --limit 1:        {replay_time / slow_one:7.1%}")


if __name__ == "__main__":
    main()

"""The same pipeline on one node (`curator-kit run`) and on a local Ray cluster of containers
(`cluster up --workers N` + `run --cluster`), in one run: wall times, their ratio, and where the
project's stage ran.

    python bench/cluster.py [--workers 2] [--videos 8] [--seconds 8] [--base-image curator-kit/base:1.4.0-cpu]

The pipeline: VideoReader, the manifest's default [clipping] (fixed-stride clips transcoded to VP9
on the CPU), a 1-CPU stage that records the host it ran on, the clip writer. Needs a Docker engine
and the base image. All nodes of the local cluster share this machine's cores: read the note in
docs/cluster.md before reading anything into the ratio.
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import curator_kit

TAG = "curator-kit-bench/cluster:latest"
STAGE = """import json
import socket
import uuid
from pathlib import Path

from nemo_curator.stages.base import ProcessingStage
from nemo_curator.stages.resources import Resources
from nemo_curator.tasks.video import VideoTask


class WhereStage(ProcessingStage[VideoTask, VideoTask]):
    name = "where"
    resources = Resources(cpus=1.0)
    batch_size = 1

    def process(self, task: VideoTask) -> VideoTask:
        records = Path("/data/output/where")
        records.mkdir(parents=True, exist_ok=True)
        (records / f"{uuid.uuid4().hex}.json").write_text(json.dumps({"host": socket.gethostname()}))
        return task
"""


def hosts(output: Path) -> dict[str, int]:
    found = [json.loads(p.read_text())["host"] for p in (output / "where").glob("*.json")]
    return dict(sorted(collections.Counter(found).items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-image", default="curator-kit/base:1.4.0-cpu")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    from curator_kit.samples import make_sample_videos

    with tempfile.TemporaryDirectory(prefix="ck-bench-") as tmp:
        root = Path(tmp)
        curator_kit("init", "bench-cluster", "--base-image", args.base_image, cwd=root)
        project = root / "bench-cluster"
        curator_kit("new-stage", "where", "--cpus", "1", cwd=project)
        (project / "stages" / "where.py").write_text(STAGE)
        (project / "tests" / "test_where.py").unlink(missing_ok=True)
        curator_kit("build", "--tag", TAG, cwd=project)
        videos = root / "videos"
        make_sample_videos(videos, count=args.videos, seconds=args.seconds)
        one, many = root / "out-one", root / "out-cluster"

        single = curator_kit("run", "--input", str(videos), "--output", str(one), cwd=project)
        try:
            up = curator_kit(
                "cluster",
                "up",
                "--workers",
                str(args.workers),
                "--input",
                str(videos),
                "--output",
                str(many),
                cwd=project,
            )
            clustered = curator_kit("run", "--cluster", cwd=project)
        finally:
            down = curator_kit("cluster", "down", cwd=project)
        clips = (len(list((one / "clips").glob("*.mp4"))), len(list((many / "clips").glob("*.mp4"))))
        where = (hosts(one), hosts(many))
        shutil.rmtree(root, ignore_errors=True)
    print(f"{args.videos} videos x {args.seconds:g} s; clips written: {clips[0]} (1 node), {clips[1]} (cluster)")
    print(f"1 node (`run`):                          {single:7.2f} s   stage ran on {where[0]}")
    print(f"cluster up, head + {args.workers} workers:            {up:7.2f} s")
    print(f"head + {args.workers} workers (`run --cluster`):     {clustered:7.2f} s   stage ran on {where[1]}")
    print(f"cluster down:                            {down:7.2f} s")
    print(f"run --cluster / run:                     {clustered / single:7.1%}")


if __name__ == "__main__":
    main()

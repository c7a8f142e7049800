"""The same pipeline on one node (`curator-kit run`) and on a local Ray cluster of containers
(`cluster up --workers N` + `run --cluster`), in one run: wall times, their ratio, and where the
project's stage ran.

    python bench/cluster.py [--workers 2] [--cpus-per-worker N] [--videos 12] [--seconds 10] [--repeat 1]

The pipeline: VideoReader, [clipping] (fixed-stride 2 s clips, transcoded to H.264 with libopenh264 on the CPU), a
1-CPU stage that decodes every clip and records the host it ran on, the clip writer. Needs a Docker
engine and the base image. Every node of the local cluster shares this machine's cores: see
docs/cluster.md before reading anything into the ratio.
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from curator_kit.core.constants import DEFAULT_BASE_IMAGE, bench_image_tag

sys.path.insert(0, str(Path(__file__).parent))
from _common import curator_kit

TAG = bench_image_tag("cluster")
STAGE = '''"""WhereStage: decodes every clip (CPU work, as a filter stage does) and records where it ran."""

import io
import json
import socket
import time
import uuid
from pathlib import Path

import av
from nemo_curator.stages.base import ProcessingStage
from nemo_curator.stages.resources import Resources
from nemo_curator.tasks.video import VideoTask


class WhereStage(ProcessingStage[VideoTask, VideoTask]):
    name = "where"
    resources = Resources(cpus=1.0)
    batch_size = 1

    def process(self, task: VideoTask) -> VideoTask:
        started = time.perf_counter()
        frames = 0
        for clip in task.data.clips:
            if clip.buffer:
                with av.open(io.BytesIO(clip.buffer)) as container:
                    frames += sum(1 for _ in container.decode(video=0))
        records = Path("/data/output/where")
        records.mkdir(parents=True, exist_ok=True)
        record = {"host": socket.gethostname(), "frames": frames, "seconds": time.perf_counter() - started}
        (records / f"{uuid.uuid4().hex}.json").write_text(json.dumps(record))
        return task
'''


def hosts(output: Path) -> dict[str, int]:
    """Tasks of the project's stage per host; container ids (single run) shortened to 'run container'."""
    found = [json.loads(p.read_text())["host"] for p in (output / "where").glob("*.json")]
    named = ["run container" if "-ray-" not in host else host.split("-ray-", 1)[1] for host in found]
    return dict(sorted(collections.Counter(named).items()))


def cpu_seconds(project: str) -> dict[str, float]:
    """CPU time each node container of the cluster has used so far (its cgroup's counter)."""
    import docker

    client = docker.from_env()
    found = {}
    for container in client.containers.list(filters={"label": f"curator-kit.cluster={project}"}):
        if "-ray-driver-" not in container.name:
            usage = container.stats(stream=False)["cpu_stats"]["cpu_usage"]["total_usage"]
            found[container.name.split("-ray-", 1)[1]] = usage / 1e9
    client.close()
    return found


def clips(output: Path) -> int:
    return len(list((output / "clips").glob("*.mp4")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-image", default=DEFAULT_BASE_IMAGE)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--videos", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clip-seconds", type=float, default=2.0)
    parser.add_argument("--cpus-per-worker", type=int, help="Ray logical CPUs per worker [default: cluster up's]")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each, alternating; medians are compared")
    args = parser.parse_args()
    from curator_kit.ops.samples import make_sample_videos

    single: list[float] = []
    clustered: list[float] = []
    with tempfile.TemporaryDirectory(prefix="ck-bench-") as tmp:
        root = Path(tmp)
        curator_kit("init", "bench-cluster", "--base-image", args.base_image, cwd=root)
        project = root / "bench-cluster"
        curator_kit("new-stage", "where", "--cpus", "1", cwd=project)
        (project / "stages" / "where.py").write_text(STAGE)
        (project / "tests" / "test_where.py").unlink(missing_ok=True)
        manifest = project / "curator-kit.toml"
        text = manifest.read_text()
        for key in ("clip_len_s", "clip_stride_s"):  # more, shorter clips: more work to spread
            text = text.replace(f"{key} = 10.0", f"{key} = {args.clip_seconds}")
        manifest.write_text(text)
        curator_kit("build", "--tag", TAG, cwd=project)
        videos = root / "videos"
        make_sample_videos(videos, count=args.videos, seconds=args.seconds)
        one, many = root / "out-one", root / "out-cluster"
        up = down = 0.0
        used: dict[str, float] = {}
        try:
            for attempt in range(args.repeat):
                shutil.rmtree(one, ignore_errors=True)
                single.append(curator_kit("run", "--input", str(videos), "--output", str(one), cwd=project))
                shutil.rmtree(many, ignore_errors=True)
                up = curator_kit(
                    *("cluster", "up", "--workers", str(args.workers), "--input", str(videos), "--output", str(many)),
                    *(("--cpus-per-worker", str(args.cpus_per_worker)) if args.cpus_per_worker else ()),
                    cwd=project,
                )
                before = cpu_seconds("bench-cluster")
                clustered.append(curator_kit("run", "--cluster", cwd=project))
                after = cpu_seconds("bench-cluster")
                used = {node: round(after[node] - before.get(node, 0.0), 1) for node in sorted(after)}
                down = curator_kit("cluster", "down", cwd=project)
                print(f"run {attempt + 1}: 1 node {single[-1]:.2f} s, cluster {clustered[-1]:.2f} s", flush=True)
        finally:
            curator_kit("cluster", "down", cwd=project)
        written = (clips(one), clips(many))
        where = (hosts(one), hosts(many))
    one_node, cluster = statistics.median(single), statistics.median(clustered)
    print(f"{args.videos} videos x {args.seconds:g} s; clips written: {written[0]} (1 node), {written[1]} (cluster)")
    print(f"1 node (`run`):                           {one_node:7.2f} s   stage tasks {where[0]}")
    print(f"cluster up, head + {args.workers} workers:             {up:7.2f} s")
    print(f"head + {args.workers} workers (`run --cluster`):      {cluster:7.2f} s   stage tasks {where[1]}")
    print(f"cluster down:                             {down:7.2f} s")
    print(f"CPU seconds per node container during the last `run --cluster` (driver not counted): {used}")
    print(f"run --cluster / run:                      {cluster / one_node:7.1%}")


if __name__ == "__main__":
    main()

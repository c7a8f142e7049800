"""Throughput at scale against Curator's own script: NeMo Curator's tutorial pipeline run by its own
`video_split_clip_example.py` in the base image (a), and the same pipeline as a curator-kit project
through `curator-kit run` (b), on the same synthetic videos, in one session.

    python bench/throughput.py --tutorial PATH/video_split_clip_example.py [--videos 48] [--rounds 3]
                               [--seconds 10] [--base-image IMAGE] [--ray-cpus 16] [--keep]

The tutorial lives in NVIDIA-NeMo/Curator at tutorials/video/getting-started/video_split_clip_example.py;
it is not part of this repository: pass the copy that matches the base image's Curator (1.4.0).

The pipeline (the tutorial's flags, and the project's built-ins with the same values): VideoReader,
fixed-stride 10 s clips (none under 2 s), ClipTranscodingStage with libopenh264, MotionVectorDecodeStage
and MotionFilterStage on the CPU (`--motion-score-gpus-per-worker 0`), the clip writer; no embeddings.
The inputs are `--videos` sample videos of `--seconds` at 640x360 with moving patterns, made by
curator-kit's own sample maker (one in three is near black: the motion filter drops its clip).

(a) runs `docker run` of the base image with the tutorial mounted read-only. On a small host Xenna
refuses to stream the tutorial's stages ("Pipeline requires 13.75 but only 1 are available" on 2 cores,
with the flags above), and the script has no option for it, so the container first starts a Ray head that
announces `--ray-cpus` CPUs (`ray start --head --num-cpus 16`, with the Ray variables cosmos-xenna sets
when it starts Ray itself), then runs the script unchanged with RAY_ADDRESS pointing at that head, and
stops Ray. (b) is `curator-kit run` of a project made with `curator-kit init --preset bare` and
`curator-kit add fixed_stride|transcoding|motion_filter`, built once before the rounds (not timed);
curator-kit fits the stages to the real cores itself (streaming, CPUs scaled). Both containers get the
settings curator-kit's plan gives (b) -- /dev/shm size, ulimits, init process, user, HOME -- read from
its `run --dry-run` line, the same mounts (/data/input read-only, /data/output), no CPU or memory limit,
and the same image layers (the project image is the base image plus the project's files).

Each round runs both, the order alternating (a, b / b, a / ...), each into a fresh output directory.
Timed: each command's wall time, start to exit, split where the host sees Xenna's own log lines (the
same on both sides): start-up (curator-kit's plan or `docker run`, the container, Ray, Curator's imports)
up to Xenna's "PipelineSpec:", Xenna's run (its actors' set-up and the work) up to "All stages are done",
and the finish (Ray shut down, the container's exit and removal, curator-kit's summary).
Clips per second counts every clip written, kept or filtered. Peak memory is the container's memory
cgroup: the kernel's high-water mark (page cache and /dev/shm included), and the highest sampled
working set (usage less inactive page cache, what `docker stats` shows). Every run's output is compared
byte for byte with round 1's (a), every file (curator-kit's own curator-kit-summary.json aside);
differing files are named and the exit code is 1. Prints medians over the rounds and the ratios b/a.
Needs a Docker engine and the base image; the project image is removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curator_kit.core.constants import (
    DEFAULT_BASE_IMAGE,
    INPUT_DIR,
    LABEL_PROJECT,
    OUTPUT_DIR,
    SUMMARY_FILE_NAME,
    bench_image_tag,
)

sys.path.insert(0, str(Path(__file__).parent))
from _common import curator_kit, differences

PROJECT = f"throughput-{uuid.uuid4().hex[:8]}"  # unique: (b)'s container is found by this project label
PROJECT_LABEL = f"{LABEL_PROJECT}={PROJECT}"
TUTORIAL_IN_CONTAINER = "/opt/tutorial/video_split_clip_example.py"
RAY_PORT = 6379
# What cosmos-xenna's init_or_connect_to_cluster sets before it starts Ray itself; a Ray started
# beforehand must have them from its own environment.
XENNA_RAY_ENV = {
    "RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES": "1",
    "RAY_MAX_LIMIT_FROM_API_SERVER": "40000",
    "RAY_MAX_LIMIT_FROM_DATA_SOURCE": "40000",
}
SAMPLE_S = 0.5  # memory sampling interval
# Lines Xenna logs on both sides (the same Curator and cosmos-xenna): its pipeline starts (Ray is up, the
# stages are planned; actors start next) and its last stage is done. When the host sees them splits a
# run's wall time into start-up, Xenna's run and the finish (Ray shut down, the container removed).
XENNA_STARTS, XENNA_DONE = "- PipelineSpec:", "All stages are done"
SIZE = (640, 360)

# The pipeline, once: the tutorial's flags and the project's built-in parameters both come from here.
CLIP_S, MIN_CLIP_S, ENCODER = 10.0, 2.0, "libopenh264"
MOTION_DECODE_CPUS, MOTION_BATCH = 4.0, 64  # the tutorial's defaults (Curator's own: 6.0 and 256)
TUTORIAL_FLAGS = [
    f"--video-dir={INPUT_DIR}",
    f"--output-path={OUTPUT_DIR}",
    "--splitting-algorithm=fixed_stride",
    f"--fixed-stride-split-duration={CLIP_S}",
    f"--fixed-stride-min-clip-length-s={MIN_CLIP_S}",
    f"--transcode-encoder={ENCODER}",
    "--motion-filter=enable",
    f"--motion-decode-cpus-per-worker={MOTION_DECODE_CPUS}",
    f"--motion-score-batch-size={MOTION_BATCH}",
    "--motion-score-gpus-per-worker=0",
    "--no-generate-embeddings",
]
PROJECT_STAGES = {
    "fixed_stride": {"clip_len_s": CLIP_S, "clip_stride_s": CLIP_S, "min_clip_length_s": MIN_CLIP_S},
    "transcoding": {"encoder": ENCODER},
    "motion_filter": {"num_cpus_per_worker": MOTION_DECODE_CPUS, "motion_filter_batch_size": MOTION_BATCH},
}
SIDES = {"a": "(a) tutorial", "b": "(b) curator-kit"}
# The flags of `run --dry-run`'s `docker run` line that take a value: those (a) shares, and the rest.
SHARED_FLAGS = {"--ulimit", "--user", "--ipc"}
VALUED_FLAGS = SHARED_FLAGS | {"--name", "--workdir", "--mount", "-e", "--label", "--gpus", "--runtime"}
SHARED_ENV = {"HOME", "USER"}


@dataclass
class Memory:
    """A container's memory cgroup while it ran, in bytes."""

    peak: int = 0  # the kernel's high-water mark: page cache and /dev/shm (Ray's object store) included
    working_set: int = 0  # the highest sample of usage less inactive page cache (`docker stats`)


@dataclass
class Result:
    side: str
    round: int
    wall_s: float
    clips: int
    memory: Memory
    output: Path
    xenna_start_s: float = float("nan")  # when the host saw XENNA_STARTS, from the command's start
    xenna_done_s: float = float("nan")  # ... and XENNA_DONE

    @property
    def clips_per_s(self) -> float:
        return self.clips / self.wall_s

    @property
    def phases(self) -> tuple[float, float, float]:
        """Start-up (container, Ray, imports), Xenna's run (actors' set-up and the work), finish."""
        return self.xenna_start_s, self.xenna_done_s - self.xenna_start_s, self.wall_s - self.xenna_done_s


@dataclass
class Setup:
    """What every run of a session shares."""

    root: Path
    videos: Path
    project: Path
    image: str  # (b)'s project image
    base_image: str  # (a)'s
    tutorial: Path
    container_flags: list[str]
    ray_cpus: int
    client: Any  # docker.DockerClient
    results: list[Result] = field(default_factory=list)


# ---------------------------------------------------------------- memory


def cgroup_dir(container_id: str) -> Path | None:
    """The container's memory cgroup on this machine (cgroup v1 or v2, cgroupfs or systemd driver)."""
    for candidate in (
        f"/sys/fs/cgroup/memory/docker/{container_id}",
        f"/sys/fs/cgroup/memory/system.slice/docker-{container_id}.scope",
        f"/sys/fs/cgroup/system.slice/docker-{container_id}.scope",
        f"/sys/fs/cgroup/docker/{container_id}",
    ):
        if Path(candidate).is_dir():
            return Path(candidate)
    return None


def read_cgroup(directory: Path) -> tuple[int, int]:
    """(high-water mark, usage less inactive page cache) of a memory cgroup, v1 or v2."""
    stat = dict(line.split() for line in (directory / "memory.stat").read_text().splitlines())
    if (directory / "memory.max_usage_in_bytes").exists():  # v1
        usage = int((directory / "memory.usage_in_bytes").read_text())
        peak = int((directory / "memory.max_usage_in_bytes").read_text())
        return peak, usage - int(stat.get("total_inactive_file", 0))
    usage = int((directory / "memory.current").read_text())
    peak_file = directory / "memory.peak"  # Linux 5.19 and later
    peak = int(peak_file.read_text()) if peak_file.exists() else usage
    return peak, usage - int(stat.get("inactive_file", 0))


def read_stats(container: Any) -> tuple[int, int]:
    """The same from the engine's stats, for an engine whose cgroups this machine cannot see."""
    memory = container.stats(stream=False).get("memory_stats", {})
    usage, stat = memory.get("usage", 0), memory.get("stats", {})
    inactive = stat.get("total_inactive_file", stat.get("inactive_file", 0))
    return memory.get("max_usage", usage), usage - inactive


class MemoryWatch:
    """Samples the one container matching `filters` from when it appears until the `with` block ends."""

    def __init__(self, client: Any, filters: dict[str, str]) -> None:
        self.client, self.filters, self.memory = client, filters, Memory()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> Memory:
        self._thread.start()
        return self.memory

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        container, directory = None, None
        while not self._stop.wait(SAMPLE_S):
            try:
                if container is None:
                    found = self.client.containers.list(filters=self.filters)
                    container = found[0] if found else None
                    directory = cgroup_dir(container.id) if container else None
                    continue
                peak, working_set = read_cgroup(directory) if directory else read_stats(container)
            except Exception:  # the container ended between two samples
                continue
            self.memory.peak = max(self.memory.peak, peak)
            self.memory.working_set = max(self.memory.working_set, working_set)


# ---------------------------------------------------------------- set-up


def make_project(root: Path, base_image: str, image: str) -> tuple[Path, float]:
    """The tutorial's pipeline as a curator-kit project, built as `image`; its build time."""
    curator_kit("init", PROJECT, "--preset", "bare", "--base-image", base_image, cwd=root)
    project = root / PROJECT
    for builtin, params in PROJECT_STAGES.items():
        curator_kit("add", builtin, *(f"--param={key}={value}" for key, value in params.items()), cwd=project)
    return project, curator_kit("build", "--tag", image, cwd=project)


def container_flags(setup_root: Path, project: Path, videos: Path, image: str) -> list[str]:
    """The container settings curator-kit's plan gives (b), from its `run --dry-run` line: /dev/shm
    (or --ipc), ulimits, the init process, the user, HOME and USER. (a) runs with the same."""
    dry = ["run", "--dry-run", "--input", str(videos), "--output", str(setup_root / "planned"), "--image", image]
    shown = subprocess.run(
        [sys.executable, "-m", "curator_kit", *dry], cwd=project, capture_output=True, text=True, check=True
    ).stdout
    argv = shlex.split(shown.strip().splitlines()[-1])
    assert argv[:2] == ["docker", "run"], shown
    kept: list[str] = []
    index = 2
    while index < len(argv) and argv[index].startswith("-"):
        flag = argv[index]
        if flag in VALUED_FLAGS:
            value = argv[index + 1]
            if flag in SHARED_FLAGS or (flag == "-e" and value.split("=")[0] in SHARED_ENV):
                kept += [flag, value]
            index += 2
            continue
        if flag == "--init" or flag.startswith("--shm-size="):
            kept.append(flag)
        index += 1
    return kept


def warm_page_cache(image: str) -> None:
    """Read the image's Python packages once, so that neither side's first run pays for the disk."""
    warm = "import cv2, av, ray, nemo_curator.pipeline, nemo_curator.stages.video.filtering.motion_filter"
    subprocess.run(["docker", "run", "--rm", image, "python", "-c", warm], capture_output=True, check=True)


# ---------------------------------------------------------------- the two sides


def tutorial_command(setup: Setup, output: Path, name: str) -> list[str]:
    """(a): the base image, a Ray head announcing `ray_cpus` CPUs, the tutorial unchanged against it."""
    ray = f"127.0.0.1:{RAY_PORT}"
    script = (
        f"ray start --head --num-cpus {setup.ray_cpus} --node-ip-address 127.0.0.1 --port {RAY_PORT} "
        "--disable-usage-stats > /tmp/ray-start.log 2>&1 || { cat /tmp/ray-start.log; exit 1; }\n"
        f"RAY_ADDRESS={ray} python {TUTORIAL_IN_CONTAINER} {shlex.join(TUTORIAL_FLAGS)}; code=$?\n"
        "ray stop --force > /dev/null 2>&1\nexit $code\n"
    )
    mounts = [
        f"type=bind,source={setup.videos},target={INPUT_DIR},readonly",
        f"type=bind,source={output},target={OUTPUT_DIR}",
        f"type=bind,source={setup.tutorial},target={TUTORIAL_IN_CONTAINER},readonly",
    ]
    env = [item for key, value in XENNA_RAY_ENV.items() for item in ("-e", f"{key}={value}")]
    flags = [*setup.container_flags, *env, *(item for mount in mounts for item in ("--mount", mount))]
    container = ["docker", "run", "--rm", "--name", name, "--workdir", "/tmp", *flags, setup.base_image]
    return [*container, "bash", "-c", script]


def curator_kit_command(setup: Setup, output: Path) -> list[str]:
    """(b): the project's pipeline as a user runs it."""
    return [sys.executable, "-m", "curator_kit", "run", "--input", str(setup.videos), "--output", str(output),
            "--image", setup.image]  # fmt: skip


def run_side(setup: Setup, side: str, round_number: int) -> Result:
    """One timed run of one side into a fresh output directory, its log kept beside it."""
    output = setup.root / f"out-{side}-{round_number}"
    output.mkdir()  # as the user the containers run as (the engine would make a missing one as root)
    if side == "a":
        name = f"{PROJECT}-tutorial-{round_number}"
        command, cwd, filters = tutorial_command(setup, output, name), setup.root, {"name": name}
    else:  # curator-kit names its container; the project label finds it
        command, cwd, filters = curator_kit_command(setup, output), setup.project, {"label": PROJECT_LABEL}
    log = setup.root / f"{side}-{round_number}.log"
    with MemoryWatch(setup.client, filters) as memory:
        code, wall, seen = timed(command, cwd, log, (XENNA_STARTS, XENNA_DONE))
    if code != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-40:])
        sys.exit(f"{SIDES[side]} exited {code}: {shlex.join(command)}\n{tail}")
    clips = sum(1 for folder in ("clips", "filtered_clips") for _ in (output / folder).glob("*.mp4"))
    return Result(side, round_number, wall, clips, memory, output, *seen)


def timed(command: list[str], cwd: Path, log: Path, marks: tuple[str, ...]) -> tuple[int, float, list[float]]:
    """Run `command` with its output into `log`: its exit code, wall time, and when the first line
    holding each of `marks` arrived (seconds from the start; nan when none did)."""
    seen = [float("nan")] * len(marks)
    started = time.perf_counter()
    with (
        log.open("w") as sink,
        subprocess.Popen(
            command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
        ) as process,
    ):
        assert process.stdout is not None
        for line in process.stdout:
            sink.write(line)
            for index, mark in enumerate(marks):
                if mark in line and math.isnan(seen[index]):
                    seen[index] = time.perf_counter() - started
        code = process.wait()
    return code, time.perf_counter() - started, seen


# ---------------------------------------------------------------- report


def identity(results: list[Result]) -> list[str]:
    """Every run's output against round 1's (a), byte for byte: a line per run that differs."""
    reference = next(r for r in results if r.side == "a" and r.round == 0)
    lines = []
    for result in results:
        if result is reference:
            continue
        differ = differences(reference.output, result.output, ignore=[SUMMARY_FILE_NAME])
        if differ:
            shown = ", ".join(differ[:10]) + (f" and {len(differ) - 10} more" if len(differ) > 10 else "")
            lines.append(f"{SIDES[result.side]} round {result.round + 1} differs from (a) round 1: {shown}")
    return lines


# What the report shows of a run, in its columns: a heading, the value, its format.
COLUMNS: list[tuple[str, Callable[[Result], float], Callable[[float], str]]] = [
    ("wall s", lambda r: r.wall_s, "{:.1f}".format),
    ("start-up s", lambda r: r.phases[0], "{:.1f}".format),
    ("Xenna s", lambda r: r.phases[1], "{:.1f}".format),
    ("finish s", lambda r: r.phases[2], "{:.1f}".format),
    ("clips/s", lambda r: r.clips_per_s, "{:.3f}".format),
    ("peak GiB", lambda r: r.memory.peak / 2**30, "{:.2f}".format),
    ("working set GiB", lambda r: r.memory.working_set / 2**30, "{:.2f}".format),
]


def table_row(label: str, values: list[float], formats: list[Callable[[float], str]]) -> str:
    cells = (
        f"{fmt(value):>{len(heading) + 2}}"
        for value, fmt, (heading, _, _) in zip(values, formats, COLUMNS, strict=True)
    )
    return f"{label:<26}" + "".join(cells)


def report(setup: Setup, videos: int, seconds: float, build_s: float) -> int:
    """Print every run, the medians of each side and their ratios b/a; 1 when outputs differ."""
    results, formats = setup.results, [fmt for _, _, fmt in COLUMNS]
    print(f"inputs: {videos} videos x {seconds:g} s at {SIZE[0]}x{SIZE[1]}, {results[0].clips} clips; project image "
          f"built in {build_s:.1f} s (not timed); (a)'s Ray head announces {setup.ray_cpus} CPUs")  # fmt: skip
    print(f"container settings of both: {shlex.join(setup.container_flags)}")
    print(f"{'':26}" + "".join(f"{heading:>{len(heading) + 2}}" for heading, _, _ in COLUMNS))
    for result in results:
        label = f"round {result.round + 1} {SIDES[result.side]}"
        print(table_row(label, [value(result) for _, value, _ in COLUMNS], formats))
    medians = {}
    for side, label in SIDES.items():
        mine = [r for r in results if r.side == side]
        medians[side] = [statistics.median(value(r) for r in mine) for _, value, _ in COLUMNS]
        print(table_row(f"median {label}", medians[side], formats))
    ratios = [b / a if a else math.nan for a, b in zip(medians["a"], medians["b"], strict=True)]
    print(table_row("b/a of the medians", ratios, ["{:.3f}".format] * len(COLUMNS)))
    pairs = zip(*([r for r in results if r.side == side] for side in SIDES), strict=True)
    print(f"b/a wall per round: {[round(b.wall_s / a.wall_s, 3) for a, b in pairs]}; "
          f"wall per video: (a) {medians['a'][0] / videos:.2f} s, (b) {medians['b'][0] / videos:.2f} s")  # fmt: skip
    problems = identity(results)
    for line in problems:
        print(f"outputs NOT byte-identical: {line}")
    if not problems:
        files = sum(1 for path in results[0].output.rglob("*") if path.is_file())
        print(f"outputs: byte-identical, every run against (a) round 1: {files} files (clips, filtered_clips, metas, "
              f"processed_videos, processed_clip_chunks; {SUMMARY_FILE_NAME} is (b)'s own)")  # fmt: skip
    return 1 if problems else 0


# ---------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tutorial", type=Path, required=True, help="Curator's video_split_clip_example.py")
    parser.add_argument("--videos", type=int, default=48, help="synthetic videos [default: 48]")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each [default: 10]")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of (a) and (b) [default: 3]")
    parser.add_argument("--base-image", default=DEFAULT_BASE_IMAGE)
    parser.add_argument("--ray-cpus", type=int, default=16, help="CPUs (a)'s Ray head announces [default: 16]")
    parser.add_argument("--keep", action="store_true", help="keep the working directory (outputs, logs)")
    args = parser.parse_args()
    if not args.tutorial.is_file():
        parser.error(f"--tutorial {args.tutorial}: no such file")
    args.tutorial = args.tutorial.resolve()
    return args


def main() -> None:
    args = parse_args()
    import docker
    from curator_kit.ops.samples import make_sample_videos

    client = docker.from_env()
    try:
        client.images.get(args.base_image)
    except docker.errors.ImageNotFound:
        sys.exit(f"{args.base_image} is not in the engine: build it with `curator-kit base build`")
    image = bench_image_tag("throughput", PROJECT.rsplit("-", 1)[1])
    root = Path(tempfile.mkdtemp(prefix="ck-bench-throughput-"))
    try:
        videos = root / "videos"
        make_sample_videos(videos, count=args.videos, seconds=args.seconds, size=SIZE)
        project, build_s = make_project(root, args.base_image, image)
        flags = container_flags(root, project, videos, image)
        setup = Setup(root, videos, project, image, args.base_image, args.tutorial, flags, args.ray_cpus, client)
        warm_page_cache(image)
        for round_number in range(args.rounds):
            for side in ("a", "b") if round_number % 2 == 0 else ("b", "a"):
                result = run_side(setup, side, round_number)
                setup.results.append(result)
                print(f"round {round_number + 1}: {SIDES[side]} {result.wall_s:.1f} s", file=sys.stderr, flush=True)
        code = report(setup, args.videos, args.seconds, build_s)
    finally:
        clean_up(client, image)
        if args.keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    sys.exit(code)


def clean_up(client: Any, image: str) -> None:
    """Remove what this session made in the engine: an (a) container an interrupt left, the project image."""
    import docker

    for container in client.containers.list(all=True, filters={"name": PROJECT}):
        container.remove(force=True)
    with contextlib.suppress(docker.errors.ImageNotFound):
        client.images.remove(image, force=True)
    client.close()


if __name__ == "__main__":
    main()

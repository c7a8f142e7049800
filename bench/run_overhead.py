"""What `curator-kit run` costs over the plain `docker run` it stands for, and what its /dev/shm
sizing buys over Docker's 64 MB default. One run each, printed with their ratios.

    python bench/run_overhead.py [--base-image IMAGE] [--videos 6] [--seconds 8]

Scaffolds a project in a temporary directory (one custom stage that decodes every clip, the init
template's [clipping]: fixed-stride clips transcoded with libopenh264), builds it on the base image
(which must exist: `curator-kit base build`), makes sample videos, then times on the same inputs:

1. `curator-kit run` against the `docker run` line its `--dry-run` prints (same image, command,
   mounts, user, shm, ulimits, env): the difference is curator-kit's own start-up, preflight and
   log streaming.
2. the pipeline with curator-kit's /dev/shm (35% of RAM) against `--shm-size 64m`, and whether Ray
   said it fell back to /tmp for its object store.

The image, containers and temporary files are removed at the end.
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from curator_kit.core.constants import DEFAULT_BASE_IMAGE, bench_image_tag

sys.path.insert(0, str(Path(__file__).parent))
from _common import curator_kit

# Ray: "The object store is using /tmp/ray instead of /dev/shm because /dev/shm has only N bytes
# available. ... passing '--shm-size=X' to 'docker run'".
RAY_SHM_FALLBACK = re.compile(r"instead of /dev/shm|/dev/shm has only", re.IGNORECASE)

# A stage with real per-clip work: decode every frame of the clip's mp4 (set by ClipTranscodingStage).
DECODE_BODY = """
        import io

        import av

        with av.open(io.BytesIO(clip.buffer)) as container:
            clip.decoded_frames = sum(1 for _ in container.decode(video=0))
"""


def timed(command: list[str], cwd: Path) -> tuple[float, str]:
    """Wall time and combined output of a command that must succeed."""
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{shlex.join(command)} exited {result.returncode}:\n{result.stdout[-4000:]}")
    return elapsed, result.stdout


def ray_fallback(log: str) -> str:
    lines = [line.strip() for line in log.splitlines() if RAY_SHM_FALLBACK.search(line)]
    return lines[0][:160] if lines else ""


def clips_written(output: Path) -> int:
    return len(list((output / "clips").glob("*.mp4")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-image", default=DEFAULT_BASE_IMAGE)
    parser.add_argument("--videos", type=int, default=6, help="sample videos [default: 6]")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each [default: 8]")
    args = parser.parse_args()

    import docker
    from curator_kit.ops.samples import make_sample_videos

    client = docker.from_env()
    try:
        client.images.get(args.base_image)
    except docker.errors.ImageNotFound:
        sys.exit(f"{args.base_image} is not in the engine: build it with `curator-kit base build`")
    tag = bench_image_tag("run-overhead", uuid.uuid4().hex[:8])
    ck = [sys.executable, "-m", "curator_kit"]
    with tempfile.TemporaryDirectory(prefix="ck-bench-run-") as tmp:
        root = Path(tmp)
        curator_kit("init", "bench-run", "--base-image", args.base_image, cwd=root)
        project = root / "bench-run"
        curator_kit("new-stage", "decode_all", "--cpus", "0.5", cwd=project)
        stage = project / "stages" / "decode_all.py"
        stage.write_text(stage.read_text().rstrip("\n") + "\n" + DECODE_BODY)
        videos = root / "videos"
        make_sample_videos(videos, count=args.videos, seconds=args.seconds)
        try:
            build_s = curator_kit("build", "--tag", tag, cwd=project)
            # Warm the image's files into the page cache, so neither measured run pays for that.
            timed(["docker", "run", "--rm", tag, "python", "-c", "import nemo_curator.pipeline, ray"], root)

            ck_s, ck_log = timed([*ck, "run", "--input", str(videos), "--output", str(root / "out-ck")], project)

            dry = [*ck, "run", "--dry-run", "--input", str(videos), "--output", str(root / "out-docker")]
            _, plan_text = timed(dry, project)
            docker_line = plan_text.strip().splitlines()[-1]
            assert docker_line.startswith("docker run "), plan_text
            (root / "out-docker").mkdir()  # `run` makes its output directory as the user; so does this
            docker_s, docker_log = timed(shlex.split(docker_line), project)

            small = [*ck, "run", "--input", str(videos), "--output", str(root / "out-64m"), "--shm-size", "64m"]
            small_s, small_log = timed(small, project)
            clips = {name: clips_written(root / f"out-{name}") for name in ("ck", "docker", "64m")}
        finally:
            client.images.remove(tag, force=True)
            client.close()

    shm_line = next((line for line in ck_log.splitlines() if line.startswith("shm ")), "shm ?")
    mode_line = next((line for line in ck_log.splitlines() if line.startswith("execution ")), "execution ?")
    print(f"inputs: {args.videos} sample videos x {args.seconds:g} s; clips written {clips}")
    print(f"build: {build_s:.1f} s; {mode_line.split(':')[0]}; {shm_line}")
    print()
    print("1. curator-kit run vs. the plain docker run it prints with --dry-run")
    print(f"   curator-kit run      {ck_s:7.2f} s")
    print(f"   docker run           {docker_s:7.2f} s")
    print(f"   ratio                {ck_s / docker_s:7.3f}  (overhead {ck_s - docker_s:+.2f} s)")
    print()
    print("2. /dev/shm: curator-kit's default vs. Docker's 64 MB (the curator-kit run above vs. --shm-size 64m)")
    fell_back = {name: "yes" if ray_fallback(log) else "no" for name, log in (("ck", ck_log), ("64m", small_log))}
    print(f"   default shm          {ck_s:7.2f} s   Ray fell back to /tmp: {fell_back['ck']}")
    print(f"   --shm-size 64m       {small_s:7.2f} s   Ray fell back to /tmp: {fell_back['64m']}")
    print(f"   ratio 64m / default  {small_s / ck_s:7.3f}")
    for name, log in (("default", ck_log), ("64m", small_log), ("docker", docker_log)):
        if warning := ray_fallback(log):
            print(f"   Ray ({name}): {warning}")


if __name__ == "__main__":
    main()

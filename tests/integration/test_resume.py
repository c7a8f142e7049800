"""Nothing lost, nothing written twice: a real pipeline stopped halfway and resumed, and a run that wrote nothing.

A scaffolded project (VideoReader -> fixed-stride clips -> slow_writer) whose writer, a ClipWriterStage
subclass, waits before each video, so the run can be stopped with some videos finished and others not.
`run --resume` into the same output must then finish exactly what an uninterrupted run writes, leaving
the finished videos' files untouched. A directory of corrupt videos must end with exit 3 and a summary
that says so, not "tasks reached the writer".
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from kitcli import cli, ok

VIDEOS = 6
SECONDS = 4.0
CLIP_LEN_S = 2.0
SLOW_S = 4.0  # the writer's pause before each video: two writer actors finish two videos every 4 s
EXIT_NOTHING_WRITTEN = 3


def replace_once(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{path.name} no longer has {old!r}: the template changed"
    path.write_text(text.replace(old, new))


@pytest.fixture(scope="module")
def project(tmp_path_factory, curator_base_image) -> Path:
    root = tmp_path_factory.mktemp("resume")
    ok(cli("init", "resume-it", "--base-image", curator_base_image, cwd=root))
    project_dir = root / "resume-it"
    ok(cli("new-writer", "slow_writer", cwd=project_dir))
    manifest = project_dir / "curator-kit.toml"
    replace_once(manifest, "clip_len_s = 10.0", f"clip_len_s = {CLIP_LEN_S}")
    replace_once(manifest, "clip_stride_s = 10.0", f"clip_stride_s = {CLIP_LEN_S}")
    replace_once(manifest, "min_clip_length_s = 2.0", "min_clip_length_s = 1.0")
    replace_once(manifest, "cpus = 0.25", "cpus = 1.0")  # the writer: at most two at once on two cores
    writer = project_dir / "stages" / "slow_writer.py"
    replace_once(writer, "from dataclasses import dataclass\n", "import time\nfrom dataclasses import dataclass\n")
    replace_once(
        writer,
        "    def process(self, task: VideoTask) -> VideoTask:\n",
        f"    def process(self, task: VideoTask) -> VideoTask:\n        time.sleep({SLOW_S})\n",
    )
    (project_dir / "tests" / "test_slow_writer.py").unlink(missing_ok=True)
    return project_dir


@pytest.fixture(scope="module")
def image(project, docker_client) -> str:
    tag = f"curator-kit-test/resume-it:{uuid.uuid4().hex[:8]}"
    ok(cli("build", "--tag", tag, cwd=project))
    yield tag
    docker_client.images.remove(tag, force=True)


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    from curator_kit.ops.samples import make_sample_videos

    directory = tmp_path_factory.mktemp("videos") / "in"
    make_sample_videos(directory, count=VIDEOS, seconds=SECONDS)
    return directory


def files(output: Path) -> dict[str, tuple[int, int]]:
    """Every result file (the summary aside) -> (inode, mtime): a rewritten file gets another."""
    found = {}
    for path in sorted(output.rglob("*")):
        if path.is_file() and path.name != "curator-kit-summary.json":
            stat = path.stat()
            found[path.relative_to(output).as_posix()] = (stat.st_ino, stat.st_mtime_ns)
    return found


def finished(output: Path) -> list[str]:
    """Videos whose clip-chunk record the writer has written completely (it writes them last)."""
    done = []
    for record in (output / "processed_clip_chunks").glob("*.json"):
        try:
            done.append(json.loads(record.read_text())["video"])
        except (ValueError, KeyError):
            continue
    return done


def summary(output: Path) -> dict:
    return json.loads((output / "curator-kit-summary.json").read_text())


def test_a_stopped_run_resumes_to_what_an_uninterrupted_run_writes(project, image, videos, tmp_path):
    started = time.monotonic()
    whole = ok(cli("run", "--image", image, "--input", str(videos), "--output", str(tmp_path / "whole"), cwd=project))
    whole_s = time.monotonic() - started
    assert f"summary    {VIDEOS} video(s) found: {VIDEOS} processed, 0 unreadable, 0 failed or dropped" in whole.stderr
    expected = files(tmp_path / "whole")
    assert sum(name.startswith("clips/") for name in expected) == VIDEOS * round(SECONDS / CLIP_LEN_S)

    out = tmp_path / "resumed"
    command = [sys.executable, "-m", "curator_kit", "run", "--image", image, "--input", str(videos), "--output"]
    process = subprocess.Popen([*command, str(out)], cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 600
    while not finished(out):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no video finished within 10 minutes"
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)  # as Ctrl-C or a closed terminal would; the container is stopped
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, stderr.decode()
    done_before = sorted(finished(out))
    assert 0 < len(done_before) < VIDEOS, done_before  # stopped halfway: some finished, some not
    before = files(out)

    started = time.monotonic()
    resumed = ok(cli("run", "--image", image, "--input", str(videos), "--output", str(out), "--resume", cwd=project))
    resume_s = time.monotonic() - started
    print(f"\nuninterrupted run {whole_s:.1f} s; resume of {VIDEOS - len(done_before)} videos {resume_s:.1f} s")
    assert f"resume: {len(done_before)} of {VIDEOS} videos finished earlier, skipped" in resumed.stdout
    record = summary(out)
    assert (record["videos_skipped"], record["videos_processed"]) == (len(done_before), VIDEOS - len(done_before))
    assert record["status"] == "ok" and record["exit_code"] == 0

    after = files(out)
    assert sorted(after) == sorted(expected)  # the same files as the uninterrupted run: none missing, none extra
    # Nothing written twice: every file of a video finished before the stop is the same file, unchanged.
    owned = owned_files(out, done_before)
    assert owned and owned <= set(before)
    assert {name: after[name] for name in owned} == {name: before[name] for name in owned}


def owned_files(output: Path, videos: list[str]) -> set[str]:
    """The files the writer wrote for `videos`: their records, and every file named by one of their clips."""
    names = {Path(video).name for video in videos}
    clips: set[str] = set()
    for record in (output / "processed_clip_chunks").glob("*.json"):
        data = json.loads(record.read_text())
        if data["video"] in videos:
            clips.update(data["clips"] + data["filtered_clips"])

    def of_them(name: str) -> bool:
        parts = Path(name).parts
        if parts[0] == "processed_videos":
            return parts[-1].removesuffix(".json") in names
        if parts[0] == "processed_clip_chunks":
            return parts[-1].removesuffix(".json").rsplit("_", 1)[0] in names
        return any(part.split(".")[0] in clips for part in parts)

    owned = {name for name in files(output) if of_them(name)}
    return owned


def test_only_corrupt_videos_exits_3_with_the_summary(project, image, tmp_path):
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    for index in range(3):
        (corrupt / f"broken_{index}.mp4").write_bytes(os.urandom(4096))
    out = tmp_path / "out"
    result = cli("run", "--image", image, "--input", str(corrupt), "--output", str(out), cwd=project)
    assert result.returncode == EXIT_NOTHING_WRITTEN, result.stdout + result.stderr
    assert "summary    3 video(s) found: 0 processed, 3 unreadable, 0 failed or dropped" in result.stderr
    assert "exit       3: there were videos to process and nothing was written" in result.stderr
    assert "tasks reached the writer" not in result.stdout
    record = summary(out)
    assert record["status"] == "nothing-written" and record["unreadable"] == [f"broken_{i}.mp4" for i in range(3)]
    assert record["clips_written"] == 0

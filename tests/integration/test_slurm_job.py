"""`export slurm --runtime docker` on a real Slurm: a single-node cluster started here (slurm_daemons),
the generated script submitted with sbatch as a non-root user of the docker group (the containers
run as its uid and the clips are written as it), the pipeline's clips and metadata in the output; and
`scancel` in the middle of a run (submitted by root), which must leave no container and no token behind.

With one node the head is also the only worker; the driver joins it as a second Ray node. The
project is scaffolded by curator-kit: 1-second fixed-stride clips of two 2-second sample videos,
one small CPU stage, Curator's clip writer.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import docker.errors
import pytest
from engine_limits import startable_ulimits
from kitcli import cli, ok
from slurm_daemons import TERMINAL_STATES, missing_programs, single_node_slurm

VIDEOS = 2
SECONDS = 2.0
CLIP_LEN_S = 1.0
JOB_TIMEOUT_S = 600
JOB_USER = "curator-kit-slurm"
DOCKER_SOCKET = Path("/var/run/docker.sock")


def replace_once(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{path.name} no longer has {old!r}: the template changed"
    path.write_text(text.replace(old, new))


@pytest.fixture(scope="module")
def slurm():
    missing = missing_programs()
    if missing or os.geteuid() != 0:
        why = f"missing {', '.join(missing)}" if missing else "not root (slurmctld and slurmd run as root here)"
        if os.environ.get("CURATOR_KIT_REQUIRE_ENGINE") == "1":
            pytest.fail(f"a Slurm is required here ({why}): scripts/test installs slurm-wlm and munge as root")
        pytest.skip(f"no Slurm can be started: {why}")
    with single_node_slurm() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def job_user() -> Iterator[pwd.struct_passwd]:
    """A non-root user who may use Docker, to submit the job as (`sbatch --uid --gid`, root only).

    A user the script's `--user "$(id -u):$(id -g)"` runs the containers as, so that nothing runs as
    uid 0 by accident. Docker's socket is the docker group's (0660), so the user's primary group is
    docker. Created here only when absent, as a system user without a home, and deleted at the end;
    an existing user of that name is used as it is, never modified: it must be in the docker group.
    """
    if os.geteuid() != 0:
        pytest.skip("not root: only root may submit a job as another user")
    try:
        docker_group = grp.getgrnam("docker")
    except KeyError:
        pytest.fail("no docker group here: the job's user reaches the engine through it")
    if DOCKER_SOCKET.exists() and DOCKER_SOCKET.stat().st_gid != docker_group.gr_gid:
        pytest.fail(f"{DOCKER_SOCKET} is not the docker group's: the job's user could not reach Docker")
    try:
        user = pwd.getpwnam(JOB_USER)
    except KeyError:
        user = None
    if user is not None:
        if user.pw_uid == 0 or (docker_group.gr_gid != user.pw_gid and JOB_USER not in docker_group.gr_mem):
            pytest.fail(f"the user {JOB_USER} exists but is root or not in the docker group (left as it is)")
        yield user
        return
    command = ["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent"]
    command += ["--shell", "/usr/sbin/nologin", "--gid", "docker", JOB_USER]
    subprocess.run(command, check=True, capture_output=True, text=True)
    try:
        yield pwd.getpwnam(JOB_USER)
    finally:
        subprocess.run(["userdel", JOB_USER], check=False, capture_output=True)


@pytest.fixture(scope="module")
def project(tmp_path_factory, curator_base_image) -> Path:
    root = tmp_path_factory.mktemp("slurm-project")
    ok(cli("init", "slurm-it", "--base-image", curator_base_image, cwd=root))
    project_dir = root / "slurm-it"
    ok(cli("new-stage", "tag_clips", "--cpus", "0.5", cwd=project_dir))
    manifest = project_dir / "curator-kit.toml"
    replace_once(manifest, "clip_len_s = 10.0", f"clip_len_s = {CLIP_LEN_S}")
    replace_once(manifest, "clip_stride_s = 10.0", f"clip_stride_s = {CLIP_LEN_S}")
    replace_once(manifest, "min_clip_length_s = 2.0", "min_clip_length_s = 0.5")
    return project_dir


@pytest.fixture(scope="module")
def image(project, docker_client) -> str:
    tag = f"curator-kit-test/slurm-it:{uuid.uuid4().hex[:8]}"
    ok(cli("build", "--tag", tag, cwd=project))
    yield tag
    docker_client.images.remove(tag, force=True)


@pytest.fixture(scope="module")
def data(job_user) -> Iterator[Path]:
    """The videos, the outputs, the logs and the shared directory: the job user's (root's jobs may
    write there too). Not under pytest's tmp root, which is 0700: the job's user could not reach it."""
    from curator_kit.ops.samples import make_sample_videos

    data = Path(tempfile.mkdtemp(prefix="curator-kit-slurm-data-"))
    try:
        data.chmod(0o755)
        make_sample_videos(data / "videos", count=VIDEOS, seconds=SECONDS)
        (data / "shared").mkdir()
        for path in (data, *data.rglob("*")):
            os.chown(path, job_user.pw_uid, job_user.pw_gid)
        yield data
    finally:
        shutil.rmtree(data, ignore_errors=True)


def job_options(image: str, data: Path, docker_client, output: str) -> list[str]:
    """The job for this host: docker runtime, one node with this host's cores, the test's data."""
    limits = [part for limit in startable_ulimits(docker_client, image) for part in ("--ulimit", limit)]
    return [
        "--runtime", "docker", "--image", image,
        "--input", str(data / "videos"), "--output", str(data / output),
        "--nodes", "1", "--cpus-per-node", str(os.cpu_count() or 1),
        "--shared-dir", str(data / "shared"), "--log", str(data / "job-%j.log"),
        "--join-timeout", "300", *limits,
    ]  # fmt: skip


def containers_of(docker_client, project: str, job_id: str) -> list[str]:
    # The low-level list: no inspect per container, which would race with their removal.
    prefix = f"{project}-slurm-{job_id}-"
    found = docker_client.api.containers(all=True, filters={"name": prefix})
    return [name.lstrip("/") for c in found for name in c["Names"] if name.lstrip("/").startswith(prefix)]


def container_users(slurm, docker_client, job_id: str, timeout: float) -> dict[str, str]:
    """Config.User of each of the job's containers, inspected while they run, until the job ends."""
    seen: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while slurm.job(job_id)["JobState"] not in TERMINAL_STATES and time.monotonic() < deadline:
        for name in containers_of(docker_client, "slurm-it", job_id):
            if name not in seen:
                with suppress(docker.errors.NotFound):  # removed between the list and the inspect
                    seen[name] = docker_client.api.inspect_container(name)["Config"]["User"]
        time.sleep(1)
    return seen


def log_of(data: Path, job_id: str) -> str:
    path = data / f"job-{job_id}.log"
    return path.read_text(errors="replace") if path.exists() else "(no log)"


def test_the_pipeline_runs_as_a_slurm_job(slurm, job_user, project, image, data, docker_client) -> None:
    # Submitted as a user of the docker group, not root: the containers run as its uid and gid.
    uid, gid = job_user.pw_uid, job_user.pw_gid
    script = data / "out.sbatch"
    ok(cli("export", "slurm", *job_options(image, data, docker_client, "out"), "-o", str(script), cwd=project))
    started = time.monotonic()
    job_id = slurm.sbatch(script, cwd=data, user=job_user.pw_name)
    users = container_users(slurm, docker_client, job_id, JOB_TIMEOUT_S)
    info = slurm.wait(job_id, JOB_TIMEOUT_S)
    log = log_of(data, job_id)
    print(f"job {job_id}: {info['JobState']} in {time.monotonic() - started:.0f} s; containers' users {users}")
    assert info["JobState"] == "COMPLETED" and info["ExitCode"] == "0:0", log
    assert info["UserId"] == f"{job_user.pw_name}({uid})" and info["GroupId"].endswith(f"({gid})")
    node = slurm.node
    assert {f"slurm-it-slurm-{job_id}-{role}-{node}" for role in ("head", "driver")} <= users.keys(), users
    assert set(users.values()) == {f"{uid}:{gid}"}, users

    output = data / "out"
    clips = sorted((output / "clips").glob("*.mp4"))
    metas = sorted((output / "metas" / "v0").glob("*.json"))
    assert len(clips) == VIDEOS * round(SECONDS / CLIP_LEN_S), log
    assert {p.stem for p in metas} == {p.stem for p in clips}
    for meta in metas:
        record = json.loads(meta.read_text())
        assert record["duration_span"][1] - record["duration_span"][0] == pytest.approx(CLIP_LEN_S)
    assert len(list((output / "processed_videos").glob("*.json"))) == VIDEOS
    owners = {str(path.relative_to(output)): path.stat().st_uid for path in output.rglob("*")}
    assert owners and set(owners.values()) == {uid}, owners  # written by the containers, as the user
    assert "all 2 Ray nodes are up" in log  # the head (also the only worker) and the driver
    assert "Ray head at " in log and "pipeline finished" in log
    assert containers_of(docker_client, "slurm-it", job_id) == []
    assert list((data / "shared").iterdir()) == []  # the job's token is gone with the job


def test_scancel_leaves_no_container_behind(slurm, project, image, data, docker_client) -> None:
    # Submitted by `submit --slurm` this time: the script is kept where --script says, sbatch runs.
    script = data / "cancelled.sbatch"
    options = job_options(image, data, docker_client, "cancelled")
    submitted = ok(cli("submit", "--slurm", *options, "--script", str(script), cwd=project, env=slurm.env))
    job_id = submitted.stdout.strip()
    assert f"submitted job {job_id}; log: {data / f'job-{job_id}.log'}" in submitted.stderr
    assert script.read_text().startswith("#!/bin/bash\n")
    deadline = time.monotonic() + JOB_TIMEOUT_S
    # Cancel once the driver's container runs beside the head's: every kind of step is up.
    while not any(name.endswith("-driver-" + slurm.node) for name in containers_of(docker_client, "slurm-it", job_id)):
        assert slurm.job(job_id)["JobState"] in ("PENDING", "RUNNING"), log_of(data, job_id)
        assert time.monotonic() < deadline, log_of(data, job_id)
        time.sleep(1)
    assert len(containers_of(docker_client, "slurm-it", job_id)) == 2
    slurm.run("scancel", job_id)
    info = slurm.wait(job_id, 120)
    assert info["JobState"] == "CANCELLED", log_of(data, job_id)
    left = containers_of(docker_client, "slurm-it", job_id)
    for _ in range(30):  # the steps' traps stop and remove them; allow docker a moment
        if not left:
            break
        time.sleep(1)
        left = containers_of(docker_client, "slurm-it", job_id)
    assert left == [], log_of(data, job_id)
    assert list((data / "shared").iterdir()) == []

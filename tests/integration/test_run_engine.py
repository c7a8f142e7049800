"""`curator-kit run` plans against the real engine: HostConfig as specified, the GPU start error
translated, and no container left behind on error, Ctrl-C or SIGTERM.

The engine here has no NVIDIA support and no GPU: containers with GPU requests are created, not
started (create succeeds; start is what fails). Nothing can be pulled: the local bootstrap image runs.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from curator_kit.core.constants import (
    FALLBACK_HOME,
    LABEL_PROJECT,
    LABEL_RUN_ID,
    NONROOT_GID,
    NONROOT_HOME,
    NONROOT_UID,
    NONROOT_USER,
)
from curator_kit.core.parsers import parse_gpus, parse_size, parse_ulimit
from curator_kit.core.pipeline.spec import resolve_spec
from curator_kit.core.project.manifest import Manifest, ProjectInfo, RunDefaults
from curator_kit.core.run.runplan import HostFacts, RunOptions, plan_run
from curator_kit.engine.containers import docker_create_kwargs
from curator_kit.errors import CuratorKitError
from curator_kit.ops.hostfacts import local_host
from engine_limits import startable_ulimits

CAPS = [["gpu", "compute", "utility", "video"]]


def make_plan(tmp_path: Path, image: str, command: tuple[str, ...], host: HostFacts | None = None, **opts):
    (tmp_path / "in").mkdir(exist_ok=True)
    (tmp_path / "out").mkdir(exist_ok=True)
    manifest = Manifest(ProjectInfo(f"cktest-{uuid.uuid4().hex[:8]}"), run=RunDefaults())
    options = RunOptions(tmp_path / "in", tmp_path / "out", image, command=command, **as_run_parses(opts))
    # The plan as specified (memlock=-1): without the cap local_host() finds on a sandboxed engine,
    # which test_run_pipeline's plain `curator-kit run` relies on.
    spec = resolve_spec(manifest, tmp_path)
    return plan_run(manifest, spec, tmp_path, options, host or replace(local_host(), memlock_cap=None))


def as_run_parses(opts: dict) -> dict:
    """Options written as on `run`'s command line, through the parsers its options use."""
    parse = {"gpus": parse_gpus, "shm_size": parse_size, "ulimits": lambda texts: tuple(map(parse_ulimit, texts))}
    return {key: parse[key](value) if key in parse else value for key, value in opts.items()}


@pytest.fixture(scope="session")
def engine_ulimits(docker_client, bootstrap_image) -> tuple[str, ...]:
    return startable_ulimits(docker_client, bootstrap_image)


def containers_of(client, plan) -> list:
    return client.containers.list(all=True, filters={"label": f"{LABEL_RUN_ID}={plan.run_id}"})


@pytest.fixture
def created(docker_client):
    """Containers a test creates by hand; removed whatever happens."""
    made: list = []
    yield made
    for container in made:
        container.remove(force=True)


def engine_has_nvidia(client) -> bool:
    hook = shutil.which("nvidia-container-runtime-hook")
    return "nvidia" in (client.info().get("Runtimes") or {}) or hook is not None


@pytest.mark.parametrize(
    ("gpus", "count", "ids"),
    [("all", -1, None), ("2", 2, None), ("device=0,2", 0, ["0", "2"]), ('"device=0,2"', 0, ["0", "2"])],
)
def test_created_host_config(docker_client, bootstrap_image, tmp_path, created, gpus, count, ids):
    plan = make_plan(tmp_path, bootstrap_image, ("true",), gpus=gpus)
    created.append(docker_client.containers.create(**docker_create_kwargs(plan)))
    attrs = docker_client.api.inspect_container(created[0].id)
    host = attrs["HostConfig"]
    [request] = host["DeviceRequests"]
    assert request["Driver"] == "nvidia"
    assert request["Count"] == count
    assert (request["DeviceIDs"] or None) == ids
    assert request["Capabilities"] == CAPS
    assert host["ShmSize"] == plan.shm_size_bytes
    assert host["ShmSize"] >= 2 * 2**30
    assert host["Ulimits"] == [
        {"Name": "memlock", "Soft": -1, "Hard": -1},
        {"Name": "stack", "Soft": 67108864, "Hard": 67108864},
    ]
    assert host["Init"] is True
    mounts = {m["Target"]: m.get("ReadOnly", False) for m in host["Mounts"]}
    assert mounts == {"/data/input": True, "/data/output": False}
    config = attrs["Config"]
    assert "NVIDIA_DRIVER_CAPABILITIES=compute,utility,video" in config["Env"]
    assert config["User"] == f"{os.getuid()}:{os.getgid()}"
    assert config["Labels"][LABEL_RUN_ID] == plan.run_id
    assert config["Labels"][LABEL_PROJECT] == plan.labels[LABEL_PROJECT]


@pytest.mark.skipif(shutil.which("docker") is None, reason="the docker CLI is not installed")
@pytest.mark.parametrize("gpus", ["all", "device=0,2"])
def test_dry_run_line_makes_the_same_container(docker_client, bootstrap_image, tmp_path, created, gpus):
    """The printed `docker run` line, as `docker create`, gives the HostConfig the SDK plan gives."""
    plan = make_plan(tmp_path, bootstrap_image, ("true",), gpus=gpus, ipc=None)
    created.append(docker_client.containers.create(**docker_create_kwargs(plan)))
    argv = plan.docker_run_argv()
    argv[1:3] = ["create"]  # `run --rm` -> `create`
    argv[argv.index("--name") + 1] += "-cli"
    cli_id = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()
    created.append(docker_client.containers.get(cli_id))
    sdk, cli = (docker_client.api.inspect_container(c.id) for c in created)
    for request in sdk["HostConfig"]["DeviceRequests"] + cli["HostConfig"]["DeviceRequests"]:
        # docker's CLI appends "gpu" and leaves absent ids null; a capability set is unordered
        request["Capabilities"] = [sorted(c) for c in request["Capabilities"]]
        request["DeviceIDs"] = request["DeviceIDs"] or []
    for key in ("DeviceRequests", "ShmSize", "Ulimits", "Init", "Mounts", "Runtime", "IpcMode"):
        assert sdk["HostConfig"][key] == cli["HostConfig"][key], key
    assert sorted(sdk["Config"]["Env"]) == sorted(cli["Config"]["Env"])
    for key in ("User", "Labels", "Cmd", "WorkingDir"):
        assert sdk["Config"][key] == cli["Config"][key], key


def test_ulimit_the_engine_refuses_is_translated(docker_client, bootstrap_image, tmp_path, engine_ulimits):
    if not engine_ulimits:
        pytest.skip("this engine allows memlock=-1: the refusal cannot happen here")
    from curator_kit.engine.containers import run_plan

    plan = make_plan(tmp_path, bootstrap_image, ("true",))
    with pytest.raises(CuratorKitError) as raised:
        run_plan(docker_client, plan)
    assert raised.value.message == "the Docker engine may not raise the memlock ulimit this far in containers"
    assert raised.value.fix.startswith("pass --ulimit memlock=SOFT:HARD at or below dockerd's own limit")
    assert containers_of(docker_client, plan) == []


def test_a_refused_nofile_is_named_not_blamed_on_memlock(docker_client, bootstrap_image, tmp_path, engine_ulimits):
    """runc says `rlimit type 7`; the one line names nofile, the limit the engine refused."""
    from curator_kit.engine.containers import run_plan

    # Above the kernel's nr_open (1048576 by default): no engine can grant it.
    plan = make_plan(tmp_path, bootstrap_image, ("true",), ulimits=(*engine_ulimits, "nofile=99999999:99999999"))
    with pytest.raises(CuratorKitError) as raised:
        run_plan(docker_client, plan)
    assert raised.value.message == "the Docker engine may not raise the nofile ulimit this far in containers"
    assert "grep 'open files' /proc/$(pidof dockerd)/limits" in raised.value.fix
    assert containers_of(docker_client, plan) == []


def test_ipc_host_and_shm_override(docker_client, bootstrap_image, tmp_path, created):
    plan = make_plan(tmp_path, bootstrap_image, ("true",), ipc="host")
    created.append(docker_client.containers.create(**docker_create_kwargs(plan)))
    assert docker_client.api.inspect_container(created[0].id)["HostConfig"]["IpcMode"] == "host"
    plan = make_plan(tmp_path, bootstrap_image, ("true",), shm_size="3g")
    created.append(docker_client.containers.create(**docker_create_kwargs(plan)))
    assert docker_client.api.inspect_container(created[1].id)["HostConfig"]["ShmSize"] == 3 * 2**30


def test_gpu_start_error_is_translated_and_leaves_nothing(docker_client, bootstrap_image, tmp_path):
    if engine_has_nvidia(docker_client):
        pytest.skip("this engine has NVIDIA support: the start error cannot happen here")
    from curator_kit.engine.containers import run_plan

    for keep in (False, True):  # a refused start removes the container even with --keep
        plan = make_plan(tmp_path, bootstrap_image, ("true",), gpus="all")
        with pytest.raises(CuratorKitError) as raised:
            run_plan(docker_client, plan, keep=keep)
        assert raised.value.one_line() == (
            "the Docker engine has no NVIDIA GPU support (could not select a device driver for --gpus) -- "
            "install the NVIDIA Container Toolkit, then `sudo nvidia-ctk runtime configure --runtime=docker`, "
            "restart dockerd; or run with --gpus none"
        )
        assert containers_of(docker_client, plan) == []


def test_exit_code_logs_and_removal(docker_client, bootstrap_image, tmp_path, engine_ulimits):
    from curator_kit.engine.containers import run_plan

    script = "echo to-stdout; echo to-stderr >&2; test -r /data/input && ! touch /data/input/x 2>/dev/null; exit 3"
    plan = make_plan(tmp_path, bootstrap_image, ("sh", "-c", script), ulimits=engine_ulimits)
    out = io.BytesIO()
    assert run_plan(docker_client, plan, out=out) == 3
    # both streams arrive; their relative order is the pipes', not guaranteed
    assert sorted(out.getvalue().decode().splitlines()) == ["to-stderr", "to-stdout"]
    assert containers_of(docker_client, plan) == []


def test_silence_longer_than_the_client_timeout(docker_client, bootstrap_image, tmp_path, engine_ulimits):
    """Pipelines go quiet for long stretches: the log stream must not time out like an API call."""
    import docker
    from curator_kit.engine.containers import run_plan

    plan = make_plan(tmp_path, bootstrap_image, ("sh", "-c", "sleep 4; echo done"), ulimits=engine_ulimits)
    impatient = docker.from_env(timeout=2)
    try:
        out = io.BytesIO()
        assert run_plan(impatient, plan, out=out) == 0
        assert out.getvalue() == b"done\n"
    finally:
        impatient.close()
    assert containers_of(docker_client, plan) == []


def test_keep_keeps_the_container(docker_client, bootstrap_image, tmp_path, engine_ulimits):
    from curator_kit.engine.containers import run_plan

    plan = make_plan(tmp_path, bootstrap_image, ("true",), ulimits=engine_ulimits)
    try:
        assert run_plan(docker_client, plan, keep=True, out=io.BytesIO()) == 0
        [kept] = containers_of(docker_client, plan)
        assert kept.status == "exited"
    finally:
        for container in containers_of(docker_client, plan):
            container.remove(force=True)


def test_output_files_belong_to_the_invoking_user(docker_client, bootstrap_image, tmp_path, engine_ulimits):
    """The plan runs as uid:gid of whoever runs curator-kit; a stand-in user shows it is not root's doing."""
    from curator_kit.engine.containers import run_plan

    local = local_host()
    host = HostFacts(local.cpus, local.memory_bytes, uid=4321, gid=4322)
    (tmp_path / "out").mkdir()
    os.chown(tmp_path / "out", 4321, 4322) if os.getuid() == 0 else pytest.skip("chown needs root")
    script = 'touch /data/output/result && echo "$HOME"'
    plan = make_plan(tmp_path, bootstrap_image, ("sh", "-c", script), host=host, ulimits=engine_ulimits)
    out = io.BytesIO()
    assert run_plan(docker_client, plan, out=out) == 0
    assert out.getvalue().decode().strip() == "/tmp"
    result = (tmp_path / "out" / "result").stat()
    assert (result.st_uid, result.st_gid) == (4321, 4322)


@pytest.mark.parametrize(
    ("uid", "gid", "home"),
    [(NONROOT_UID, NONROOT_GID, NONROOT_HOME), (4242, 0, NONROOT_HOME), (4321, 4322, FALLBACK_HOME)],
    ids=["the-image-user", "a-uid-in-group-0", "another-user"],
)
def test_home_is_the_images_where_the_invoking_user_can_write_it(
    docker_client, curator_base_image, tmp_path, engine_ulimits, uid, gid, home
):
    """On curator-kit's base, `run` keeps the invoking user (outputs are theirs) and gives it the image's
    home where it can write it (its owner, group 0), else /tmp; caches and getpass work either way."""
    from curator_kit.engine.containers import run_plan
    from curator_kit.ops.launch import image_home

    if os.getuid() != 0:
        pytest.skip("chown needs root")
    local = local_host()
    host = HostFacts(local.cpus, local.memory_bytes, uid=uid, gid=gid)
    (tmp_path / "out").mkdir()
    os.chown(tmp_path / "out", uid, gid)
    script = (
        'touch /data/output/result && mkdir -p "$HOME/.cache/huggingface/hub" && touch "$HOME/.cache/huggingface/hub/x"'
        " && python -c \"import getpass, os; print(getpass.getuser(), os.path.expanduser('~'))\""
    )
    found_home = image_home(docker_client, curator_base_image)
    assert found_home == NONROOT_HOME
    plan = make_plan(
        tmp_path, curator_base_image, ("sh", "-c", script), host=host, ulimits=engine_ulimits, image_home=found_home
    )
    assert plan.user == f"{uid}:{gid}" and plan.env["HOME"] == home
    out = io.BytesIO()
    assert run_plan(docker_client, plan, out=out) == 0, out.getvalue().decode()
    assert out.getvalue().decode().split() == [NONROOT_USER, home]
    result = (tmp_path / "out" / "result").stat()
    assert (result.st_uid, result.st_gid) == (uid, gid)


def _project(tmp_path: Path) -> tuple[Path, str]:
    name = f"cksig-{uuid.uuid4().hex[:8]}"
    project = tmp_path / "proj"
    (project / "input").mkdir(parents=True)
    (project / "curator-kit.toml").write_text(f'[project]\nname = "{name}"\n')
    return project, name


def _wait_running(client, name: str, process: subprocess.Popen, timeout_s: float = 60):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        running = client.containers.list(filters={"label": f"{LABEL_PROJECT}={name}", "status": "running"})
        if running:
            return running[0]
        if process.poll() is not None:
            pytest.fail(f"curator-kit run exited early: {process.communicate()}")
        time.sleep(0.2)
    process.kill()
    pytest.fail("the container never ran")


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_and_removes_the_container(docker_client, bootstrap_image, tmp_path, engine_ulimits, signum, code):
    project, name = _project(tmp_path)
    command = [
        sys.executable,
        "-m",
        "curator_kit",
        "run",
        "--project",
        str(project),
        "--image",
        bootstrap_image,
        "--command",
        "sleep 300",
        *(f"--ulimit={u}" for u in engine_ulimits),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_running(docker_client, name, process)
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        leftovers = docker_client.containers.list(all=True, filters={"label": f"{LABEL_PROJECT}={name}"})
        for container in leftovers:
            container.remove(force=True)
    assert process.returncode == code, stderr
    assert f"{signal.Signals(signum).name}: stopping {name}-run-" in stderr
    assert leftovers == []


def test_cli_refuses_gpus_on_an_engine_without_nvidia(docker_client, bootstrap_image, tmp_path):
    if engine_has_nvidia(docker_client):
        pytest.skip("this engine has NVIDIA support")
    project, name = _project(tmp_path)
    base = [
        sys.executable,
        "-m",
        "curator_kit",
        "run",
        "--project",
        str(project),
        "--image",
        bootstrap_image,
        "--gpus",
        "all",
        "--command",
        "true",
    ]
    refused = subprocess.run(base, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1
    assert refused.stderr.splitlines()[-1] == (
        "error: GPUs asked for, but the engine has no NVIDIA support (no nvidia runtime, CDI or "
        "nvidia-container-runtime-hook) -- install the NVIDIA Container Toolkit, then "
        "`sudo nvidia-ctk runtime configure --runtime=docker`; or --force to run anyway [no-nvidia-support]"
    )
    forced = subprocess.run([*base, "--force"], capture_output=True, text=True, timeout=120)
    assert forced.returncode == 1
    assert forced.stderr.splitlines()[-1].startswith("error: the Docker engine has no NVIDIA GPU support")
    assert docker_client.containers.list(all=True, filters={"label": f"{LABEL_PROJECT}={name}"}) == []

"""The GPU start path without a GPU: a second dockerd whose PATH starts with a stand-in
`nvidia-container-runtime-hook` registers the `nvidia` device driver, so `--gpus` plans start.

The stand-in records its arguments and the OCI bundle's config.json, then exits 0. The daemon gets
its own socket, data root, exec root, pidfile and network namespace, no bridge and no iptables;
`--add-runtime nvidia=runc` stands in for the nvidia runtime. The fixture stops it and removes its
directory.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from curator_kit.core.parsers import parse_gpus, parse_ulimit
from curator_kit.core.pipeline.spec import resolve_spec
from curator_kit.core.project.manifest import Manifest, ProjectInfo, RunDefaults
from curator_kit.core.run.runplan import RunOptions, plan_run
from curator_kit.ops.hostfacts import local_host
from engine_limits import startable_ulimits

HOOK = """#!/bin/sh
# Stand-in for NVIDIA's prestart hook: note how it was called and the container's OCI config.
echo "$@" >> {log}
bundle=$(sed -n 's/.*"bundle":"\\([^"]*\\)".*/\\1/p')
cp "$bundle/config.json" {configs}/$(date +%s%N).json
exit 0
"""


class StandinEngine:
    def __init__(self, root: Path, client, ulimits: tuple[str, ...]) -> None:
        self.root = root
        self.client = client
        self.ulimits = ulimits
        self.socket = f"unix://{root / 'docker.sock'}"
        self.bin = root / "bin"

    def hook_calls(self) -> list[str]:
        log = self.root / "hook.log"
        return log.read_text().splitlines() if log.exists() else []

    def last_oci_env(self) -> list[str]:
        newest = max((self.root / "configs").iterdir(), key=lambda p: p.name)
        return json.loads(newest.read_text())["process"]["env"]


@pytest.fixture(scope="module")
def standin(docker_client, bootstrap_image):
    dockerd, unshare = shutil.which("dockerd"), shutil.which("unshare")
    if os.geteuid() != 0 or dockerd is None or unshare is None:
        pytest.skip("a second dockerd needs root, dockerd and unshare")
    import docker

    host_bridge = Path("/sys/class/net/docker0").exists()
    root = Path(tempfile.mkdtemp(prefix="ckgpu-", dir="/tmp"))  # short: unix socket paths are capped at 108
    (root / "bin").mkdir()
    (root / "configs").mkdir()
    hook = root / "bin" / "nvidia-container-runtime-hook"
    hook.write_text(HOOK.format(log=root / "hook.log", configs=root / "configs"))
    hook.chmod(0o755)
    log = (root / "dockerd.log").open("w")
    # Its own network namespace: `--bridge none` makes dockerd delete any `docker0` it can see,
    # which in the host's namespace is the main engine's bridge.
    daemon = subprocess.Popen(
        [
            unshare,
            "--net",
            dockerd,
            "--host",
            f"unix://{root / 'docker.sock'}",
            "--data-root",
            str(root / "data"),
            "--exec-root",
            str(root / "exec"),
            "--pidfile",
            str(root / "docker.pid"),
            "--bridge",
            "none",
            "--iptables=false",
            "--add-runtime",
            "nvidia=runc",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PATH": f"{root / 'bin'}:{os.environ['PATH']}"},
    )
    client = None
    try:
        deadline = time.monotonic() + 60
        while client is None:
            try:  # the client asks the engine its API version on construction
                client = docker.DockerClient(base_url=f"unix://{root / 'docker.sock'}", timeout=120)
            except docker.errors.DockerException:
                if daemon.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the stand-in dockerd did not start: {(root / 'dockerd.log').read_text()[-2000:]}")
                time.sleep(0.5)
        client.images.load(docker_client.images.get(bootstrap_image).save(named=True))
        yield StandinEngine(root, client, startable_ulimits(client, bootstrap_image))
    finally:
        if client is not None:
            for container in client.containers.list(all=True) if daemon.poll() is None else []:
                container.remove(force=True)
            client.close()
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
            # a killed dockerd leaves the containerd it started; that one's pid is in its exec root
            pidfile = root / "exec" / "containerd" / "containerd.pid"
            if pidfile.exists():
                os.kill(int(pidfile.read_text()), signal.SIGKILL)
        log.close()
        shutil.rmtree(root, ignore_errors=True)
    if host_bridge and not Path("/sys/class/net/docker0").exists():
        pytest.fail("the stand-in dockerd deleted the main engine's docker0 bridge")


def plan_for(tmp_path: Path, image: str, ulimits: tuple[str, ...], **opts):
    (tmp_path / "in").mkdir(exist_ok=True)
    (tmp_path / "out").mkdir(exist_ok=True)
    # Written as on `run`'s command line, parsed as its options are.
    parsed = {"ulimits": tuple(map(parse_ulimit, ulimits)), "gpus": parse_gpus(opts.pop("gpus", "none"))}
    options = RunOptions(tmp_path / "in", tmp_path / "out", image, command=("env",), **parsed, **opts)
    manifest = Manifest(ProjectInfo("standin"), run=RunDefaults())
    return plan_run(manifest, resolve_spec(manifest, tmp_path), tmp_path, options, local_host())


@pytest.mark.parametrize(("gpus", "visible"), [("all", "all"), ("2", "0,1"), ("device=0,2", "0,2")])
def test_gpu_plan_starts_with_driver_capabilities(standin, bootstrap_image, tmp_path, gpus, visible):
    from curator_kit.engine.containers import run_plan

    calls_before = len(standin.hook_calls())
    plan = plan_for(tmp_path, bootstrap_image, standin.ulimits, gpus=gpus)
    out = io.BytesIO()
    assert run_plan(standin.client, plan, out=out) == 0
    env = out.getvalue().decode().splitlines()
    assert "NVIDIA_DRIVER_CAPABILITIES=compute,utility,video" in env
    assert f"NVIDIA_VISIBLE_DEVICES={visible}" in env
    # The engine's nvidia driver ran the hook and itself derived both variables from the device request.
    assert standin.hook_calls()[calls_before:] == ["prestart"]
    oci_env = standin.last_oci_env()
    assert oci_env.count("NVIDIA_DRIVER_CAPABILITIES=compute,utility,video") == 2  # the plan's and the driver's
    assert f"NVIDIA_VISIBLE_DEVICES={visible}" in oci_env
    assert standin.client.containers.list(all=True, filters={"label": f"curator-kit.run-id={plan.run_id}"}) == []


def test_runtime_nvidia_plan_sets_visible_devices(standin, bootstrap_image, tmp_path):
    from curator_kit.engine.containers import run_plan

    plan = plan_for(tmp_path, bootstrap_image, standin.ulimits, gpus="device=1", runtime="nvidia")
    out = io.BytesIO()
    assert run_plan(standin.client, plan, out=out) == 0
    env = out.getvalue().decode().splitlines()
    assert "NVIDIA_VISIBLE_DEVICES=1" in env
    assert "NVIDIA_DRIVER_CAPABILITIES=compute,utility,video" in env


def test_cli_run_with_gpus_end_to_end(standin, bootstrap_image, tmp_path):
    """`curator-kit run --gpus all` through preflight (hook found on PATH) to the container's env."""
    project = tmp_path / "proj"
    (project / "input").mkdir(parents=True)
    (project / "curator-kit.toml").write_text('[project]\nname = "standin-cli"\n')
    env = {**os.environ, "DOCKER_HOST": standin.socket, "PATH": f"{standin.bin}:{os.environ['PATH']}"}
    result = subprocess.run(
        [
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
            "env",
            *(f"--ulimit={u}" for u in standin.ulimits),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "NVIDIA_DRIVER_CAPABILITIES=compute,utility,video" in result.stdout.splitlines()
    assert "NVIDIA_VISIBLE_DEVICES=all" in result.stdout.splitlines()
    assert (project / "output").is_dir()

"""GPUs through CDI on a real Podman, without a GPU: a stand-in CDI spec declares `nvidia.com/gpu` device
`0` as /dev/null mapped to /dev/nvidia0 with NVIDIA_VISIBLE_DEVICES=0, and `curator-kit run --gpus 1`
against Podman's Docker-compatible socket must reach the container with that node and that variable.

Podman's service is started by scripts/test as root (engines.py says when the tests skip).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from engines import PODMAN_HOST, copy_image, podman_client
from kitcli import cli, ok

SPEC_DIR = Path("/var/run/cdi")  # one of the directories Podman reads CDI specs from
SPEC = SPEC_DIR / "curator-kit-test-standin.json"
STANDIN = {
    "cdiVersion": "0.5.0",
    "kind": "nvidia.com/gpu",
    "devices": [
        {
            "name": "0",
            "containerEdits": {
                "deviceNodes": [{"path": "/dev/nvidia0", "hostPath": "/dev/null"}],
                "env": ["NVIDIA_VISIBLE_DEVICES=0"],
            },
        }
    ],
}
PROBE = "sh -c 'env; ls -l /dev/nvidia0'"


@pytest.fixture(scope="module")
def podman(docker_client, bootstrap_image):
    """Podman's API client, with the bootstrap image loaded and the stand-in CDI spec in place."""
    client = podman_client()
    if os.geteuid() != 0:
        pytest.skip("the stand-in CDI spec goes into /var/run/cdi: root only")
    from curator_kit.ops.cdispecs import read_cdi_inventory

    if read_cdi_inventory().devices():
        pytest.skip("this host has real nvidia.com/gpu CDI specs: a stand-in would clash with them")
    copy_image(docker_client, client, bootstrap_image)
    SPEC_DIR.mkdir(parents=True, exist_ok=True)
    SPEC.write_text(json.dumps(STANDIN))
    try:
        yield client
    finally:
        SPEC.unlink(missing_ok=True)
        client.close()


@pytest.fixture
def project(tmp_path) -> Path:
    (tmp_path / "input").mkdir()
    (tmp_path / "curator-kit.toml").write_text('[project]\nname = "podman-cdi"\n')
    return tmp_path


def run(project: Path, image: str, *args: str):
    return cli(
        "run",
        "--project",
        str(project),
        "--image",
        image,
        *args,
        cwd=project,
        env={"DOCKER_HOST": PODMAN_HOST},
        timeout=300,
    )


def test_gpus_reach_the_container_as_cdi_devices(podman, bootstrap_image, project):
    result = ok(run(project, bootstrap_image, "--gpus", "1", "--command", PROBE))
    lines = result.stdout.splitlines()
    assert "gpus       1 GPU(s) via CDI nvidia.com/gpu=0" in result.stderr.splitlines()  # the plan, as said
    assert "NVIDIA_VISIBLE_DEVICES=0" in lines  # the spec's containerEdits
    assert "NVIDIA_DRIVER_CAPABILITIES=compute,utility,video" in lines  # the plan's
    node = next(line for line in lines if line.endswith("/dev/nvidia0"))
    assert node.startswith("c") and " 1, 3 " in node  # /dev/null's character device, at /dev/nvidia0
    assert podman.containers.list(all=True, filters={"label": "curator-kit.project=podman-cdi"}) == []


def test_dry_run_prints_the_podman_line(podman, bootstrap_image, project):
    result = ok(run(project, bootstrap_image, "--gpus", "all", "--command", "true", "--dry-run"))
    line = result.stdout.splitlines()[-1]
    # reached through DOCKER_HOST, which the podman CLI does not read: the line names the service
    assert line.startswith(f"podman --url {PODMAN_HOST} run --rm ") and " --device nvidia.com/gpu=all " not in line
    # the stand-in declares no `all` device: all GPUs are the indexed ones
    assert " --device nvidia.com/gpu=0 " in line and "--gpus" not in line
    assert "--ulimit nofile=" in line and "--ulimit nproc=" in line


@pytest.mark.parametrize(("gpus", "said"), [("2", "declare 1 by index"), ("device=3", "no such nvidia.com/gpu")])
def test_unsatisfiable_requests_are_refused_before_anything_starts(podman, bootstrap_image, project, gpus, said):
    result = run(project, bootstrap_image, "--gpus", gpus, "--command", "true")
    assert result.returncode != 0
    error = result.stderr.strip().splitlines()[-1]
    assert said in error and error.endswith("[cdi-devices]")
    assert podman.containers.list(all=True, filters={"label": "curator-kit.project=podman-cdi"}) == []


def test_a_run_without_gpus_starts_through_the_compat_api(podman, bootstrap_image, project):
    if shutil.which("catatonit") is None and not Path("/usr/libexec/podman/catatonit").exists():
        pytest.skip("Podman's --init needs catatonit (scripts/test installs it)")
    result = ok(run(project, bootstrap_image, "--command", "sh -c 'ulimit -n; test ! -e /dev/nvidia0'"))
    from curator_kit.ops.dockerd_limits import local_podman_limits

    nofile = local_podman_limits()[1].get("nofile")  # the plan names the service's own hard limit
    assert result.stdout.splitlines() == [str(nofile)]


def test_the_engine_option_finds_podmans_own_socket(podman):
    """`--engine podman` without DOCKER_HOST: Podman's own socket (root's), as `[run] engine = "podman"` does."""
    env = {key: value for key, value in os.environ.items() if key != "DOCKER_HOST"}
    result = subprocess.run(
        [sys.executable, "-m", "curator_kit", "--engine", "podman", "doctor"],
        cwd="/tmp",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    engine = next(line for line in ok(result).stdout.splitlines() if "engine" in line.split()[:2])
    assert "Podman " in engine and "/run/podman/podman.sock" in result.stdout


def test_doctor_names_podman_and_the_cdi_devices(podman):
    result = ok(cli("doctor", cwd=Path("/tmp"), env={"DOCKER_HOST": PODMAN_HOST}, timeout=120))
    assert "Podman " in result.stdout and "rootful" in result.stdout
    assert f"nvidia.com/gpu devices 0 (from {SPEC})" in result.stdout
    assert "network     Podman's networks resolve container names" in result.stdout  # its DNS plugin is in


def test_a_gpu_cluster_on_podman_gives_its_worker_the_cdi_device(podman, docker_client, curator_base_image, tmp_path):
    """`cluster up --gpus-per-worker 1` on Podman: its worker is created through Podman's own API (the CDI
    device) on the cluster's network, joins the head by name, and sees the stand-in GPU."""
    copy_image(docker_client, podman, curator_base_image)
    project = tmp_path / "gpu-cluster"
    (project / "input").mkdir(parents=True)
    (project / "curator-kit.toml").write_text('[project]\nname = "podman-gpu-cluster"\n')
    env = {"DOCKER_HOST": PODMAN_HOST}
    up = cli(
        "cluster", "up", "--image", curator_base_image, "--workers", "1", "--gpus-per-worker", "1",
        cwd=project, env=env, timeout=600,
    )  # fmt: skip
    try:
        ok(up)
        plan = up.stderr.splitlines()
        assert "node       podman-gpu-cluster-ray-worker-1: 1 CPU, GPUs 0 via CDI nvidia.com/gpu=0" in plan
        worker = podman.containers.get("podman-gpu-cluster-ray-worker-1")
        # The spec's env reaches the node's own processes (an exec gets the container's configured env only).
        probe = "tr '\\0' '\\n' < /proc/1/environ | grep NVIDIA_VISIBLE_DEVICES; ls -l /dev/nvidia0"
        code, output = worker.exec_run(["sh", "-c", probe])
        lines = output.decode().splitlines()
        assert code == 0 and lines[0] == "NVIDIA_VISIBLE_DEVICES=0" and " 1, 3 " in lines[1], output
        assert "2 Ray nodes alive" in up.stdout + up.stderr
        status = ok(cli("cluster", "status", cwd=project, env=env, timeout=120))
        assert "podman-gpu-cluster-ray-worker-1" in status.stdout + status.stderr
    finally:
        ok(cli("cluster", "down", cwd=project, env=env, timeout=300))
    assert podman.containers.list(all=True, filters={"label": "curator-kit.project=podman-gpu-cluster"}) == []

"""A Ray cluster of containers on the real engine: `cluster up --workers 2`, the pipeline with
`run --cluster`, evidence that its tasks ran on more than one Ray node, `cluster down`, nothing left.

The project is scaffolded by curator-kit and given one stage, node_probe, that records for each
task the Ray node id and the container's hostname into the output. It writes there from whichever
node Xenna put it on, which is the point: every node mounts the output.

As root, the commands run with SUDO_UID/SUDO_GID of a stand-in user, as `sudo curator-kit` would:
every container then runs as that uid, and every output file must belong to it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from kitcli import cli, ok

VIDEOS = 6
STAND_IN = (4321, 4322)

# Two seconds a task: long enough for the actors on the other nodes to come up and take some.
PROBE = '''"""NodeProbeStage: where each task ran (Ray node id, container hostname), written under the output."""

import json
import os
import socket
import time
import uuid
from pathlib import Path

import ray
from nemo_curator.stages.base import ProcessingStage
from nemo_curator.stages.resources import Resources
from nemo_curator.tasks.video import VideoTask

RECORDS = Path("/data/output/nodes")


class NodeProbeStage(ProcessingStage[VideoTask, VideoTask]):
    name = "node_probe"
    resources = Resources(cpus=1.0)
    batch_size = 1

    def process(self, task: VideoTask) -> VideoTask:
        time.sleep(2.0)
        RECORDS.mkdir(parents=True, exist_ok=True)
        record = {
            "video": str(task.data.input_video),
            "hostname": socket.gethostname(),
            "node_id": ray.get_runtime_context().get_node_id(),
            "uid": os.getuid(),
        }
        (RECORDS / f"{uuid.uuid4().hex}.json").write_text(json.dumps(record))
        return task
'''


@pytest.fixture(scope="module")
def user_env() -> dict[str, str]:
    if os.getuid() != 0:
        return {}
    return {"SUDO_UID": str(STAND_IN[0]), "SUDO_GID": str(STAND_IN[1])}


@pytest.fixture(scope="module")
def project(tmp_path_factory, curator_base_image) -> Path:
    root = tmp_path_factory.mktemp("cluster")
    name = f"ckclu-{uuid.uuid4().hex[:6]}"
    ok(cli("init", name, "--base-image", curator_base_image, cwd=root))
    project_dir = root / name
    ok(cli("new-stage", "node_probe", "--cpus", "1", cwd=project_dir))
    (project_dir / "stages" / "node_probe.py").write_text(PROBE)
    (project_dir / "tests" / "test_node_probe.py").unlink(missing_ok=True)
    return project_dir


@pytest.fixture(scope="module")
def image(project, docker_client) -> str:
    tag = f"curator-kit-test/{project.name}:{uuid.uuid4().hex[:8]}"
    ok(cli("build", "--tag", tag, cwd=project))
    yield tag
    docker_client.images.remove(tag, force=True)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> tuple[Path, Path]:
    from curator_kit.ops.samples import make_sample_videos

    root = tmp_path_factory.mktemp("clusterdata")
    root.chmod(0o755)  # the stand-in user traverses it (bind sources are checked in the container)
    make_sample_videos(root / "videos", count=VIDEOS, seconds=4.0)
    return root / "videos", root / "out"  # out is missing: `cluster up` makes it for the user


def dashboard_request(url: str, method: str = "GET", token: str | None = None, body: dict | None = None) -> int:
    """The HTTP status the head's dashboard answers (its job API: what `ray job submit` talks to)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def assert_token_hidden(container, token: str) -> None:
    """Not in a label, the command, the environment or anywhere else `docker inspect` shows."""
    container.reload()
    assert token not in json.dumps(container.attrs), f"{container.name} shows the Ray token in docker inspect"
    env = dict(item.split("=", 1) for item in container.attrs["Config"]["Env"])
    assert env["RAY_AUTH_MODE"] == "token" and env["RAY_AUTH_TOKEN_PATH"] == "/run/curator-kit/ray-auth-token"


def leftovers(client, project: Path) -> tuple[list[str], list[str]]:
    labels = {"label": [f"curator-kit.project={project.name}"]}
    containers = [c.name for c in client.containers.list(all=True, filters=labels)]
    return containers, [n.name for n in client.networks.list(filters=labels)]


def test_cluster_up_run_down(project, image, data, docker_client, user_env):
    videos, out = data
    name = project.name
    try:
        up = ok(
            cli(
                "cluster",
                "up",
                "--workers",
                "2",
                "--input",
                str(videos),
                "--output",
                str(out),
                cwd=project,
                env=user_env,
            )
        )
        assert f"cluster {name} is up: 3 Ray nodes on network {name}-ray" in up.stdout
        # Token authentication: a token of its own, private to the user; the job API refuses anyone without it.
        token_file = project / ".curator-kit" / "ray-auth-token"
        token = token_file.read_text()
        assert len(token) == 64 and token_file.stat().st_mode & 0o777 == 0o600
        assert token not in up.stdout + up.stderr
        dashboard = re.search(r"^dashboard (http://127\.0\.0\.1:\d+) ", up.stdout, re.MULTILINE).group(1)
        job = {"entrypoint": "id"}
        assert dashboard_request(f"{dashboard}/api/jobs/", "POST", body=job) == 401
        assert dashboard_request(f"{dashboard}/api/jobs/", "POST", token="0" * 64, body=job) == 403
        assert dashboard_request(f"{dashboard}/api/jobs/", token=token) == 200  # the holder of the token is let in
        containers, networks = leftovers(docker_client, project)
        assert sorted(containers) == [f"{name}-ray-head", f"{name}-ray-worker-1", f"{name}-ray-worker-2"]
        assert networks == [f"{name}-ray"]
        head = docker_client.containers.get(f"{name}-ray-head")
        env = dict(item.split("=", 1) for item in head.attrs["Config"]["Env"])
        assert env["RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES"] == "1"
        assert env["RAY_MAX_LIMIT_FROM_API_SERVER"] == env["RAY_MAX_LIMIT_FROM_DATA_SOURCE"] == "40000"
        if user_env:
            assert head.attrs["Config"]["User"] == "{}:{}".format(*STAND_IN)
            assert (out.stat().st_uid, out.stat().st_gid) == STAND_IN
            assert (token_file.stat().st_uid, token_file.stat().st_gid) == STAND_IN  # the nodes' user reads it
        for node in docker_client.containers.list(filters={"label": f"curator-kit.project={name}"}):
            assert_token_hidden(node, token)

        again = cli("cluster", "up", "--input", str(videos), "--output", str(out), cwd=project, env=user_env)
        assert again.returncode == 1 and "has a cluster already" in again.stderr

        status = ok(cli("cluster", "status", cwd=project))
        rows = {line.split()[0]: line.split() for line in status.stdout.splitlines() if line.startswith(name)}
        assert {row[1] for row in rows.values()} == {"head", "worker"} and len(rows) == 3
        assert all(row[2] == "running" and row[4] == "ALIVE" for row in rows.values()), status.stdout
        assert "3 Ray node(s) alive" in status.stdout

        started = time.monotonic()
        run = ok(cli("run", "--cluster", cwd=project, env=user_env))
        wall = time.monotonic() - started
        assert f"summary    {VIDEOS} video(s) found: {VIDEOS} processed, 0 unreadable, 0 failed" in run.stderr
        assert "joined the Ray cluster at" in run.stdout
        print(f"\n`run --cluster` wall time: {wall:.1f} s")

        records = [json.loads(p.read_text()) for p in (out / "nodes").glob("*.json")]
        assert len(records) == VIDEOS
        hosts = {r["hostname"] for r in records}
        nodes = {r["node_id"] for r in records}
        assert len(nodes) >= 2 and len(hosts) >= 2, records  # the evidence: more than one Ray node did work
        assert all(h.startswith(f"{name}-ray-") for h in hosts), hosts  # all of them this cluster's containers
        assert len(list((out / "clips").glob("*.mp4"))) == VIDEOS  # the writer wrote, from wherever it ran
        if user_env:
            assert {r["uid"] for r in records} == {STAND_IN[0]}
            foreign = [str(p) for p in [out, *out.rglob("*")] if (p.stat().st_uid, p.stat().st_gid) != STAND_IN]
            assert foreign == []

        # The driver left: its container is gone and Ray saw it stop, not fail.
        assert [c for c in leftovers(docker_client, project)[0] if "-ray-driver-" in c] == []
        listed = head.exec_run(["ray", "list", "nodes", "--format", "json"]).output.decode()
        states = [(n["state"], n.get("state_message") or "") for n in json.loads(listed[listed.index("[") :])]
        assert sorted(s for s, _ in states) == ["ALIVE", "ALIVE", "ALIVE", "DEAD"]
        assert all("Expected termination" in message for state, message in states if state == "DEAD")

        # --ray-address: a driver that joins by address (here on the cluster's network) sees every node.
        count = 'python -c \'import ray; ray.init(); print("alive", sum(n["Alive"] for n in ray.nodes()))\''
        joined = cli(
            *("run", "--ray-address", f"{name}-ray-head", "--network", f"{name}-ray"),
            *("--input", str(videos), "--output", str(out), "--command", count),
            *("--ray-token-file", str(token_file)),
            cwd=project,
            env=user_env,
        )
        assert ok(joined).stdout.strip().splitlines()[-1] == "alive 4"

        # SIGTERM to `run --cluster` stops and removes its driver; the cluster stays.
        process = subprocess.Popen(
            [sys.executable, "-m", "curator_kit", "run", "--cluster", "--command", "sleep 300"],
            cwd=project,
            env={**os.environ, **user_env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 120
        label = {"label": [f"curator-kit.project={name}", "curator-kit.role=driver"], "status": "running"}
        while not docker_client.containers.list(filters=label) and time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()
            time.sleep(0.2)
        assert_token_hidden(docker_client.containers.list(filters=label)[0], token)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 143, stderr
        assert docker_client.containers.list(all=True, filters={"label": label["label"]}) == []
        assert len(leftovers(docker_client, project)[0]) == 3
    finally:
        down = cli("cluster", "down", cwd=project)
    ok(down)
    assert f"removed 3 container(s): {name}-ray-head, {name}-ray-worker-1, {name}-ray-worker-2" in down.stdout
    assert f"removed 1 network(s): {name}-ray" in down.stdout
    assert leftovers(docker_client, project) == ([], [])
    assert not (project / ".curator-kit" / "ray-auth-token").exists()  # the token went with its cluster
    assert "nothing to remove" in ok(cli("cluster", "down", cwd=project)).stdout
    assert cli("cluster", "status", cwd=project).returncode == 1


def test_failed_up_leaves_nothing(project, bootstrap_image, data, docker_client):
    """A node that cannot start Ray (no `ray` in the image) fails `up` with its log, and `up` cleans up."""
    videos, out = data
    result = cli("cluster", "up", "--image", bootstrap_image, "--input", str(videos), "--output", str(out), cwd=project)
    assert result.returncode == 1
    assert f"error: {project.name}-ray-head exited (127) before joining the Ray cluster" in result.stderr
    assert "exec ray failed" in result.stderr  # the container's last log line, shown above the error
    assert leftovers(docker_client, project) == ([], [])


def test_run_cluster_without_a_cluster(project, image):
    result = cli("run", "--cluster", cwd=project)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: no Ray cluster is up for project {project.name} -- start one with `curator-kit cluster up`"
    )


def test_push_then_export_kuberay_parses_in_the_image(
    project, image, local_registry, docker_client, curator_base_image
):
    result = ok(cli("push", "--registry", local_registry, cwd=project))
    remote = f"{local_registry}/{image}"
    assert result.stdout.split()[0] == remote and result.stdout.split()[1].startswith("sha256:")
    import urllib.request

    repository, _, tag = image.rpartition(":")
    with urllib.request.urlopen(f"http://{local_registry}/v2/{repository}/tags/list", timeout=10) as response:
        assert json.loads(response.read())["tags"] == [tag]
    record = json.loads((project / ".curator-kit" / "last-push.json").read_text())
    assert record["image"] == remote and record["source"] == image

    exported = ok(cli("export", "kuberay", "--data-pvc", "videos", "--gpus-per-worker", "1", cwd=project))
    (project / "rayjob.yaml").write_text(exported.stdout)
    # A real YAML parser (PyYAML, which Ray brings into the image) reads what the tiny emitter wrote.
    parsed = docker_client.containers.run(
        curator_base_image,
        [
            "python",
            "-c",
            "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))",
            "/p/rayjob.yaml",
        ],
        volumes={str(project): {"bind": "/p", "mode": "ro"}},
        remove=True,
    )
    secret, document = json.loads(parsed)  # the Secret with the generated Ray token, then the RayJob
    from curator_kit.core.export.kuberay import check

    assert check(document) == []
    assert document["kind"] == "RayJob" and secret["kind"] == "Secret"
    assert secret["stringData"]["auth_token"] not in exported.stderr  # on stdout only, as asked
    assert "note: the YAML on stdout holds a new Ray token" in exported.stderr
    worker = document["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
    assert worker["image"] == remote and worker["resources"]["limits"]["nvidia.com/gpu"] == 1
    docker_client.images.remove(remote, force=True)

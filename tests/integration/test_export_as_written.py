"""The KubeRay export, run as written: `export kuberay` of the demo project's image, its RayJob (and a
RayCluster) turned into containers on the local engine exactly as the pod templates say and as
KubeRay's operator completes them (`kuberay_pods`: the `ray start` built from rayStartParams, the
variables it adds, the workers' `wait-gcs-ready` init container, the submitter's `ray job submit`),
then the job submitted the way the submitter pod does.

What it shows of the export's promises: the pods run as uid 1000 (no process in any of them is root,
their clips are uid 1000's), Ray token authentication holds with the generated Secret (the dashboard
refuses a caller without it, the operator's own request with it is answered), the kubelet's probes
and the workers' init container pass under it, the input is read-only in every Ray pod, /dev/shm is
the memory-backed volume of its sizeLimit, and the limits are the containers' cgroup limits.

Stand-ins: the PersistentVolumeClaim is a host directory, given the fsGroup ownership the kubelet
gives a volume; Services are network aliases of the head's container (Docker's network does not
filter ports as a Service does, so "no Ray Client port" is checked on the document, in the unit tests).
"""

from __future__ import annotations

import json
import os
import random
import string
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from kitcli import cli, ok
from kuberay_pods import (
    AGENT_PORT,
    Cluster,
    Pod,
    StandIns,
    docker_kwargs,
    docker_line,
    ray_pod,
    secrets_of,
    submitter_pod,
)

UID = GID = 1000  # what the export's pods run as (core.constants.NONROOT_UID / NONROOT_GID)
VIDEOS = 3
LABEL = "curator-kit-test.as-written"
JOB_TIMEOUT_S = 900


def kubernetes_suffix() -> str:
    return "".join(random.choices(string.ascii_lowercase + string.digits, k=5))  # rand.String(5)


def give_fs_group(root: Path, gid: int) -> None:
    """What the kubelet does to a volume for the pod's fsGroup (SetVolumeOwnership): every file's group
    becomes `gid`, readable and writable by it; directories also executable and setgid."""
    for path in [root, *root.rglob("*")]:
        os.chown(path, -1, gid)
        mode = path.stat().st_mode | 0o060
        if path.is_dir():
            mode |= 0o2010
        path.chmod(mode & 0o7777)


@pytest.fixture(scope="module")
def demo_project(tmp_path_factory, curator_base_image) -> Path:
    """The demo's project (`curator-kit demo`'s own scaffolding): reference stages, no model weights."""
    from curator_kit.ops.demo import DemoPlan, fill_in_reference_stages, scaffold_project

    plan = DemoPlan(output=tmp_path_factory.mktemp("as-written"), base_image=curator_base_image)
    scaffold_project(plan, print)
    fill_in_reference_stages(plan.project_dir, print)
    return plan.project_dir


@pytest.fixture(scope="module")
def image(demo_project, docker_client) -> str:
    tag = f"curator-kit-test/as-written:{uuid.uuid4().hex[:8]}"
    ok(cli("build", "--tag", tag, cwd=demo_project))
    yield tag
    docker_client.images.remove(tag, force=True)


@pytest.fixture
def claim(tmp_path) -> Path:
    """The PersistentVolumeClaim `videos`: sample videos under input/, fsGroup's ownership."""
    from curator_kit.ops.samples import make_sample_videos

    if os.geteuid() != 0:  # giving the stand-in the fsGroup's group is chown, as the kubelet (root) does it
        why = "not root: the claim's stand-in cannot be given the pods' fsGroup"
        if os.environ.get("CURATOR_KIT_REQUIRE_ENGINE") == "1":
            pytest.fail(why)
        pytest.skip(why)
    root = tmp_path / "pvc-videos"
    make_sample_videos(root / "input", count=VIDEOS, seconds=4.0)
    give_fs_group(root, GID)
    return root


def export(project: Path, image: str, out: Path, *args: str) -> list[dict[str, Any]]:
    """`export kuberay` sized for this machine; its documents as written (the Secret first).

    The head holds the GCS, the dashboard, the job's driver and stage workers of its own: measured at 3.0 GiB
    at its peak here, and a 4Gi head once crossed Ray's kill threshold (95 % of the limit) in CI, so it gets
    6Gi (the export's default is 8Gi)."""
    sizes = ["--head-cpus", "1", "--head-memory", "6Gi", "--cpus-per-worker", "1", "--memory-per-worker", "3Gi"]
    result = ok(
        cli("export", "kuberay", "--image", image, "--data-pvc", "videos", *sizes, *args, "-o", str(out), cwd=project)
    )
    text = out.read_text()
    documents = list(yaml.safe_load_all(text))
    token = documents[0]["stringData"]["auth_token"]
    assert token not in result.stdout + result.stderr  # the generated token is only in the file, which is private
    assert out.stat().st_mode & 0o777 == 0o600
    return documents


class Pods:
    """The pods' containers on one network, each removed at the end, whatever happened."""

    def __init__(self, client, stand_ins: StandIns) -> None:
        self.client = client
        self.stand_ins = stand_ins
        self.run_id = uuid.uuid4().hex[:8]
        self.network = client.networks.create(f"as-written-{self.run_id}", labels={LABEL: self.run_id})
        self.containers: dict[str, Any] = {}
        self.uids: dict[str, set[str]] = {}  # container -> every uid `docker top` saw in it

    def start(self, pod: Pod, container: dict[str, Any], aliases: tuple[str, ...] = ()) -> Any:
        name = f"aw-{self.run_id}-{pod.name}-{container['name']}"[:120]
        kwargs = docker_kwargs(pod, container, self.stand_ins, name=name)
        kwargs["labels"] = {**kwargs["labels"], LABEL: self.run_id}
        print(docker_line(kwargs), flush=True)
        endpoint = self.client.api.create_endpoint_config(aliases=[pod.name, *aliases])
        network = {"network": self.network.name, "networking_config": {self.network.name: endpoint}}
        created = self.client.containers.create(**kwargs, **network, detach=True)
        self.containers[name] = created
        created.start()
        return created

    def run_to_completion(self, pod: Pod, container: dict[str, Any], timeout: float) -> tuple[Any, int, str]:
        """Start the container and wait for it to exit (sampling users meanwhile): it, its code, its log."""
        started = self.start(pod, container)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sample_users()
            started.reload()
            if started.status == "exited":
                return started, started.attrs["State"]["ExitCode"], started.logs().decode(errors="replace")
            time.sleep(2)
        raise AssertionError(f"{started.name} still runs after {timeout:.0f} s:\n{started.logs().decode()[-4000:]}")

    def sample_users(self) -> None:
        """Every process's uid in every running container (`ps -eo uid,pid,comm` through `docker top`)."""
        for name, container in self.containers.items():
            try:
                top = container.top(ps_args="-eo uid,pid,comm")
            except Exception:  # exited between the look and the question
                continue
            uid_column = top["Titles"].index("UID")
            self.uids.setdefault(name, set()).update(row[uid_column] for row in top["Processes"] or [])

    def exec(self, container, command: list[str]) -> tuple[int, str]:
        result = container.exec_run(command)
        return result.exit_code, result.output.decode(errors="replace")

    def close(self) -> None:
        for container in self.client.containers.list(all=True, filters={"label": f"{LABEL}={self.run_id}"}):
            container.remove(force=True)
        self.network.remove()


def http_status(pods: Pods, container, url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """GET `url` from inside `container` (another pod on the network): status and body."""
    script = (
        "import json, sys, urllib.request, urllib.error\n"
        "request = urllib.request.Request(sys.argv[1], headers=json.loads(sys.argv[2]))\n"
        "try:\n"
        "    response = urllib.request.urlopen(request, timeout=10)\n"
        "    print(response.status); print(response.read().decode())\n"
        "except urllib.error.HTTPError as error:\n"
        "    print(error.code)\n"
    )
    code, output = pods.exec(container, ["python", "-c", script, url, json.dumps(headers or {})])
    assert code == 0, output
    status, _, body = output.partition("\n")
    return int(status), body


def wait_until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what}: not after {timeout:.0f} s"
        time.sleep(2)


def start_cluster(pods: Pods, cluster_spec: dict[str, Any], cluster: Cluster, crd: str, aliases: tuple[str, ...]):
    """Head, then each worker after its init container found the GCS; returns the head and the workers."""
    head_pod = ray_pod(cluster_spec, cluster, "head", crd=crd)
    head = pods.start(head_pod, head_pod.spec["containers"][0], aliases=(cluster.head_service, cluster.fqdn, *aliases))
    # The kubelet's probe (Ray >= 2.53: GET :52365/api/healthz), without a token, as the kubelet asks it.
    probe = f"http://localhost:{AGENT_PORT}/api/healthz"
    wait_until(lambda: _probe(pods, head, probe), 180, f"{head.name}'s readiness probe")
    workers = []
    for group_index, group in enumerate(cluster_spec["workerGroupSpecs"]):
        for replica in range(group["replicas"]):
            pod = ray_pod(cluster_spec, cluster, "worker", group_index, replica, crd=crd)
            [init] = pod.spec["initContainers"]
            _, code, log = pods.run_to_completion(pod, init, timeout=180)
            assert code == 0 and "GCS is ready." in log, log  # `ray health-check` with the token got through
            workers.append(pods.start(pod, pod.spec["containers"][0]))
    for worker in workers:
        wait_until(lambda worker=worker: _probe(pods, worker, probe), 180, f"{worker.name}'s readiness probe")
    return head, workers


def _probe(pods: Pods, container, url: str) -> bool:
    container.reload()
    assert container.status == "running", container.logs().decode(errors="replace")[-4000:]
    code, _ = pods.exec(
        container, ["python", "-c", f"import urllib.request; urllib.request.urlopen('{url}', timeout=5)"]
    )
    return code == 0


def alive_nodes(pods: Pods, head) -> int:
    code, output = pods.exec(head, ["ray", "list", "nodes", "--format", "json"])  # the head's own token
    assert code == 0, output
    return sum(node["state"] == "ALIVE" for node in json.loads(output[output.index("[") :]))


def assert_runs_as_written(pods: Pods) -> None:
    """What `docker inspect` says of each Ray container: the template's user, groups, options and limits."""
    for name, container in pods.containers.items():
        container.reload()
        config, host = container.attrs["Config"], container.attrs["HostConfig"]
        assert config["User"] == f"{UID}:{GID}", name
        assert host["GroupAdd"] == [str(GID)] and host["CapDrop"] == ["ALL"], name
        assert "no-new-privileges" in host["SecurityOpt"] and not any("seccomp" in o for o in host["SecurityOpt"])
        assert host["Privileged"] is False and host["NanoCpus"] > 0 and host["Memory"] > 0, name


def test_the_rayjob_runs_as_written(demo_project, image, claim, docker_client, tmp_path):
    documents = export(demo_project, image, tmp_path / "rayjob.yaml", "--workers", "2")
    secret, rayjob = documents
    assert (secret["kind"], rayjob["kind"]) == ("Secret", "RayJob")
    token = secret["stringData"]["auth_token"]
    name = rayjob["metadata"]["name"]
    cluster = Cluster(f"{name}-{kubernetes_suffix()}")  # GenerateRayClusterName
    job_id = f"{name}-{kubernetes_suffix()}"  # GenerateRayJobId
    cluster_spec = rayjob["spec"]["rayClusterSpec"]
    inputs = sorted(p.name for p in (claim / "input").iterdir())
    pods = Pods(docker_client, StandIns(claims={"videos": str(claim)}, secrets=secrets_of(documents)))
    try:
        head, workers = start_cluster(pods, cluster_spec, cluster, "RayJob", aliases=(f"{name}-head-svc",))
        wait_until(lambda: alive_nodes(pods, head) == 3, 180, "3 Ray nodes alive")

        # Token authentication, as the export wired it: a caller without the token is refused.
        jobs = f"{cluster.dashboard_url}/api/jobs/"
        assert http_status(pods, workers[0], jobs)[0] == 401
        # The input is read-only in every Ray pod; the rest of the claim is writable.
        for container in [head, *workers]:
            code, output = pods.exec(container, ["touch", "/data/input/written"])
            assert code != 0 and "Read-only file system" in output, output
            code, output = pods.exec(container, ["sh", "-c", "df --output=fstype,size -B1 /dev/shm | tail -1"])
            fstype, size = output.split()
            expected = cluster_spec["headGroupSpec"]["template"]["spec"]["volumes"][0]["emptyDir"]["sizeLimit"]
            assert fstype == "tmpfs" and int(size) <= int(expected.removesuffix("Mi")) * 2**20, output

        # The submitter pod: `ray job submit` to the head's Service, then `ray job logs --follow` until the end.
        submitter = submitter_pod(rayjob, cluster, job_id)
        started = time.monotonic()
        submitted, code, log = pods.run_to_completion(submitter, submitter.spec["containers"][0], JOB_TIMEOUT_S)
        print(f"the RayJob ran {time.monotonic() - started:.0f} s; submitter log:\n{log[-6000:]}")
        assert code == 0, log
        assert token not in log
        # The operator's own request (authOptions: it sends x-ray-authorization with the Secret's token).
        status, body = http_status(pods, workers[0], f"{jobs}{job_id}", {"x-ray-authorization": f"Bearer {token}"})
        assert status == 200 and json.loads(body)["status"] == "SUCCEEDED", body
        # The pipeline's own summary: the demo's three samples, the dark one's clips filtered out.
        assert f"summary: {VIDEOS} videos found, 0 skipped, {VIDEOS} processed, 0 unreadable" in log, log
        assert "4 clips written, 2 filtered (ok, exit 0)" in log, log

        # What the pipeline wrote, and who: uid 1000, from whichever pod Xenna put the writer on.
        output = claim / "output"
        clips = sorted((output / "clips").glob("*.mp4"))
        filtered = sorted((output / "filtered_clips").glob("*.mp4"))
        assert (len(clips), len(filtered)) == (4, 2), sorted(p.name for p in output.rglob("*"))
        written = [output, *output.rglob("*")]
        assert {(p.stat().st_uid, p.stat().st_gid) for p in written} == {(UID, GID)}
        assert sorted(p.name for p in (claim / "input").iterdir()) == inputs  # nothing was added to the input

        # No process in any pod ran as root while the job ran (sampled by `docker top` throughout).
        assert all(pods.uids.get(container.name) for container in [head, *workers, submitted]), pods.uids
        assert {uid for uids in pods.uids.values() for uid in uids} == {str(UID)}, pods.uids
        assert_runs_as_written(pods)
    finally:
        pods.close()
    assert docker_client.containers.list(all=True, filters={"label": f"{LABEL}={pods.run_id}"}) == []


def test_the_raycluster_runs_as_written(demo_project, image, claim, docker_client, tmp_path):
    documents = export(demo_project, image, tmp_path / "raycluster.yaml", "--kind", "RayCluster", "--workers", "1")
    secret, raycluster = documents
    token = secret["stringData"]["auth_token"]
    cluster = Cluster(raycluster["metadata"]["name"])
    pods = Pods(docker_client, StandIns(claims={"videos": str(claim)}, secrets=secrets_of(documents)))
    try:
        head, [worker] = start_cluster(pods, raycluster["spec"], cluster, "RayCluster", aliases=())
        wait_until(lambda: alive_nodes(pods, head) == 2, 180, "2 Ray nodes alive")
        jobs = f"{cluster.dashboard_url}/api/jobs/"
        assert http_status(pods, worker, jobs)[0] == 401
        assert http_status(pods, worker, jobs, {"x-ray-authorization": f"Bearer {'0' * 64}"})[0] == 403
        # A job from a pod that holds the token (its environment: the Secret's, by reference) runs, as uid 1000.
        code, output = pods.exec(
            worker, ["ray", "job", "submit", "--address", cluster.dashboard_url, "--", "sh", "-c", "echo uid=$(id -u)"]
        )
        assert code == 0 and f"uid={UID}" in output, output
        assert token not in output
        pods.sample_users()
        assert {uid for uids in pods.uids.values() for uid in uids} == {str(UID)}, pods.uids
        assert_runs_as_written(pods)
    finally:
        pods.close()

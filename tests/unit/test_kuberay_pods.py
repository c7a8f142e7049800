"""The translation `tests/integration/test_export_as_written.py` runs (pure): an exported RayJob's pod
templates, through what KubeRay's operator makes of them, to the `docker create` of each container."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from curator_kit.core.constants import LABEL_RAY_VERSION, LABEL_SPEC, NONROOT_GID, NONROOT_UID
from curator_kit.core.export.kuberay import KubeRayOptions, render
from curator_kit.core.pipeline.spec import resolve_spec
from curator_kit.core.project.manifest import Manifest, ProjectInfo, StageResources, StageSpec
from curator_kit.core.run.runplan import default_shm_bytes

_PATH = Path(__file__).resolve().parents[1] / "integration" / "kuberay_pods.py"
_SPEC = importlib.util.spec_from_file_location("kuberay_pods", _PATH)
pods = importlib.util.module_from_spec(_SPEC)
sys.modules["kuberay_pods"] = pods  # dataclasses look their module up
_SPEC.loader.exec_module(pods)

TOKEN = "a" * 64
CLAIM = "/srv/pvc/videos"
ULIMIT = "ulimit -n ${RAY_START_ULIMIT_OPEN_FILES:-65536}; "


@pytest.fixture
def exported(tmp_path):
    m = Manifest(ProjectInfo("video"), stages=[StageSpec("probe", "stages.probe", "Probe", resources=StageResources())])
    labels = {LABEL_RAY_VERSION: "2.57.0", LABEL_SPEC: resolve_spec(m, tmp_path).to_json()}
    options = KubeRayOptions(
        image="video:1",
        data_pvc="videos",
        workers=2,
        head_cpus="1",
        head_memory="3Gi",
        cpus_per_worker="1",
        memory_per_worker="2Gi",
    )
    return render(m, tmp_path, options, labels, token=lambda: TOKEN)


@pytest.fixture
def stand_ins(exported):
    return pods.StandIns(claims={"videos": CLAIM}, secrets=pods.secrets_of(exported.documents))


CLUSTER = pods.Cluster("video-x1y2z", "default")


def test_ray_start_is_rendered_as_kubray_renders_it():
    # KubeRay's own tests (pod_test.go) spell flags this way: sorted, one space either side of each.
    assert pods.convert_param_map({"num-gpus": "1"}) == " --num-gpus=1 "
    assert pods.convert_param_map({"block": "true", "log-color": "false", "no-monitor": "false"}) == (
        " --block  --log-color=false "
    )
    command = pods.ray_start_command("worker", {}, {"cpu": "500m", "memory": "1Gi", "nvidia.com/gpu": 3}, "h.ns.svc")
    assert command == (
        "ray start  --address=h.ns.svc:6379  --block  --dashboard-agent-listen-port=52365  --memory=1073741824 "
        " --metrics-export-port=8080  --num-cpus=1  --num-gpus=3 "
    )


def test_head_container(exported, stand_ins):
    cluster_spec = exported.document["spec"]["rayClusterSpec"]
    head = pods.ray_pod(cluster_spec, CLUSTER, "head")
    kwargs = pods.docker_kwargs(head, head.spec["containers"][0], stand_ins, name="head")
    assert kwargs["entrypoint"] == ["/bin/bash", "-c", "--"]
    start = (
        "ray start --head  --block  --dashboard-agent-listen-port=52365  --dashboard-host=0.0.0.0 "
        f" --memory={3 * 2**30}  --metrics-export-port=8080  --num-cpus=1  --num-gpus=0 "
    )
    assert kwargs["command"] == [ULIMIT + start]
    # securityContext: the user and group, fsGroup as a supplementary group, no privilege gain, no capability.
    assert kwargs["user"] == f"{NONROOT_UID}:{NONROOT_GID}" and kwargs["group_add"] == [str(NONROOT_GID)]
    assert kwargs["security_opt"] == ["no-new-privileges"] and kwargs["cap_drop"] == ["ALL"]
    assert (kwargs["nano_cpus"], kwargs["mem_limit"]) == (10**9, 3 * 2**30)
    env = kwargs["environment"]
    assert env["RAY_AUTH_MODE"] == "token" and env["RAY_AUTH_TOKEN"] == TOKEN  # resolved from the Secret document
    assert env["RAY_ADDRESS"] == "127.0.0.1:6379" and env["RAY_CLUSTER_NAME"] == CLUSTER.name
    assert env["RAY_NODE_TYPE_NAME"] == "headgroup" and env["KUBERAY_GEN_RAY_START_CMD"] == start
    assert env["RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES"] == "1"
    shm = default_shm_bytes(3 * 2**30) // 2**20 * 2**20  # the sizeLimit, in whole MiB
    assert kwargs["mounts"] == [
        {"Target": "/dev/shm", "Type": "tmpfs", "ReadOnly": False, "TmpfsOptions": {"SizeBytes": shm, "Mode": 0o777}},
        {"Target": "/data", "Source": CLAIM, "Type": "bind", "ReadOnly": False},
        {"Target": "/data/input", "Source": f"{CLAIM}/input", "Type": "bind", "ReadOnly": True},
    ]
    line = pods.docker_line(kwargs)
    assert "--security-opt no-new-privileges --cap-drop ALL --cpus 1 --memory 3221225472" in line
    assert TOKEN not in line  # names only


def test_worker_and_its_init_container(exported, stand_ins):
    cluster_spec = exported.document["spec"]["rayClusterSpec"]
    worker = pods.ray_pod(cluster_spec, CLUSTER, "worker", replica=1)
    assert worker.name == f"{CLUSTER.name}-workers-worker-1"
    [ray] = worker.spec["containers"]
    [init] = worker.spec["initContainers"]
    kwargs = pods.docker_kwargs(worker, ray, stand_ins, name="w")
    assert kwargs["command"][0].startswith(f"{ULIMIT}ray start  --address={CLUSTER.fqdn}:6379  --block ")
    assert " --num-cpus=1 " in kwargs["command"][0] and "--num-gpus" not in kwargs["command"][0]
    assert kwargs["environment"]["RAY_ADDRESS"] == f"{CLUSTER.fqdn}:6379"
    assert (
        kwargs["environment"]["FQ_RAY_IP"] == CLUSTER.fqdn and kwargs["environment"]["RAY_IP"] == CLUSTER.head_service
    )
    waits = pods.docker_kwargs(worker, init, stand_ins, name="w-init")
    assert f"ray health-check --address {CLUSTER.fqdn}:6379" in waits["command"][0]
    assert waits["environment"]["RAY_AUTH_TOKEN"] == TOKEN  # the init container copies the Ray container's env
    assert (waits["user"], waits["cap_drop"], waits["nano_cpus"]) == (kwargs["user"], ["ALL"], 2 * 10**8)
    assert waits["mounts"] == kwargs["mounts"]


def test_submitter(exported, stand_ins):
    submitter = pods.submitter_pod(exported.document, CLUSTER, "video-abcde")
    [container] = submitter.spec["containers"]
    kwargs = pods.docker_kwargs(submitter, container, stand_ins, name="s")
    assert kwargs["entrypoint"] == ["/bin/bash", "-ce", "--"]
    script = kwargs["command"][0]
    url = CLUSTER.dashboard_url
    entrypoint = exported.document["spec"]["entrypoint"]
    assert f"ray job submit --address {url} --no-wait --submission-id video-abcde -- {entrypoint} ; fi ;" in script
    assert script.endswith(f"ray job logs --address {url} --follow video-abcde")
    assert script.startswith(
        f"until python -c \"import urllib.request; r=urllib.request.urlopen('{url}/api/gcs_healthz'"
    )
    env = kwargs["environment"]
    assert env["RAY_AUTH_TOKEN"] == TOKEN and env["RAY_JOB_SUBMISSION_ID"] == "video-abcde"
    assert kwargs["mounts"] == [] and kwargs["user"] == f"{NONROOT_UID}:{NONROOT_GID}"


def test_authoptions_alone_gets_the_operators_variables(exported, stand_ins):
    """Where the template leaves them out, the operator (KubeRay >= 1.6) adds them from authOptions' Secret."""
    cluster_spec = exported.document["spec"]["rayClusterSpec"]
    for group in [cluster_spec["headGroupSpec"], *cluster_spec["workerGroupSpecs"]]:
        container = group["template"]["spec"]["containers"][0]
        container["env"] = [e for e in container["env"] if not e["name"].startswith("RAY_AUTH")]
    head = pods.ray_pod(cluster_spec, CLUSTER, "head")
    env = pods.docker_kwargs(head, head.spec["containers"][0], stand_ins, name="h")["environment"]
    assert env["RAY_AUTH_MODE"] == "token" and env["RAY_AUTH_TOKEN"] == TOKEN


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda spec: spec["securityContext"].update(runAsUser=0), "runAsNonRoot with runAsUser 0"),
        (lambda spec: spec["containers"][0]["securityContext"].update(privileged=True), "privileged"),
        (lambda spec: spec["securityContext"].update(seccompProfile={"type": "Localhost"}), "seccomp Localhost"),
        (lambda spec: spec["volumes"].append({"name": "data", "hostPath": {"path": "/"}}), "hostPath"),
    ],
)
def test_what_is_not_reproduced_is_refused(exported, stand_ins, change, message):
    cluster_spec = exported.document["spec"]["rayClusterSpec"]
    change(cluster_spec["headGroupSpec"]["template"]["spec"])
    head = pods.ray_pod(cluster_spec, CLUSTER, "head")
    with pytest.raises(pods.NotTranslatable, match=message):
        pods.docker_kwargs(head, head.spec["containers"][0], stand_ins, name="h")


def test_a_missing_secret_stops_the_container_as_the_kubelet_does(exported):
    cluster_spec = exported.document["spec"]["rayClusterSpec"]
    head = pods.ray_pod(cluster_spec, CLUSTER, "head")
    with pytest.raises(pods.NotTranslatable, match="Secret video-ray-auth has no key auth_token"):
        pods.docker_kwargs(head, head.spec["containers"][0], pods.StandIns(claims={"videos": CLAIM}), name="h")

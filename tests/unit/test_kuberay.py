"""`export kuberay` (pure): every variant against KubeRay's real CRDs and the restricted Pod Security rules,
Kubernetes' naming rules, scheduling values, version-dependent fields, the YAML text."""

import copy
import gzip
import json
import re
from importlib import resources

import pytest
import yaml
from click.testing import CliRunner
from curator_kit.core.constants import LABEL_BASE_VARIANT, LABEL_RAY_VERSION, LABEL_SPEC, NONROOT_UID
from curator_kit.core.export.k8s import Toleration, node_selector, quantity, toleration
from curator_kit.core.export.kuberay import (
    FALLBACK_RAY_VERSION,
    KubeRayOptions,
    check,
    dump,
    pod_templates,
    render,
)
from curator_kit.core.export.kuberay_crds import (
    DEFAULT_KUBERAY_VERSION,
    KUBERAY_VERSIONS,
    crd_schema,
    kuberay_version,
    validate,
)
from curator_kit.core.export.podsecurity import restricted_problems
from curator_kit.core.findings import Code, warnings_of
from curator_kit.core.pipeline.spec import resolve_spec
from curator_kit.core.project.manifest import Manifest, ProjectInfo, RunDefaults, StageResources, StageSpec
from curator_kit.errors import CuratorKitError
from pushedproject import pushed_project

CPU_STAGE = StageSpec("probe", "stages.probe", "ProbeStage", resources=StageResources(cpus=1.0))
GPU_STAGE = StageSpec("embed", "stages.embed", "EmbedStage", resources=StageResources(cpus=1.0, gpu_memory_gb=8))
XENNA = {
    "RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES": "1",
    "RAY_MAX_LIMIT_FROM_API_SERVER": "40000",
    "RAY_MAX_LIMIT_FROM_DATA_SOURCE": "40000",
}
IMAGE = "reg:5000/my_pipeline:1"
LABELS = {LABEL_RAY_VERSION: "2.60.0", LABEL_BASE_VARIANT: "cuda"}
SCHEDULING = {
    "node_selector": (("nvidia.com/gpu.product", "NVIDIA-L4"), ("pool", "video")),
    "tolerations": (Toleration("nvidia.com/gpu", "NoSchedule"), Toleration("dedicated", "NoExecute", "curator")),
    "image_pull_secrets": ("regcred", "mirror-cred"),
    "priority_class": "batch-high",
    "data_pvc": "videos",
    "auth_secret": "ray-token",
}


def manifest(stages=None, project="my_pipeline", **run) -> Manifest:
    return Manifest(ProjectInfo(project), stages=[CPU_STAGE] if stages is None else stages, run=RunDefaults(**run))


def built(m: Manifest, tmp_path, labels=LABELS) -> dict[str, str]:
    """The labels of an image built from `m`: its pipeline spec among them."""
    return {**labels, LABEL_SPEC: resolve_spec(m, tmp_path).to_json()}


def export(tmp_path, stages=None, labels=LABELS, project="my_pipeline", **options):
    m = manifest(stages, project)
    labels = built(m, tmp_path, labels) if labels is not None else None
    options.setdefault("gpu_memory_gib", 80.0)
    return render(m, tmp_path, KubeRayOptions(image=IMAGE, **options), labels)


def job(tmp_path, stages=None, **options):
    exported = export(tmp_path, stages, **options)
    return exported.document, exported.header


def pods(document):
    return [template for _, template in pod_templates(document)]


def containers(document):
    return [c for pod in pods(document) for c in pod["spec"]["containers"]]


def cluster(document):
    return document["spec"].get("rayClusterSpec", document["spec"])


def env_of(container):
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


# --- every variant: the real CRD of each pinned KubeRay, the restricted profile, the YAML round trip --------


def variant_options(kind, version, scheduled):
    options = {"kind": kind, "kuberay_version": version}
    if kind == "RayJob" and version < "1.5":
        options["auth"] = False  # its operator could not follow an authenticated RayJob: refused unless opted out
    if scheduled:
        options |= SCHEDULING
        if version.startswith("1.5.") or options.get("auth") is False:
            del options["auth_secret"]  # 1.5's operator makes its own token; --no-auth names none
        if kind == "RayJob":
            options["active_deadline"] = 7200
            if version >= "1.3":
                options["deletion_policy"] = "DeleteWorkers"
    return options


@pytest.mark.parametrize("version", KUBERAY_VERSIONS)
@pytest.mark.parametrize("kind", ["RayJob", "RayCluster"])
@pytest.mark.parametrize("gpu", [False, True], ids=["cpu", "gpu"])
@pytest.mark.parametrize("scheduled", [False, True], ids=["plain", "scheduled"])
def test_every_variant_passes_the_crd_and_restricted_and_round_trips(tmp_path, version, kind, gpu, scheduled):
    options = variant_options(kind, version, scheduled)
    exported = export(tmp_path, stages=[GPU_STAGE] if gpu else None, **options)
    document = exported.document
    assert exported.kuberay_version == version
    assert [str(p) for p in validate(document, version)] == []
    for path, template in pod_templates(document):
        assert restricted_problems(template, path) == []
    assert check(document, version) == []
    # What is written is exactly what was validated (and the generated Secret, before it).
    assert list(yaml.safe_load_all(exported.text())) == exported.documents
    assert exported.documents[-1] == document
    expected = {Code.NAME_DERIVED} | ({Code.RAY_NO_AUTH} if options.get("auth") is False else set())
    assert {f.code for f in warnings_of(exported.findings)} == expected

    templates = pod_templates(document)
    assert len(templates) == (3 if kind == "RayJob" else 2)  # head, workers (, submitter)
    assert cluster(document)["headGroupSpec"]["rayStartParams"]["num-gpus"] == "0"
    assert cluster(document)["rayVersion"] == "2.60.0"
    worker_limits = cluster(document)["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["resources"]
    assert ("nvidia.com/gpu" in worker_limits["limits"]) is gpu
    for _, pod in templates:
        security = pod["spec"]["securityContext"]
        assert security["runAsNonRoot"] is True and security["runAsUser"] == NONROOT_UID
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in pod["spec"]["containers"]:
            assert container["securityContext"] == {
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
            }
            assert env_of(container).items() >= XENNA.items()
        if scheduled:
            assert pod["spec"]["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-L4", "pool": "video"}
            assert pod["spec"]["tolerations"] == [
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
                {"key": "dedicated", "operator": "Equal", "value": "curator", "effect": "NoExecute"},
            ]
            assert pod["spec"]["imagePullSecrets"] == [{"name": "regcred"}, {"name": "mirror-cred"}]
            assert pod["spec"]["priorityClassName"] == "batch-high"
            [container] = pod["spec"]["containers"]
            if "auth_secret" in options:
                ref = {"secretKeyRef": {"name": "ray-token", "key": "auth_token"}}
                assert env_of(container)["RAY_AUTH_TOKEN"] == ref
        else:
            assert not {"nodeSelector", "tolerations", "imagePullSecrets", "priorityClassName"} & set(pod["spec"])


def test_every_pinned_version_is_checked_in_with_both_crds():
    assert DEFAULT_KUBERAY_VERSION == KUBERAY_VERSIONS[-1] == "1.7.0"
    for version in KUBERAY_VERSIONS:
        for kind in ("RayJob", "RayCluster"):
            schema = crd_schema(version, kind)
            assert schema["type"] == "object" and "spec" in schema["properties"]
    root = resources.files("curator_kit.core.export") / "crds"
    names = sorted(p.name for p in root.iterdir() if p.name.startswith("kuberay-"))
    assert names == [f"kuberay-v{v}" for v in KUBERAY_VERSIONS]
    raw = json.loads(gzip.decompress((root / "kuberay-v1.7.0" / "ray.io_rayjobs.v1.json.gz").read_bytes()))
    assert "description" not in json.dumps(raw)[:2000] and "deletionStrategy" in raw["properties"]["spec"]["properties"]


# --- what the issue asks of the document -------------------------------------------------------------------


def test_rayjob_has_what_the_issue_asks(tmp_path):
    exported = render(
        manifest([GPU_STAGE], env={"HF_HOME": "/data/models"}),
        tmp_path,
        KubeRayOptions(image=IMAGE, data_pvc="videos"),
        LABELS,
    )
    document, header = exported.document, exported.header
    assert check(document) == []
    assert (document["apiVersion"], document["kind"], document["metadata"]["name"]) == (
        "ray.io/v1",
        "RayJob",
        "my-pipeline",
    )
    spec = document["spec"]
    assert spec["entrypoint"].startswith("python /workspace/pipeline.py --input /data/input --output /data/output")
    assert spec["shutdownAfterJobFinishes"] is True and spec["ttlSecondsAfterFinished"] == 600
    assert cluster(document)["headGroupSpec"]["rayStartParams"] == {
        "dashboard-host": "0.0.0.0",
        "num-cpus": "2",
        "num-gpus": "0",
    }
    [group] = cluster(document)["workerGroupSpecs"]
    assert (group["replicas"], group["minReplicas"], group["maxReplicas"]) == (2, 2, 2)
    head_and_workers = pods(document)[:2]
    for pod in head_and_workers:
        [container] = pod["spec"]["containers"]
        assert container["image"] == IMAGE
        env = env_of(container)
        assert env["NVIDIA_DRIVER_CAPABILITIES"] == "compute,utility,video"
        assert env.items() >= XENNA.items()
        assert env["HF_HOME"] == "/data/models"  # the manifest's [run] env
        assert {"name": "dshm", "mountPath": "/dev/shm"} in container["volumeMounts"]
        assert {"name": "data", "mountPath": "/data"} in container["volumeMounts"]
        volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
        assert volumes["dshm"]["emptyDir"]["medium"] == "Memory"
        assert volumes["data"]["persistentVolumeClaim"] == {"claimName": "videos"}
        assert container["resources"]["limits"] == container["resources"]["requests"]
    worker = group["template"]["spec"]["containers"][0]
    assert worker["resources"]["limits"] == {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": 1}  # a stage needs one
    assert "nvidia.com/gpu" not in cluster(document)["headGroupSpec"]["template"]["spec"]["containers"][0]["resources"]
    assert group["template"]["spec"]["volumes"][0]["emptyDir"]["sizeLimit"] == f"{int(32 * 2**30 * 0.35) // 2**20}Mi"
    # The submitter: restricted, Never restarted, the Xenna variables, no data volume, KubeRay fills its command.
    submitter = spec["submitterPodTemplate"]["spec"]
    assert submitter["restartPolicy"] == "Never" and "volumes" not in submitter
    [container] = submitter["containers"]
    assert container["image"] == IMAGE and "command" not in container
    assert env_of(container).items() >= XENNA.items()
    assert any("Xenna's variables" in line for line in header)
    assert any(f"uid {NONROOT_UID}" in line for line in header)


def test_cpu_pipeline_gets_no_gpus_and_a_streaming_entrypoint_where_it_fits(tmp_path):
    document, header = job(tmp_path)
    worker = cluster(document)["workerGroupSpecs"][0]
    assert "nvidia.com/gpu" not in worker["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert worker["groupName"] == "workers"
    assert "--execution-mode streaming --cpu-allocation-percentage 0.95" in document["spec"]["entrypoint"]
    small, _ = job(tmp_path, head_cpus="1", cpus_per_worker="1", workers=1)
    assert "--execution-mode batch --cpu-allocation-percentage 1" in small["spec"]["entrypoint"]
    assert any("must exist in every pod" in line for line in header)  # no --data-pvc


def test_raycluster_and_overrides(tmp_path):
    document, _ = job(tmp_path, kind="RayCluster", gpus_per_worker=2, namespace="video-team", input_path="s3://b/in")
    assert check(document) == []
    assert document["kind"] == "RayCluster" and "entrypoint" not in document["spec"]
    assert document["metadata"]["namespace"] == "video-team"
    limits = document["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == 2
    pipeline, _ = job(tmp_path, input_path="s3://b/in", output_path="s3://b/out", ignore_failures=True)
    assert "--input s3://b/in --output s3://b/out" in pipeline["spec"]["entrypoint"]
    assert "--ignore-failures" in pipeline["spec"]["entrypoint"]


def test_auth_secret_wires_the_token_by_reference_only(tmp_path):
    exported = export(tmp_path, auth_secret="ray-token")
    for container in containers(exported.document):
        env = env_of(container)
        assert env["RAY_AUTH_MODE"] == "token"
        assert env["RAY_AUTH_TOKEN"] == {"secretKeyRef": {"name": "ray-token", "key": "auth_token"}}
    assert len(containers(exported.document)) == 3  # head, worker, submitter
    assert cluster(exported.document)["authOptions"] == {"mode": "token", "secretName": "ray-token"}
    assert exported.secret is None and exported.documents == [exported.document]  # the user's Secret, not ours
    assert any("Secret ray-token" in line and "--from-literal=auth_token=" in line for line in exported.header)


# --- names: Kubernetes' rules, refused with the rule, never rewritten ---------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"name": "9lives"}, r"--name \(a RayJob name\) '9lives' is not a DNS-1035 label of at most 47"),
        ({"name": "a" * 60}, r"is not a DNS-1035 label of at most 47 characters \(60 characters\)"),
        ({"name": "a" * 48}, r"at most 47 characters \(48 characters\)"),
        ({"name": "a" * 54, "kind": "RayCluster"}, r"a RayCluster name.*at most 53 characters \(54 characters\)"),
        ({"name": "My_Job"}, "is not a DNS-1035 label"),
        ({"name": "job-"}, "is not a DNS-1035 label"),
        ({"name": "a.b"}, "is not a DNS-1035 label"),
        ({"namespace": "My_Team"}, "--namespace 'My_Team' is not a DNS-1123 label"),
        ({"namespace": "n" * 64}, r"DNS-1123 label of at most 63 characters \(64 characters\)"),
        ({"data_pvc": "Bad_PVC Name"}, "PersistentVolumeClaim name.*is not a DNS-1123 subdomain"),
        ({"data_pvc": "-videos"}, "is not a DNS-1123 subdomain"),
        ({"image_pull_secrets": ("Reg_Cred",)}, "--image-pull-secret .*'Reg_Cred' is not a DNS-1123 subdomain"),
        ({"priority_class": "High Priority"}, "--priority-class 'High Priority' is not a DNS-1123 subdomain"),
        ({"auth_secret": "ray_token"}, "--auth-secret .*'ray_token' is not a DNS-1123 subdomain"),
    ],
)
def test_names_are_refused_with_the_rule(tmp_path, options, message):
    with pytest.raises(CuratorKitError, match=message) as caught:
        job(tmp_path, **options)
    assert "lowercase letters, digits and '-'" in caught.value.fix


def test_name_limits_follow_the_kind(tmp_path):
    assert job(tmp_path, name="a" * 47)[0]["metadata"]["name"] == "a" * 47
    assert job(tmp_path, name="a" * 53, kind="RayCluster")[0]["metadata"]["name"] == "a" * 53
    assert job(tmp_path, name="video-job-2", namespace="team-a")[0]["metadata"] == {
        "name": "video-job-2",
        "namespace": "team-a",
        "labels": {"curator-kit.project": "my_pipeline"},
    }


def test_default_name_is_made_from_the_project_and_says_so(tmp_path):
    exported = export(tmp_path, project="9_Lives_pipeline")
    assert exported.document["metadata"]["name"] == "lives-pipeline"
    assert any("made from the project name '9_Lives_pipeline'" in w for w in exported.warnings)
    assert export(tmp_path, project="video").warnings == []  # already a DNS-1035 label: nothing to say
    long = export(tmp_path, project="p" * 60)
    assert long.document["metadata"]["name"] == "p" * 47 and check(long.document) == []
    with pytest.raises(CuratorKitError, match="makes no RayJob name"):
        export(tmp_path, project="___")


# --- scheduling values --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("nvidia.com/gpu:NoSchedule", {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}),
        (
            "dedicated=curator:PreferNoSchedule",
            {"key": "dedicated", "operator": "Equal", "value": "curator", "effect": "PreferNoSchedule"},
        ),
        ("spot=:NoExecute", {"key": "spot", "operator": "Equal", "value": "", "effect": "NoExecute"}),
    ],
)
def test_toleration_syntax(text, parsed):
    assert toleration(text).as_dict() == parsed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nvidia.com/gpu", "has no effect"),
        (":NoSchedule", "has no effect"),
        ("nvidia.com/gpu:Sometimes", "effect 'Sometimes' is not a taint effect"),
        ("nvidia.com/gpu:noschedule", "is not a taint effect"),
        ("bad key:NoSchedule", "--toleration key 'bad key' is not a valid label key"),
        ("Bad_Prefix.com/gpu:NoSchedule", "has an invalid prefix 'Bad_Prefix.com'"),
        ("/gpu:NoSchedule", "has an empty prefix"),
        ("dedicated=a b:NoSchedule", "--toleration value 'a b' is not a valid label value"),
        ("dedicated=" + "v" * 64 + ":NoSchedule", "is not a valid label value"),
    ],
)
def test_toleration_refused(text, message):
    with pytest.raises(CuratorKitError, match=message) as caught:
        toleration(text)
    assert caught.value.fix


def test_node_selector_syntax():
    assert node_selector("nvidia.com/gpu.product=NVIDIA-L4") == ("nvidia.com/gpu.product", "NVIDIA-L4")
    assert node_selector("pool=") == ("pool", "")  # an empty label value is a value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("pool", "is not KEY=VALUE"),
        ("=gpu", "is not a valid label key"),
        ("po ol=gpu", "is not a valid label key"),
        ("-pool=gpu", "is not a valid label key"),
        ("k" * 64 + "=gpu", "is not a valid label key"),
        ("pool=gpu pool", "--node-selector value 'gpu pool' is not a valid label value"),
        ("pool=-gpu", "is not a valid label value"),
        ("EXAMPLE.com/pool=gpu", "has an invalid prefix"),
    ],
)
def test_node_selector_refused(text, message):
    with pytest.raises(CuratorKitError, match=message):
        node_selector(text)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"head_cpus": "500m"}, "at least 1 CPU"),
        ({"cpus_per_worker": "0"}, "at least 1 CPU"),
        ({"memory_per_worker": "lots"}, "not a Kubernetes quantity"),
        ({"workers": 0}, "at least one worker"),
        ({"kind": "Deployment"}, "not exported"),
        ({"kind": "RayCluster", "active_deadline": 60}, "--active-deadline is a RayJob field"),
        ({"active_deadline": 0}, "--active-deadline 0 is out of range"),
        ({"active_deadline": 2**31}, "out of range"),
        ({"kind": "RayCluster", "deletion_policy": "DeleteCluster"}, "--deletion-policy is a RayJob field"),
        ({"deletion_policy": "DeleteEverything"}, "is not a KubeRay deletion policy"),
        (
            {"deletion_policy": "DeleteCluster", "kuberay_version": "1.2.2", "auth": False},
            "KubeRay 1.2.2's RayJob has no deletion",
        ),
        ({"kuberay_version": "1.5.0"}, r"KubeRay '1.5.0' has no checked-in CRD schema"),
        ({"kuberay_version": "0.6"}, "use one of 1.1.1, 1.2.2, 1.3.2, 1.4.2, 1.5.2, 1.6.2, 1.7.0"),
        ({"output_path": "o\nextra_top_level_key: injected\n#"}, "--output .* has a control character"),
        ({"input_path": "in\rx"}, "--input .* has a control character"),
        ({"input_path": ""}, "--input '' is empty"),
        ({"ray_version": "latest"}, "--ray-version 'latest' is not a Ray version"),
    ],
)
def test_refused(tmp_path, options, message):
    with pytest.raises(CuratorKitError) as caught:
        job(tmp_path, **options)
    assert re.search(message, caught.value.one_line()), caught.value.one_line()


# --- versions ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "version"), [("1.7.0", "1.7.0"), ("v1.4.2", "1.4.2"), ("1.3", "1.3.2")])
def test_kuberay_version(text, version):
    assert kuberay_version(text) == version


@pytest.mark.parametrize(
    ("version", "field", "value"),
    [
        ("1.3.2", "deletionPolicy", "DeleteSelf"),
        ("1.4.2", "deletionPolicy", "DeleteSelf"),
        ("1.5.2", "deletionStrategy", {"onSuccess": {"policy": "DeleteSelf"}, "onFailure": {"policy": "DeleteSelf"}}),
        ("1.7.0", "deletionStrategy", {"onSuccess": {"policy": "DeleteSelf"}, "onFailure": {"policy": "DeleteSelf"}}),
    ],
)
def test_deletion_policy_follows_the_kuberay_version(tmp_path, version, field, value):
    auth = {} if version >= "1.5" else {"auth": False}  # before 1.5 a RayJob cannot be authenticated
    exported = export(tmp_path, kuberay_version=version, deletion_policy="DeleteSelf", **auth)
    assert exported.document["spec"][field] == value
    assert check(exported.document, version) == []
    assert any("RayJobDeletionPolicy feature gate" in line for line in exported.header)
    # The other release's form is what that release's CRD refuses: validation follows the version.
    other = "1.7.0" if field == "deletionPolicy" else "1.4.2"
    assert any(field in str(p) for p in validate(exported.document, other))


def test_delete_none_keeps_the_cluster_without_a_ttl(tmp_path):
    spec = export(tmp_path, deletion_policy="DeleteNone").document["spec"]
    assert spec["shutdownAfterJobFinishes"] is False and "ttlSecondsAfterFinished" not in spec
    assert export(tmp_path, active_deadline=3600).document["spec"]["activeDeadlineSeconds"] == 3600


def test_ray_version_comes_from_the_image(tmp_path):
    labelled = export(tmp_path, project="video", labels={LABEL_RAY_VERSION: "2.61.1"})
    assert cluster(labelled.document)["rayVersion"] == "2.61.1" and labelled.warnings == []
    unlabelled = export(tmp_path, project="video", labels={})
    assert cluster(unlabelled.document)["rayVersion"] == FALLBACK_RAY_VERSION
    assert [w for w in unlabelled.warnings if "rayVersion" in w] == [
        f"rayVersion {FALLBACK_RAY_VERSION} assumed: {IMAGE}'s labels have no {LABEL_RAY_VERSION} "
        "(built before it was recorded?); pass --ray-version to say which Ray it has"
    ]
    unread = export(tmp_path, project="video", labels=None)
    assert any("labels were not read" in w for w in unread.warnings)
    chosen = export(tmp_path, project="video", labels={LABEL_RAY_VERSION: "2.61.1"}, ray_version="2.62.0")
    assert cluster(chosen.document)["rayVersion"] == "2.62.0"
    with pytest.raises(CuratorKitError, match=r"label curator-kit\.ray-version 'x y' is not a Ray version"):
        export(tmp_path, project="video", labels={LABEL_RAY_VERSION: "x y"})


def test_gpu_workers_from_a_cpu_image_warn(tmp_path):
    cpu_image = {LABEL_RAY_VERSION: "2.60.0", LABEL_BASE_VARIANT: "cpu"}
    [warning] = export(tmp_path, project="video", stages=[GPU_STAGE], labels=cpu_image).warnings
    assert "nodes get 1 GPU(s) each" in warning and "curator-kit base build --variant cuda" in warning
    assert export(tmp_path, project="video", labels=cpu_image, gpus_per_worker=1).warnings == [warning]
    assert export(tmp_path, project="video", labels=cpu_image).warnings == []  # no GPU asked
    assert export(tmp_path, project="video", stages=[GPU_STAGE], labels=LABELS).warnings == []  # cuda base


# --- the CRD validator, on mutations of a good document ------------------------------------------------------

WORKERS = "spec.rayClusterSpec.workerGroupSpecs[0]"
CONTAINER = "spec.rayClusterSpec.headGroupSpec.template.spec.containers[0]"


def group(d):
    return d["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]


def head(d):
    return d["spec"]["rayClusterSpec"]["headGroupSpec"]


def head_container(d):
    return head(d)["template"]["spec"]["containers"][0]


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (lambda d: d["spec"].update(shutdownAfterJobFinish=True), "spec", "'shutdownAfterJobFinish' was unexpected"),
        (lambda d: group(d).update(replicas="2"), f"{WORKERS}.replicas", "'2' is not of type 'integer'"),
        (lambda d: group(d).pop("groupName"), WORKERS, "'groupName' is a required property"),
        (lambda d: group(d).update(replicas=2**31), f"{WORKERS}.replicas", "2147483648 is not a 'int32'"),
        (lambda d: group(d).update(replicas=True), f"{WORKERS}.replicas", "True is not of type 'integer'"),
        (
            lambda d: head(d)["rayStartParams"].update({"num-cpus": 2}),
            "spec.rayClusterSpec.headGroupSpec.rayStartParams.num-cpus",
            "2 is not of type 'string'",
        ),
        (
            lambda d: head_container(d)["resources"]["limits"].update(cpu=2.5),
            f"{CONTAINER}.resources.limits.cpu",
            "2.5 is not valid under any of the given schemas",
        ),
        (
            lambda d: head_container(d)["resources"]["limits"].update(memory="8 GB"),
            f"{CONTAINER}.resources.limits.memory",
            "'8 GB' does not match",
        ),
        (lambda d: head_container(d)["env"].append({"value": "x"}), f"{CONTAINER}.env[7]", "'name' is a required"),
        (
            lambda d: head_container(d)["securityContext"].update(runAsUser="root"),
            f"{CONTAINER}.securityContext.runAsUser",
            "'root' is not of type 'integer'",
        ),
        (
            lambda d: d.update(apiVersion="ray.io/v1alpha1"),
            "apiVersion",
            "'ray.io/v1alpha1' is not one of ['ray.io/v1']",
        ),
        (lambda d: d.pop("metadata"), "(document)", "'metadata' is a required property"),
        (lambda d: d["metadata"].update(name="9lives"), "metadata.name", "'9lives' does not match"),
        (lambda d: d["metadata"].update(name="a" * 48), "metadata.name", "is too long"),
        (lambda d: d["metadata"].update(namespace="My_Team"), "metadata.namespace", "'My_Team' does not match"),
        (lambda d: d.update(extra_top_level_key="injected"), "(document)", "'extra_top_level_key' was unexpected"),
    ],
)
def test_crd_validation_finds_each_mistake(tmp_path, change, path, message):
    document = copy.deepcopy(job(tmp_path)[0])
    change(document)
    problems = validate(document, DEFAULT_KUBERAY_VERSION)
    assert len(problems) == 1, problems
    assert problems[0].path == path and message in problems[0].message, problems


def test_validate_names_an_unknown_kind():
    assert [str(p) for p in validate({"kind": "Pod"}, DEFAULT_KUBERAY_VERSION)] == [
        "kind: 'Pod' is not one of RayJob, RayCluster"
    ]


# --- the restricted checker, on mutations of a good pod ------------------------------------------------------


def spec_of(pod):
    return pod["spec"]


def sc_of(pod):
    return pod["spec"]["containers"][0]["securityContext"]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda p: spec_of(p)["securityContext"].update(runAsUser=0), "spec.securityContext.runAsUser: must not be 0"),
        (lambda p: sc_of(p).update(runAsUser=0), "containers[0].securityContext.runAsUser: must not be 0"),
        (lambda p: spec_of(p)["securityContext"].pop("runAsNonRoot"), "runAsNonRoot: must be true"),
        (lambda p: sc_of(p).update(runAsNonRoot=False), "containers[0].securityContext.runAsNonRoot: must be true"),
        (lambda p: sc_of(p).pop("allowPrivilegeEscalation"), "allowPrivilegeEscalation: must be false"),
        (lambda p: sc_of(p).update(allowPrivilegeEscalation=True), "allowPrivilegeEscalation: must be false"),
        (lambda p: sc_of(p).update(privileged=True), "privileged containers are not allowed"),
        (lambda p: sc_of(p).update(capabilities={}), "capabilities.drop: must include ALL"),
        (
            lambda p: sc_of(p)["capabilities"].update(add=["SYS_ADMIN"]),
            "only NET_BIND_SERVICE may be added, not ['SYS_ADMIN']",
        ),
        (lambda p: spec_of(p)["securityContext"].pop("seccompProfile"), "seccompProfile.type: must be set"),
        (
            lambda p: spec_of(p)["securityContext"].update(seccompProfile={"type": "Unconfined"}),
            "spec.securityContext.seccompProfile.type: must be RuntimeDefault or Localhost",
        ),
        (
            lambda p: sc_of(p).update(seccompProfile={"type": "Unconfined"}),
            "containers[0].securityContext.seccompProfile.type: must be RuntimeDefault or Localhost",
        ),
        (lambda p: spec_of(p)["volumes"].append({"name": "h", "hostPath": {"path": "/"}}), "volume type hostPath"),
        (lambda p: spec_of(p)["volumes"].append({"name": "n", "nfs": {"server": "x"}}), "volume type nfs"),
        (lambda p: spec_of(p).update(hostNetwork=True), "hostNetwork: host namespaces are not allowed"),
        (lambda p: spec_of(p).update(hostPID=True), "hostPID: host namespaces are not allowed"),
        (
            lambda p: spec_of(p)["containers"][0].update(ports=[{"containerPort": 1, "hostPort": 1}]),
            "ports[0].hostPort: host ports are not allowed",
        ),
        (lambda p: sc_of(p).update(procMount="Unmasked"), "procMount: must be Default"),
        (
            lambda p: spec_of(p)["securityContext"].update(sysctls=[{"name": "kernel.msgmax", "value": "1"}]),
            "'kernel.msgmax' is not a safe sysctl",
        ),
        (lambda p: sc_of(p).update(seLinuxOptions={"user": "root"}), "custom SELinux user, role or type"),
        (
            lambda p: p["metadata"].update(
                annotations={"container.apparmor.security.beta.kubernetes.io/ray-head": "unconfined"}
            ),
            "AppArmor must not be 'unconfined'",
        ),
        (
            lambda p: spec_of(p).update(initContainers=[{"name": "init", "image": "x"}]),
            "initContainers[0].securityContext.allowPrivilegeEscalation: must be false",
        ),
    ],
)
def test_restricted_checker_finds_each_breach(tmp_path, change, problem):
    pod = copy.deepcopy(pods(job(tmp_path, data_pvc="videos")[0])[0])
    assert restricted_problems(pod) == []
    change(pod)
    problems = restricted_problems(pod)
    assert any(problem in p for p in problems), problems


def test_kuberay_injected_init_container_passes_restricted(tmp_path):
    """KubeRay adds a wait-gcs-ready init container with a copy of the Ray container's securityContext."""
    worker = copy.deepcopy(pods(job(tmp_path)[0])[1])
    ray = worker["spec"]["containers"][0]
    worker["spec"]["initContainers"] = [{"name": "wait-gcs-ready", "securityContext": ray["securityContext"]}]
    assert restricted_problems(worker) == []


# --- YAML text -----------------------------------------------------------------------------------------------


TRICKY = ["true", "No", "on", "1", "0x1f", "1e3", "8Gi", "", "-x", "a: b", "a #b", "#c", "~", "null", "*x", "&y", "!t"]


def test_yaml_round_trips_tricky_scalars_exactly():
    document = {"s": TRICKY, "multi": "two\nlines", "tab": "a\tb", "unicode": "é\u2028x", "n": 2, "b": False, "e": {}}
    assert yaml.safe_load(dump(document)) == document


def test_header_cannot_add_yaml(tmp_path):
    document, _ = job(tmp_path)
    for line in ("x\nextra_top_level_key: injected", "x\rk: v", "x\x85k: v", "x\u2028k: v", "x\u2029k: v"):
        text = dump(document, [line])
        assert yaml.safe_load(text) == document
        assert text.split("\n", 1)[0].startswith("# x")


def test_yaml_is_kubernetes_style_block_yaml(tmp_path):
    exported = export(tmp_path, **SCHEDULING)
    text = exported.text()
    assert text.startswith("# RayJob for curator-kit project my_pipeline")
    assert "\napiVersion: ray.io/v1\nkind: RayJob\nmetadata:\n  name: my-pipeline\n" in text
    assert not re.search(r"[&*]id\d", text)  # no anchors or aliases, even where objects repeat
    assert "  - name: regcred\n" in text and "{" not in text.replace("rayStartParams: {}", "")


@pytest.mark.parametrize(("text", "value"), [("2", 2), ("500m", 0.5), ("32Gi", 32 * 2**30), ("1.5G", 1.5e9)])
def test_quantity(text, value):
    assert quantity(text, "x") == value


# --- the command, through click's runner (labels stand in for the engine) ------------------------------------


@pytest.fixture
def project(tmp_path, monkeypatch):
    root = pushed_project(tmp_path)
    labels = {"value": {LABEL_RAY_VERSION: "2.60.0", LABEL_BASE_VARIANT: "cpu"}}
    monkeypatch.setattr("curator_kit.ops.exportimage.local_image_labels", lambda image, say: labels["value"])
    return root


def cli(root, *args):
    from curator_kit.cli import main

    return CliRunner().invoke(main, ["export", "kuberay", "--project", str(root), *args])


def test_cli_writes_what_it_validated(project, tmp_path):
    out = tmp_path / "job.yaml"
    args = (
        "-o",
        str(out),
        "--node-selector",
        "nvidia.com/gpu.product=NVIDIA-L4",
        "--toleration",
        "nvidia.com/gpu:NoSchedule",
    )
    result = cli(
        project, *args, "--image-pull-secret", "regcred", "--kuberay-version", "v1.6", "--gpus-per-worker", "1"
    )
    assert result.exit_code == 0, result.output
    assert "curator-kit base build --variant cuda" in result.output  # GPU workers, cpu image
    secret, document = yaml.safe_load_all(out.read_text())
    assert check(document, "1.6.2") == []
    assert document["spec"]["submitterPodTemplate"]["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    assert secret["kind"] == "Secret" and secret["metadata"]["name"] == "demo-ray-auth"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--name", "9lives"), 1, "'9lives' is not a DNS-1035 label"),
        (("--namespace", "My_Team"), 1, "'My_Team' is not a DNS-1123 label"),
        (("--data-pvc", "Bad_PVC Name"), 1, "is not a DNS-1123 subdomain"),
        (("--toleration", "gpu:Never"), 2, "Invalid value for '--toleration'"),
        (("--node-selector", "pool"), 2, "is not KEY=VALUE"),
        (("--kuberay-version", "2.0"), 2, "use one of 1.1.1, 1.2.2, 1.3.2, 1.4.2, 1.5.2, 1.6.2, 1.7.0"),
        (("--output", "o\nextra_top_level_key: injected\n#"), 1, "contains the control character"),
        (("--active-deadline", "0"), 2, "Invalid value for '--active-deadline'"),
    ],
)
def test_cli_refuses(project, args, code, message):
    result = cli(project, *args)
    assert result.exit_code == code and message in result.output, result.output


def test_the_export_runs_the_images_pipeline_and_says_when_the_tree_moved_on(tmp_path):
    image = manifest([CPU_STAGE])
    labels = built(image, tmp_path)
    edited = manifest([CPU_STAGE, StageSpec("late", "stages.late", "Late")])
    exported = render(edited, tmp_path, KubeRayOptions(image=IMAGE), labels)
    entry = exported.document["spec"]["entrypoint"]
    assert "stale image: reg:5000/my_pipeline:1 runs its own pipeline (stage late added since)" in " ".join(
        exported.warnings
    )
    # What the cluster runs is decided by the image's pipeline, whatever the tree says now.
    assert entry == render(image, tmp_path, KubeRayOptions(image=IMAGE), labels).document["spec"]["entrypoint"]
    no_labels = render(edited, tmp_path, KubeRayOptions(image=IMAGE), None)
    assert any("pipeline spec was not read" in w for w in no_labels.warnings)


def test_gpu_shares_follow_the_workers_cards(tmp_path):
    on_80 = export(tmp_path, [GPU_STAGE], gpu_memory_gib=80.0).document["spec"]["entrypoint"]
    on_24 = export(tmp_path, [GPU_STAGE], gpu_memory_gib=24.0).document["spec"]["entrypoint"]
    assert "--stage-gpus embed=0.1" in on_80 and "--stage-gpus embed=0.3" in on_24
    unsized = export(tmp_path, [GPU_STAGE], gpu_memory_gib=None)
    assert "--stage-gpus" not in unsized.document["spec"]["entrypoint"]
    assert any("without --gpu-memory-gib" in w for w in unsized.warnings)


def test_stages_too_big_for_the_pods_are_sized_to_them(tmp_path):
    from curator_kit.core.project.manifest import ClippingSettings

    m = manifest()
    m.clipping = ClippingSettings(method="fixed-stride", encoder_cpus=6.0)
    exported = render(m, tmp_path, KubeRayOptions(image=IMAGE, cpus_per_worker="4"), built(m, tmp_path))
    assert "--stage-cpus ClipTranscodingStage=4" in exported.document["spec"]["entrypoint"]

"""`export kuberay` (pure): the RayJob's fields, the schema subset and its validator, the YAML text."""

import copy
import json

import pytest
from curator_kit.core.kuberay import KubeRayOptions, check, k8s_name, quantity, render
from curator_kit.core.kuberay_schema import RAY_JOB
from curator_kit.core.manifest import Manifest, ProjectInfo, RunDefaults, StageResources, StageSpec
from curator_kit.core.schemacheck import validate
from curator_kit.core.yamltext import dump, scalar
from curator_kit.errors import CuratorKitError

CPU_STAGE = StageSpec("probe", "stages.probe", "ProbeStage", resources=StageResources(cpus=1.0))
GPU_STAGE = StageSpec("embed", "stages.embed", "EmbedStage", resources=StageResources(cpus=1.0, gpu_memory_gb=8))
XENNA = {
    "RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES": "1",
    "RAY_MAX_LIMIT_FROM_API_SERVER": "40000",
    "RAY_MAX_LIMIT_FROM_DATA_SOURCE": "40000",
}


def manifest(stages=None, **run) -> Manifest:
    return Manifest(
        ProjectInfo("my_pipeline"), stages=[CPU_STAGE] if stages is None else stages, run=RunDefaults(**run)
    )


def job(tmp_path, stages=None, **options):
    document, header = render(manifest(stages), tmp_path, KubeRayOptions(image="reg:5000/my_pipeline:1", **options))
    return document, header


def pods(document):
    spec = document["spec"].get("rayClusterSpec", document["spec"])
    return [spec["headGroupSpec"]["template"], *(g["template"] for g in spec["workerGroupSpecs"])]


def test_rayjob_has_what_the_issue_asks(tmp_path):
    document, header = job(tmp_path, stages=[GPU_STAGE], data_pvc="videos")
    assert check(document) == []
    assert (document["apiVersion"], document["kind"], document["metadata"]["name"]) == (
        "ray.io/v1",
        "RayJob",
        "my-pipeline",
    )
    spec = document["spec"]
    assert spec["entrypoint"].startswith("python /workspace/pipeline.py --input /data/input --output /data/output")
    assert spec["shutdownAfterJobFinishes"] is True
    cluster = spec["rayClusterSpec"]
    assert cluster["headGroupSpec"]["rayStartParams"] == {"dashboard-host": "0.0.0.0", "num-cpus": "2"}
    [group] = cluster["workerGroupSpecs"]
    assert (group["replicas"], group["minReplicas"], group["maxReplicas"]) == (2, 2, 2)
    for pod in pods(document):
        [container] = pod["spec"]["containers"]
        assert container["image"] == "reg:5000/my_pipeline:1"
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["NVIDIA_DRIVER_CAPABILITIES"] == "compute,utility,video"
        assert env.items() >= XENNA.items()
        assert {"name": "dshm", "mountPath": "/dev/shm"} in container["volumeMounts"]
        assert {"name": "data", "mountPath": "/data"} in container["volumeMounts"]
        volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
        assert volumes["dshm"]["emptyDir"]["medium"] == "Memory"
        assert volumes["data"]["persistentVolumeClaim"] == {"claimName": "videos"}
        assert container["resources"]["limits"] == container["resources"]["requests"]
    worker = group["template"]["spec"]["containers"][0]
    assert worker["resources"]["limits"] == {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": 1}  # a stage needs one
    assert "nvidia.com/gpu" not in cluster["headGroupSpec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert group["template"]["spec"]["volumes"][0]["emptyDir"]["sizeLimit"] == f"{int(32 * 2**30 * 0.35) // 2**20}Mi"
    assert any("Xenna's variables" in line for line in header)


def test_cpu_pipeline_gets_no_gpus_and_a_streaming_entrypoint_where_it_fits(tmp_path):
    document, header = job(tmp_path)
    worker = document["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]
    assert "nvidia.com/gpu" not in worker["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert worker["groupName"] == "workers"
    assert "--execution-mode streaming --cpu-allocation-percentage 0.95" in document["spec"]["entrypoint"]
    small, _ = job(tmp_path, head_cpus="1", cpus_per_worker="1", workers=1)
    assert "--execution-mode batch --cpu-allocation-percentage 1" in small["spec"]["entrypoint"]
    assert any("must exist in every pod" in line for line in header)  # no --data-pvc


def test_raycluster_and_overrides(tmp_path):
    document, _ = job(tmp_path, kind="RayCluster", gpus_per_worker=2, namespace="Video_Team", input_path="s3://b/in")
    assert check(document) == []
    assert document["kind"] == "RayCluster" and "entrypoint" not in document["spec"]
    assert document["metadata"]["namespace"] == "video-team"
    limits = document["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == 2
    pipeline, _ = job(tmp_path, input_path="s3://b/in", output_path="s3://b/out", ignore_failures=True)
    assert "--input s3://b/in --output s3://b/out" in pipeline["spec"]["entrypoint"]
    assert pipeline["spec"]["entrypoint"].endswith("--ignore-failures")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"head_cpus": "500m"}, "at least 1 CPU"),
        ({"cpus_per_worker": "0"}, "at least 1 CPU"),
        ({"memory_per_worker": "lots"}, "not a Kubernetes quantity"),
        ({"workers": 0}, "at least one worker"),
        ({"kind": "Deployment"}, "not exported"),
    ],
)
def test_refused(tmp_path, options, message):
    with pytest.raises(CuratorKitError, match=message):
        job(tmp_path, **options)


@pytest.mark.parametrize(("text", "value"), [("2", 2), ("500m", 0.5), ("32Gi", 32 * 2**30), ("1.5G", 1.5e9)])
def test_quantity(text, value):
    assert quantity(text, "x") == value


def test_k8s_name():
    assert k8s_name("My_Pipeline") == "my-pipeline" and len(k8s_name("a" * 80)) == 63
    with pytest.raises(CuratorKitError):
        k8s_name("___")


# --- the validator, on mutations of a good document -------------------------------------------


def mutated(tmp_path, change):
    document, _ = job(tmp_path)
    document = copy.deepcopy(document)
    change(document)
    return check(document)


WORKERS = "spec.rayClusterSpec.workerGroupSpecs[0]"
CONTAINER = "spec.rayClusterSpec.headGroupSpec.template.spec.containers[0]"


def group(d):
    return d["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]


def head(d):
    return d["spec"]["rayClusterSpec"]["headGroupSpec"]


def container(d):
    return head(d)["template"]["spec"]["containers"][0]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            lambda d: d["spec"].update(shutdownAfterJobFinish=True),
            "spec.shutdownAfterJobFinish: unknown field (known here: activeDeadlineSeconds, backoffLimit,",
        ),
        (lambda d: group(d).update(replicas="2"), f"{WORKERS}.replicas: expected integer, got '2'"),
        (lambda d: group(d).pop("groupName"), f"{WORKERS}.groupName: required, missing"),
        (lambda d: group(d).update(replicas=2**31), f"{WORKERS}.replicas: 2147483648 does not fit int32"),
        (lambda d: group(d).update(replicas=True), f"{WORKERS}.replicas: expected integer, got True"),
        (lambda d: group(d).update(minReplicas=-1), f"{WORKERS}.minReplicas: -1 is below the minimum 0"),
        (
            lambda d: head(d)["rayStartParams"].update({"num-cpus": 2}),
            "spec.rayClusterSpec.headGroupSpec.rayStartParams.num-cpus: expected string, got 2",
        ),
        (
            lambda d: container(d).update(imagePullPolicy="Sometimes"),
            f"{CONTAINER}.imagePullPolicy: 'Sometimes' is not one of Always, Never, IfNotPresent",
        ),
        (
            lambda d: container(d)["resources"]["limits"].update(cpu=2.5),
            f"{CONTAINER}.resources.limits.cpu: expected integer or string, got 2.5",
        ),
        (
            lambda d: container(d)["resources"]["limits"].update(memory="8 GB"),
            f"{CONTAINER}.resources.limits.memory: '8 GB' does not match",
        ),
        (lambda d: container(d)["env"].append({"value": "x"}), f"{CONTAINER}.env[5].name: required, missing"),
        (lambda d: d.update(apiVersion="ray.io/v1alpha1"), "apiVersion: 'ray.io/v1alpha1' is not one of ray.io/v1"),
        (lambda d: d.pop("metadata"), "metadata: required, missing"),
    ],
)
def test_validator_finds_each_mistake(tmp_path, change, problem):
    problems = mutated(tmp_path, change)
    assert len(problems) == 1 and problems[0].startswith(problem), problems


def test_validator_basics():
    assert validate({"a": 1}, {"type": "object", "properties": {"a": {"type": "number"}}}) == []
    assert validate([1, "x"], {"type": "array", "items": {"type": "integer"}}) == [
        "(document)[1]: expected integer, got 'x'"
    ]
    assert validate({"k": "v"}, {"type": "object", "additionalProperties": True}) == []
    assert check({"kind": "Pod"}) == ["kind: 'Pod' is not one of RayJob, RayCluster"]
    assert RAY_JOB["properties"]["spec"]["properties"]["rayClusterSpec"]["required"] == ["headGroupSpec"]


# --- YAML text --------------------------------------------------------------------------------


def test_yaml_text_is_kubernetes_style(tmp_path):
    text = dump({"a": {"b": [{"name": "x", "value": "1"}, {"name": "z"}]}, "e": {}, "l": []}, ["top"])
    assert text == ('# top\na:\n  b:\n  - name: x\n    value: "1"\n  - name: z\ne: {}\nl: []\n')


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("plain", "plain"),
        ("img:tag", "img:tag"),
        ("a: b", '"a: b"'),
        ("true", '"true"'),
        ("No", '"No"'),
        ("1", '"1"'),
        ("8Gi", '"8Gi"'),
        ("", '""'),
        ("-x", '"-x"'),
        ("a #b", '"a #b"'),
        ("two\nlines", '"two\\nlines"'),
        ("python /w/p.py --input /d", "python /w/p.py --input /d"),
        (True, "true"),
        (2, "2"),
        (None, "null"),
    ],
)
def test_yaml_scalars(value, text):
    assert scalar(value) == text


def test_yaml_round_trips_through_a_real_parser(tmp_path):
    yaml = pytest.importorskip("yaml")  # PyYAML, where installed: not a dependency of curator-kit
    document, header = job(tmp_path, stages=[GPU_STAGE], data_pvc="videos")
    assert yaml.safe_load(dump(document, header)) == document


def test_yaml_of_json_data_is_json_equivalent(tmp_path):
    # Without a YAML parser: every quoted scalar is a JSON string, so it decodes to the value it came from.
    document, _ = job(tmp_path)
    text = dump(document)
    for line in text.splitlines():
        _, _, value = line.partition(": ")
        if value.startswith('"'):
            assert isinstance(json.loads(value), str)

"""`export kuberay`'s secure defaults, each with its explicit opt-out: Ray token auth on (a generated
Secret, or `--auth-secret`; `--no-auth` warns), no Ray Client port (`--client-port`), the input
read-only, model weights refused unless baked or on `--model-volume`; the token in no printed line."""

from __future__ import annotations

import json
import re
import stat

import pytest
import yaml
from click.testing import CliRunner
from curator_kit.core.constants import LABEL_BASE_VARIANT, LABEL_RAY_VERSION, LABEL_SPEC
from curator_kit.core.export.kuberay import (
    AUTH_TOKEN_KEY,
    CLIENT_PORT,
    KubeRayOptions,
    check,
    input_subpath,
    new_token,
    pod_templates,
    render,
)
from curator_kit.core.findings import Code, Severity
from curator_kit.core.pipeline.spec import resolve_spec
from curator_kit.core.project.manifest import Manifest, ModelSpec, ProjectInfo, StageResources, StageSpec
from curator_kit.errors import CuratorKitError
from pushedproject import pushed_project

STAGE = StageSpec("probe", "stages.probe", "ProbeStage", resources=StageResources(cpus=1.0))
IMAGE = "reg:5000/video:1"
LABELS = {LABEL_RAY_VERSION: "2.60.0", LABEL_BASE_VARIANT: "cpu"}
TOKEN = "f" * 64


def manifest(**fields) -> Manifest:
    return Manifest(ProjectInfo("video"), **{"stages": [STAGE], **fields})


def export(tmp_path, m: Manifest | None = None, labels=LABELS, token=lambda: TOKEN, **options):
    m = m or manifest()
    labels = {**labels, LABEL_SPEC: resolve_spec(m, tmp_path).to_json()} if labels is not None else None
    return render(m, tmp_path, KubeRayOptions(image=IMAGE, **options), labels, token=token)


def containers(document) -> list[dict]:
    return [c for _, pod in pod_templates(document) for c in pod["spec"]["containers"]]


def env_of(container) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def cluster(document) -> dict:
    return document["spec"].get("rayClusterSpec", document["spec"])


def refusal(tmp_path, **options) -> CuratorKitError:
    with pytest.raises(CuratorKitError) as caught:
        export(tmp_path, **options)
    return caught.value


# --- Ray token auth: on by default, with a Secret of its own ---------------------------------------------------


@pytest.mark.parametrize("kind", ["RayJob", "RayCluster"])
def test_token_auth_is_on_by_default_with_a_generated_secret(tmp_path, kind):
    exported = export(tmp_path, kind=kind, namespace="team-a")
    secret = exported.secret
    assert secret == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "video-ray-auth", "namespace": "team-a", "labels": {"curator-kit.project": "video"}},
        "type": "Opaque",
        "stringData": {AUTH_TOKEN_KEY: TOKEN},
    }
    assert AUTH_TOKEN_KEY == "auth_token"  # KubeRay's key (RAY_AUTH_TOKEN_SECRET_KEY): its operator reads it
    # Every Ray pod and the submitter take the token from it, by reference.
    found = containers(exported.document)
    assert len(found) == (3 if kind == "RayJob" else 2)
    for container in found:
        env = env_of(container)
        assert env["RAY_AUTH_MODE"] == "token"
        assert env["RAY_AUTH_TOKEN"] == {"secretKeyRef": {"name": "video-ray-auth", "key": "auth_token"}}
    # authOptions names it: the operator asks the head's job API (a RayJob's status) with the same token.
    assert cluster(exported.document)["authOptions"] == {"mode": "token", "secretName": "video-ray-auth"}
    assert check(exported.document) == []
    # The Secret comes first (kubectl apply creates it before the pods that read it), then the job.
    text = exported.text()
    assert list(yaml.safe_load_all(text)) == [secret, exported.document]
    assert text.count(TOKEN) == 1
    assert any(
        "a new token in Secret video-ray-auth" in line and "keep this file private" in line for line in exported.header
    )
    assert exported.warnings == []


def test_the_token_is_new_each_time_and_only_inside_the_secret(tmp_path):
    first, second = (export(tmp_path, token=new_token) for _ in range(2))
    tokens = [e.secret["stringData"][AUTH_TOKEN_KEY] for e in (first, second)]
    assert tokens[0] != tokens[1] and all(re.fullmatch(r"[0-9a-f]{64}", t) for t in tokens)  # 256 bits, hex
    for exported, token in zip((first, second), tokens, strict=True):
        assert token not in json.dumps(exported.document)  # the RayJob names the Secret, never the token
        assert token not in "\n".join(exported.header)
        assert all(token not in f.message + f.fix for f in exported.findings)
        assert token not in repr(exported)
    assert first.document == second.document  # the plan does not depend on the token


def test_an_existing_secret_is_named_not_generated(tmp_path):
    exported = export(tmp_path, auth_secret="team-ray-token")
    assert exported.secret is None
    assert cluster(exported.document)["authOptions"] == {"mode": "token", "secretName": "team-ray-token"}
    for container in containers(exported.document):
        ref = {"secretKeyRef": {"name": "team-ray-token", "key": "auth_token"}}
        assert env_of(container)["RAY_AUTH_TOKEN"] == ref
    assert "kind: Secret" not in exported.text()


def test_no_auth_is_explicit_and_said_twice(tmp_path):
    exported = export(tmp_path, auth=False)
    assert exported.secret is None and "authOptions" not in cluster(exported.document)
    for container in containers(exported.document):
        assert not {"RAY_AUTH_MODE", "RAY_AUTH_TOKEN"} & set(env_of(container))
    [finding] = [f for f in exported.findings if f.code is Code.RAY_NO_AUTH]
    assert finding.severity is Severity.WARN and finding.message in exported.warnings  # stderr
    assert any(line.startswith("WARNING: Ray token authentication is OFF (--no-auth)") for line in exported.header)
    assert exported.text().startswith("# ") and "# WARNING: Ray token authentication is OFF" in exported.text()
    assert check(exported.document) == []


def test_no_auth_and_an_auth_secret_contradict(tmp_path):
    error = refusal(tmp_path, auth=False, auth_secret="ray-token")
    assert "--no-auth and --auth-secret contradict" in error.message


def test_kuberay_1_5_lets_its_operator_make_the_token(tmp_path):
    """1.5's authOptions has no secretName: the operator makes the Secret and adds both variables itself,
    appending them without looking, so the export adds none of its own."""
    exported = export(tmp_path, kuberay_version="1.5")
    assert cluster(exported.document)["authOptions"] == {"mode": "token"}
    assert exported.secret is None
    assert all(not {"RAY_AUTH_MODE", "RAY_AUTH_TOKEN"} & set(env_of(c)) for c in containers(exported.document))
    assert check(exported.document, "1.5.2") == []
    assert any("operator makes the token" in line for line in exported.header)
    error = refusal(tmp_path, kuberay_version="1.5", auth_secret="ray-token")
    assert error.code == Code.RAY_AUTH_UNSUPPORTED.value and "1.6 or newer" in error.fix


@pytest.mark.parametrize("version", ["1.1.1", "1.2.2", "1.3.2", "1.4.2"])
def test_before_authoptions_a_rayjob_is_refused_and_a_raycluster_holds_the_token(tmp_path, version):
    error = refusal(tmp_path, kuberay_version=version)
    assert error.code == Code.RAY_AUTH_UNSUPPORTED.value
    assert "would never see the RayJob finish" in error.message and "--no-auth" in error.fix
    exported = export(tmp_path, kuberay_version=version, kind="RayCluster")
    assert "authOptions" not in exported.document["spec"] and exported.secret is not None
    assert all(env_of(c)["RAY_AUTH_MODE"] == "token" for c in containers(exported.document))
    assert check(exported.document, version) == []
    assert any("has no authOptions" in line for line in exported.header)
    opted_out = export(tmp_path, kuberay_version=version, auth=False)  # the explicit way out
    assert check(opted_out.document, version) == [] and Code.RAY_NO_AUTH in {f.code for f in opted_out.findings}


def test_a_ray_without_token_auth_is_refused(tmp_path):
    error = refusal(tmp_path, ray_version="2.50.0")
    assert error.code == Code.RAY_AUTH_UNSUPPORTED.value and "Ray 2.50.0 has no token authentication" in error.message
    assert export(tmp_path, ray_version="2.52.0").secret is not None
    assert export(tmp_path, ray_version="2.50.0", auth=False).secret is None


# --- Ray Client: not exposed unless asked -----------------------------------------------------------------


def head_ports(document) -> list[dict]:
    return cluster(document)["headGroupSpec"]["template"]["spec"]["containers"][0]["ports"]


def test_ray_client_port_is_not_exposed_by_default(tmp_path):
    exported = export(tmp_path)
    # Explicit ports: KubeRay's head Service takes them as they are (with none it would add Ray Client's).
    assert head_ports(exported.document) == [
        {"containerPort": 6379, "name": "gcs-server"},
        {"containerPort": 8265, "name": "dashboard"},
    ]
    assert str(CLIENT_PORT) not in exported.text()
    exposed = export(tmp_path, client_port=True)
    assert {"containerPort": CLIENT_PORT, "name": "client"} in head_ports(exposed.document)
    assert any("Ray Client on port 10001 (--client-port)" in line for line in exposed.header)
    assert check(exposed.document) == []


# --- the input read-only, the output writable ----------------------------------------------------------------


def test_the_input_is_mounted_read_only_in_every_ray_pod(tmp_path):
    exported = export(tmp_path, data_pvc="videos")
    ray_pods = [pod for path, pod in pod_templates(exported.document) if "submitter" not in path]
    assert len(ray_pods) == 2
    for pod in ray_pods:
        [container] = pod["spec"]["containers"]
        data = [m for m in container["volumeMounts"] if m["name"] == "data"]
        assert data == [
            {"name": "data", "mountPath": "/data"},  # the output is written here
            {"name": "data", "mountPath": "/data/input", "subPath": "input", "readOnly": True},
        ]
        claim = [v for v in pod["spec"]["volumes"] if v["name"] == "data"]
        assert claim == [{"name": "data", "persistentVolumeClaim": {"claimName": "videos"}}]
    assert check(exported.document) == []
    assert any("The input /data/input is mounted read-only" in line for line in exported.header)


@pytest.mark.parametrize(
    ("path", "folder"),
    [
        ("/data/input", "input"),
        ("/data/videos/raw/", "videos/raw"),
        ("/data/./in", "in"),
        ("/data", None),
        ("/database/in", None),
        ("/data/../etc", None),
        ("/mnt/videos", None),
        ("s3://bucket/in", None),
    ],
)
def test_input_subpath(path, folder):
    assert input_subpath(path) == folder


def test_an_input_outside_the_claim_gets_no_mount_of_its_own(tmp_path):
    exported = export(tmp_path, data_pvc="videos", input_path="s3://bucket/in")
    [container] = cluster(exported.document)["headGroupSpec"]["template"]["spec"]["containers"]
    assert [m for m in container["volumeMounts"] if m["name"] == "data"] == [{"name": "data", "mountPath": "/data"}]
    bare = export(tmp_path)  # no claim: nothing mounted; the header says what the pods need
    assert any("mount the input read-only" in line for line in bare.header)


# --- model weights: baked, on a named volume, or refused -----------------------------------------------------


def test_weights_neither_baked_nor_on_a_volume_are_refused(tmp_path):
    needs = manifest(
        models=[ModelSpec("clip", "models.clip", "Clip", hf_repo="org/clip")],
        stages=[StageSpec("embed", "stages.embed", "Embed", model="clip")],
    )
    error = refusal(tmp_path, m=needs)
    assert error.code == Code.WEIGHTS_MISSING.value and "--model-volume" in error.fix
    on_volume = export(tmp_path, m=needs, model_volume="weights")
    assert any("model weights clip must be in PersistentVolumeClaim weights" in line for line in on_volume.header)


# --- the command: the file is private, the token never printed -----------------------------------------------


@pytest.fixture
def project(tmp_path, monkeypatch):
    root = pushed_project(tmp_path)
    monkeypatch.setattr("curator_kit.ops.exportimage.local_image_labels", lambda image, say: dict(LABELS))
    return root


def cli(root, *args):
    from curator_kit.cli import main

    return CliRunner().invoke(main, ["export", "kuberay", "--project", str(root), *args])


def token_of(text: str) -> str:
    secret = next(d for d in yaml.safe_load_all(text) if d["kind"] == "Secret")
    return secret["stringData"][AUTH_TOKEN_KEY]


def test_cli_writes_the_token_into_a_private_file_and_nowhere_else(project, tmp_path):
    out = tmp_path / "job.yaml"
    out.write_text("old")
    out.chmod(0o644)  # replaced, not rewritten in place: the new file is 0600 from its first byte
    result = cli(project, "-o", str(out))
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    token = token_of(out.read_text())
    assert token not in result.output  # stdout and stderr
    assert result.stdout == ""
    assert "Secret demo-ray-auth with a new Ray token; mode 0600" in result.stderr


def test_cli_on_stdout_says_the_yaml_holds_a_token(project):
    result = cli(project)
    assert result.exit_code == 0, result.output
    token = token_of(result.stdout)
    assert token not in result.stderr
    assert "note: the YAML on stdout holds a new Ray token (Secret demo-ray-auth): keep it private" in result.stderr


def test_cli_opt_outs(project, tmp_path):
    out = tmp_path / "open.yaml"
    result = cli(project, "--no-auth", "--client-port", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "warning: Ray token authentication is off (--no-auth)" in result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o644  # nothing secret in it
    [document] = yaml.safe_load_all(out.read_text())
    assert {"containerPort": CLIENT_PORT, "name": "client"} in head_ports(document)
    named = cli(project, "--auth-secret", "team-token")
    assert named.exit_code == 0, named.output
    assert "kind: Secret" not in named.stdout and "holds a new Ray token" not in named.stderr
    assert "secretName: team-token" in named.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--auth-secret", "Team_Token"), "--auth-secret (a Secret name) 'Team_Token' is not a DNS-1123 subdomain"),
        (("--no-auth", "--auth-secret", "team-token"), "--no-auth and --auth-secret contradict each other"),
        (("--kuberay-version", "1.4"), "[ray-auth-unsupported]"),
    ],
)
def test_cli_refuses(project, tmp_path, args, message):
    out = tmp_path / "job.yaml"
    result = cli(project, *args, "-o", str(out))
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 1 and len(errors) == 1 and message in errors[0], result.output
    assert not out.exists()

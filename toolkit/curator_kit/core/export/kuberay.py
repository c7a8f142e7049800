"""`curator-kit export kuberay` as a plan: a KubeRay RayJob (or RayCluster) for the project's image (pure).

The cluster it describes is the one `cluster up` makes locally, on Kubernetes: a head and a worker
group from the same image, Xenna's Ray variables on every node, /dev/shm as a memory-backed
emptyDir, NVIDIA_DRIVER_CAPABILITIES=compute,utility,video for NVDEC/NVENC, the GPUs as
`nvidia.com/gpu` limits, and (for a RayJob) the pipeline as the entrypoint, which KubeRay's submitter
pod hands to the head. Data must be where every pod sees it: a PersistentVolumeClaim mounted at
/data in each pod (--data-pvc; the input read-only), or URLs the stages can read and write.

Secure by default: Ray's token authentication is on (a new token in a Secret written with the document,
or `--auth-secret NAME`; `--no-auth` turns it off, said as a warning and in the header), the head does
not expose the Ray Client port (`--client-port` does), and the input is mounted read-only.

Every pod runs as the images' non-root user and passes the Pod Security "restricted" profile
(`podsecurity`); the document is checked against the CRD of the chosen KubeRay release
(`kuberay_crds`), and fields that differ between releases (the deletion policy) follow that release.
Facts of the image (its Ray version, its base variant) come in as its labels: this module never
asks an engine.
"""

from __future__ import annotations

import copy
import math
import posixpath
import re
import secrets
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from curator_kit.core.checks import export_findings
from curator_kit.core.cluster.clusterplan import (
    DASHBOARD_PORT,
    MIN_NODE_CPUS,
    RAY_PORT,
    RAY_QUIET_ENV,
    XENNA_RAY_ENV,
)
from curator_kit.core.constants import (
    CURATOR_RAY_VERSIONS,
    DEFAULT_CURATOR_VERSION,
    DRIVER_CAPABILITIES,
    LABEL_PROJECT,
    LABEL_RAY_VERSION,
    MODEL_DIR_IN_IMAGE,
    NONROOT_GID,
    NONROOT_UID,
    RAY_TOKEN_BYTES,
)
from curator_kit.core.export.k8s import (
    Toleration,
    dns1035_from,
    dns1035_label,
    dns1123_label,
    dns1123_subdomain,
    label_value,
    quantity,
)
from curator_kit.core.export.kuberay_crds import (
    API_VERSION,
    DEFAULT_KUBERAY_VERSION,
    DELETION_POLICIES,
    KINDS,
    NAME_LIMITS,
    auth_option_fields,
    kuberay_version,
    spec_fields,
    validate,
)
from curator_kit.core.export.podsecurity import restricted_problems
from curator_kit.core.findings import Code, Finding, notes_of, raise_refusals, refuse, warn, warnings_of
from curator_kit.core.pipeline.placement import Nodes, PipelineOptions, Placement, place
from curator_kit.core.pipeline.spec import (
    PipelineSpec,
    gpu_export_warnings,
    pipeline_spec,
)
from curator_kit.core.run.runplan import default_shm_bytes
from curator_kit.errors import CuratorKitError

if TYPE_CHECKING:
    from pathlib import Path

    from curator_kit.core.project.manifest import Manifest

# spec.rayVersion when the image does not say (images built before the base recorded
# LABEL_RAY_VERSION): the Ray the default Curator release pins, which its base image installs.
FALLBACK_RAY_VERSION = CURATOR_RAY_VERSIONS[DEFAULT_CURATOR_VERSION]
DATA_MOUNT = "/data"
GPU_RESOURCE = "nvidia.com/gpu"
CLIENT_PORT = 10001  # Ray Client: exposed only with --client-port
# Ray token authentication. The Secret's key is KubeRay's (RAY_AUTH_TOKEN_SECRET_KEY): the operator reads
# it to authenticate its own requests to the head's job API (authOptions, KubeRay >= 1.6).
AUTH_TOKEN_KEY = "auth_token"
AUTH_SECRET_SUFFIX = "-ray-auth"  # a generated Secret is named after the RayJob or RayCluster
MIN_TOKEN_AUTH_RAY = (2, 52, 0)  # the first Ray with token authentication (KubeRay checks the same)
SUBMITTER_CPU = "1"
SUBMITTER_MEMORY = "1Gi"
INT32_MAX = 2**31 - 1

_RAY_VERSION = re.compile(r"\d+\.\d+\.\d+(?:[.+-]?[0-9A-Za-z]+)*")

# Pod Security "restricted": the pod runs as the images' non-root user; each container cannot gain
# privileges and holds no capabilities. KubeRay copies the Ray container's securityContext into the
# init container it injects, so that one complies too.
POD_SECURITY_CONTEXT: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": NONROOT_UID,
    "runAsGroup": NONROOT_GID,
    "fsGroup": NONROOT_GID,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY_CONTEXT: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
}


@dataclass(frozen=True)
class KubeRayOptions:
    image: str
    kind: str = "RayJob"
    name: str | None = None  # None: made from the project's name, saying so
    namespace: str | None = None
    workers: int = 2
    cpus_per_worker: str = "8"
    memory_per_worker: str = "32Gi"
    gpus_per_worker: int | None = None  # None: 1 when a stage or [clipping] needs a GPU, else 0
    head_cpus: str = "2"
    head_memory: str = "8Gi"
    input_path: str = f"{DATA_MOUNT}/input"
    output_path: str = f"{DATA_MOUNT}/output"
    data_pvc: str | None = None
    execution_mode: str | None = None
    ignore_failures: bool | None = None
    ray_version: str | None = None  # None: the image's LABEL_RAY_VERSION, else FALLBACK_RAY_VERSION
    ttl_seconds: int = 600
    kuberay_version: str = DEFAULT_KUBERAY_VERSION
    # Scheduling, on every pod (head, workers, submitter).
    node_selector: tuple[tuple[str, str], ...] = ()
    tolerations: tuple[Toleration, ...] = ()
    image_pull_secrets: tuple[str, ...] = ()
    priority_class: str | None = None
    active_deadline: int | None = None  # RayJob spec.activeDeadlineSeconds
    deletion_policy: str | None = None  # RayJob, KubeRay >= 1.3 (feature gate RayJobDeletionPolicy)
    # Ray token auth, on unless `auth` is False (--no-auth): RAY_AUTH_TOKEN from this existing Secret's key
    # auth_token, or (None) from a Secret with a new token, written into the export.
    auth_secret: str | None = None
    auth: bool = True
    client_port: bool = False  # expose Ray Client (10001) on the head: container port, hence Service port
    # A PersistentVolumeClaim holding the model weights the image does not bake, mounted read-only at
    # the model directory of every Ray pod; without one, an image that does not bake them is refused.
    model_volume: str | None = None
    # Memory of the workers' GPUs: sizes the share of memory-sized stages (the head has no GPU to ask).
    gpu_memory_gib: float | None = None


@dataclass(frozen=True)
class KubeRayExport:
    """The document, the comment lines above it, and what the user should hear about it."""

    document: dict[str, Any]
    header: list[str]
    findings: list[Finding] = field(default_factory=list)
    kuberay_version: str = DEFAULT_KUBERAY_VERSION
    # The Secret holding a new Ray token, written before the document (None: --auth-secret names one, the
    # operator makes it, or --no-auth). Kept out of repr(): it holds the token.
    secret: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def warnings(self) -> list[str]:
        """What the user hears on stderr (notes are written into the header instead)."""
        return [finding.message for finding in warnings_of(self.findings)]

    @property
    def documents(self) -> list[dict[str, Any]]:
        """What `kubectl apply -f` creates, in order: a generated Secret, then the RayJob or RayCluster."""
        return [self.secret, self.document] if self.secret is not None else [self.document]

    def text(self) -> str:
        return dump_all(self.documents, self.header)


@dataclass(frozen=True)
class RayAuth:
    """How the pods authenticate to Ray: not at all (`on` False), or with RAY_AUTH_TOKEN from `secret`'s key
    AUTH_TOKEN_KEY (None while on: KubeRay 1.5's operator makes the Secret and wires it in itself)."""

    on: bool
    secret: str | None = None
    generated: bool = False  # `secret` is written into the export with a new token
    auth_options: dict[str, str] | None = None  # rayClusterSpec.authOptions: what tells the operator (KubeRay >= 1.5)

    def env(self) -> list[dict[str, Any]]:
        """RAY_AUTH_MODE and RAY_AUTH_TOKEN for a Ray or submitter container ([] where the operator adds them:
        KubeRay 1.5 appends its own without looking, so ours would repeat them)."""
        if self.secret is None:
            return []
        token = {"secretKeyRef": {"name": self.secret, "key": AUTH_TOKEN_KEY}}
        return [{"name": "RAY_AUTH_MODE", "value": "token"}, {"name": "RAY_AUTH_TOKEN", "valueFrom": token}]


def _release(version: str) -> tuple[int, ...]:
    match = re.match(r"(\d+)\.(\d+)\.(\d+)", version)
    return tuple(int(part) for part in match.groups()) if match else (0, 0, 0)


def ray_auth(options: KubeRayOptions, version: str, name: str, ray_version: str) -> tuple[RayAuth, list[Finding]]:
    """Ray token authentication as this KubeRay release can carry it, or the finding that says why not.

    The operator itself asks the head's job API (a RayJob's status): Ray refuses it without the token, so
    the operator must know it. KubeRay >= 1.6 reads it from the Secret `authOptions.secretName` names;
    1.5's authOptions names none, so its operator makes the Secret and gives it to every pod; older
    releases cannot be told, which a RayCluster survives (the operator never asks its head) and a
    RayJob does not (it would never see the job finish)."""
    if not options.auth:
        off = (
            "Ray token authentication is off (--no-auth): whoever reaches the head's GCS (port 6379) or "
            "dashboard (8265, whose job API runs any command) controls the cluster"
        )
        return RayAuth(on=False), [warn(Code.RAY_NO_AUTH, off, "leave out --no-auth")]
    if _release(ray_version) < MIN_TOKEN_AUTH_RAY:
        oldest = ".".join(map(str, MIN_TOKEN_AUTH_RAY))
        return RayAuth(on=False), [
            refuse(
                Code.RAY_AUTH_UNSUPPORTED,
                f"Ray {ray_version} has no token authentication (Ray {oldest} and newer have it): "
                "the cluster would run open",
                f"use an image with Ray {oldest} or newer, or pass --no-auth to run it without authentication",
            )
        ]
    fields = auth_option_fields(version, options.kind)
    secret = options.auth_secret or f"{name}{AUTH_SECRET_SUFFIX}"
    generated = options.auth_secret is None
    if "secretName" in fields:
        return RayAuth(True, secret, generated, {"mode": "token", "secretName": secret}), []
    if "mode" in fields:
        if options.auth_secret is not None:
            return RayAuth(on=False), [
                refuse(
                    Code.RAY_AUTH_UNSUPPORTED,
                    f"KubeRay {version}'s authOptions cannot name a Secret: its operator makes its own token",
                    "pass --kuberay-version 1.6 or newer, or leave out --auth-secret (the operator makes the token)",
                )
            ]
        return RayAuth(True, auth_options={"mode": "token"}), []
    if options.kind == "RayJob":
        return RayAuth(on=False), [
            refuse(
                Code.RAY_AUTH_UNSUPPORTED,
                f"KubeRay {version} cannot give its operator the Ray token (authOptions came in 1.5): the head's "
                "job API would refuse the operator, which would never see the RayJob finish",
                "pass --kuberay-version 1.6 or newer, or --no-auth to run it without authentication",
            )
        ]
    return RayAuth(True, secret, generated), []


def new_token() -> str:
    """A new Ray token, as `cluster up` makes one (and Ray's own generator): 256 random bits in hex."""
    return secrets.token_hex(RAY_TOKEN_BYTES)


def _secret_document(name: str, options: KubeRayOptions, labels: dict[str, str], token: str) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if options.namespace:
        metadata["namespace"] = options.namespace
    metadata["labels"] = dict(labels)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": "Opaque",
        "stringData": {AUTH_TOKEN_KEY: token},
    }


def _env(manifest: Manifest, auth: RayAuth) -> list[dict[str, Any]]:
    env = {
        **XENNA_RAY_ENV,
        **RAY_QUIET_ENV,
        "NVIDIA_DRIVER_CAPABILITIES": DRIVER_CAPABILITIES,
        **{str(k): str(v) for k, v in manifest.run.env.items()},
    }
    return [*({"name": key, "value": value} for key, value in env.items()), *auth.env()]


def input_subpath(input_path: str) -> str | None:
    """The input's folder in the data claim (`input` for /data/input), or None where the input is not in it
    (a URL, a path elsewhere)."""
    if not input_path.startswith("/"):
        return None
    relative = posixpath.relpath(posixpath.normpath(input_path), DATA_MOUNT)
    if relative == "." or relative == ".." or relative.startswith("../"):
        return None
    return relative


def _data_mounts(options: KubeRayOptions) -> list[dict[str, Any]]:
    """The claim at /data, writable (the output is there), and the input's folder of it once more,
    read-only, over the input's path: no pod can change the input."""
    mounts: list[dict[str, Any]] = [{"name": "data", "mountPath": DATA_MOUNT}]
    folder = input_subpath(options.input_path)
    if folder is not None:
        mounts.append({"name": "data", "mountPath": f"{DATA_MOUNT}/{folder}", "subPath": folder, "readOnly": True})
    return mounts


def _container(name: str, image: str, env: list[dict[str, Any]], limits: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "env": env,
        "resources": {"limits": limits, "requests": dict(limits)},
        "securityContext": copy.deepcopy(CONTAINER_SECURITY_CONTEXT),
    }


def _ray_container(
    name: str, options: KubeRayOptions, manifest: Manifest, auth: RayAuth, cpus: str, memory: str, gpus: int
) -> dict[str, Any]:
    limits: dict[str, Any] = {"cpu": cpus, "memory": memory}
    if gpus:
        limits[GPU_RESOURCE] = gpus
    container = _container(name, options.image, _env(manifest, auth), limits)
    container["volumeMounts"] = [{"name": "dshm", "mountPath": "/dev/shm"}]
    if options.data_pvc:
        container["volumeMounts"] += _data_mounts(options)
    if options.model_volume:
        container["volumeMounts"].append({"name": "models", "mountPath": MODEL_DIR_IN_IMAGE, "readOnly": True})
    return container


def _pod_spec(containers: list[dict[str, Any]], options: KubeRayOptions) -> dict[str, Any]:
    spec: dict[str, Any] = {"securityContext": copy.deepcopy(POD_SECURITY_CONTEXT), "containers": containers}
    if options.node_selector:
        spec["nodeSelector"] = dict(options.node_selector)
    if options.tolerations:
        spec["tolerations"] = [t.as_dict() for t in options.tolerations]
    if options.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": name} for name in options.image_pull_secrets]
    if options.priority_class:
        spec["priorityClassName"] = options.priority_class
    return spec


def _ray_pod(container: dict[str, Any], options: KubeRayOptions, labels: dict[str, str], memory: str) -> dict:
    shm = default_shm_bytes(int(quantity(memory, "memory")))
    volumes: list[dict[str, Any]] = [
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": f"{shm // 2**20}Mi"}}
    ]
    if options.data_pvc:
        volumes.append({"name": "data", "persistentVolumeClaim": {"claimName": options.data_pvc}})
    if options.model_volume:
        claim = {"claimName": options.model_volume, "readOnly": True}
        volumes.append({"name": "models", "persistentVolumeClaim": claim})
    return {"metadata": {"labels": dict(labels)}, "spec": {**_pod_spec([container], options), "volumes": volumes}}


def _submitter_pod(options: KubeRayOptions, auth: RayAuth, labels: dict[str, str]) -> dict[str, Any]:
    """The pod that runs `ray job submit` (KubeRay fills in its command): ours, so that it is restricted,
    scheduled and pulled like the rest, and carries Xenna's variables and the auth token."""
    env = [{"name": k, "value": v} for k, v in {**XENNA_RAY_ENV, **RAY_QUIET_ENV}.items()] + auth.env()
    limits = {"cpu": SUBMITTER_CPU, "memory": SUBMITTER_MEMORY}
    container = _container("ray-job-submitter", options.image, env, limits)
    return {"metadata": {"labels": dict(labels)}, "spec": {**_pod_spec([container], options), "restartPolicy": "Never"}}


def placement(manifest: Manifest, spec: PipelineSpec, options: KubeRayOptions, gpus: int) -> Placement:
    """The stages placed on the head and the workers (`core.pipeline.placement`): KubeRay's entrypoint command."""
    head = math.floor(quantity(options.head_cpus, "--head-cpus"))
    worker = math.floor(quantity(options.cpus_per_worker, "--cpus-per-worker"))
    nodes = Nodes(
        cpus=(head, *([worker] * options.workers)),
        gpus=gpus > 0,
        gpu_memory_gib=options.gpu_memory_gib,
        gpu_option="--gpus-per-worker 1",
    )
    run = manifest.run
    pipeline_options = PipelineOptions(
        execution_mode=options.execution_mode or run.execution_mode,
        ignore_failures=run.ignore_failures if options.ignore_failures is None else options.ignore_failures,
        input_path=options.input_path,
        output_path=options.output_path,
    )
    return place(spec, nodes, pipeline_options)


def _name(options: KubeRayOptions, project: str, warnings: list[Finding]) -> str:
    limit = NAME_LIMITS[options.kind]
    if options.name is not None:
        return dns1035_label(options.name, f"--name (a {options.kind} name)", limit)
    name = dns1035_from(project, limit)
    if name is None:
        raise CuratorKitError(f"project name {project!r} makes no {options.kind} name", "pass --name NAME")
    if name != project:
        warnings.append(
            warn(
                Code.NAME_DERIVED,
                f"{options.kind} name {name!r} made from the project name {project!r} "
                f"(a DNS-1035 label of at most {limit} characters); pass --name to choose another",
            )
        )
    return name


def _check_values(options: KubeRayOptions) -> None:
    """The user's values, by Kubernetes' rules; refused with the rule, never rewritten."""
    if options.kind not in KINDS:
        raise CuratorKitError(f"kind {options.kind!r} is not exported", f"use one of {', '.join(KINDS)}")
    if options.workers < 1:
        raise CuratorKitError("a cluster needs at least one worker", "pass --workers 1 or more")
    if options.namespace is not None:
        dns1123_label(options.namespace, "--namespace")
    for value, what in (
        (options.data_pvc, "--data-pvc (a PersistentVolumeClaim name)"),
        (options.priority_class, "--priority-class"),
        (options.auth_secret, "--auth-secret (a Secret name)"),
        (options.model_volume, "--model-volume (a PersistentVolumeClaim name)"),
        *((secret, "--image-pull-secret (a Secret name)") for secret in options.image_pull_secrets),
    ):
        if value is not None:
            dns1123_subdomain(value, what)
    for path, what in ((options.input_path, "--input"), (options.output_path, "--output")):
        if not path or not path.isprintable():
            raise CuratorKitError(f"{what} {path!r} is empty or has a control character", "pass a path or URL")
    if options.active_deadline is not None:
        if options.kind != "RayJob":
            raise CuratorKitError("--active-deadline is a RayJob field", "drop it, or export --kind RayJob")
        if not 1 <= options.active_deadline <= INT32_MAX:
            raise CuratorKitError(
                f"--active-deadline {options.active_deadline} is out of range", f"seconds, 1 to {INT32_MAX}"
            )
    if options.deletion_policy is not None:
        if options.kind != "RayJob":
            raise CuratorKitError("--deletion-policy is a RayJob field", "drop it, or export --kind RayJob")
        if options.deletion_policy not in DELETION_POLICIES:
            raise CuratorKitError(
                f"--deletion-policy {options.deletion_policy!r} is not a KubeRay deletion policy",
                f"use one of {', '.join(DELETION_POLICIES)}",
            )
    if not 0 <= options.ttl_seconds <= INT32_MAX:
        raise CuratorKitError(f"TTL {options.ttl_seconds} is out of range", f"seconds, 0 to {INT32_MAX}")
    if not options.auth and options.auth_secret is not None:
        raise CuratorKitError(
            "--no-auth and --auth-secret contradict each other",
            "drop --no-auth to use the Secret, or drop --auth-secret",
        )


def _ray_version(options: KubeRayOptions, labels: Mapping[str, str] | None, warnings: list[Finding]) -> str:
    if options.ray_version is not None:
        version, source = options.ray_version, "--ray-version"
    elif labels is not None and LABEL_RAY_VERSION in labels:
        version, source = labels[LABEL_RAY_VERSION], f"{options.image}'s label {LABEL_RAY_VERSION}"
    else:
        why = "were not read" if labels is None else f"have no {LABEL_RAY_VERSION} (built before it was recorded?)"
        warnings.append(
            warn(
                Code.RAY_VERSION_ASSUMED,
                f"rayVersion {FALLBACK_RAY_VERSION} assumed: {options.image}'s labels {why}; "
                "pass --ray-version to say which Ray it has",
            )
        )
        return FALLBACK_RAY_VERSION
    if not _RAY_VERSION.fullmatch(version):
        raise CuratorKitError(f"{source} {version!r} is not a Ray version", f"e.g. {FALLBACK_RAY_VERSION}")
    return version


def _project_label(project: str) -> str:
    try:
        return label_value(project, "project name")
    except CuratorKitError:  # a label value is at most 63 and ends alphanumeric; the name need not
        return dns1035_from(project, 63) or "project"


def render(
    manifest: Manifest,
    project_dir: Path,
    options: KubeRayOptions,
    image_labels: Mapping[str, str] | None = None,
    token: Callable[[], str] = new_token,
) -> KubeRayExport:
    """The manifest as data (not yet checked: see `check`), its comment lines and warnings.

    `image_labels` are the labels of `options.image` (None: they could not be read); `token` makes the
    token of a generated Secret (called only when one is)."""
    _check_values(options)
    version = kuberay_version(options.kuberay_version)
    head_cpus = quantity(options.head_cpus, "--head-cpus")
    if head_cpus < MIN_NODE_CPUS or quantity(options.cpus_per_worker, "--cpus-per-worker") < MIN_NODE_CPUS:
        raise CuratorKitError(
            "every Ray node needs at least 1 CPU for Xenna",
            "Xenna sizes the cluster with a 1-CPU task on each node; a node with num-cpus 0 fails it",
        )
    warnings: list[Finding] = []
    project = manifest.project.name
    name = _name(options, project, warnings)
    labels = {LABEL_PROJECT: _project_label(project)}
    pipeline = pipeline_spec(manifest, project_dir, options.image, image_labels, warnings)
    gpus = options.gpus_per_worker if options.gpus_per_worker is not None else int(bool(pipeline.gpu_stages))
    placed = placement(manifest, pipeline, options, gpus)
    findings = export_findings(
        manifest,
        pipeline,
        image=options.image,
        input_path=options.input_path,
        output_path=options.output_path,
        image_labels=image_labels,
        weights_at=f"PersistentVolumeClaim {options.model_volume}" if options.model_volume else None,
        accept="pass --model-volume CLAIM, a PersistentVolumeClaim that holds them",
    )
    ray_version = _ray_version(options, image_labels, warnings)
    auth, auth_findings = ray_auth(options, version, name, ray_version)
    raise_refusals([*findings, *placed.findings, *auth_findings])  # nothing is written for a job that cannot work
    warnings += auth_findings
    warnings += gpu_export_warnings(pipeline, options.image, image_labels, gpus, options.gpu_memory_gib, "the head")
    head = _ray_container("ray-head", options, manifest, auth, options.head_cpus, options.head_memory, 0)
    # Explicit ports (KubeRay's head Service takes them as they are; with none it would add Ray Client's).
    head["ports"] = [
        {"containerPort": RAY_PORT, "name": "gcs-server"},
        {"containerPort": DASHBOARD_PORT, "name": "dashboard"},
    ]
    if options.client_port:
        head["ports"].append({"containerPort": CLIENT_PORT, "name": "client"})
    worker = _ray_container(
        "ray-worker", options, manifest, auth, options.cpus_per_worker, options.memory_per_worker, gpus
    )
    cluster_spec: dict[str, Any] = {
        "rayVersion": ray_version,
        "headGroupSpec": {
            # The head takes CPU work too (Xenna needs a CPU on every node: num-cpus 0 fails its node
            # probe), but no GPU work: GPU stages belong on the workers.
            "rayStartParams": {"dashboard-host": "0.0.0.0", "num-cpus": str(math.floor(head_cpus)), "num-gpus": "0"},
            "template": _ray_pod(head, options, labels, options.head_memory),
        },
        "workerGroupSpecs": [
            {
                "groupName": "gpu-workers" if gpus else "workers",
                "replicas": options.workers,
                "minReplicas": options.workers,
                "maxReplicas": options.workers,
                "rayStartParams": {},
                "template": _ray_pod(worker, options, labels, options.memory_per_worker),
            }
        ],
    }
    if auth.auth_options is not None:
        cluster_spec["authOptions"] = dict(auth.auth_options)
    metadata: dict[str, Any] = {"name": name}
    if options.namespace:
        metadata["namespace"] = options.namespace
    metadata["labels"] = dict(labels)
    header = [
        f"{options.kind} for curator-kit project {project}, written by `curator-kit export kuberay`.",
        f"Image {options.image}: the cluster's nodes must be able to pull it (`curator-kit push --registry R`"
        + (", pull secrets " + ", ".join(options.image_pull_secrets) if options.image_pull_secrets else "")
        + ").",
        f"Pods run as uid {NONROOT_UID} / gid {NONROOT_GID} (non-root) and pass the Pod Security 'restricted' "
        "profile: the image needs that user.",
        "Every Ray node starts with Xenna's variables: "
        + ", ".join(f"{k}={v}" for k, v in XENNA_RAY_ENV.items())
        + ".",
    ]
    if options.kind == "RayJob":
        spec = _rayjob_spec(placed, options, auth, version, cluster_spec, labels, header)
    else:
        spec = cluster_spec
    header += _auth_header(auth, version)
    if options.client_port:
        header.append(f"The head exposes Ray Client on port {CLIENT_PORT} (--client-port).")
    if not options.data_pvc:
        header.append(
            f"No --data-pvc: {options.input_path} and {options.output_path} must exist in every pod (or be URLs); "
            "mount the input read-only."
        )
    elif input_subpath(options.input_path) is not None:
        header.append(f"The input {options.input_path} is mounted read-only; the rest of --data-pvc is writable.")
    header += [f"Requires: {finding.message}." for finding in notes_of(findings)]
    header.append(f"Apply: kubectl apply -f FILE (KubeRay operator {version}; checked against its CRD).")
    document = {"apiVersion": API_VERSION, "kind": options.kind, "metadata": metadata, "spec": spec}
    secret = _secret_document(auth.secret, options, labels, token()) if auth.generated and auth.secret else None
    return KubeRayExport(document, header, [*warnings, *findings, *placed.findings], version, secret)


def _auth_header(auth: RayAuth, version: str) -> list[str]:
    """What the header says of Ray token auth (never the token)."""
    if not auth.on:
        return [
            "WARNING: Ray token authentication is OFF (--no-auth): whoever reaches the head's ports 6379 and "
            "8265 can run code in the cluster."
        ]
    told = "; authOptions names it, so the operator authenticates too" if auth.auth_options else ""
    if auth.secret is None:
        return [
            f"Ray token auth: KubeRay {version}'s operator makes the token (authOptions mode token) and gives it "
            "to every pod and the submitter."
        ]
    if auth.generated:
        lines = [
            f"Ray token auth: a new token in Secret {auth.secret} (key {AUTH_TOKEN_KEY}), the first document "
            f"below, for every pod and the submitter{told}. It is a credential: keep this file private. "
            "Each export makes a new token."
        ]
    else:
        lines = [
            f"Ray token auth: RAY_AUTH_TOKEN from Secret {auth.secret} (key {AUTH_TOKEN_KEY}) in every pod and the "
            f"submitter{told}. Create it first, e.g. kubectl create secret generic {auth.secret} "
            f"--from-literal={AUTH_TOKEN_KEY}=$(openssl rand -hex 32)"
        ]
    if auth.auth_options is None:
        lines.append(
            f"KubeRay {version} has no authOptions: its operator does not know the token (a RayCluster's needs none)."
        )
    return lines


def _rayjob_spec(
    placed: Placement,
    options: KubeRayOptions,
    auth: RayAuth,
    version: str,
    cluster_spec: dict[str, Any],
    labels: dict[str, str],
    header: list[str],
) -> dict[str, Any]:
    command = shlex.join(placed.command)
    keep = options.deletion_policy == "DeleteNone"  # KubeRay refuses DeleteNone with shutdownAfterJobFinishes
    spec: dict[str, Any] = {"entrypoint": command, "shutdownAfterJobFinishes": not keep}
    if not keep:
        spec["ttlSecondsAfterFinished"] = options.ttl_seconds
    if options.active_deadline is not None:
        spec["activeDeadlineSeconds"] = options.active_deadline
    fields = spec_fields(version, "RayJob")
    if options.deletion_policy is not None:
        policy = options.deletion_policy
        if "deletionStrategy" in fields:  # KubeRay >= 1.5: per outcome
            spec["deletionStrategy"] = {"onSuccess": {"policy": policy}, "onFailure": {"policy": policy}}
        elif "deletionPolicy" in fields:  # KubeRay 1.3, 1.4: one policy
            spec["deletionPolicy"] = policy
        else:
            raise CuratorKitError(
                f"KubeRay {version}'s RayJob has no deletion policy", "pass --kuberay-version 1.3 or newer"
            )
        header.append(f"Deletion policy {policy}: the operator needs its RayJobDeletionPolicy feature gate enabled.")
    if "submitterPodTemplate" in fields:
        spec["submitterPodTemplate"] = _submitter_pod(options, auth, labels)
    else:  # no pinned release lacks it today; a submitter pod of KubeRay's own would not be 'restricted'
        header.append(f"KubeRay {version} has no submitterPodTemplate: its default submitter pod is not restricted.")
    spec["rayClusterSpec"] = cluster_spec
    why = [f"{placed.execution.mode}: {placed.execution.reason}", *(f.message for f in notes_of(placed.findings))]
    header.append(f"Execution {'; '.join(why)}.")
    return spec


def pod_templates(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every pod template in the document, with its path: head, worker groups, submitter."""
    spec = document.get("spec") or {}
    cluster, at = (spec["rayClusterSpec"], "spec.rayClusterSpec") if "rayClusterSpec" in spec else (spec, "spec")
    found = [(f"{at}.headGroupSpec.template", cluster["headGroupSpec"]["template"])]
    for index, group in enumerate(cluster.get("workerGroupSpecs") or []):
        found.append((f"{at}.workerGroupSpecs[{index}].template", group["template"]))
    if "submitterPodTemplate" in spec:
        found.append(("spec.submitterPodTemplate", spec["submitterPodTemplate"]))
    return found


def check(document: dict[str, Any], version: str = DEFAULT_KUBERAY_VERSION) -> list[str]:
    """Problems of the document: against KubeRay `version`'s CRD, then the Pod Security 'restricted' rules."""
    problems = [str(p) for p in validate(document, version)]
    if problems:
        return problems
    return [p for path, template in pod_templates(document) for p in restricted_problems(template, path)]


def _comment(line: str) -> str:
    # A comment ends at a line break; YAML counts \r, NEL, LS and PS as breaks too. Anything not
    # printable is written escaped, so a header line stays one comment line whatever it quotes.
    text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in line)
    return f"# {text}".rstrip()


class _Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper, writing a repeated object out again instead of as an &anchor/*alias."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump(document: dict[str, Any], header: list[str] | None = None) -> str:
    """One YAML document (PyYAML's safe dumper, Kubernetes' block style); `header` lines as comments above."""
    return dump_all([document], header)


def dump_all(documents: list[dict[str, Any]], header: list[str] | None = None) -> str:
    """YAML documents separated by `---` (PyYAML's safe dumper, Kubernetes' block style); `header` lines as
    comments above the first."""
    body = yaml.dump_all(documents, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=2**16)
    return "".join(f"{_comment(line)}\n" for line in header or []) + body

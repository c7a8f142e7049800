"""`curator-kit export kuberay` as a plan: a KubeRay RayJob (or RayCluster) for the project's image (pure).

The cluster it describes is the one `cluster up` makes locally, on Kubernetes: a head and a worker
group from the same image, Xenna's Ray variables on every node, /dev/shm as a memory-backed
emptyDir, NVIDIA_DRIVER_CAPABILITIES=compute,utility,video for NVDEC/NVENC, the GPUs as
`nvidia.com/gpu` limits, and (for a RayJob) the pipeline as the entrypoint, which KubeRay submits to
the head. Data must be where every pod sees it: a PersistentVolumeClaim mounted at /data in each
pod (--data-pvc), or URLs the stages can read and write.
"""

from __future__ import annotations

import math
import re
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from curator_kit.core.clusterplan import (
    DASHBOARD_PORT,
    MIN_NODE_CPUS,
    RAY_PORT,
    RAY_QUIET_ENV,
    XENNA_RAY_ENV,
    cluster_execution,
    with_data_paths,
)
from curator_kit.core.devices import DRIVER_CAPABILITIES
from curator_kit.core.runplan import default_shm_bytes, pipeline_command, stage_cpus, writer_stages
from curator_kit.errors import CuratorKitError

if TYPE_CHECKING:
    from pathlib import Path

    from curator_kit.core.manifest import Manifest

API_VERSION = "ray.io/v1"
KINDS = ("RayJob", "RayCluster")
RAY_VERSION = "2.60.0"  # the Ray nemo-curator 1.4.0 resolved to in the curator base image
DATA_MOUNT = "/data"
GPU_RESOURCE = "nvidia.com/gpu"
CLIENT_PORT = 10001

_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$")
_FACTORS = {
    None: 1,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    **{f"{p}i": 1024 ** (i + 1) for i, p in enumerate("KMGTPE")},
}


def quantity(text: str, what: str) -> float:
    """A Kubernetes resource.Quantity ("2", "500m", "32Gi") as a number."""
    match = _QUANTITY.match(str(text).strip())
    if not match:
        raise CuratorKitError(f"{what} {text!r} is not a Kubernetes quantity", "e.g. 8, 500m, 32Gi")
    return float(match.group(1)) * _FACTORS[match.group(2)]


def k8s_name(name: str) -> str:
    """A DNS-1123 label from a project name: lowercase alphanumerics and '-', at most 63."""
    label = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63].rstrip("-")
    if not label:
        raise CuratorKitError(f"{name!r} makes no Kubernetes name", "pass --name")
    return label


@dataclass(frozen=True)
class KubeRayOptions:
    image: str
    kind: str = "RayJob"
    name: str | None = None
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
    ray_version: str = RAY_VERSION
    ttl_seconds: int = 600


def needs_gpu(manifest: Manifest) -> bool:
    r = [s.resources for s in manifest.stages]
    return any(x.gpus or x.gpu_memory_gb or x.nvdecs or x.nvencs for x in r) or manifest.clipping.uses_gpu


def _env(manifest: Manifest) -> list[dict[str, str]]:
    env = {
        **XENNA_RAY_ENV,
        **RAY_QUIET_ENV,
        "NVIDIA_DRIVER_CAPABILITIES": DRIVER_CAPABILITIES,
        **{str(k): str(v) for k, v in manifest.run.env.items()},
    }
    return [{"name": key, "value": value} for key, value in env.items()]


def _container(
    name: str, options: KubeRayOptions, manifest: Manifest, cpus: str, memory: str, gpus: int
) -> dict[str, Any]:
    limits: dict[str, Any] = {"cpu": cpus, "memory": memory}
    if gpus:
        limits[GPU_RESOURCE] = gpus
    mounts = [{"name": "dshm", "mountPath": "/dev/shm"}]
    if options.data_pvc:
        mounts.append({"name": "data", "mountPath": DATA_MOUNT})
    return {
        "name": name,
        "image": options.image,
        "imagePullPolicy": "IfNotPresent",
        "env": _env(manifest),
        "resources": {"limits": limits, "requests": dict(limits)},
        "volumeMounts": mounts,
    }


def _pod(container: dict[str, Any], options: KubeRayOptions, project: str, memory: str) -> dict[str, Any]:
    shm = default_shm_bytes(int(quantity(memory, "memory")))
    volumes: list[dict[str, Any]] = [
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": f"{shm // 2**20}Mi"}}
    ]
    if options.data_pvc:
        volumes.append({"name": "data", "persistentVolumeClaim": {"claimName": options.data_pvc}})
    return {
        "metadata": {"labels": {"curator-kit.project": k8s_name(project)}},
        "spec": {"containers": [container], "volumes": volumes},
    }


def entrypoint(manifest: Manifest, project_dir: Path, options: KubeRayOptions) -> tuple[str, str]:
    """The pipeline command KubeRay submits, and why its execution mode."""
    writers = writer_stages(manifest.stages, project_dir)
    cpus = stage_cpus(manifest.stages, writers, manifest.clipping)
    required = round(sum(c for _, c in cpus), 4)
    node_cpus = [math.floor(quantity(options.head_cpus, "--head-cpus"))]
    node_cpus += [math.floor(quantity(options.cpus_per_worker, "--cpus-per-worker"))] * options.workers
    execution = cluster_execution(options.execution_mode or manifest.run.execution_mode, required, node_cpus)
    ignore = manifest.run.ignore_failures if options.ignore_failures is None else options.ignore_failures
    command = with_data_paths(pipeline_command(execution, ignore), options.input_path, options.output_path)
    return shlex.join(command), f"{execution.mode}: {execution.reason}"


def render(manifest: Manifest, project_dir: Path, options: KubeRayOptions) -> tuple[dict[str, Any], list[str]]:
    """The manifest as data, and the comment lines that go above it."""
    if options.kind not in KINDS:
        raise CuratorKitError(f"kind {options.kind!r} is not exported", f"use one of {', '.join(KINDS)}")
    if options.workers < 1:
        raise CuratorKitError("a cluster needs at least one worker", "pass --workers 1 or more")
    head_cpus = quantity(options.head_cpus, "--head-cpus")
    if head_cpus < MIN_NODE_CPUS or quantity(options.cpus_per_worker, "--cpus-per-worker") < MIN_NODE_CPUS:
        raise CuratorKitError(
            "every Ray node needs at least 1 CPU for Xenna",
            "Xenna sizes the cluster with a 1-CPU task on each node; a node with num-cpus 0 fails it",
        )
    project = manifest.project.name
    gpus = options.gpus_per_worker if options.gpus_per_worker is not None else int(needs_gpu(manifest))
    head = _container("ray-head", options, manifest, options.head_cpus, options.head_memory, 0)
    head["ports"] = [
        {"containerPort": RAY_PORT, "name": "gcs-server"},
        {"containerPort": DASHBOARD_PORT, "name": "dashboard"},
        {"containerPort": CLIENT_PORT, "name": "client"},
    ]
    worker = _container("ray-worker", options, manifest, options.cpus_per_worker, options.memory_per_worker, gpus)
    cluster_spec = {
        "rayVersion": options.ray_version,
        "headGroupSpec": {
            # The head takes work too: Xenna needs a CPU on every node (num-cpus 0 fails its node probe).
            "rayStartParams": {"dashboard-host": "0.0.0.0", "num-cpus": str(math.floor(head_cpus))},
            "template": _pod(head, options, project, options.head_memory),
        },
        "workerGroupSpecs": [
            {
                "groupName": "gpu-workers" if gpus else "workers",
                "replicas": options.workers,
                "minReplicas": options.workers,
                "maxReplicas": options.workers,
                "rayStartParams": {},
                "template": _pod(worker, options, project, options.memory_per_worker),
            }
        ],
    }
    metadata: dict[str, Any] = {
        "name": k8s_name(options.name or project),
        "labels": {"curator-kit.project": k8s_name(project)},
    }
    if options.namespace:
        metadata["namespace"] = k8s_name(options.namespace)
    header = [
        f"{options.kind} for curator-kit project {project}, written by `curator-kit export kuberay`.",
        f"Image {options.image}: the cluster's nodes must be able to pull it (`curator-kit push --registry R`).",
        "Every Ray node starts with Xenna's variables: "
        + ", ".join(f"{k}={v}" for k, v in XENNA_RAY_ENV.items())
        + ".",
    ]
    if options.kind == "RayJob":
        command, why = entrypoint(manifest, project_dir, options)
        spec: dict[str, Any] = {
            "entrypoint": command,
            "shutdownAfterJobFinishes": True,
            "ttlSecondsAfterFinished": options.ttl_seconds,
            "rayClusterSpec": cluster_spec,
        }
        header.append(f"Execution {why}.")
    else:
        spec = cluster_spec
    if not options.data_pvc:
        header.append(
            f"No --data-pvc: {options.input_path} and {options.output_path} must exist in every pod (or be URLs)."
        )
    header.append("Apply: kubectl apply -f FILE (KubeRay operator >= 1.1 installed).")
    return {"apiVersion": API_VERSION, "kind": options.kind, "metadata": metadata, "spec": spec}, header


def check(document: dict[str, Any]) -> list[str]:
    """Problems of the document against the checked-in subset of KubeRay's CRD schema."""
    from curator_kit.core.kuberay_schema import SCHEMAS
    from curator_kit.core.schemacheck import validate

    schema = SCHEMAS.get(str(document.get("kind")))
    if schema is None:
        return [f"kind: {document.get('kind')!r} is not one of {', '.join(SCHEMAS)}"]
    return validate(document, schema)

"""The part of KubeRay's CRD schemas (ray.io/v1 RayJob and RayCluster, openAPIV3Schema) that
`curator-kit export kuberay` writes, as data, checked by `schemacheck`.

Written from the CRDs' field names and types (KubeRay 1.x: ray-operator/apis/ray/v1, and the
core/v1 PodTemplateSpec the CRDs embed), not downloaded. Objects are closed: a field not listed here
is an error, because the API server prunes (drops silently) fields a structural schema does not
know, so a misspelt `shutdownAfterJobFinish` would simply vanish. Required fields are the union of
what the 1.x versions required (older CRDs required rayStartParams, minReplicas and maxReplicas of a
worker group), so a manifest that passes here is accepted by each of them.
"""

from __future__ import annotations

from typing import Any


def obj(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


def string(*enum: str) -> dict[str, Any]:
    return {"type": "string", "enum": list(enum)} if enum else {"type": "string"}


def int32(minimum: int | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer", "format": "int32"}
    if minimum is not None:
        schema["minimum"] = minimum
    return schema


def array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def string_map() -> dict[str, Any]:
    return {"type": "object", "additionalProperties": {"type": "string"}}


BOOLEAN: dict[str, Any] = {"type": "boolean"}
NUMBER: dict[str, Any] = {"type": "number"}
# resource.Quantity: "2", "500m", "32Gi" or a bare number
QUANTITY: dict[str, Any] = {
    "x-kubernetes-int-or-string": True,
    "pattern": r"^[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$",
}

OBJECT_META = obj({"name": string(), "namespace": string(), "labels": string_map(), "annotations": string_map()})

ENV_VAR = obj({"name": string(), "value": string()}, required=("name",))
CONTAINER_PORT = obj(
    {"containerPort": int32(1), "name": string(), "protocol": string("TCP", "UDP", "SCTP")}, ("containerPort",)
)
VOLUME_MOUNT = obj({"name": string(), "mountPath": string(), "readOnly": BOOLEAN}, required=("name", "mountPath"))
RESOURCES = obj(
    {
        "limits": {"type": "object", "additionalProperties": QUANTITY},
        "requests": {"type": "object", "additionalProperties": QUANTITY},
    }
)
CONTAINER = obj(
    {
        "name": string(),
        "image": string(),
        "imagePullPolicy": string("Always", "Never", "IfNotPresent"),
        "command": array(string()),
        "args": array(string()),
        "workingDir": string(),
        "env": array(ENV_VAR),
        "ports": array(CONTAINER_PORT),
        "resources": RESOURCES,
        "volumeMounts": array(VOLUME_MOUNT),
    },
    required=("name",),
)
VOLUME = obj(
    {
        "name": string(),
        "emptyDir": obj({"medium": string(), "sizeLimit": QUANTITY}),
        "persistentVolumeClaim": obj({"claimName": string(), "readOnly": BOOLEAN}, required=("claimName",)),
    },
    required=("name",),
)
POD_TEMPLATE = obj(
    {
        "metadata": obj({"labels": string_map(), "annotations": string_map()}),
        "spec": obj(
            {
                "containers": array(CONTAINER),
                "volumes": array(VOLUME),
                "restartPolicy": string("Always", "OnFailure", "Never"),
                "serviceAccountName": string(),
                "nodeSelector": string_map(),
            },
            required=("containers",),
        ),
    }
)
HEAD_GROUP = obj(
    {
        "rayStartParams": string_map(),
        "serviceType": string("ClusterIP", "NodePort", "LoadBalancer"),
        "enableIngress": BOOLEAN,
        "template": POD_TEMPLATE,
    },
    required=("rayStartParams", "template"),
)
WORKER_GROUP = obj(
    {
        "groupName": string(),
        "replicas": int32(0),
        "minReplicas": int32(0),
        "maxReplicas": int32(0),
        "rayStartParams": string_map(),
        "template": POD_TEMPLATE,
    },
    required=("groupName", "minReplicas", "maxReplicas", "rayStartParams", "template"),
)
RAY_CLUSTER_SPEC = obj(
    {
        "rayVersion": string(),
        "enableInTreeAutoscaling": BOOLEAN,
        "headGroupSpec": HEAD_GROUP,
        "workerGroupSpecs": array(WORKER_GROUP),
    },
    required=("headGroupSpec",),
)
RAY_JOB_SPEC = obj(
    {
        "entrypoint": string(),
        "runtimeEnvYAML": string(),
        "jobId": string(),
        "submissionMode": string("K8sJobMode", "HTTPMode", "InteractiveMode", "SidecarMode"),
        "entrypointNumCpus": NUMBER,
        "entrypointNumGpus": NUMBER,
        "entrypointResources": string(),
        "shutdownAfterJobFinishes": BOOLEAN,
        "ttlSecondsAfterFinished": int32(0),
        "activeDeadlineSeconds": int32(1),
        "backoffLimit": int32(0),
        "suspend": BOOLEAN,
        "rayClusterSpec": RAY_CLUSTER_SPEC,
        "clusterSelector": string_map(),
        "metadata": string_map(),
    }
)


def resource(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return obj(
        {"apiVersion": string("ray.io/v1"), "kind": string(kind), "metadata": OBJECT_META, "spec": spec},
        required=("apiVersion", "kind", "metadata", "spec"),
    )


RAY_JOB = resource("RayJob", RAY_JOB_SPEC)
RAY_CLUSTER = resource("RayCluster", RAY_CLUSTER_SPEC)
SCHEMAS: dict[str, dict[str, Any]] = {"RayJob": RAY_JOB, "RayCluster": RAY_CLUSTER}

"""KubeRay documents as the containers Kubernetes would run, for the local Docker engine (pure: no engine here).

Two steps, each from its source:

1. What KubeRay's operator makes of a pod template (ray-operator v1.7.0: controllers/ray/common/pod.go
   `BuildPod`, `DefaultHeadPodTemplate`, `DefaultWorkerPodTemplate`, `setMissingRayStartParams`,
   `generateRayStartCommand`, `convertParamMap`, `setContainerEnvVars`, `SetContainerTokenAuthEnvVars`;
   common/job.go `BuildJobSubmitCommand`; rayjob_controller.go `configureSubmitterContainer`): the Ray
   container's command becomes `/bin/bash -c -- "ulimit -n ...; ray start ..."` built from
   rayStartParams and the limits, the environment gains RAY_ADDRESS and the rest, a worker gets the
   `wait-gcs-ready` init container, the submitter runs `ray job submit` against the head's Service.
2. What the kubelet and the container runtime make of a pod (`docker_kwargs`): the image and command,
   the environment with `secretKeyRef` and `fieldRef` resolved, the securityContext as
   `--user UID:GID`, `--group-add FSGROUP`, `--security-opt no-new-privileges` and `--cap-drop ALL`
   (Docker's default seccomp profile is RuntimeDefault), limits as `--cpus` and `--memory`, a
   memory-backed emptyDir as a tmpfs of its sizeLimit, a PersistentVolumeClaim as a bind mount of the
   host directory standing in for it (subPath and readOnly kept).

What neither step reproduces is left out on purpose, and `docker_kwargs` refuses a template that needs
it rather than run something else: other volume types, seccomp `Localhost`, privileged containers.
Services are network aliases of the head's container; probes are run by the test, not the engine.
"""

from __future__ import annotations

import base64
import copy
import math
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from curator_kit.core.export.k8s import quantity

GCS_PORT = "6379"  # GetHeadPort: rayStartParams `port`, else DefaultGcsServerPort
DASHBOARD_PORT = 8265
METRICS_PORT = "8080"  # DefaultMetricsPort
AGENT_PORT = "52365"  # DefaultDashboardAgentListenPort: the kubelet's probe asks it (Ray >= 2.53: GET /api/healthz)
HEAD_GROUP = "headgroup"  # RayNodeHeadGroupLabelValue
BASH = ["/bin/bash", "-c", "--"]  # utils.GetContainerCommand([]) without ENABLE_LOGIN_SHELL
ULIMIT = "ulimit -n ${RAY_START_ULIMIT_OPEN_FILES:-65536}"
BOOLEAN_VALUED = ("log-color", "include-dashboard", "include-log-monitor")  # convertParamMap's special options
AUTH_TOKEN_KEY = "auth_token"  # RAY_AUTH_TOKEN_SECRET_KEY


class NotTranslatable(Exception):
    """The template asks for something this stand-in does not reproduce (it refuses instead of guessing)."""


@dataclass(frozen=True)
class Cluster:
    """The names KubeRay gives a RayCluster (a RayJob's gets the job's name and 5 random characters)."""

    name: str
    namespace: str = "default"

    @property
    def head_service(self) -> str:
        return f"{self.name}-head-svc"  # GenerateHeadServiceName

    @property
    def fqdn(self) -> str:
        return f"{self.head_service}.{self.namespace}.svc.cluster.local"  # GenerateFQDNServiceName

    @property
    def dashboard_url(self) -> str:
        return f"http://{self.fqdn}:{DASHBOARD_PORT}"  # a RayJob's Status.DashboardURL, as the submitter uses it


@dataclass(frozen=True)
class Pod:
    """A pod as KubeRay creates it: its name, labels and spec (a template's, with KubeRay's changes)."""

    name: str
    labels: dict[str, str]
    spec: dict[str, Any]
    namespace: str = "default"


@dataclass(frozen=True)
class StandIns:
    """What stands in for the cluster's objects: a host directory per PersistentVolumeClaim and each
    Secret's data (the YAML's own Secret documents: `secrets_of`)."""

    claims: Mapping[str, str]
    secrets: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


# --- step 1: KubeRay's operator --------------------------------------------------------------------------------


def convert_param_map(params: Mapping[str, str]) -> str:
    """rayStartParams as `ray start` flags: sorted, `true` a bare flag, `false` dropped, others --key=value."""
    flags = ""
    for key in sorted(params):
        value = params[key]
        if value.lower() in ("true", "false") and key not in BOOLEAN_VALUED:
            flags += f" --{key} " if value.lower() == "true" else ""
        else:
            flags += f" --{key}={value} "
    return flags


def _whole(text: str, what: str) -> int:
    return math.ceil(quantity(text, what))  # resource.Quantity.Value(): rounded up to a whole number


def ray_start_command(node_type: str, ray_start_params: Mapping[str, str], limits: Mapping[str, Any], fqdn: str) -> str:
    """`ray start` as the operator writes it (setMissingRayStartParams, then generateRayStartCommand)."""
    params = dict(ray_start_params)
    if node_type == "worker":
        params.setdefault("address", f"{fqdn}:{GCS_PORT}")
    else:
        params.setdefault("dashboard-host", "0.0.0.0")
    params.setdefault("metrics-export-port", METRICS_PORT)
    params["block"] = "true"
    params.setdefault("dashboard-agent-listen-port", AGENT_PORT)
    if "num-cpus" not in params and "cpu" in limits:
        params["num-cpus"] = str(_whole(str(limits["cpu"]), "cpu"))
    if "memory" not in params and "memory" in limits:
        params["memory"] = str(_whole(str(limits["memory"]), "memory"))
    gpus = limits.get("nvidia.com/gpu")
    if "num-gpus" not in params and gpus:
        params["num-gpus"] = str(_whole(str(gpus), "nvidia.com/gpu"))
    head = "ray start --head" if node_type == "head" else "ray start"
    return f"{head} {convert_param_map(params)}"


def _has(env: list[dict[str, Any]], name: str) -> bool:
    return any(item["name"] == name for item in env)


def _token_env(cluster_spec: Mapping[str, Any], cluster: Cluster, env: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """SetContainerTokenAuthEnvVars (KubeRay >= 1.6): with authOptions mode token, RAY_AUTH_MODE and
    RAY_AUTH_TOKEN from its Secret, each only where the template does not set it already."""
    options = cluster_spec.get("authOptions") or {}
    if options.get("mode") != "token":
        return []
    added: list[dict[str, Any]] = []
    if not _has(env, "RAY_AUTH_MODE"):
        added.append({"name": "RAY_AUTH_MODE", "value": "token"})
    if not _has(env, "RAY_AUTH_TOKEN"):
        secret = options.get("secretName") or cluster.name
        added.append({"name": "RAY_AUTH_TOKEN", "valueFrom": {"secretKeyRef": {"name": secret, "key": AUTH_TOKEN_KEY}}})
    return added


def _labels(template: Mapping[str, Any], cluster: Cluster, node_type: str, group: str) -> dict[str, str]:
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    labels.update(
        {
            "ray.io/is-ray-node": "yes",
            "ray.io/cluster": cluster.name,
            "ray.io/node-type": node_type,
            "ray.io/group": group,
            "ray.io/identifier": f"{cluster.name}-{node_type}",
            "app.kubernetes.io/name": "kuberay",
            "app.kubernetes.io/created-by": "kuberay-operator",
        }
    )
    return labels


def ray_pod(
    cluster_spec: Mapping[str, Any],
    cluster: Cluster,
    node_type: str,
    group_index: int = 0,
    replica: int = 0,
    crd: str = "RayJob",
) -> Pod:
    """The head's pod, or worker `replica` of worker group `group_index`, as the operator builds it for a
    RayCluster made by `crd` (a RayJob, or the RayCluster itself)."""
    if node_type == "head":
        group, spec = HEAD_GROUP, cluster_spec["headGroupSpec"]
        name = f"{cluster.name}-head"
    else:
        spec = cluster_spec["workerGroupSpecs"][group_index]
        group = spec["groupName"]
        name = f"{cluster.name}-{group}-worker-{replica}"
    template = spec["template"]
    pod_spec = _copy(template["spec"])
    ray = pod_spec["containers"][0]  # utils.RayContainerIndex
    limits = (ray.get("resources") or {}).get("limits") or {}
    start = ray_start_command(node_type, spec.get("rayStartParams") or {}, limits, cluster.fqdn)
    if ray.get("command") or ray.get("args"):
        raise NotTranslatable(f"{name}: a Ray container with a command of its own is not what the export writes")
    ray["command"] = list(BASH)
    ray["args"] = [f"{ULIMIT}; {start}"]
    env = list(ray.get("env") or [])
    if node_type == "worker":
        # The init container the operator injects copies the Ray container's environment and mounts first.
        init = {
            "name": "wait-gcs-ready",
            "image": ray["image"],
            "command": list(BASH),
            "args": [wait_gcs_ready(cluster.fqdn)],
            "securityContext": _copy(ray.get("securityContext") or {}),
            "env": [*_copy(env), *_token_env(cluster_spec, cluster, env), *_ip_env(cluster.fqdn)],
            "volumeMounts": _copy(ray.get("volumeMounts") or []),
            "resources": {"limits": {"cpu": "200m", "memory": "256Mi"}},
        }
        pod_spec["initContainers"] = [*pod_spec.get("initContainers", []), init]
    env += _token_env(cluster_spec, cluster, env)
    env += _kuberay_env(node_type, cluster, start, env, crd)
    ray["env"] = env
    return Pod(name, _labels(template, cluster, node_type, group), pod_spec, cluster.namespace)


def _ip_env(fqdn: str) -> list[dict[str, Any]]:
    return [{"name": "FQ_RAY_IP", "value": fqdn}, {"name": "RAY_IP", "value": fqdn.split(".", 1)[0]}]


def _kuberay_env(
    node_type: str, cluster: Cluster, start: str, env: list[dict[str, Any]], crd: str
) -> list[dict[str, Any]]:
    """setContainerEnvVars: what every Ray container gets, in the operator's order."""
    added = _ip_env(cluster.fqdn) if node_type == "worker" else []
    added += [
        {"name": "RAY_CLUSTER_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['ray.io/cluster']"}}},
        {"name": "RAY_CLUSTER_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "RAY_CLOUD_INSTANCE_ID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "RAY_NODE_TYPE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['ray.io/group']"}}},
        {"name": "KUBERAY_GEN_RAY_START_CMD", "value": start},
    ]
    if not _has(env, "RAY_PORT"):
        added.append({"name": "RAY_PORT", "value": GCS_PORT})
    if not _has(env, "RAY_ADDRESS"):
        host = "127.0.0.1" if node_type == "head" else cluster.fqdn
        added.append({"name": "RAY_ADDRESS", "value": f"{host}:{GCS_PORT}"})
    if not _has(env, "RAY_USAGE_STATS_KUBERAY_IN_USE"):
        added.append({"name": "RAY_USAGE_STATS_KUBERAY_IN_USE", "value": "1"})
    if node_type == "head":
        added.append({"name": "RAY_USAGE_STATS_EXTRA_TAGS", "value": f"kuberay_version=v1.7.0;kuberay_crd={crd}"})
    if not _has(env, "RAY_DASHBOARD_ENABLE_K8S_DISK_USAGE"):
        added.append({"name": "RAY_DASHBOARD_ENABLE_K8S_DISK_USAGE", "value": "1"})
    return added


def wait_gcs_ready(fqdn: str) -> str:
    """The init container's script (DefaultWorkerPodTemplate), the health check of the head's GCS."""
    address = f"{fqdn}:{GCS_PORT}"
    return f"""
SECONDS=0
while true; do
  if (( SECONDS <= 120 )); then
    if ray health-check --address {address} > /dev/null 2>&1; then
      echo "GCS is ready."
      break
    fi
    echo "$SECONDS seconds elapsed: Waiting for GCS to be ready."
  else
    if ray health-check --address {address}; then
      echo "GCS is ready. Any error messages above can be safely ignored."
      break
    fi
    echo "$SECONDS seconds elapsed: Still waiting for GCS to be ready."
  fi
  sleep 5
done
"""


def _go_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'  # strconv.Quote, for plain text


def job_submit_command(rayjob_spec: Mapping[str, Any], dashboard_url: str, job_id: str) -> str:
    """BuildJobSubmitCommand in K8sJobMode, joined as configureSubmitterContainer joins it."""
    health = (
        'python -c "import urllib.request; '
        f"r=urllib.request.urlopen('{dashboard_url}/api/gcs_healthz', timeout=10); "
        "exit(0 if b'success' in r.read() else 1)\""
    )
    waiting = _go_quote(f"Waiting for Ray Dashboard GCS to become healthy at {dashboard_url} ...")
    words = ["until", health, ">/dev/null", "2>&1", ";", "do", "echo", waiting, ";", "sleep", "2", ";", "done", ";"]
    words += ["if", "!", "ray", "job", "status", "--address", dashboard_url, job_id, ">/dev/null", "2>&1", ";", "then"]
    words += ["ray", "job", "submit", "--address", dashboard_url, "--no-wait", "--submission-id", job_id]
    words += ["--", rayjob_spec["entrypoint"].strip(), ";", "fi", ";"]
    words += ["ray", "job", "logs", "--address", dashboard_url, "--follow", job_id]
    return " ".join(words)


def submitter_pod(rayjob: Mapping[str, Any], cluster: Cluster, job_id: str) -> Pod:
    """The submitter Job's pod: the template's container with KubeRay's command (bash -e) and variables."""
    spec = rayjob["spec"]
    template = spec["submitterPodTemplate"]
    pod_spec = _copy(template["spec"])
    container = pod_spec["containers"][0]
    if not container.get("command"):
        container["command"] = ["/bin/bash", "-ce", "--"]
        container["args"] = [job_submit_command(spec, cluster.dashboard_url, job_id)]
    env = list(container.get("env") or [])
    env += [
        {"name": "PYTHONUNBUFFERED", "value": "1"},
        {"name": "RAY_DASHBOARD_ADDRESS", "value": cluster.dashboard_url.removeprefix("http://")},
        {"name": "RAY_JOB_SUBMISSION_ID", "value": job_id},
    ]
    env += _token_env(spec["rayClusterSpec"], cluster, env)
    container["env"] = env
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    labels |= {
        "ray.io/originated-from-cr-name": rayjob["metadata"]["name"],
        "app.kubernetes.io/created-by": "kuberay-operator",
    }
    return Pod(f"{rayjob['metadata']['name']}-submitter", labels, pod_spec, cluster.namespace)


# --- step 2: the kubelet and the runtime ---------------------------------------------------------------------


def secrets_of(documents: list[Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """The Secret documents' data by name (stringData as written; data would be base64)."""
    found: dict[str, dict[str, str]] = {}
    for document in documents:
        if document.get("kind") != "Secret":
            continue
        data = {k: base64.b64decode(v).decode() for k, v in (document.get("data") or {}).items()}
        found[document["metadata"]["name"]] = {**data, **(document.get("stringData") or {})}
    return found


def _field(pod: Pod, path: str) -> str:
    if path == "metadata.name":
        return pod.name
    if path == "metadata.namespace":
        return pod.namespace
    label = re.fullmatch(r"metadata\.labels\['([^']+)'\]", path)
    if label:
        return pod.labels.get(label.group(1), "")
    raise NotTranslatable(f"fieldRef {path} is not reproduced")


def resolve_env(env: list[dict[str, Any]], pod: Pod, secrets: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """The container's environment as the kubelet resolves it (a later entry of the same name wins)."""
    resolved: dict[str, str] = {}
    for item in env:
        source = item.get("valueFrom")
        if source is None:
            resolved[item["name"]] = str(item.get("value", ""))
        elif "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            try:
                resolved[item["name"]] = secrets[ref["name"]][ref["key"]]
            except KeyError:  # the kubelet: CreateContainerConfigError
                raise NotTranslatable(f"{item['name']}: Secret {ref['name']} has no key {ref['key']}") from None
        elif "fieldRef" in source:
            resolved[item["name"]] = _field(pod, source["fieldRef"]["fieldPath"])
        else:
            raise NotTranslatable(f"{item['name']}: valueFrom {sorted(source)} is not reproduced")
    return resolved


def _security(pod_spec: Mapping[str, Any], container: Mapping[str, Any]) -> dict[str, Any]:
    """The securityContext as docker options: container fields over the pod's, as the kubelet merges them."""
    pod = pod_spec.get("securityContext") or {}
    own = container.get("securityContext") or {}
    uid = own.get("runAsUser", pod.get("runAsUser"))
    gid = own.get("runAsGroup", pod.get("runAsGroup"))
    non_root = own.get("runAsNonRoot", pod.get("runAsNonRoot"))
    if uid is None:
        raise NotTranslatable(f"{container['name']}: no runAsUser; the image's user is not checked here")
    if non_root and uid == 0:  # the kubelet refuses to start it
        raise NotTranslatable(f"{container['name']}: runAsNonRoot with runAsUser 0")
    if own.get("privileged"):
        raise NotTranslatable(f"{container['name']}: privileged")
    seccomp = (own.get("seccompProfile") or pod.get("seccompProfile") or {}).get("type", "RuntimeDefault")
    options: dict[str, Any] = {"user": f"{uid}:{gid}" if gid is not None else str(uid)}
    groups = [*([pod["fsGroup"]] if "fsGroup" in pod else []), *pod.get("supplementalGroups", [])]
    if groups:
        options["group_add"] = [str(group) for group in groups]
    security_opt = []
    if own.get("allowPrivilegeEscalation") is False:
        security_opt.append("no-new-privileges")
    if seccomp == "Unconfined":
        security_opt.append("seccomp=unconfined")
    elif seccomp != "RuntimeDefault":  # RuntimeDefault: Docker's default profile, which it applies unasked
        raise NotTranslatable(f"{container['name']}: seccomp {seccomp}")
    if security_opt:
        options["security_opt"] = security_opt
    capabilities = own.get("capabilities") or {}
    if capabilities.get("drop"):
        options["cap_drop"] = list(capabilities["drop"])
    if capabilities.get("add"):
        options["cap_add"] = list(capabilities["add"])
    if own.get("readOnlyRootFilesystem"):
        options["read_only"] = True
    return options


def _resources(container: Mapping[str, Any]) -> dict[str, Any]:
    limits = (container.get("resources") or {}).get("limits") or {}
    options: dict[str, Any] = {}
    if "cpu" in limits:
        options["nano_cpus"] = round(quantity(str(limits["cpu"]), "cpu") * 1e9)
    if "memory" in limits:
        options["mem_limit"] = int(quantity(str(limits["memory"]), "memory"))
    if limits.get("nvidia.com/gpu"):
        count = _whole(str(limits["nvidia.com/gpu"]), "nvidia.com/gpu")
        options["device_requests"] = [{"driver": "nvidia", "count": count, "capabilities": [["gpu"]]}]
    return options


def _mounts(pod_spec: Mapping[str, Any], container: Mapping[str, Any], stand_ins: StandIns) -> list[dict[str, Any]]:
    """Each volumeMount as a Docker mount (the dict docker.types.Mount is)."""
    volumes = {volume["name"]: volume for volume in pod_spec.get("volumes") or []}
    mounts: list[dict[str, Any]] = []
    for mount in container.get("volumeMounts") or []:
        volume = volumes[mount["name"]]
        target = mount["mountPath"]
        if "emptyDir" in volume and volume["emptyDir"].get("medium") == "Memory":
            size = int(quantity(volume["emptyDir"]["sizeLimit"], "sizeLimit"))
            mounts.append(
                {
                    "Target": target,
                    "Type": "tmpfs",
                    "ReadOnly": False,
                    "TmpfsOptions": {"SizeBytes": size, "Mode": 0o777},
                }
            )
        elif "persistentVolumeClaim" in volume:
            claim = volume["persistentVolumeClaim"]
            source = stand_ins.claims[claim["claimName"]]
            if mount.get("subPath"):
                source = f"{source.rstrip('/')}/{mount['subPath']}"
            read_only = bool(mount.get("readOnly") or claim.get("readOnly"))
            mounts.append({"Target": target, "Source": source, "Type": "bind", "ReadOnly": read_only})
        else:
            raise NotTranslatable(f"volume {mount['name']}: {sorted(set(volume) - {'name'})} is not reproduced")
    return mounts


def docker_kwargs(pod: Pod, container: Mapping[str, Any], stand_ins: StandIns, *, name: str) -> dict[str, Any]:
    """`docker create` for one container of `pod`, as the kubelet would run it (docker-py's keywords)."""
    kwargs: dict[str, Any] = {
        "image": container["image"],
        "name": name,
        "hostname": pod.name,
        "environment": resolve_env(container.get("env") or [], pod, stand_ins.secrets),
        "mounts": _mounts(pod.spec, container, stand_ins),
        "labels": dict(pod.labels),
        **_security(pod.spec, container),
        **_resources(container),
    }
    if container.get("command"):  # Kubernetes' command replaces the image's ENTRYPOINT, its args the CMD
        kwargs["entrypoint"] = list(container["command"])
        kwargs["command"] = list(container.get("args") or [])
    elif container.get("args"):
        kwargs["command"] = list(container["args"])
    if container.get("workingDir"):
        kwargs["working_dir"] = container["workingDir"]
    return kwargs


def docker_line(kwargs: Mapping[str, Any]) -> str:
    """The same container as one `docker run` line, for a person reading a failure."""
    words = ["docker", "run", "--name", kwargs["name"], "--user", kwargs["user"]]
    words += [part for group in kwargs.get("group_add", []) for part in ("--group-add", group)]
    words += [part for opt in kwargs.get("security_opt", []) for part in ("--security-opt", opt)]
    words += [part for cap in kwargs.get("cap_drop", []) for part in ("--cap-drop", cap)]
    if "nano_cpus" in kwargs:
        words += ["--cpus", f"{kwargs['nano_cpus'] / 1e9:g}"]
    if "mem_limit" in kwargs:
        words += ["--memory", str(kwargs["mem_limit"])]
    for mount in kwargs["mounts"]:
        if mount["Type"] == "tmpfs":
            words += ["--mount", f"type=tmpfs,dst={mount['Target']},tmpfs-size={mount['TmpfsOptions']['SizeBytes']}"]
        else:
            spec = f"type=bind,src={mount['Source']},dst={mount['Target']}" + (",readonly" if mount["ReadOnly"] else "")
            words += ["--mount", spec]
    words += [part for key in kwargs["environment"] for part in ("--env", key)]  # names only: values may be secret
    if "entrypoint" in kwargs:
        words += ["--entrypoint", kwargs["entrypoint"][0]]
        return shlex.join([*words, kwargs["image"], *kwargs["entrypoint"][1:], *kwargs["command"]])
    return shlex.join([*words, kwargs["image"], *kwargs.get("command", [])])


def _copy(value: Any) -> Any:
    return copy.deepcopy(value)

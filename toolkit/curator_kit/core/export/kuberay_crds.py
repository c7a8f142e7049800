"""KubeRay's own CRD schemas, checked in per release, and validation against them (pure).

The schemas in `crds/kuberay-<tag>/` are the `openAPIV3Schema` of the `ray.io/v1` RayJob and
RayCluster CRDs of each pinned KubeRay release (see crds/README.md). Validation is `jsonschema`'s,
with two additions that make it as strict as the cluster is:

- objects are closed (`additionalProperties: false` wherever the CRD lists properties and does not
  ask to preserve unknown fields): the API server prunes unknown fields silently, so a misspelt
  `shutdownAfterJobFinish` would simply vanish from the applied object;
- `apiVersion`, `kind` and `metadata` are constrained as the API server and the KubeRay operator
  check them (the CRD leaves `metadata` open): a DNS-1035 name of at most 47 (RayJob) or 53
  (RayCluster) characters, a DNS-1123 label namespace, string labels and annotations.

`format: int32`/`int64` are range-checked. CEL rules (`x-kubernetes-validations`) are not evaluated.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from curator_kit.errors import CuratorKitError

API_VERSION = "ray.io/v1"
# The pinned releases, oldest first; the last is the default.
KUBERAY_VERSIONS = ("1.1.1", "1.2.2", "1.3.2", "1.4.2", "1.5.2", "1.6.2", "1.7.0")
DEFAULT_KUBERAY_VERSION = KUBERAY_VERSIONS[-1]
PLURALS = {"RayJob": "rayjobs", "RayCluster": "rayclusters"}
KINDS = tuple(PLURALS)
# A RayJob's deletion policies (the enum of deletionPolicy, KubeRay 1.3-1.4, and deletionStrategy, 1.5+).
DELETION_POLICIES = ("DeleteCluster", "DeleteWorkers", "DeleteSelf", "DeleteNone")
# KubeRay's limits (ray-operator utils: MaxRayClusterNameLength, MaxRayJobNameLength = 53 - 6): the
# names of the Services and Pods it derives must stay DNS labels.
NAME_LIMITS = {"RayJob": 47, "RayCluster": 53}

_DNS1035 = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
_DNS1123 = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


def kuberay_version(text: str) -> str:
    """A pinned KubeRay release: `1.7.0` or `v1.7.0`, or `1.7` for the pinned patch of that minor."""
    wanted = text.strip().removeprefix("v")
    matches = [v for v in KUBERAY_VERSIONS if wanted in (v, v.rsplit(".", 1)[0])]
    if not matches:
        raise CuratorKitError(
            f"KubeRay {text!r} has no checked-in CRD schema",
            f"use one of {', '.join(KUBERAY_VERSIONS)} (or MAJOR.MINOR for the patch release listed)",
        )
    return matches[-1]


@cache
def crd_schema(version: str, kind: str) -> dict[str, Any]:
    """The CRD's openAPIV3Schema exactly as checked in (descriptions removed)."""
    if kind not in PLURALS:
        raise CuratorKitError(f"kind {kind!r} is not a KubeRay kind curator-kit knows", f"one of {', '.join(PLURALS)}")
    path = (
        resources.files("curator_kit.core.export")
        / "crds"
        / f"kuberay-v{version}"
        / f"ray.io_{PLURALS[kind]}.v1.json.gz"
    )
    return json.loads(gzip.decompress(path.read_bytes()))


def spec_fields(version: str, kind: str) -> frozenset[str]:
    """The fields the version's CRD knows under `spec`, e.g. to see whether it has `deletionStrategy`."""
    return frozenset(crd_schema(version, kind)["properties"]["spec"].get("properties", {}))


def auth_option_fields(version: str, kind: str) -> frozenset[str]:
    """The fields of the RayCluster spec's `authOptions` in the version's CRD (none before KubeRay 1.5;
    `mode` in 1.5; `secretName` too from 1.6)."""
    spec = crd_schema(version, kind)["properties"]["spec"]["properties"]
    cluster = spec["rayClusterSpec"]["properties"] if kind == "RayJob" else spec
    return frozenset(cluster.get("authOptions", {}).get("properties", {}))


def _closed(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _closed(value) for key, value in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def _object_meta(kind: str) -> dict[str, Any]:
    strings = {"type": "object", "additionalProperties": {"type": "string"}}
    return {
        "type": "object",
        "required": ["name"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "pattern": _DNS1035, "maxLength": NAME_LIMITS[kind]},
            "namespace": {"type": "string", "pattern": _DNS1123, "maxLength": 63},
            "labels": strings,
            "annotations": strings,
        },
    }


@cache
def _validator(version: str, kind: str) -> Any:
    from jsonschema import Draft4Validator, FormatChecker

    schema = _closed(crd_schema(version, kind))
    schema["properties"]["apiVersion"] = {"type": "string", "enum": [API_VERSION]}
    schema["properties"]["kind"] = {"type": "string", "enum": [kind]}
    schema["properties"]["metadata"] = _object_meta(kind)
    schema["required"] = sorted({*schema.get("required", ()), "apiVersion", "kind", "metadata", "spec"})
    formats = FormatChecker(())
    for name, (low, high) in _INT_RANGES.items():
        formats.checks(name)(lambda value, low=low, high=high: not isinstance(value, int) or low <= value <= high)
    # CRDs are OpenAPI v3.0 schemas: JSON Schema draft 4 is the dialect they follow.
    return Draft4Validator(schema, format_checker=formats)


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def _path(parts: Any) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(document)"


def validate(document: dict[str, Any], version: str) -> list[Problem]:
    """Every way `document` breaks the KubeRay `version` CRD of its kind, each with its path."""
    kind = document.get("kind")
    if kind not in PLURALS:
        return [Problem("kind", f"{kind!r} is not one of {', '.join(PLURALS)}")]
    errors = _validator(version, kind).iter_errors(document)
    return sorted((Problem(_path(e.absolute_path), e.message) for e in errors), key=lambda p: (p.path, p.message))
